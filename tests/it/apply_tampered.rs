//! The plan file is untrusted: edited plans, applied with `--manifests` by the real binary
//! against the sandbox over real HTTP, end in a refusal or a narrowed apply — never in a write
//! the merged manifests do not declare.
//!
//! Every edited plan gets a correct `plan_id` (it is an unkeyed hash anyone can recompute), so
//! what is tested is the binding to the manifests, not the id check (which has its own test).
//! After each apply: no request reached a host other than the manifests' (a loopback listener
//! counts what arrives at the "other" host), the sink the edit named never ran, and what was
//! refused is unchanged in the sandbox.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;
use tokio::io::AsyncWriteExt;
use warrant::apply::{ApplyReport, Status};
use warrant::model::Refused;
use warrant::model::Values;
use warrant::plan::file::PlanFile;
use warrant::plan::{Action, Change, Plan};
use warrant::platform::TargetPlatform;
use warrant::sandbox::Seed;
use warrant::secret::KeySink;

use crate::support::{
    ATLAN_KEY, DBT_CLOUD, Output, World, example_manifests, find_object, run, status_of,
};

/// The legacy-etl token of the seed: a real token nobody declared on snowflake-prod.
const LEGACY_ETL: &str = "service-account-apikey-6b5a4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d";
/// What an edited plan would send a credential variable's value to.
const CANARY: &str = "canary-secret-from-an-unrelated-variable";

/// A loopback HTTP listener standing for "another host": it counts every connection.
struct OtherHost {
    url: String,
    hits: Arc<AtomicUsize>,
}

impl OtherHost {
    async fn start() -> OtherHost {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
                    .await;
            }
        });
        OtherHost { url, hits }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// A reviewed plan of a sandbox world, saved as the CI artifact would be.
struct Reviewed {
    world: World,
    plan: PlanFile,
    other: OtherHost,
    /// What a sink named by an edit would create if it ran.
    marker: PathBuf,
}

impl Reviewed {
    async fn of(world: World) -> Reviewed {
        let plan = world.plan(&world.session()).await;
        assert_eq!(plan.manifests, vec!["manifests".to_string()]);
        let marker = world.dir().join("sink-ran");
        Reviewed {
            world,
            plan,
            other: OtherHost::start().await,
            marker,
        }
    }

    async fn example() -> Reviewed {
        Reviewed::of(World::example().await).await
    }

    /// The reviewed plan after `edit`, with its plan id recomputed, saved as `tampered.json`.
    fn tamper(&self, edit: impl FnOnce(&mut Plan)) -> &'static str {
        let mut plan = self.plan.clone();
        edit(&mut plan);
        plan.seal();
        warrant::plan::file::write(&self.world.dir().join("tampered.json"), &plan).unwrap();
        "tampered.json"
    }

    /// `warrant apply FILE --manifests manifests --report report.json`, endpoints at the
    /// sandbox, the credentials and an unrelated secret variable in the environment.
    fn apply(&self, file: &str, extra: &[&str]) -> (Output, ApplyReport) {
        let _ = std::fs::remove_file(self.world.dir().join("report.json"));
        let mut command = self.world.command(ATLAN_KEY);
        command
            .args(["apply", file, "--manifests", "manifests"])
            .args(["--report", "report.json"])
            .args(extra)
            .args(self.world.endpoint_args())
            .env("GH_SECRETS_TOKEN", CANARY);
        let out = run(command);
        let report = std::fs::read_to_string(self.world.dir().join("report.json"))
            .map(|text| serde_json::from_str(&text).unwrap())
            .unwrap_or_else(|e| panic!("no report ({e}): {out:#?}"));
        assert!(!out.stdout.contains(CANARY) && !out.stderr.contains(CANARY));
        (out, report)
    }

    /// The reviewed plan itself, saved unchanged and applied.
    fn apply_reviewed(&self) -> (Output, ApplyReport) {
        warrant::plan::file::write(&self.world.dir().join("plan-reviewed.json"), &self.plan)
            .unwrap();
        self.apply("plan-reviewed.json", &[])
    }

    /// What every tampered apply must leave true, refused or narrowed.
    fn assert_contained(&self) {
        assert_eq!(self.other.hits(), 0, "a request reached another host");
        assert!(!self.marker.exists(), "a sink named by the edit ran");
        assert!(!self.world.dir().join("escaped.key").exists());
        assert!(
            !self
                .world
                .dir()
                .parent()
                .unwrap()
                .join("escaped.key")
                .exists()
        );
    }

    fn live(&self, key: &str, value: &str) -> Value {
        find_object(&self.world.sandbox.state(), key, value)
            .cloned()
            .unwrap_or(Value::Null)
    }
}

fn change_mut<'a>(plan: &'a mut Plan, name: &str) -> &'a mut Change {
    plan.changes
        .iter_mut()
        .find(|c| c.address.name == name)
        .unwrap_or_else(|| panic!("{name} is not in the plan"))
}

fn refusal(report: &ApplyReport, name: &str) -> Option<Refused> {
    report
        .objects
        .iter()
        .find(|o| o.address.name == name)
        .and_then(|o| o.refused.clone())
}

fn admins(connection: &Value) -> Vec<String> {
    serde_json::from_value(connection["adminUsers"].clone()).unwrap_or_default()
}

const SNOWFLAKE: &str = "default/snowflake/1700000001";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undeclared_value_in_the_additions_is_refused_and_left_untouched() {
    let reviewed = Reviewed::example().await;
    let before = reviewed.live("qualifiedName", SNOWFLAKE);
    let file = reviewed.tamper(|plan| {
        let c = change_mut(plan, "snowflake-prod");
        c.additions
            .get_mut("adminUsers")
            .unwrap()
            .insert(LEGACY_ETL.into());
    });

    let (out, report) = reviewed.apply(file, &[]);

    assert_eq!(out.code, 1, "{out:#?}");
    assert_eq!(status_of(&report, "snowflake-prod"), Status::Refused);
    assert!(matches!(
        refusal(&report, "snowflake-prod"),
        Some(Refused::UndeclaredAdditions { values, .. }) if values == vec![LEGACY_ETL.to_string()]
    ));
    assert!(
        out.stdout
            .contains("refused  ConnectionAdmins/snowflake-prod"),
        "{}",
        out.stdout
    );
    assert_eq!(reviewed.live("qualifiedName", SNOWFLAKE), before);
    // The rest of the reviewed plan still applies.
    assert_eq!(status_of(&report, "bigquery-analytics"), Status::Applied);
    assert_eq!(status_of(&report, "ingress-pipeline"), Status::Applied);
    reviewed.assert_contained();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undeclared_value_in_the_desired_object_is_ignored() {
    let reviewed = Reviewed::example().await;
    let file = reviewed.tamper(|plan| {
        let c = change_mut(plan, "snowflake-prod");
        c.desired
            .fields
            .get_mut("adminUsers")
            .unwrap()
            .values
            .insert(LEGACY_ETL.into());
    });

    let (out, report) = reviewed.apply(file, &[]);

    // Narrowed to what the manifests declare: dbt-cloud is added, legacy-etl is not.
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(status_of(&report, "snowflake-prod"), Status::Applied);
    let live = admins(&reviewed.live("qualifiedName", SNOWFLAKE));
    assert!(live.contains(&DBT_CLOUD.to_string()), "{live:?}");
    assert!(!live.contains(&LEGACY_ETL.to_string()), "{live:?}");
    reviewed.assert_contained();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undeclared_value_in_both_additions_and_desired_is_refused() {
    let reviewed = Reviewed::example().await;
    let before = reviewed.live("qualifiedName", SNOWFLAKE);
    let file = reviewed.tamper(|plan| {
        let c = change_mut(plan, "snowflake-prod");
        c.additions
            .get_mut("adminUsers")
            .unwrap()
            .insert(LEGACY_ETL.into());
        c.desired
            .fields
            .get_mut("adminUsers")
            .unwrap()
            .values
            .insert(LEGACY_ETL.into());
        // Even with the declaration digest made to match the edited desired object.
        c.declaration = warrant::plan::declaration_digest(&c.desired);
    });

    let (out, report) = reviewed.apply(file, &[]);

    assert_ne!(out.code, 0, "{out:#?}");
    assert!(
        matches!(
            status_of(&report, "snowflake-prod"),
            Status::Refused | Status::Stale
        ),
        "{report:#?}"
    );
    assert_eq!(reviewed.live("qualifiedName", SNOWFLAKE), before);
    reviewed.assert_contained();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_for_an_object_no_manifest_declares_is_refused() {
    let reviewed = Reviewed::example().await;
    let databricks = "default/databricks/1700000003";
    let before = reviewed.live("qualifiedName", databricks);
    let file = reviewed.tamper(|plan| {
        // An extra admin on a declared connection, under a name no manifest uses…
        let mut evil = change_mut(plan, "snowflake-prod").clone();
        evil.address.name = "evil".into();
        evil.address.remote_key = databricks.into();
        evil.desired.address = evil.address.clone();
        let legacy: Values = [LEGACY_ETL.to_string()].into();
        evil.additions = warrant::model::SmallMap::from([("adminUsers".into(), legacy)]);
        evil.declaration = warrant::plan::declaration_digest(&evil.desired);
        // …and an identity nobody declared at all.
        let mut bot = change_mut(plan, "ingress-pipeline").clone();
        bot.address.name = "evil-bot".into();
        bot.address.remote_key = "evil-bot".into();
        bot.desired.address = bot.address.clone();
        plan.changes.push(evil);
        plan.changes.push(bot);
        plan.summary = warrant::plan::Summary::of(&plan.changes);
    });

    let (out, report) = reviewed.apply(file, &[]);

    assert_eq!(out.code, 1, "{out:#?}");
    assert_eq!(refusal(&report, "evil"), Some(Refused::NotDeclared));
    assert_eq!(refusal(&report, "evil-bot"), Some(Refused::NotDeclared));
    assert_eq!(reviewed.live("qualifiedName", databricks), before);
    assert_eq!(reviewed.live("name", "evil-bot"), Value::Null);
    assert_eq!(status_of(&report, "ingress-pipeline"), Status::Applied);
    reviewed.assert_contained();
}

/// A world whose plan has a conflict: a connection that does not exist (never created).
async fn with_missing_connection() -> Reviewed {
    let files: Vec<(String, String)> = example_manifests()
        .into_iter()
        .map(|(name, text)| {
            if name == "atlan.yaml" {
                let doc = "\n---\napiVersion: warrant/v1\nkind: ConnectionAdmins\nmetadata: {name: nowhere}\nspec:\n  target: atlan-prod\n  connection: default/nowhere/1\n  apiTokens:\n    - name: ci-pipeline\n";
                (name, format!("{text}{doc}"))
            } else {
                (name, text)
            }
        })
        .collect();
    let reviewed = Reviewed::of(World::start(Seed::example(), &files).await).await;
    let nowhere = reviewed
        .plan
        .changes
        .iter()
        .find(|c| c.address.name == "nowhere")
        .unwrap();
    assert_eq!(nowhere.action, Action::Conflict);
    reviewed
}

fn conflict_made(plan: &mut Plan, action: Action) {
    let c = change_mut(plan, "nowhere");
    c.action = action;
    c.reasons.clear();
    c.additions = c
        .desired
        .fields
        .iter()
        .map(|(f, d)| (f.clone(), d.values.clone()))
        .collect();
    plan.summary = warrant::plan::Summary::of(&plan.changes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_turned_into_an_update_or_a_create_is_refused() {
    let reviewed = with_missing_connection().await;

    let file = reviewed.tamper(|plan| conflict_made(plan, Action::Update));
    let (out, report) = reviewed.apply(file, &[]);
    // Re-read, the connection is still absent and warrant never creates one: stale.
    assert_eq!(out.code, 3, "{out:#?}");
    assert_eq!(status_of(&report, "nowhere"), Status::Stale);
    assert_eq!(
        reviewed.live("qualifiedName", "default/nowhere/1"),
        Value::Null
    );

    let file = reviewed.tamper(|plan| conflict_made(plan, Action::Create));
    let (out, report) = reviewed.apply(file, &[]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert_eq!(
        refusal(&report, "nowhere"),
        Some(Refused::CreateNotDeclared)
    );
    assert_eq!(
        reviewed.live("qualifiedName", "default/nowhere/1"),
        Value::Null
    );
    reviewed.assert_contained();
}

fn atlan_settings(plan: &mut Plan) -> &mut warrant::platform::AtlanTarget {
    match plan.targets.get_mut("atlan-prod") {
        Some(TargetPlatform::Atlan(a)) => a,
        other => panic!("atlan-prod settings: {other:?}"),
    }
}

/// Nothing reached the Atlan sandbox, and no Atlan object moved.
fn assert_atlan_untouched(reviewed: &Reviewed, requests_before: usize, atlan_before: &Value) {
    assert_eq!(atlan_requests(reviewed), requests_before);
    assert_eq!(&reviewed.world.sandbox.state()["atlan"], atlan_before);
}

fn atlan_requests(reviewed: &Reviewed) -> usize {
    reviewed
        .world
        .sandbox
        .request_counts()
        .iter()
        .filter(|(k, _)| k.starts_with("atlan "))
        .map(|(_, n)| *n as usize)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_base_url_edited_in_the_plan_is_refused_for_that_target() {
    let reviewed = Reviewed::example().await;
    let requests = atlan_requests(&reviewed);
    let atlan = reviewed.world.sandbox.state()["atlan"].clone();

    for url in [
        reviewed.other.url.clone(),
        "http://198.51.100.7:8080".to_string(),
    ] {
        let file = reviewed.tamper(|plan| atlan_settings(plan).base_url = url.clone());
        let (out, report) = reviewed.apply(file, &[]);

        assert_eq!(out.code, 1, "{out:#?}");
        for name in ["snowflake-prod", "bigquery-analytics"] {
            match refusal(&report, name) {
                Some(Refused::TargetSettings {
                    target,
                    differences,
                }) => {
                    assert_eq!(target, "atlan-prod");
                    assert!(differences[0].starts_with("baseUrl is"), "{differences:?}");
                }
                other => panic!("{name}: {other:?}"),
            }
        }
        assert_atlan_untouched(&reviewed, requests, &atlan);
        reviewed.assert_contained();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_variable_swapped_in_the_plan_is_refused() {
    let reviewed = Reviewed::example().await;
    let requests = atlan_requests(&reviewed);
    let atlan = reviewed.world.sandbox.state()["atlan"].clone();
    let file = reviewed.tamper(|plan| {
        let a = atlan_settings(plan);
        a.api_key_env = "GH_SECRETS_TOKEN".into();
        a.base_url = reviewed.other.url.clone();
    });

    let (out, report) = reviewed.apply(file, &[]);

    assert_eq!(out.code, 1, "{out:#?}");
    match refusal(&report, "snowflake-prod") {
        Some(Refused::TargetSettings { differences, .. }) => {
            assert!(
                differences.iter().any(|d| d.starts_with("apiKeyEnv is")),
                "{differences:?}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_atlan_untouched(&reviewed, requests, &atlan);
    reviewed.assert_contained();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_sink_edited_in_the_plan_never_runs() {
    let reviewed = Reviewed::example().await;
    let escaped = reviewed.world.dir().parent().unwrap().join("escaped.key");
    let marker = reviewed.marker.display().to_string();
    let edits: Vec<KeySink> = vec![
        KeySink::Command {
            argv: vec![
                "sh".into(),
                "-c".into(),
                "touch \"$0\"; cat > \"$0\"".into(),
                marker,
            ],
            env: vec!["GH_SECRETS_TOKEN".into(), "ATLAN_API_KEY".into()],
        },
        KeySink::File("../escaped.key".into()),
        KeySink::File(escaped),
    ];

    // The edited sink alone is ignored: the manifests' sink receives the key.
    let file = reviewed.tamper(|plan| {
        change_mut(plan, "installer-app").desired.key_sink = Some(edits[0].clone());
        change_mut(plan, "noc-automation").desired.key_sink = Some(edits[1].clone());
    });
    let (out, report) = reviewed.apply(file, &[]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(status_of(&report, "installer-app"), Status::Applied);
    for name in ["installer-app", "noc-automation"] {
        let key = reviewed.world.keys().join(format!("{name}.key"));
        assert!(key.exists(), "{name}: the manifests' sink got no key");
    }
    reviewed.assert_contained();

    // With the declaration digest forged to match it, the object no longer matches the
    // manifests: stale, not created, no sink run.
    let reviewed = Reviewed::example().await;
    let file = reviewed.tamper(|plan| {
        for (name, sink) in [("installer-app", &edits[0]), ("noc-automation", &edits[2])] {
            let c = change_mut(plan, name);
            c.desired.key_sink = Some(sink.clone());
            c.declaration = warrant::plan::declaration_digest(&c.desired);
        }
    });
    let (out, report) = reviewed.apply(file, &[]);
    assert_eq!(out.code, 3, "{out:#?}");
    for name in ["installer-app", "noc-automation"] {
        assert_eq!(status_of(&report, name), Status::Stale);
        assert_eq!(reviewed.live("name", name), Value::Null, "{name} created");
        assert!(!reviewed.world.keys().join(format!("{name}.key")).exists());
    }
    reviewed.assert_contained();
}

/// Rewrites one manifest file of the world after the plan was made (a merge in between).
fn merge(reviewed: &Reviewed, file: &str, from: &str, to: &str) {
    let path: &Path = &reviewed.world.manifest_dir().join(file);
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from} not in {file}");
    std::fs::write(path, text.replace(from, to)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_from_older_manifests_still_applies_after_an_unrelated_change() {
    let reviewed = Reviewed::example().await;
    // databricks-lakehouse is a no-op in the plan; a later merge gives it another admin.
    merge(
        &reviewed,
        "atlan.yaml",
        "  connection: default/databricks/1700000003\n  apiTokens:\n    - name: ci-pipeline\n",
        "  connection: default/databricks/1700000003\n  apiTokens:\n    - name: ci-pipeline\n    - name: dbt-cloud\n",
    );
    let (out, report) = reviewed.apply_reviewed();

    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(status_of(&report, "snowflake-prod"), Status::Applied);
    assert_eq!(status_of(&report, "databricks-lakehouse"), Status::NoOp);
    // The change nobody reviewed is not made.
    let databricks = admins(&reviewed.live("qualifiedName", "default/databricks/1700000003"));
    assert!(
        !databricks.contains(&DBT_CLOUD.to_string()),
        "{databricks:?}"
    );
    reviewed.assert_contained();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_from_older_manifests_is_stale_for_the_object_that_changed() {
    let reviewed = Reviewed::example().await;
    let before = reviewed.live("name", "asset-rule-runner");
    // The merge drops a tag the plan was to add: applying the rest would be a subset of the
    // plan, but not what anyone reviewed for this declaration.
    merge(
        &reviewed,
        "connect.yaml",
        "tags: [managed-by:warrant, env:prod]",
        "tags: [managed-by:warrant]",
    );
    let (out, report) = reviewed.apply_reviewed();

    assert_eq!(out.code, 3, "{out:#?}");
    assert_eq!(status_of(&report, "asset-rule-runner"), Status::Stale);
    assert!(
        out.stdout
            .contains("its declaration in the manifests changed since the plan"),
        "{}",
        out.stdout
    );
    assert_eq!(reviewed.live("name", "asset-rule-runner"), before);
    assert_eq!(status_of(&report, "ingress-pipeline"), Status::Applied);
    assert_eq!(status_of(&report, "snowflake-prod"), Status::Applied);
    reviewed.assert_contained();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_that_keeps_the_old_id_or_another_plan_than_the_reviewed_one_is_refused() {
    let reviewed = Reviewed::example().await;
    let requests = reviewed.world.sandbox.request_counts();
    let state = reviewed.world.sandbox.state();

    // An edit without recomputing the id: the content no longer matches it.
    let mut plan = reviewed.plan.clone();
    change_mut(&mut plan, "snowflake-prod")
        .additions
        .get_mut("adminUsers")
        .unwrap()
        .insert(LEGACY_ETL.into());
    warrant::plan::file::write(&reviewed.world.dir().join("stale-id.json"), &plan).unwrap();
    let out = reviewed
        .world
        .warrant_live(&["apply", "stale-id.json", "--manifests", "manifests"]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(
        out.stderr.contains("does not match its content"),
        "{}",
        out.stderr
    );

    // A consistent edit, but not the plan that was reviewed.
    let file = reviewed.tamper(|plan| plan.created_at = "2030-01-01T00:00:00Z".into());
    let reviewed_id = reviewed.plan.plan_id.clone();
    let out = reviewed.world.warrant_live(&[
        "apply",
        file,
        "--manifests",
        "manifests",
        "--plan-id",
        &reviewed_id,
    ]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(
        out.stderr
            .contains(&format!("not the reviewed plan {reviewed_id}")),
        "{}",
        out.stderr
    );
    assert_eq!(reviewed.world.sandbox.request_counts(), requests);
    assert_eq!(reviewed.world.sandbox.state(), state);

    // The reviewed plan itself, pinned by its id, applies.
    warrant::plan::file::write(&reviewed.world.dir().join("plan.json"), &reviewed.plan).unwrap();
    let out = reviewed.world.warrant_live(&[
        "apply",
        "plan.json",
        "--manifests",
        "manifests",
        "--plan-id",
        &reviewed_id,
    ]);
    assert_eq!(out.code, 0, "{out:#?}");
    reviewed.assert_contained();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_in_the_plan_cannot_forge_a_line_of_the_apply_log() {
    let reviewed = Reviewed::example().await;
    let file = reviewed.tamper(|plan| {
        let mut forged = change_mut(plan, "snowflake-prod").clone();
        forged.address.name = "x\napplied  ConnectionAdmins/everything: all good\x1b[2K".into();
        plan.changes.push(forged);
    });

    let (out, report) = reviewed.apply(file, &[]);

    assert_eq!(out.code, 1, "{out:#?}");
    assert!(
        !out.stdout
            .lines()
            .any(|l| l.starts_with("applied  ConnectionAdmins/everything")),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains('\x1b'), "{}", out.stdout);
    assert!(
        out.stdout
            .contains(r"refused  ConnectionAdmins/x\napplied  ConnectionAdmins/everything"),
        "{}",
        out.stdout
    );
    assert!(
        report
            .objects
            .iter()
            .any(|o| o.refused == Some(Refused::NotDeclared))
    );
    reviewed.assert_contained();
}
