//! The sandbox world builder: a sandbox over real HTTP on loopback, manifests written to a
//! scratch directory (the example world, or a larger generated one), a library session with
//! the example credentials, the `warrant` binary as a subprocess with credentials in its
//! environment only, and the "nothing lost" checks computed from `/_sandbox/state`.
//!
//! A world is started inside an async test ([`World::start`]) or, for a test that blocks on
//! subprocesses, on a runtime of its own ([`World::blocking`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use warrant::apply::{self, ApplyOptions, ApplyReport, CancelFlag, Declared, Progress, Silent};
use warrant::plan::Plan;
use warrant::plan::file::PlanFile;
use warrant::plan::gather::{make_plan, open_session};
use warrant::platform::{ClientOptions, LiveOptions, Manifests, Session};
use warrant::sandbox::seed::{AtlanConnection, ConnectIdentity, MistPrivilege, MistToken};
use warrant::sandbox::{self, Faults, SandboxHandle, Seed};

use super::{
    ADMIN_ROLE, ATLAN_KEY, CI_PIPELINE, CONNECT_ID, CONNECT_SECRET, HQ_SITE, ORG, TENANT,
    TENANT_MEMBER, environment,
};

/// The example manifests, with the `gh` command sink replaced by a file sink so the tests need
/// no tool outside the repository. Key files are relative to the manifest: `../keys/` is the
/// scratch directory's `keys/`.
pub fn example_manifests() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/manifests");
    ["targets.yaml", "atlan.yaml", "connect.yaml", "mist.yaml"]
        .iter()
        .map(|name| {
            let text = std::fs::read_to_string(root.join(name)).unwrap();
            let text = text.replace(
                "keySink:\n    command: [gh, secret, set, MIST_INSTALLER_KEY]\n    env: [GH_TOKEN]",
                "keySink: {file: ../keys/installer-app.key}",
            );
            (name.to_string(), text)
        })
        .collect()
}

/// A world larger than the example: the example seed plus `n` connections, `n` identities
/// (half live, half to create) and `tokens` Mist tokens (half live, half to create), with
/// manifests that add to every one of them. Rate limits are raised on both sides so neither
/// the sandbox nor the client-side limiter decides the pace.
pub struct Generated {
    pub seed: Seed,
    pub files: Vec<(String, String)>,
}

pub fn generated(connections: usize, identities: usize, tokens: usize) -> Generated {
    let mut seed = Seed::example();
    let mut atlan = String::new();
    for i in 0..connections {
        let qn = format!("default/gen/{:010}", 1_800_000_000u64 + i as u64);
        seed.atlan.connections.push(AtlanConnection {
            guid: format!("22222222-0000-4000-8000-{i:012}"),
            qualified_name: qn.clone(),
            name: format!("gen-{i}"),
            connector_name: "snowflake".into(),
            category: Some("warehouse".into()),
            admin_users: vec![format!("owner-{i}"), CI_PIPELINE.into()],
            admin_groups: vec![format!("team-{}", i % 5)],
            // warrant-bot is a connection admin through the $admin role (Atlan's rule).
            admin_roles: vec![ADMIN_ROLE.into()],
            created_by: "jsmith".into(),
            updated_by: "jsmith".into(),
            create_time: 1_700_000_000_000,
            update_time: 1_700_000_000_000,
            version: 1,
        });
        atlan.push_str(&format!(
            "---\napiVersion: warrant/v1\nkind: ConnectionAdmins\nmetadata: {{name: gen-{i}}}\nspec:\n  target: atlan-prod\n  connection: {qn}\n  apiTokens:\n    - name: ci-pipeline\n    - name: dbt-cloud\n    - name: airflow-prod\n"
        ));
    }
    let tenant = &mut seed.connect.tenants[0];
    let mut connect = String::new();
    for i in 0..identities {
        if i % 2 == 0 {
            tenant.automation_identities.push(ConnectIdentity {
                id: format!("33333333-0000-4000-8000-{i:012}"),
                name: format!("gen-identity-{i}"),
                role_ids: vec![TENANT_MEMBER.into()],
                tags: vec![format!("owner:{i}")],
            });
        }
        connect.push_str(&format!(
            "---\napiVersion: warrant/v1\nkind: AutomationIdentity\nmetadata: {{name: gen-identity-{i}}}\nspec:\n  target: connect-prod\n  roles: [Tenant Member, Asset Rule Runner]\n  tags: [managed-by:warrant, gen:{i}]\n"
        ));
    }
    seed.mist.requests_per_hour = 10_000_000;
    let org = &mut seed.mist.orgs[0];
    let mut mist = String::new();
    for i in 0..tokens {
        if i % 2 == 0 {
            org.api_tokens.push(MistToken {
                id: format!("44444444-0000-4000-8000-{i:012}"),
                name: format!("gen-token-{i}"),
                key: format!("SbxMistGenKey{i:026}"),
                privileges: vec![MistPrivilege {
                    role: "read".into(),
                    scope: "org".into(),
                    site_id: None,
                    sitegroup_id: None,
                    views: Vec::new(),
                }],
                src_ips: Vec::new(),
                created_by: Some("netops@acme.example".into()),
                created_time: 1_699_000_000,
                last_used: None,
                requests_per_hour: None,
                user_email: None,
            });
        }
        mist.push_str(&format!(
            "---\napiVersion: warrant/v1\nkind: OrgApiToken\nmetadata: {{name: gen-token-{i}}}\nspec:\n  target: mist-prod\n  privileges:\n    - {{role: read, scope: org}}\n    - {{role: write, scope: site, siteId: {HQ_SITE}}}\n  keySink: {{file: ../keys/gen-token-{i}.key}}\n"
        ));
    }
    let targets = format!(
        "apiVersion: warrant/v1\nkind: Target\nmetadata: {{name: atlan-prod}}\nspec:\n  atlan: {{baseUrl: https://acme.atlan.com, apiKeyEnv: ATLAN_API_KEY, requestsPerMinute: 10000000}}\n---\napiVersion: warrant/v1\nkind: Target\nmetadata: {{name: connect-prod}}\nspec:\n  connect: {{tenantId: {TENANT}}}\n---\napiVersion: warrant/v1\nkind: Target\nmetadata: {{name: mist-prod}}\nspec:\n  mist: {{cloud: global01, orgId: {ORG}, apiTokenEnv: MIST_API_TOKEN, requestsPerHour: 10000000}}\n"
    );
    Generated {
        seed,
        files: vec![
            ("targets.yaml".into(), targets),
            ("atlan.yaml".into(), atlan),
            ("connect.yaml".into(), connect),
            ("mist.yaml".into(), mist),
        ],
    }
}

/// One sandbox, one scratch directory with manifests and a `keys/` directory, and a session.
pub struct World {
    pub sandbox: SandboxHandle,
    pub scratch: tempfile::TempDir,
    pub manifests: Manifests,
    pub live: LiveOptions,
    /// The runtime of a [`World::blocking`] world; dropped after the sandbox.
    runtime: Option<tokio::runtime::Runtime>,
}

/// Client options for tests: quick backoff so injected faults cost milliseconds, not seconds.
pub fn quick_client() -> ClientOptions {
    ClientOptions {
        backoff_base: Duration::from_millis(5),
        backoff_cap: Duration::from_millis(100),
        max_attempts: 8,
        request_timeout: Duration::from_secs(10),
        ..ClientOptions::default()
    }
}

impl World {
    pub async fn start(seed: Seed, files: &[(String, String)]) -> World {
        World::start_with(seed, Faults::default(), files).await
    }

    /// A world whose sandbox injects `faults`.
    pub async fn start_with(seed: Seed, faults: Faults, files: &[(String, String)]) -> World {
        let sandbox = sandbox::start(seed, faults).await.unwrap();
        World::around(sandbox, files)
    }

    /// A world on a runtime of its own (two workers), for a test that is not async and
    /// blocks on subprocesses; run library calls with [`World::block_on`].
    pub fn blocking(seed: Seed, faults: Faults, files: &[(String, String)]) -> World {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let sandbox = runtime.block_on(sandbox::start(seed, faults)).unwrap();
        World {
            runtime: Some(runtime),
            ..World::around(sandbox, files)
        }
    }

    /// Runs `future` on the world's own runtime ([`World::blocking`] worlds only).
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime
            .as_ref()
            .expect("a World::blocking world")
            .block_on(future)
    }

    fn around(sandbox: SandboxHandle, files: &[(String, String)]) -> World {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().join("manifests");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(scratch.path().join("keys")).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        // The scratch directory is the repository root, as it is for the `warrant` processes
        // the tests run in it.
        let manifests = Manifests::load_under(&[dir], scratch.path())
            .unwrap_or_else(|d| panic!("test manifests are invalid: {d:?}"));
        let live = LiveOptions {
            credentials: Default::default(),
            endpoints: BTreeMap::from([
                ("atlan-prod".to_string(), sandbox.atlan.clone()),
                ("connect-prod".to_string(), sandbox.connect.clone()),
                ("mist-prod".to_string(), sandbox.mist.clone()),
            ]),
            environment: environment(ATLAN_KEY),
            client: quick_client(),
        };
        World {
            sandbox,
            scratch,
            manifests,
            live,
            runtime: None,
        }
    }

    /// The sandbox URL of an example target.
    pub fn url(&self, target: &str) -> &str {
        match target {
            "atlan-prod" => &self.sandbox.atlan,
            "connect-prod" => &self.sandbox.connect,
            "mist-prod" => &self.sandbox.mist,
            other => panic!("no sandbox for target {other}"),
        }
    }

    /// Each sandbox URL with its placeholder in goldens (see `per_run_hidden`).
    pub fn sandbox_urls(&self) -> Vec<(&str, &str)> {
        vec![
            (self.sandbox.atlan.as_str(), "<atlan-sandbox>"),
            (self.sandbox.connect.as_str(), "<connect-sandbox>"),
            (self.sandbox.mist.as_str(), "<mist-sandbox>"),
        ]
    }

    pub async fn example() -> World {
        World::start(Seed::example(), &example_manifests()).await
    }

    pub fn dir(&self) -> &Path {
        self.scratch.path()
    }

    pub fn manifest_dir(&self) -> PathBuf {
        self.dir().join("manifests")
    }

    pub fn keys(&self) -> PathBuf {
        self.dir().join("keys")
    }

    /// A session whose Atlan credential is `atlan_key` (others as usual).
    pub fn session_as(&self, atlan_key: &str) -> Session {
        let live = LiveOptions {
            environment: environment(atlan_key),
            ..self.live.clone()
        };
        open_session(&self.manifests, &[], &live).unwrap()
    }

    pub fn session(&self) -> Session {
        self.session_as(ATLAN_KEY)
    }

    pub async fn plan(&self, session: &Session) -> PlanFile {
        make_plan(&self.manifests, &[], session).await.unwrap()
    }

    pub fn options(&self, batch_size: usize) -> ApplyOptions {
        ApplyOptions {
            batch_size,
            max_changes: None,
            cancel: CancelFlag::default(),
            journal: None,
        }
    }

    /// What apply takes from the world's manifests, with the session's endpoints.
    pub fn declared<'m>(&'m self, session: &Session) -> Declared<'m> {
        Declared::new(&self.manifests, &session.endpoints)
    }

    pub async fn apply(&self, plan: &Plan, session: &Session) -> ApplyReport {
        apply::apply_plan(
            plan,
            &self.declared(session),
            session,
            &self.options(64),
            &Silent,
        )
        .await
        .unwrap()
    }

    pub async fn apply_with(
        &self,
        plan: &Plan,
        session: &Session,
        options: &ApplyOptions,
        progress: &dyn Progress,
    ) -> ApplyReport {
        apply::apply_plan(plan, &self.declared(session), session, options, progress)
            .await
            .unwrap()
    }

    /// Runs `warrant ARGS` in the scratch directory with the sandbox credentials in the
    /// subprocess's environment only.
    pub fn warrant(&self, args: &[&str]) -> Output {
        self.warrant_as(ATLAN_KEY, args)
    }

    pub fn warrant_as(&self, atlan_key: &str, args: &[&str]) -> Output {
        let mut command = self.command(atlan_key);
        command.args(args);
        run(command)
    }

    /// The `warrant` binary to run in the scratch directory, with the sandbox credentials (the
    /// Atlan one being `atlan_key`) in its environment only and stdin closed; add arguments and
    /// variables, then [`run`] it.
    pub fn command(&self, atlan_key: &str) -> Command {
        warrant_command(self.dir(), atlan_key)
    }

    /// `warrant ARGS --endpoint …` pointing every target at the sandbox: apply, like plan,
    /// takes base URLs only from the manifests and `--endpoint`, never from the plan file.
    pub fn warrant_live(&self, args: &[&str]) -> Output {
        self.warrant_live_as(ATLAN_KEY, args)
    }

    pub fn warrant_live_as(&self, atlan_key: &str, args: &[&str]) -> Output {
        let endpoints = self.endpoint_args();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(endpoints.iter().map(String::as_str));
        self.warrant_as(atlan_key, &all)
    }

    /// An OAuth access token of warrant's CONNECT client, to act on the sandbox directly as
    /// another writer would.
    pub async fn connect_token(&self) -> String {
        let response: Value = reqwest::Client::new()
            .post(format!("{}/identity/connect/token", self.sandbox.connect))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type=client_credentials&client_id={CONNECT_ID}&client_secret={CONNECT_SECRET}"
            ))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap();
        response["access_token"].as_str().unwrap().to_string()
    }

    /// The `--endpoint` flags pointing every target at the sandbox.
    pub fn endpoint_args(&self) -> Vec<String> {
        self.live
            .endpoints
            .iter()
            .flat_map(|(t, u)| ["--endpoint".to_string(), format!("{t}={u}")])
            .collect()
    }
}

/// The `warrant` binary to run in `dir`, with the example credentials (the Atlan one being
/// `atlan_key`) in its environment, no colour, and stdin closed.
pub fn warrant_command(dir: &Path, atlan_key: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_warrant"));
    command
        .current_dir(dir)
        .envs(super::variables(atlan_key))
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null());
    command
}

/// Waits for `child`, killing it and failing when it runs far longer than it ever should (a
/// sanity bound, so a hung warrant fails the test instead of hanging it).
pub fn wait_at_most(child: &mut std::process::Child, bound: Duration) -> std::process::ExitStatus {
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > bound {
            let _ = child.kill();
            let _ = child.wait();
            panic!("warrant still running after {bound:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Fails when `text` holds a raw hidden character (`warrant::text::is_hidden`) other than the
/// output's own: its line breaks, and the emoji presentation selector of the markdown
/// summary's "✔️".
pub fn assert_no_hidden(what: &str, text: &str) {
    let hidden: Vec<char> = text
        .chars()
        .filter(|c| warrant::text::is_hidden(*c) && !matches!(c, '\n' | '\u{fe0f}'))
        .collect();
    assert!(hidden.is_empty(), "{what}: raw {hidden:?} in\n{text}");
}

#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `command` to its end and keeps its exit code and output.
pub fn run(mut command: Command) -> Output {
    let out = command.output().unwrap();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Every access fact of a sandbox state, as strings: each object's existence and each member,
/// group, role, role id, tag, privilege and source IP it holds. Append-only means the facts
/// before an apply are a subset of the facts after it.
pub fn facts(state: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let list = |v: &Value, key: &str| -> Vec<Value> {
        v.get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let text = |v: &Value, key: &str| -> String {
        v.get(key).and_then(Value::as_str).unwrap_or("").to_string()
    };
    let atlan = &state["atlan"];
    for t in list(atlan, "apiTokens") {
        out.insert(format!("atlan token {}", text(&t, "guid")));
    }
    for c in list(atlan, "connections") {
        let qn = text(&c, "qualifiedName");
        out.insert(format!("atlan connection {qn}"));
        for field in ["adminUsers", "adminGroups", "adminRoles"] {
            for v in list(&c, field) {
                out.insert(format!("atlan {qn} {field} {}", v.as_str().unwrap_or("")));
            }
        }
    }
    for t in list(&state["connect"], "tenants") {
        let tid = text(&t, "id");
        for r in list(&t, "roles") {
            out.insert(format!("connect {tid} role {}", text(&r, "id")));
        }
        for i in list(&t, "automationIdentities") {
            let id = text(&i, "id");
            out.insert(format!("connect {tid} identity {id} {}", text(&i, "name")));
            for field in ["roleIds", "tags"] {
                for v in list(&i, field) {
                    out.insert(format!(
                        "connect {tid} identity {id} {field} {}",
                        v.as_str().unwrap_or("")
                    ));
                }
            }
        }
    }
    for o in list(&state["mist"], "orgs") {
        let oid = text(&o, "id");
        for t in list(&o, "apiTokens") {
            let id = text(&t, "id");
            out.insert(format!("mist {oid} token {id} {}", text(&t, "name")));
            for p in list(&t, "privileges") {
                out.insert(format!("mist {oid} token {id} privilege {p}"));
            }
            for ip in list(&t, "srcIps") {
                out.insert(format!("mist {oid} token {id} srcIp {ip}"));
            }
        }
    }
    out
}

/// Panics with the lost facts when anything live in `before` is missing from `after`.
pub fn assert_nothing_lost(before: &Value, after: &Value) {
    let after = facts(after);
    let lost: Vec<String> = facts(before)
        .into_iter()
        .filter(|f| !after.contains(f))
        .collect();
    assert!(lost.is_empty(), "live access was lost: {lost:#?}");
}

/// What the sandbox's foreign writers added that is no longer live: the numbered values of
/// Atlan (`foreign-admin-N`) and CONNECT (tag `foreign:N`) must be present for 1..=highest
/// seen, with no gap; the Mist privileges the sandbox recorded under `mist.foreignAdded`
/// must each still be on their token. Anything missing is a foreign write that a later
/// read-modify-write overwrote.
pub fn foreign_gaps(state: &Value) -> Vec<String> {
    let mut gaps = Vec::new();
    let facts = facts(state);
    for (prefix, label) in [
        ("adminUsers foreign-admin-", "atlan foreign-admin-"),
        ("tags foreign:", "connect tag foreign:"),
    ] {
        let seen: BTreeSet<u64> = facts
            .iter()
            .filter_map(|f| f.split_once(prefix).and_then(|(_, n)| n.parse().ok()))
            .collect();
        if let Some(&max) = seen.iter().next_back() {
            gaps.extend(
                (1..=max)
                    .filter(|n| !seen.contains(n))
                    .map(|n| format!("{label}{n}")),
            );
        }
    }
    let added = state["mist"]["foreignAdded"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for a in added {
        let text = |k: &str| a[k].as_str().unwrap_or("").to_string();
        let (org, token) = (text("orgId"), text("tokenId"));
        let fact = format!("mist {org} token {token} privilege {}", a["privilege"]);
        if !facts.contains(&fact) {
            gaps.push(format!("mist token {token} privilege {}", a["privilege"]));
        }
    }
    gaps
}

/// How many foreign writes the Mist sandbox recorded (those that changed a token).
pub fn mist_foreign_writes(state: &Value) -> usize {
    state["mist"]["foreignAdded"].as_array().map_or(0, Vec::len)
}

/// The JSON of one object in the sandbox state, found by a field's value anywhere in the tree.
pub fn find_object<'a>(state: &'a Value, key: &str, value: &str) -> Option<&'a Value> {
    match state {
        Value::Object(map) => {
            if map.get(key).and_then(Value::as_str) == Some(value) {
                return Some(state);
            }
            map.values().find_map(|v| find_object(v, key, value))
        }
        Value::Array(items) => items.iter().find_map(|v| find_object(v, key, value)),
        _ => None,
    }
}

/// A plan with nothing left to create or update and no conflict.
pub fn assert_converged(plan: &Plan) {
    let pending: Vec<String> = plan
        .changes
        .iter()
        .filter(|c| c.action != warrant::plan::Action::NoOp)
        .map(|c| format!("{} {:?} {:?}", c.address, c.action, c.reasons))
        .collect();
    assert!(pending.is_empty(), "the plan still has work: {pending:#?}");
}

/// Status of the object whose address name is `name`.
pub fn status_of(report: &ApplyReport, name: &str) -> warrant::apply::Status {
    object_of(report, name).status
}

/// The report of the object whose address name is `name`.
pub fn object_of<'r>(report: &'r ApplyReport, name: &str) -> &'r warrant::apply::ObjectReport {
    report
        .objects
        .iter()
        .find(|o| o.address.name == name)
        .unwrap_or_else(|| panic!("{name} is not in the report"))
}
