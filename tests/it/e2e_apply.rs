//! End to end: `warrant apply` against the sandbox over real HTTP, on the ACME example world.
//! Apply then plan converges for all three kinds; live changes between plan and apply are
//! rebased or refused as stale (exit 3, object untouched); a caller that is not an admin of a
//! connection; file and command key sinks, with the key kept out of every output.

use std::os::unix::fs::PermissionsExt;

use crate::support::*;
use serde_json::Value;
use warrant::apply::{ApplyReport, Status};
use warrant::model::{Kind, LiveState, SmallMap, WriteOp};

use crate::support::acme::{AUTOMATION_IDENTITY, CONNECTION_ADMINS, ORG_API_TOKEN};
use warrant::plan::{Action, Plan};

fn count(plan: &Plan, kind: Kind, action: Action) -> usize {
    plan.changes
        .iter()
        .filter(|c| c.address.kind == kind && c.action == action)
        .count()
}

fn change<'a>(plan: &'a Plan, name: &str) -> &'a warrant::plan::Change {
    plan.changes
        .iter()
        .find(|c| c.address.name == name)
        .unwrap_or_else(|| panic!("{name} is not in the plan"))
}

fn read_report(path: &std::path::Path) -> ApplyReport {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_then_plan_has_no_changes_for_all_three_kinds() {
    let world = World::example().await;
    let before = world.sandbox.state();
    let session = world.session();
    let plan = world.plan(&session).await;
    assert!(count(&plan, CONNECTION_ADMINS, Action::Update) >= 1);
    assert!(count(&plan, AUTOMATION_IDENTITY, Action::Create) >= 1);
    assert!(count(&plan, AUTOMATION_IDENTITY, Action::Update) >= 1);
    assert!(count(&plan, ORG_API_TOKEN, Action::Create) >= 1);

    let report = world.apply(&plan, &session).await;
    let not_applied: Vec<_> = report
        .objects
        .iter()
        .filter(|o| !matches!(o.status, Status::Applied | Status::NoOp))
        .map(|o| (o.address.to_string(), o.status, o.error.clone()))
        .collect();
    assert!(not_applied.is_empty(), "{not_applied:#?}");

    let again = world.plan(&world.session()).await;
    assert_converged(&again);
    let after = world.sandbox.state();
    assert_nothing_lost(&before, &after);
    // The undeclared access of the example is still there, reported as drift.
    let bigquery = find_object(&after, "qualifiedName", "default/bigquery/1700000002").unwrap();
    assert!(
        bigquery["adminGroups"]
            .to_string()
            .contains("data-engineers")
    );
    assert!(find_object(&after, "name", "old-script").is_some());
    assert!(find_object(&after, "name", "legacy-ingest").is_some());
}

/// Makes the changes "someone else" makes between plan and apply, through the platforms'
/// own APIs: two compatible ones on Atlan and two incompatible ones (an identity the plan
/// updates is deleted; a token the plan creates is created by someone else with other srcIps).
async fn change_live_behind_the_plans_back(world: &World, plan: &Plan) {
    let session = world.session();
    let atlan = session.client("atlan-prod").unwrap();
    for (name, admin) in [
        ("snowflake-prod", DBT_CLOUD),
        ("bigquery-analytics", AIRFLOW),
    ] {
        let desired = change(plan, name).desired.clone();
        let live = atlan.read(std::slice::from_ref(&desired)).await.unwrap();
        let LiveState::Present { object } = &live[0] else {
            panic!("{name} is not live")
        };
        let op = WriteOp::Update {
            address: desired.address.clone(),
            live: object.clone(),
            additions: SmallMap::from([("adminUsers".to_string(), [admin.to_string()].into())]),
        };
        atlan.write(vec![op]).await.remove(0).unwrap();
    }

    let noc = change(plan, "noc-automation").desired.clone();
    let mut fields: SmallMap<_> = noc
        .fields
        .iter()
        .map(|(k, f)| (k.clone(), f.values.clone()))
        .collect();
    fields.insert("srcIps".into(), ["10.9.9.9".to_string()].into());
    let mist = session.client("mist-prod").unwrap();
    let created = mist
        .write(vec![WriteOp::Create {
            desired: noc,
            fields,
        }])
        .await
        .remove(0)
        .unwrap();
    drop(created.secret);

    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{}/identity/connect/token", world.sandbox.connect))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&client_id={CONNECT_ID}&client_secret={CONNECT_SECRET}"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = token["access_token"].as_str().unwrap();
    let id = change(plan, "asset-rule-runner").live_id.clone().unwrap();
    let deleted = http
        .delete(format!(
            "{}/api/v1/Tenants/{TENANT}/AutomationIdentities/{id}",
            world.sandbox.connect
        ))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success(), "{}", deleted.status());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_changes_since_the_plan_are_rebased_or_refused_as_stale_with_exit_3() {
    let world = World::example().await;
    let plan = world.plan(&world.session()).await;
    let plan_file = world.dir().join("plan.json");
    warrant::plan::file::write(&plan_file, &plan).unwrap();
    assert_eq!(change(&plan, "bigquery-analytics").action, Action::Update);
    assert_eq!(change(&plan, "noc-automation").action, Action::Create);
    assert_eq!(change(&plan, "asset-rule-runner").action, Action::Update);

    change_live_behind_the_plans_back(&world, &plan).await;
    let before = world.sandbox.state();
    let noc_before = find_object(&before, "name", "noc-automation")
        .unwrap()
        .clone();

    let out = world.warrant_live(&["apply", "plan.json", "--report", "report.json"]);
    assert_eq!(out.code, 3, "{out:#?}");
    let report = read_report(&world.dir().join("report.json"));
    assert_eq!(
        status_of(&report, "snowflake-prod"),
        Status::AlreadySatisfied
    );
    assert_eq!(status_of(&report, "bigquery-analytics"), Status::Rebased);
    assert_eq!(status_of(&report, "noc-automation"), Status::Stale);
    assert_eq!(status_of(&report, "asset-rule-runner"), Status::Stale);
    // The objects the change did not touch were applied.
    assert_eq!(status_of(&report, "ingress-pipeline"), Status::Applied);
    assert_eq!(status_of(&report, "installer-app"), Status::Applied);
    let stale = report
        .objects
        .iter()
        .find(|o| o.address.name == "noc-automation")
        .unwrap();
    assert!(
        stale
            .reasons
            .iter()
            .any(|r| r.to_string().contains("srcIps")),
        "{:?}",
        stale.reasons
    );
    assert!(out.stdout.contains("noc-automation"), "{}", out.stdout);

    let after = world.sandbox.state();
    assert_nothing_lost(&before, &after);
    // The stale objects are exactly as the other writer left them.
    let noc_after = find_object(&after, "name", "noc-automation").unwrap();
    for field in ["id", "privileges", "srcIps"] {
        assert_eq!(noc_before[field], noc_after[field], "{field}");
    }
    assert!(find_object(&after, "name", "asset-rule-runner").is_none());
    assert!(!world.keys().join("noc-automation.key").exists());
    // bigquery got looker-sync only, the rest of the plan's addition.
    let bigquery = find_object(&after, "qualifiedName", "default/bigquery/1700000002").unwrap();
    assert!(
        bigquery["adminUsers"]
            .to_string()
            .contains("service-account-apikey-2a9f8e7d-6c5b-4a3e-8d2c-1b0a9f8e7d6c")
    );
}

/// databricks needs dbt-cloud too; jsmith is an admin of snowflake and bigquery only.
fn manifests_with_databricks_update() -> Vec<(String, String)> {
    example_manifests()
        .into_iter()
        .map(|(name, text)| {
            let text = if name == "atlan.yaml" {
                text.replace(
                    "connection: default/databricks/1700000003\n  apiTokens:\n    - name: ci-pipeline",
                    "connection: default/databricks/1700000003\n  apiTokens:\n    - name: ci-pipeline\n    - name: dbt-cloud",
                )
            } else {
                text
            };
            (name, text)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_is_not_admin_of_a_connection_plans_a_conflict_and_cannot_apply_it() {
    let world = World::start(
        crate::support::seed_with_bot_admin_of_databricks(),
        &manifests_with_databricks_update(),
    )
    .await;

    // Planned by jsmith: the connection jsmith does not administer is a conflict.
    let as_jsmith = world.plan(&world.session_as(JSMITH_KEY)).await;
    let databricks = change(&as_jsmith, "databricks-lakehouse");
    assert_eq!(databricks.action, Action::Conflict);
    assert!(
        databricks
            .reasons
            .iter()
            .any(|r| r.to_string().contains("admin")),
        "{:?}",
        databricks.reasons
    );
    assert_eq!(change(&as_jsmith, "snowflake-prod").action, Action::Update);

    // Planned by the admin bot, applied by jsmith: the plan is no longer reachable for that
    // object with this credential.
    let plan = world.plan(&world.session()).await;
    assert_eq!(change(&plan, "databricks-lakehouse").action, Action::Update);
    warrant::plan::file::write(&world.dir().join("plan.json"), &plan).unwrap();
    let before = world.sandbox.state();
    let out = world.warrant_live_as(
        JSMITH_KEY,
        &["apply", "plan.json", "--report", "report.json"],
    );
    let report = read_report(&world.dir().join("report.json"));
    let object = report
        .objects
        .iter()
        .find(|o| o.address.name == "databricks-lakehouse")
        .unwrap();
    // The fresh read sees the credential would be refused (the live object's write_denied):
    // live state did not move, the credential lacks the permission, so re-planning would not
    // help. The object fails with the clear message before any write; exit 1, not 3.
    assert_eq!(object.status, Status::Failed, "{object:#?}");
    let error = object.error.as_deref().unwrap_or_default();
    assert!(
        error.contains("(jsmith) is not an admin of connection default/databricks/1700000003"),
        "{object:#?}"
    );
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(
        out.stdout.lines().any(
            |l| l.starts_with("failed  ConnectionAdmins/databricks-lakehouse")
                && l.contains("is not an admin of connection")
        ),
        "{}",
        out.stdout
    );
    assert_eq!(report.outcome, warrant::apply::ReportOutcome::Failure);
    assert_eq!(status_of(&report, "snowflake-prod"), Status::Applied);
    assert_eq!(status_of(&report, "bigquery-analytics"), Status::Applied);

    let after = world.sandbox.state();
    assert_nothing_lost(&before, &after);
    let conn = |s: &Value| {
        find_object(s, "qualifiedName", "default/databricks/1700000003")
            .unwrap()
            .clone()
    };
    assert_eq!(conn(&before), conn(&after), "databricks was changed");
}

async fn key_authenticates(world: &World, key: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{}/api/v1/self", world.sandbox.mist))
        .header("Authorization", format!("Token {key}"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_key_sink_gets_the_key_with_mode_0600_and_nothing_else_sees_it() {
    let world = World::example().await;
    let mut args = vec!["plan", "manifests", "--out", "plan.json"];
    let endpoints = world.endpoint_args();
    args.extend(endpoints.iter().map(String::as_str));
    let plan_out = world.warrant(&args);
    assert_eq!(plan_out.code, 0, "{plan_out:#?}");

    let apply_out = world.warrant_live(&["apply", "plan.json", "--report", "report.json"]);
    assert_eq!(apply_out.code, 0, "{apply_out:#?}");

    let mut keys = Vec::new();
    for name in ["noc-automation", "installer-app"] {
        let path = world.keys().join(format!("{name}.key"));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name}");
        let key = std::fs::read_to_string(&path).unwrap().trim().to_string();
        assert!(
            key.len() >= 16,
            "{name}: the key file holds {} bytes",
            key.len()
        );
        assert_eq!(key_authenticates(&world, &key).await, 200, "{name}");
        keys.push(key);
    }
    assert_eq!(key_authenticates(&world, "not-a-key").await, 401);

    let report = std::fs::read_to_string(world.dir().join("report.json")).unwrap();
    let plan = std::fs::read_to_string(world.dir().join("plan.json")).unwrap();
    let mut seen = vec![
        ("plan stdout", plan_out.stdout),
        ("plan stderr", plan_out.stderr),
        ("apply stdout", apply_out.stdout),
        ("apply stderr", apply_out.stderr),
        ("report", report),
        ("plan file", plan),
    ];
    // Every other file the run left in the scratch directory too.
    for entry in std::fs::read_dir(world.dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            seen.push(("file", std::fs::read_to_string(&path).unwrap_or_default()));
        }
    }
    for key in &keys {
        for (what, text) in &seen {
            assert!(!text.contains(key.as_str()), "a key appears in the {what}");
        }
    }
    let again = world.plan(&world.session()).await;
    assert_converged(&again);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_command_sink_is_reported_as_a_token_without_a_captured_key() {
    let files: Vec<(String, String)> = example_manifests()
        .into_iter()
        .map(|(name, text)| {
            let text = text.replace(
                "keySink: {file: ../keys/installer-app.key}",
                "keySink: {command: [sh, -c, 'cat >/dev/null; echo sink refused >&2; exit 1']}",
            );
            (name, text)
        })
        .collect();
    let world = World::start(warrant::sandbox::Seed::example(), &files).await;
    let plan = world.plan(&world.session()).await;
    warrant::plan::file::write(&world.dir().join("plan.json"), &plan).unwrap();

    let out = world.warrant_live(&["apply", "plan.json", "--report", "report.json"]);
    assert_eq!(out.code, 1, "{out:#?}");
    let report = read_report(&world.dir().join("report.json"));
    let installer = report
        .objects
        .iter()
        .find(|o| o.address.name == "installer-app")
        .unwrap();
    assert_eq!(installer.status, Status::Failed, "{installer:#?}");
    let id = installer
        .id
        .clone()
        .expect("the created token's id is reported");
    let error = installer.error.clone().unwrap_or_default();
    assert!(
        error.starts_with(&format!(
            "token created, key NOT delivered: rotate it (token installer-app, id {id})"
        )),
        "{error}"
    );
    assert!(error.contains("sink refused"), "{error}");
    let todo = installer.action_required.clone().unwrap_or_default();
    assert!(todo.contains("its key was not delivered"), "{todo}");
    assert!(
        out.stdout.contains("key NOT delivered: rotate it"),
        "{}",
        out.stdout
    );
    // The token does exist; everything else was applied.
    assert!(find_object(&world.sandbox.state(), "name", "installer-app").is_some());
    assert_eq!(status_of(&report, "noc-automation"), Status::Applied);
    assert_eq!(status_of(&report, "ingress-pipeline"), Status::Applied);
}
