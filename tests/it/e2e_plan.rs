//! `warrant plan` and `warrant drift` end to end against the sandbox over real HTTP.
//!
//! The example manifests are planned against the example seed through the real binary, and
//! every rendering is compared with tests/golden/e2e_* after the per-run values (sandbox
//! ports, creation time, git commit) are replaced by placeholders; regenerate with
//! UPDATE_GOLDEN=1 after an intended change, then read the diff. Each conflict the planner
//! knows is provoked with a small seed change and checked through the library, together with
//! the promise that planning writes nothing. Failed reads must fail the plan (promise 5).

use std::path::{Path, PathBuf};
use std::time::Duration;

use warrant::plan::gather::{PlanError, make_plan, open_session, targets_in_use};
use warrant::plan::{Action, Change, Plan};
use warrant::platform::{ClientOptions, LiveOptions, Manifests};
use warrant::sandbox::seed::{ConnectRole, MistPlace, MistPrivilege};
use warrant::sandbox::{Faults, Seed};

use crate::support::acme::golden;
use crate::support::{
    ATLAN_KEY, JSMITH_KEY, Output, World, environment, per_run_hidden, run, twin_identity,
    twin_mist_token, warrant_command,
};

const TARGETS_YAML: &str = include_str!("../../examples/manifests/targets.yaml");

/// Requests that only read, although they are POSTs.
const READ_POSTS: [&str; 2] = [
    "atlan POST /api/meta/search/indexsearch",
    "connect POST /identity/connect/token",
];

/// A world of the example seed (`faults` injected), on a runtime of its own so the test
/// thread can block on subprocesses.
fn start(seed: Seed) -> World {
    start_with(seed, Faults::default())
}

fn start_with(seed: Seed, faults: Faults) -> World {
    World::blocking(seed, faults, &crate::support::example_manifests())
}

/// What these tests do with a world: run the binary on the example manifests, normalize its
/// output for the goldens, list the writes the sandbox saw, plan through the library.
trait Planning {
    fn cli(&self, args: &[&str], env: &[(&str, &str)]) -> Output;
    fn normalize(&self, text: &str) -> String;
    fn writes(&self) -> Vec<String>;
    fn plan_of(&self, resources: &str, atlan_key: &str) -> Result<Plan, PlanError>;
    fn plan_with(
        &self,
        resources: &str,
        atlan_key: &str,
        client: ClientOptions,
    ) -> Result<Plan, PlanError>;
}

impl Planning for World {
    /// Runs the binary in the repository root with the example credentials (overridden by
    /// `env`) in its environment only, every target at the sandbox.
    fn cli(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = warrant_command(Path::new(env!("CARGO_MANIFEST_DIR")), ATLAN_KEY);
        command
            .args(args)
            .args(self.endpoint_args())
            .env_remove("GITHUB_SHA")
            .env_remove("GITHUB_STEP_SUMMARY")
            .envs(env.iter().copied());
        let out = run(command);
        assert_no_secret("stdout", &out.stdout);
        assert_no_secret("stderr", &out.stderr);
        out
    }

    /// The per-run values replaced by placeholders: sandbox URLs, creation time, git commit,
    /// and the plan id (which covers them).
    fn normalize(&self, text: &str) -> String {
        per_run_hidden(text, &self.sandbox_urls(), short_plan_id_hidden)
    }

    /// Requests the sandbox received that could have changed something.
    fn writes(&self) -> Vec<String> {
        self.sandbox
            .request_counts()
            .into_keys()
            .filter(|k| {
                let method = k.split(' ').nth(1).unwrap_or("");
                !matches!(method, "GET" | "HEAD") && !READ_POSTS.contains(&k.as_str())
            })
            .collect()
    }

    /// Plans `resources` (YAML documents, added to the example targets) through the library,
    /// with warrant's credentials unless `atlan_key` says otherwise.
    fn plan_of(&self, resources: &str, atlan_key: &str) -> Result<Plan, PlanError> {
        self.plan_with(resources, atlan_key, ClientOptions::default())
    }

    fn plan_with(
        &self,
        resources: &str,
        atlan_key: &str,
        client: ClientOptions,
    ) -> Result<Plan, PlanError> {
        let manifests = manifests(resources);
        let in_use = targets_in_use(&manifests, &[]).unwrap();
        let live = LiveOptions {
            credentials: Default::default(),
            endpoints: in_use
                .keys()
                .map(|t| (t.clone(), self.url(t).to_string()))
                .collect(),
            environment: environment(atlan_key),
            client,
        };
        let session = open_session(&manifests, &[], &live)?;
        self.block_on(make_plan(&manifests, &[], &session))
            .map(|made| made.plan)
    }
}

fn manifests(resources: &str) -> Manifests {
    let text = format!("{TARGETS_YAML}\n---\n{resources}");
    Manifests::parse(Path::new("manifests/e2e.yaml"), &text)
        .unwrap_or_else(|d| panic!("bad test manifests: {d:?}"))
}

/// Every credential of the example seed: Atlan API keys, CONNECT client secrets, Mist keys.
fn seed_secrets() -> Vec<String> {
    let seed = Seed::example();
    let mut secrets: Vec<String> = seed
        .atlan
        .callers
        .iter()
        .map(|c| c.api_key.clone())
        .collect();
    for tenant in &seed.connect.tenants {
        secrets.extend(tenant.clients.iter().map(|c| c.client_secret.clone()));
    }
    for org in &seed.mist.orgs {
        secrets.extend(org.api_tokens.iter().map(|t| t.key.clone()));
    }
    assert!(secrets.len() >= 7, "the example seed lost its credentials");
    secrets
}

fn assert_no_secret(what: &str, text: &str) {
    for (i, secret) in seed_secrets().iter().enumerate() {
        // The panic names the secret by position only: a failing test must not print it.
        assert!(
            !text.contains(secret.as_str()),
            "{what} contains seed secret #{i}"
        );
    }
}

fn change<'p>(plan: &'p Plan, name: &str) -> &'p Change {
    plan.changes
        .iter()
        .find(|c| c.address.name == name)
        .unwrap_or_else(|| panic!("no change for {name} in {:#?}", plan.changes))
}

/// The one change of `name` is a conflict whose reason contains every one of `words`, and the
/// sandbox saw no write.
fn assert_conflict(world: &World, plan: &Plan, name: &str, words: &[&str]) {
    let c = change(plan, name);
    assert_eq!(c.action, Action::Conflict, "{c:#?}");
    assert!(c.additions.is_empty(), "{c:#?}");
    let reasons = crate::support::words(&c.reasons).join("\n");
    for word in words {
        assert!(reasons.contains(word), "{word:?} not in: {reasons}");
    }
    assert_eq!(plan.summary.conflict, 1, "{:#?}", plan.changes);
    assert_eq!(world.writes(), Vec::<String>::new());
}

/// The live objects of a sandbox state, without its bookkeeping (tokens issued, last use).
fn live_objects(state: &serde_json::Value) -> serde_json::Value {
    let each = |list: &serde_json::Value, f: &dyn Fn(&serde_json::Value) -> serde_json::Value| {
        list.as_array()
            .map(|items| items.iter().map(f).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    let tokens = each(&state["mist"]["orgs"], &|org| {
        each(&org["apiTokens"], &|t| {
            serde_json::json!([t["id"], t["name"], t["privileges"], t["srcIps"]])
        })
        .into()
    });
    let objects = serde_json::json!({
        "connections": state["atlan"]["connections"],
        "identities": each(&state["connect"]["tenants"], &|t| t["automationIdentities"].clone()),
        "tokens": tokens,
    });
    assert!(
        objects["connections"].is_array(),
        "unexpected sandbox state shape"
    );
    objects
}

/// `Plan 0123456789ab:` (the short plan id of text and markdown) as `Plan <plan-id>:`.
fn short_plan_id_hidden(line: &str) -> String {
    let Some(at) = line.find("Plan ") else {
        return line.to_string();
    };
    let rest = &line[at + 5..];
    let is_id = rest.len() > 12
        && rest[..12].chars().all(|c| c.is_ascii_hexdigit())
        && rest[12..].starts_with(':');
    if is_id {
        format!("{}Plan <plan-id>{}", &line[..at], &rest[12..])
    } else {
        line.to_string()
    }
}

fn example_plan_args(format: &str) -> Vec<&str> {
    vec!["plan", "examples/manifests", "--format", format]
}

// ---------------------------------------------------------------------------------------------
// The examples, through the binary

#[test]
fn plan_of_the_examples_matches_golden_in_every_format() {
    let world = start(Seed::example());
    let before = live_objects(&world.sandbox.state());
    for (format, file) in [
        ("text", "e2e_plan.txt"),
        ("markdown", "e2e_plan.md"),
        ("json", "e2e_plan.json"),
    ] {
        let run = world.cli(&example_plan_args(format), &[]);
        assert_eq!(run.code, 0, "{format}: {}", run.stderr);
        golden(file, &world.normalize(&run.stdout));
    }
    assert_eq!(world.writes(), Vec::<String>::new());
    assert_eq!(live_objects(&world.sandbox.state()), before);
}

#[test]
fn changes_pending_exit_2_and_the_plan_file_is_readable_and_secret_free() {
    let world = start(Seed::example());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("plan.json");
    let out_arg = out.to_str().unwrap();

    let run = world.cli(
        &[
            "plan",
            "examples/manifests",
            "--detailed-exitcode",
            "--out",
            out_arg,
        ],
        &[],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("Saved the plan to"), "{}", run.stderr);

    let text = std::fs::read_to_string(&out).unwrap();
    assert_no_secret("the plan file", &text);
    let plan = warrant::plan::file::read(&out).unwrap();
    let s = plan.summary;
    assert_eq!(
        (s.create, s.update, s.no_op, s.conflict, s.drift),
        (4, 3, 2, 0, 2)
    );
    assert_eq!(plan.changes.len(), 9);
    // The plan records where it read from: the sandbox, not the manifests' baseUrl.
    let recorded = serde_json::to_string(&plan.targets).unwrap();
    assert!(recorded.contains(&world.sandbox.atlan), "{recorded}");
    // The file is the JSON rendering on stdout, apart from the creation time.
    let json = world.cli(&example_plan_args("json"), &[]);
    assert_eq!(world.normalize(&json.stdout), world.normalize(&text));
    assert_eq!(world.writes(), Vec::<String>::new());
}

#[test]
fn the_plan_file_records_github_sha_and_matches_the_committed_schema() {
    let world = start(Seed::example());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("plan.json");
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let run = world.cli(
        &["plan", "examples/manifests", "--out", out.to_str().unwrap()],
        &[("GITHUB_SHA", sha)],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(&out).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["git_commit"], serde_json::json!(sha));
    assert_eq!(
        warrant::plan::file::read(&out)
            .unwrap()
            .git_commit
            .as_deref(),
        Some(sha)
    );

    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("schemas/plan.schema.json").unwrap())
            .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // The schema is not vacuous: a plan without its changes, or with an unknown action, fails.
    let mut broken = value.clone();
    broken.as_object_mut().unwrap().remove("changes");
    assert!(!validator.is_valid(&broken));
    let mut broken = value.clone();
    broken["changes"][0]["action"] = serde_json::json!("delete");
    assert!(!validator.is_valid(&broken));
}

#[test]
fn step_summary_appends_the_markdown_plan_on_every_run() {
    let world = start(Seed::example());
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("step-summary.md");
    std::fs::write(&summary, "earlier step\n").unwrap();
    let env = [("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())];
    let markdown = world.cli(&example_plan_args("markdown"), &[]);
    assert_eq!(markdown.code, 0, "{}", markdown.stderr);
    assert!(markdown.stdout.contains("<details>"), "{}", markdown.stdout);

    // Text on stdout, markdown appended to the summary, whatever --format says. Each run is a
    // plan of its own second, so its id (in the heading) may differ: compared without it.
    let ids_hidden = |text: &str| -> String {
        text.split_inclusive('\n')
            .map(short_plan_id_hidden)
            .collect()
    };
    let mut args = example_plan_args("text");
    args.push("--step-summary");
    let first = world.cli(&args, &env);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(!first.stdout.contains("<details>"), "{}", first.stdout);
    assert_eq!(
        ids_hidden(&std::fs::read_to_string(&summary).unwrap()),
        ids_hidden(&format!("earlier step\n{}", markdown.stdout))
    );
    let second = world.cli(&args, &env);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(
        ids_hidden(&std::fs::read_to_string(&summary).unwrap()),
        ids_hidden(&format!(
            "earlier step\n{}{}",
            markdown.stdout, markdown.stdout
        ))
    );

    // Outside GitHub Actions the flag is a clear error, not a silent no-op.
    let run = world.cli(&args, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("--step-summary needs GITHUB_STEP_SUMMARY"),
        "{}",
        run.stderr
    );
}

#[test]
fn no_changes_exit_0_even_with_detailed_exitcode() {
    let world = start(Seed::example());
    let run = world.cli(
        &[
            "plan",
            "examples/manifests",
            "--detailed-exitcode",
            "--only",
            "ConnectionAdmins/databricks-lakehouse",
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("No changes."), "{}", run.stdout);
}

#[test]
fn drift_lists_the_undeclared_access_and_fails_only_when_asked() {
    let world = start(Seed::example());
    for (format, file) in [("text", "e2e_drift.txt"), ("json", "e2e_drift.json")] {
        let run = world.cli(&["drift", "examples/manifests", "--format", format], &[]);
        assert_eq!(run.code, 0, "{format}: {}", run.stderr);
        for who in [
            "legacy-etl",
            "data-engineers",
            "jsmith",
            "bigquery-analytics",
        ] {
            assert!(run.stdout.contains(who), "{format}: {who} missing");
        }
        golden(file, &world.normalize(&run.stdout));
    }
    let json = world.cli(&["drift", "examples/manifests", "--format", "json"], &[]);
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let bigquery = value["undeclared"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["address"]["name"] == "bigquery-analytics")
        .unwrap();
    assert_eq!(
        bigquery["values"]["adminGroups"],
        serde_json::json!(["data-engineers"])
    );
    assert_eq!(
        bigquery["values"]["adminUsers"],
        serde_json::json!([
            "jsmith",
            "service-account-apikey-6b5a4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d"
        ])
    );

    assert!(
        !json.stderr.contains("partial plan"),
        "no warning without --only: {}",
        json.stderr
    );
    let partial = world.cli(
        &[
            "drift",
            "examples/manifests",
            "--format",
            "json",
            "--only",
            "target=atlan-prod",
        ],
        &[],
    );
    assert_eq!(partial.code, 0, "{}", partial.stderr);
    assert!(
        partial.stderr.contains(
            "Warning: partial plan, restricted by --only target=atlan-prod; objects outside the filter were not read or diffed."
        ),
        "{}",
        partial.stderr
    );
    serde_json::from_str::<serde_json::Value>(&partial.stdout).expect("stdout is only JSON");

    let run = world.cli(&["drift", "examples/manifests", "--fail-on-drift"], &[]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    // Declared objects without drift do not fail the run.
    let run = world.cli(
        &[
            "drift",
            "examples/manifests",
            "--fail-on-drift",
            "--only",
            "ConnectionAdmins/databricks-lakehouse",
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(world.writes(), Vec::<String>::new());
}

#[test]
fn only_filters_restrict_the_plan_and_warn_in_every_format() {
    let world = start(Seed::example());
    for only in [
        vec!["--only", "ConnectionAdmins/snowflake-prod"],
        vec!["--only", "target=mist-prod"],
        vec![
            "--only",
            "ConnectionAdmins/snowflake-prod",
            "--only",
            "target=mist-prod",
        ],
    ] {
        let run_with = |format: &str| {
            let mut args = example_plan_args(format);
            args.extend(&only);
            let run = world.cli(&args, &[]);
            assert_eq!(run.code, 0, "{only:?} {format}: {}", run.stderr);
            run
        };
        let with = |format: &str| run_with(format).stdout;
        let filters: Vec<&str> = only.iter().copied().filter(|a| *a != "--only").collect();

        let json_run = run_with("json");
        let json: serde_json::Value = serde_json::from_str(&json_run.stdout).unwrap();
        assert_eq!(json["only"], serde_json::json!(filters));
        // JSON on stdout stays pure JSON; the person watching is warned on stderr.
        assert!(
            json_run
                .stderr
                .contains("Warning: partial plan, restricted by --only"),
            "{}",
            json_run.stderr
        );
        assert!(filters.iter().all(|f| json_run.stderr.contains(f)));
        let mut expected: Vec<&str> = Vec::new();
        if filters.contains(&"ConnectionAdmins/snowflake-prod") {
            expected.push("snowflake-prod");
        }
        if filters.contains(&"target=mist-prod") {
            expected.extend(["installer-app", "monitoring-ro", "noc-automation"]);
        }
        let names: Vec<&str> = json["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["address"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, expected, "{only:?}");

        let text = with("text");
        assert!(
            text.starts_with("Warning: partial plan, restricted by --only"),
            "{text}"
        );
        for f in &filters {
            assert!(text.lines().next().unwrap().contains(f), "{text}");
        }
        let markdown = with("markdown");
        assert!(markdown.contains("[!WARNING]"), "{markdown}");
        assert!(filters.iter().all(|f| markdown.contains(f)), "{markdown}");
    }

    let run = world.cli(
        &["plan", "examples/manifests", "--only", "OrgApiToken/nope"],
        &[],
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("--only OrgApiToken/nope matches no declared object"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    let run = world.cli(&["plan", "examples/manifests", "--only", "Bogus/x"], &[]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("unknown kind"), "{}", run.stderr);
}

// ---------------------------------------------------------------------------------------------
// Conflicts, each against a sandbox seeded to provoke it

fn connection_admins(name: &str, connection: &str, tokens: &str) -> String {
    format!(
        "apiVersion: warrant/v1\nkind: ConnectionAdmins\nmetadata: {{name: {name}}}\nspec:\n  target: atlan-prod\n  connection: {connection}\n  apiTokens: {tokens}\n"
    )
}

fn identity(name: &str, roles: &str) -> String {
    format!(
        "apiVersion: warrant/v1\nkind: AutomationIdentity\nmetadata: {{name: {name}}}\nspec:\n  target: connect-prod\n  roles: {roles}\n  tags: [managed-by:warrant]\n"
    )
}

fn org_token(name: &str, privileges: &str, src_ips: &str) -> String {
    format!(
        "apiVersion: warrant/v1\nkind: OrgApiToken\nmetadata: {{name: {name}}}\nspec:\n  target: mist-prod\n  privileges: {privileges}\n  srcIps: {src_ips}\n  keySink: {{file: keys/{name}.key}}\n"
    )
}

#[test]
fn a_missing_connection_is_a_conflict_never_a_create() {
    let world = start(Seed::example());
    let plan = world
        .plan_of(
            &connection_admins(
                "redshift",
                "default/redshift/1699999999",
                "[{name: ci-pipeline}]",
            ),
            ATLAN_KEY,
        )
        .unwrap();
    assert_conflict(
        &world,
        &plan,
        "redshift",
        &[
            "default/redshift/1699999999 not found",
            "never creates connections",
        ],
    );
}

#[test]
fn an_unknown_token_name_is_a_conflict() {
    let world = start(Seed::example());
    let plan = world
        .plan_of(
            &connection_admins(
                "snowflake-prod",
                "default/snowflake/1700000001",
                "[{name: ci-pipeline}, {name: no-such-token}]",
            ),
            ATLAN_KEY,
        )
        .unwrap();
    assert_conflict(
        &world,
        &plan,
        "snowflake-prod",
        &["\"no-such-token\" not found"],
    );
}

#[test]
fn an_ambiguous_token_name_is_a_conflict_but_its_guid_is_fine() {
    let world = start(crate::support::seed_with_bot_admin_of_databricks());
    let plan = world
        .plan_of(
            &connection_admins(
                "databricks-lakehouse",
                "default/databricks/1700000003",
                "[{name: shared-bot}]",
            ),
            ATLAN_KEY,
        )
        .unwrap();
    assert_conflict(
        &world,
        &plan,
        "databricks-lakehouse",
        &["ambiguous: 2 tokens named shared-bot", "use guid"],
    );

    let plan = world
        .plan_of(
            &connection_admins(
                "databricks-lakehouse",
                "default/databricks/1700000003",
                "[{guid: 0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d}]",
            ),
            ATLAN_KEY,
        )
        .unwrap();
    let c = change(&plan, "databricks-lakehouse");
    assert_eq!(c.action, Action::Update, "{c:#?}");
    assert_eq!(
        c.additions["adminUsers"],
        ["service-account-apikey-9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a".to_string()].into()
    );
    assert_eq!(world.writes(), Vec::<String>::new());
}

#[test]
fn a_caller_who_is_not_admin_of_the_connection_gets_a_conflict_that_says_why() {
    let world = start(Seed::example());
    let databricks = connection_admins(
        "databricks-lakehouse",
        "default/databricks/1700000003",
        "[{name: dbt-cloud}]",
    );
    let plan = world.plan_of(&databricks, JSMITH_KEY).unwrap();
    assert_conflict(
        &world,
        &plan,
        "databricks-lakehouse",
        &["(jsmith) is not an admin of connection default/databricks/1700000003"],
    );
    // jsmith administers snowflake, so the same kind of change there is fine.
    let snowflake = connection_admins(
        "snowflake-prod",
        "default/snowflake/1700000001",
        "[{name: dbt-cloud}]",
    );
    let plan = world.plan_of(&snowflake, JSMITH_KEY).unwrap();
    assert_eq!(change(&plan, "snowflake-prod").action, Action::Update);

    // The CLI exits 1 and shows the reason.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("m.yaml"),
        format!("{TARGETS_YAML}\n---\n{databricks}"),
    )
    .unwrap();
    let mut args = vec!["plan", dir.path().to_str().unwrap()];
    let endpoint = format!("atlan-prod={}", world.sandbox.atlan);
    args.extend(["--endpoint", &endpoint]);
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_warrant"));
    let out = command
        .args(&args)
        .env("NO_COLOR", "1")
        .env("ATLAN_API_KEY", JSMITH_KEY)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("! ConnectionAdmins/databricks-lakehouse")
            && stdout.contains("(jsmith) is not an admin of connection"),
        "{stdout}"
    );
    assert_no_secret("stdout", &stdout);
    assert_eq!(world.writes(), Vec::<String>::new());
}

#[test]
fn two_live_identities_with_the_same_name_are_a_conflict() {
    let mut seed = Seed::example();
    twin_identity(&mut seed);
    let world = start(seed);
    let plan = world
        .plan_of(&identity("asset-rule-runner", "[Tenant Member]"), ATLAN_KEY)
        .unwrap();
    assert_conflict(
        &world,
        &plan,
        "asset-rule-runner",
        &[
            "asset-rule-runner matches 2 live objects",
            "c0a8e1f2-3b4c-4d5e-9f6a-7b8c9d0e1f01",
            "c0a8e1f2-3b4c-4d5e-9f6a-7b8c9d0e1f99",
        ],
    );
}

#[test]
fn two_live_mist_tokens_with_the_same_name_are_a_conflict() {
    let mut seed = Seed::example();
    twin_mist_token(&mut seed);
    let world = start(seed);
    let plan = world
        .plan_of(
            &org_token("monitoring-ro", "[{role: read, scope: org}]", "[]"),
            ATLAN_KEY,
        )
        .unwrap();
    assert_conflict(
        &world,
        &plan,
        "monitoring-ro",
        &[
            "monitoring-ro matches 2 live objects",
            "497f6eca-6276-4993-bfeb-53efbbba6f99",
        ],
    );
}

#[test]
fn more_than_ten_privileges_in_total_is_a_conflict() {
    let site = |n: usize| format!("d96e3952-53e8-4266-959a-{n:012x}");
    let mut seed = Seed::example();
    let org = &mut seed.mist.orgs[0];
    org.sites.extend((0..11).map(|n| MistPlace {
        id: site(n),
        name: format!("site-{n}"),
    }));
    // Six live privileges; the manifest adds five others: eleven in total.
    let privilege = |n: usize| MistPrivilege {
        role: "read".into(),
        scope: "site".into(),
        site_id: Some(site(n)),
        sitegroup_id: None,
        views: Vec::new(),
    };
    org.api_tokens[1].privileges = (0..6).map(privilege).collect();
    let world = start(seed);
    let declared: Vec<String> = (6..11)
        .map(|n| format!("{{role: read, scope: site, siteId: {}}}", site(n)))
        .collect();
    let plan = world
        .plan_of(
            &org_token("monitoring-ro", &format!("[{}]", declared.join(", ")), "[]"),
            ATLAN_KEY,
        )
        .unwrap();
    assert_conflict(
        &world,
        &plan,
        "monitoring-ro",
        &["privileges: adding 5 to the 6 live values would make 11, more than the 10 allowed"],
    );
}

#[test]
fn src_ips_that_differ_from_live_are_a_conflict() {
    let world = start(Seed::example());
    // old-script lives with write/site hq and srcIps 198.51.100.7.
    let plan = world
        .plan_of(
            &org_token(
                "old-script",
                "[{role: write, scope: site, siteId: d96e3952-53e8-4266-959a-45acd55f5114}]",
                "[198.51.100.8]",
            ),
            ATLAN_KEY,
        )
        .unwrap();
    assert_conflict(
        &world,
        &plan,
        "old-script",
        &[
            "src_ips cannot change after creation; declare a new token under a new name",
            "(live srcIps: [198.51.100.7], declared: [198.51.100.8])",
        ],
    );
    // The live address the manifests do not declare is access they do not describe: drift.
    let token = change(&plan, "old-script");
    assert_eq!(
        token
            .drift
            .get("srcIps")
            .map(|v| v.iter().map(String::as_str).collect::<Vec<_>>()),
        Some(vec!["198.51.100.7"]),
        "{token:#?}"
    );
}

#[test]
fn unknown_and_ambiguous_role_names_are_conflicts() {
    let mut seed = Seed::example();
    let tenant = &mut seed.connect.tenants[0];
    for n in 1..=2 {
        tenant.roles.push(ConnectRole {
            id: format!("5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7d0{n}"),
            name: "Auditor".into(),
            description: String::new(),
            role_scope: 1,
            role_type_id: None,
            community_id: None,
        });
    }
    let world = start(seed);
    let plan = world
        .plan_of(
            &identity("ingress-pipeline", "[Tenant Member, No Such Role]"),
            ATLAN_KEY,
        )
        .unwrap();
    assert_conflict(
        &world,
        &plan,
        "ingress-pipeline",
        &["role \"No Such Role\" not found in the tenant"],
    );
    let plan = world
        .plan_of(&identity("asset-rule-runner", "[Auditor]"), ATLAN_KEY)
        .unwrap();
    assert_conflict(
        &world,
        &plan,
        "asset-rule-runner",
        &[
            "role name \"Auditor\" matches 2 roles",
            "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7d01",
            "use {id: …}",
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// Failed reads (promise 5)

fn quick_retries() -> ClientOptions {
    ClientOptions {
        backoff_base: Duration::from_millis(1),
        backoff_cap: Duration::from_millis(5),
        max_attempts: 3,
        ..ClientOptions::default()
    }
}

fn example_resources() -> String {
    ["atlan.yaml", "connect.yaml", "mist.yaml"]
        .iter()
        .map(|f| {
            std::fs::read_to_string(
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("examples/manifests")
                    .join(f),
            )
            .unwrap()
        })
        .collect::<Vec<_>>()
        .join("\n---\n")
}

#[test]
fn a_read_that_keeps_failing_fails_the_plan() {
    for platform in ["atlan", "connect", "mist"] {
        let faults: Faults = format!("{platform}.p500=1.0,seed=1").parse().unwrap();
        let world = start_with(Seed::example(), faults);
        let err = world
            .plan_with(&example_resources(), ATLAN_KEY, quick_retries())
            .unwrap_err();
        let PlanError::Platform(errors) = &err else {
            panic!("{err}")
        };
        assert_eq!(errors.len(), 1, "{err}");
        assert!(
            errors[0].target.starts_with(platform) && errors[0].status == Some(500),
            "{platform}: {err}"
        );
        assert_eq!(world.writes(), Vec::<String>::new());
    }
}

#[test]
fn intermittent_failures_either_fail_the_plan_or_give_the_same_plan() {
    let clean = start(Seed::example())
        .plan_of(&example_resources(), ATLAN_KEY)
        .unwrap();
    let expected: Vec<(String, Action)> = clean
        .changes
        .iter()
        .map(|c| (c.address.short(), c.action))
        .collect();
    let mut planned = 0;
    for seed in 0..8 {
        let faults: Faults = format!("p500=0.3,p503=0.1,drop=0.05,seed={seed}")
            .parse()
            .unwrap();
        let world = start_with(Seed::example(), faults);
        match world.plan_with(&example_resources(), ATLAN_KEY, quick_retries()) {
            Ok(plan) => {
                planned += 1;
                let actions: Vec<(String, Action)> = plan
                    .changes
                    .iter()
                    .map(|c| (c.address.short(), c.action))
                    .collect();
                assert_eq!(actions, expected, "fault seed {seed}");
                assert_eq!(plan.summary, clean.summary);
            }
            Err(PlanError::Platform(errors)) => assert!(!errors.is_empty()),
            Err(e) => panic!("fault seed {seed}: {e}"),
        }
        assert_eq!(world.writes(), Vec::<String>::new());
    }
    println!("{planned} of 8 fault seeds planned through retries");
}

#[test]
fn the_cli_exits_1_on_a_failed_read_and_shows_no_create() {
    // A Retry-After beyond the client's cap fails at once, so the default retry policy of the
    // binary costs no time here.
    let faults: Faults = "mist.p429=1.0,mist.retry_after=100000,seed=1"
        .parse()
        .unwrap();
    let world = start_with(Seed::example(), faults);
    for format in ["text", "markdown", "json"] {
        let run = world.cli(&example_plan_args(format), &[]);
        assert_eq!(run.code, 1, "{format}: {}", run.stdout);
        assert!(run.stdout.is_empty(), "{format}: {}", run.stdout);
        assert!(
            run.stderr.contains("error: target mist-prod"),
            "{}",
            run.stderr
        );
    }
    let run = world.cli(&["drift", "examples/manifests"], &[]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert_eq!(world.writes(), Vec::<String>::new());
}
