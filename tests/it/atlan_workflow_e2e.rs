//! `via: workflow` end to end (issue 16, docs/atlan-workflows.md): warrant grants API tokens
//! through Atlan's API token connection admin package against the sandbox's workflow engine
//! over real HTTP — a new grant (a new package workflow), a grant that exists (no run), the
//! re-run of a workflow created in the UI (with the UI's JSON-array connection), joining a run
//! under way, a joined run that fails followed by one of warrant's own, a submitter who is not
//! a connection admin (a conflict at plan), a server that reports success without the grant
//! (failed) or a failed run (its message shown), a tenant without the package, index lag, the
//! timeout and the next apply, a plan reviewed for the other route (stale), and the binary:
//! its apply lines, and Ctrl-C mid-wait.

use std::time::{Duration, Instant};

use serde_json::Value;
use warrant::apply::Status;
use warrant::plan::Action;
use warrant::sandbox::seed::AtlanWorkflows;
use warrant::sandbox::{Faults, Seed};

use crate::fake_server::{FakeServer, answer_json};
use crate::support::{
    ATLAN_KEY, CI_PIPELINE, DBT_CLOUD, JSMITH_KEY, World, assert_converged, example_manifests,
    find_object, object_of, words,
};

const SNOWFLAKE: &str = "default/snowflake/1700000001";
const UI_TEMPLATE: &str = "csa-api-token-connection-admin-1700000500";
const UPDATED: &str = "successfully updated the connection with API token as a new admin.";

/// The example's targets and one `ConnectionAdmins` document, `via: workflow`.
fn files(connection: &str, name: &str, tokens: &[&str]) -> Vec<(String, String)> {
    let tokens: String = tokens
        .iter()
        .map(|t| format!("    - name: {t}\n"))
        .collect();
    let doc = format!(
        "apiVersion: warrant/v1\nkind: ConnectionAdmins\nmetadata: {{name: {name}}}\nspec:\n  target: atlan-prod\n  connection: {connection}\n  via: workflow\n  apiTokens:\n{tokens}"
    );
    example_manifests()
        .into_iter()
        .filter(|(n, _)| n == "targets.yaml")
        .chain([("atlan.yaml".to_string(), doc)])
        .collect()
}

/// The example seed with its workflow engine replaced by `workflows` (YAML).
fn seed_with(workflows: &str) -> Seed {
    let mut seed = Seed::example();
    seed.atlan.workflows = serde_yaml::from_str::<AtlanWorkflows>(workflows).expect("YAML");
    seed
}

/// The example seed without ci-pipeline among snowflake's admins, and the UI's template for
/// it (its connection as the UI's JSON array) with `runs` (YAML list).
fn ui_seed(runs: &str) -> Seed {
    let mut seed = seed_with(&format!(
        "runSeconds: 0.5\npendingSeconds: 0.1\ntemplates:\n  - name: {UI_TEMPLATE}\n    parameters:\n      connection_qualified_name: '[\"{SNOWFLAKE}\"]'\n      api_token_guid: 92588c67-5ddf-4a45-8b5c-dd92f4b84e99\n    createdBy: jsmith\n    runs: {runs}\n"
    ));
    let snowflake = seed
        .atlan
        .connections
        .iter_mut()
        .find(|c| c.qualified_name == SNOWFLAKE)
        .unwrap();
    snowflake.admin_users.retain(|u| u != CI_PIPELINE);
    seed
}

fn admins(world: &World, connection: &str) -> Vec<String> {
    let state = world.sandbox.state();
    let c = find_object(&state["atlan"]["connections"], "qualifiedName", connection).unwrap();
    serde_json::from_value(c["adminUsers"].clone()).unwrap()
}

fn workflows(world: &World) -> Value {
    world.sandbox.state()["atlan"]["workflows"].clone()
}

fn runs_of(world: &World, template: &str) -> usize {
    workflows(world)["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["template"] == template)
        .count()
}

fn plan_text(file: &warrant::plan::file::PlanFile) -> String {
    warrant::render::text::plan(file, false)
}

#[tokio::test]
async fn a_new_grant_creates_a_package_workflow_runs_it_and_verifies_by_reading() {
    let world = World::start(
        seed_with("runSeconds: 0.5\npendingSeconds: 0.1\n"),
        &files(SNOWFLAKE, "snowflake-prod", &["ci-pipeline", "dbt-cloud"]),
    )
    .await;
    let session = world.session();
    let plan = world.plan(&session).await;
    let text = plan_text(&plan);
    assert!(
        text.contains(
            "~ ConnectionAdmins/snowflake-prod (default/snowflake/1700000001) via package workflow"
        ),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "dbt-cloud ({DBT_CLOUD}): creates a new package workflow"
        )),
        "{text}"
    );

    let report = world.apply(&plan.plan, &world.session()).await;
    let object = object_of(&report, "snowflake-prod");
    assert_eq!(object.status, Status::Applied, "{object:?}");
    let [run] = object.runs.as_slice() else {
        panic!("one run per token added: {object:?}");
    };
    assert_eq!(run.value, DBT_CLOUD);
    assert!(run.created && !run.joined, "{run:?}");
    assert!(run.template.starts_with("csa-api-token-connection-admin-"));
    assert!(run.run.starts_with(&run.template), "{run:?}");
    assert_eq!(run.phase, "Succeeded");
    assert_eq!(run.message.as_deref(), Some(UPDATED));
    assert!(run.verified);
    // Appended through the package, nothing removed; the template is there for the UI.
    let live = admins(&world, SNOWFLAKE);
    for who in ["jsmith", CI_PIPELINE, DBT_CLOUD] {
        assert!(live.iter().any(|u| u == who), "{who} missing: {live:?}");
    }
    assert_eq!(runs_of(&world, &run.template), 1);
    // No entity/bulk write of warrant's own: the grant was the package's.
    let counts = world.sandbox.request_counts();
    assert!(
        !counts.keys().any(|k| k.contains("entity/bulk")),
        "{counts:?}"
    );
    assert_converged(&world.plan(&world.session()).await.plan);
}

#[tokio::test]
async fn a_grant_that_exists_runs_nothing() {
    let world = World::start(
        Seed::example(),
        &files(SNOWFLAKE, "snowflake-prod", &["ci-pipeline"]),
    )
    .await;
    let before = workflows(&world);
    let plan = world.plan(&world.session()).await;
    assert_eq!(plan.plan.changes[0].action, Action::NoOp);
    let report = world.apply(&plan.plan, &world.session()).await;
    assert_eq!(object_of(&report, "snowflake-prod").status, Status::NoOp);
    assert_eq!(workflows(&world), before, "no workflow was created or run");
}

#[tokio::test]
async fn a_workflow_created_in_the_ui_is_rerun_not_duplicated() {
    let world = World::start(
        ui_seed("[{phase: Succeeded, message: done}]"),
        &files(SNOWFLAKE, "snowflake-prod", &["ci-pipeline"]),
    )
    .await;
    let plan = world.plan(&world.session()).await;
    let text = plan_text(&plan);
    assert!(
        text.contains(&format!("re-runs package workflow {UI_TEMPLATE}")),
        "{text}"
    );
    let report = world.apply(&plan.plan, &world.session()).await;
    let object = object_of(&report, "snowflake-prod");
    assert_eq!(object.status, Status::Applied, "{object:?}");
    let run = &object.runs[0];
    assert_eq!(run.template, UI_TEMPLATE);
    assert!(!run.created && !run.joined && run.verified, "{run:?}");
    assert_eq!(run.message.as_deref(), Some(UPDATED));
    assert_eq!(workflows(&world)["templates"].as_array().unwrap().len(), 1);
    assert_eq!(runs_of(&world, UI_TEMPLATE), 2);
    assert!(admins(&world, SNOWFLAKE).iter().any(|u| u == CI_PIPELINE));
}

#[tokio::test]
async fn a_run_under_way_is_joined_not_duplicated() {
    let world = World::start(
        ui_seed("[{phase: Running, remainingSeconds: 1.5, createdBy: service-account-apikey-0b7e4d2a-6c1f-4e8b-9a3d-5f2c1e0d9b8a}]"),
        &files(SNOWFLAKE, "snowflake-prod", &["ci-pipeline"]),
    )
    .await;
    let plan = world.plan(&world.session()).await;
    assert_eq!(plan.plan.changes[0].action, Action::Update);
    let report = world.apply(&plan.plan, &world.session()).await;
    let object = object_of(&report, "snowflake-prod");
    assert_eq!(object.status, Status::Applied, "{object:?}");
    assert!(
        object.runs[0].joined && object.runs[0].verified,
        "{object:?}"
    );
    assert_eq!(
        runs_of(&world, UI_TEMPLATE),
        1,
        "nothing submitted beside it"
    );
}

#[tokio::test]
async fn a_submitter_who_is_not_a_connection_admin_is_a_conflict_at_plan() {
    // jsmith administers snowflake and bigquery, not databricks; a run acts as its submitter.
    let world = World::start(
        Seed::example(),
        &files(
            "default/databricks/1700000003",
            "databricks-lakehouse",
            &["dbt-cloud"],
        ),
    )
    .await;
    let session = world.session_as(JSMITH_KEY);
    let plan = world.plan(&session).await;
    let change = &plan.plan.changes[0];
    assert_eq!(change.action, Action::Conflict);
    assert!(
        words(&change.reasons)
            .iter()
            .any(|w| w.contains("jsmith") && w.contains("default/databricks/1700000003")),
        "{:?}",
        change.reasons
    );
    assert!(plan_text(&plan).contains("via package workflow"));
    let before = workflows(&world);
    let report = world.apply(&plan.plan, &world.session_as(JSMITH_KEY)).await;
    assert_eq!(
        object_of(&report, "databricks-lakehouse").status,
        Status::ConflictSkipped
    );
    assert_eq!(workflows(&world), before, "no run was submitted");
}

#[tokio::test]
async fn a_run_that_reports_success_without_the_grant_fails() {
    let world = World::start(
        Seed::example(),
        &files(SNOWFLAKE, "snowflake-prod", &["ci-pipeline", "dbt-cloud"]),
    )
    .await;
    // A server that takes the workflow, never runs it, and says it succeeded.
    let fake = FakeServer::start(&world.sandbox.atlan).await;
    fake.on(
        reqwest::Method::POST,
        "/api/service/workflows",
        answer_json(|ex| serde_json::json!({"metadata": ex.json()["metadata"].clone(), "spec": {}, "payload": []})),
    );
    fake.on(
        reqwest::Method::POST,
        "/api/service/runs/indexsearch",
        answer_json(|_| {
            serde_json::json!({"hits": {"total": {"value": 1}, "hits": [{"_id": "x-abcde", "_source": {
                "metadata": {"name": "x-abcde"},
                "status": {"phase": "Succeeded", "message": format!("{UPDATED} as {ATLAN_KEY}\u{1b}[2J")}}}]}})
        }),
    );
    let mut live = world.live.clone();
    live.endpoints
        .insert("atlan-prod".to_string(), fake.url.clone());
    let session = warrant::plan::gather::open_session(&world.manifests, &[], &live).unwrap();
    let plan = world.plan(&session).await;
    let report = world.apply(&plan.plan, &session).await;
    let object = object_of(&report, "snowflake-prod");
    assert_eq!(object.status, Status::Failed, "{object:?}");
    let error = object.error.as_deref().unwrap();
    assert!(
        error.contains("the package reported success but the token is not an admin"),
        "{error}"
    );
    assert!(!admins(&world, SNOWFLAKE).iter().any(|u| u == DBT_CLOUD));
    // The server echoed the credential in the run's message: the report never holds it.
    let json = serde_json::to_string(&report).unwrap();
    assert!(!json.contains(ATLAN_KEY), "{json}");
    assert!(error.contains("reported success"), "{error}");
    assert!(
        !error.contains(ATLAN_KEY) && !error.contains('\u{1b}'),
        "{error}"
    );
}

#[tokio::test]
async fn a_tenant_without_the_package_is_told_to_use_direct() {
    let world = World::start(
        seed_with("enabled: false\n"),
        &files(SNOWFLAKE, "snowflake-prod", &["dbt-cloud"]),
    )
    .await;
    let plan = world.plan(&world.session()).await;
    let change = &plan.plan.changes[0];
    assert_eq!(change.action, Action::Conflict);
    let said = words(&change.reasons).join("; ");
    assert!(
        said.contains("API token connection admin package") && said.contains("via: direct"),
        "{said}"
    );
    let report = world.apply(&plan.plan, &world.session()).await;
    assert_eq!(
        object_of(&report, "snowflake-prod").status,
        Status::ConflictSkipped
    );
}

#[tokio::test]
async fn index_lag_is_waited_out_not_taken_as_absence() {
    let world = World::start(
        seed_with("runSeconds: 0.3\npendingSeconds: 0.1\nindexLagSeconds: 1.5\n"),
        &files(SNOWFLAKE, "snowflake-prod", &["dbt-cloud"]),
    )
    .await;
    let plan = world.plan(&world.session()).await;
    let started = Instant::now();
    let report = world.apply(&plan.plan, &world.session()).await;
    let object = object_of(&report, "snowflake-prod");
    assert_eq!(object.status, Status::Applied, "{object:?}");
    assert!(object.runs[0].verified && object.runs[0].created);
    // The run was invisible for the lag, and was waited for rather than submitted again.
    assert!(started.elapsed() >= Duration::from_millis(1500));
    assert_eq!(runs_of(&world, &object.runs[0].template), 1);
}

#[tokio::test]
async fn a_run_past_the_timeout_fails_and_the_next_apply_finds_its_grant() {
    let mut world = World::start(
        seed_with("runSeconds: 2.5\npendingSeconds: 0.1\n"),
        &files(SNOWFLAKE, "snowflake-prod", &["dbt-cloud"]),
    )
    .await;
    world.live.client.workflow_timeout = Duration::from_millis(600);
    let plan = world.plan(&world.session()).await;
    let report = world.apply(&plan.plan, &world.session()).await;
    let object = object_of(&report, "snowflake-prod");
    assert_eq!(object.status, Status::Failed, "{object:?}");
    let error = object.error.as_deref().unwrap();
    assert!(error.contains("did not finish within"), "{error}");
    assert!(error.contains("the next apply joins it"), "{error}");

    // The run goes on in Atlan; the next apply joins it and verifies the grant.
    world.live.client.workflow_timeout = Duration::from_secs(30);
    let report = world.apply(&plan.plan, &world.session()).await;
    let object = object_of(&report, "snowflake-prod");
    assert!(
        matches!(object.status, Status::Applied | Status::AlreadySatisfied),
        "{object:?}"
    );
    if object.status == Status::Applied {
        assert!(object.runs[0].joined, "{object:?}");
    }
    let templates = workflows(&world)["templates"].as_array().unwrap().len();
    assert_eq!(templates, 1, "no second workflow was created");
    assert!(admins(&world, SNOWFLAKE).iter().any(|u| u == DBT_CLOUD));
}

#[test]
fn ctrl_c_mid_wait_leaves_a_run_the_next_apply_joins() {
    use std::process::Stdio;
    let world = World::blocking(
        seed_with("runSeconds: 4\npendingSeconds: 0.1\n"),
        Faults::default(),
        &files(SNOWFLAKE, "snowflake-prod", &["dbt-cloud"]),
    );
    let out = world.warrant_live(&["plan", "manifests", "--out", "plan.json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let plan = world.block_on(world.plan(&world.session()));
    let mut command = world.command(ATLAN_KEY);
    command
        .args(["apply", "plan.json", "--report", "report.json"])
        .args(world.endpoint_args())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = command.spawn().unwrap();
    // Once the run is under way, two interrupts: the run is abandoned mid-wait.
    let deadline = Instant::now() + Duration::from_secs(20);
    while workflows(&world)["runs"].as_array().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "no run was started");
        std::thread::sleep(Duration::from_millis(50));
    }
    for _ in 0..2 {
        std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = crate::support::wait_at_most(&mut child, Duration::from_secs(15));
    assert!(!status.success());
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(world.dir().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(report["interrupted"], true, "{report}");
    assert_ne!(report["objects"][0]["status"], "applied", "{report}");

    // The run is still going: the next apply joins it rather than starting another.
    let runs = workflows(&world)["runs"].clone();
    assert_eq!(runs.as_array().unwrap().len(), 1);
    assert_ne!(
        runs[0]["phase"], "Succeeded",
        "the run should outlast the interrupt"
    );
    let report = world.block_on(world.apply(&plan.plan, &world.session()));
    let object = object_of(&report, "snowflake-prod");
    assert_eq!(object.status, Status::Applied, "{object:?}");
    assert!(object.runs[0].joined, "{object:?}");
    assert_eq!(workflows(&world)["runs"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_plan_reviewed_for_one_route_is_stale_for_the_other() {
    // The manifests say `via: workflow`; the plan was made (reviewed) for `direct`.
    let world = World::start(
        Seed::example(),
        &files(SNOWFLAKE, "snowflake-prod", &["dbt-cloud"]),
    )
    .await;
    let direct_files: Vec<(String, String)> = files(SNOWFLAKE, "snowflake-prod", &["dbt-cloud"])
        .into_iter()
        .map(|(n, t)| (n, t.replace("  via: workflow\n", "")))
        .collect();
    let direct = World::start(Seed::example(), &direct_files).await;
    let session = world.session();
    let reviewed = warrant::plan::gather::make_plan(&direct.manifests, &[], &session)
        .await
        .unwrap();
    assert_eq!(reviewed.plan.changes[0].action, Action::Update);
    assert!(reviewed.plan.changes[0].desired.route.is_none());
    let before = workflows(&world);
    let report = world.apply(&reviewed.plan, &world.session()).await;
    let object = object_of(&report, "snowflake-prod");
    assert_eq!(object.status, Status::Stale, "{object:?}");
    assert!(
        words(&object.reasons)
            .iter()
            .any(|w| w.contains("declaration")),
        "{object:?}"
    );
    assert_eq!(workflows(&world), before, "no run was submitted");
    assert!(!admins(&world, SNOWFLAKE).iter().any(|u| u == DBT_CLOUD));
}

#[test]
fn the_binary_says_which_workflow_made_each_grant() {
    let world = World::blocking(
        seed_with("runSeconds: 0.3\npendingSeconds: 0.1\n"),
        Faults::default(),
        &files(SNOWFLAKE, "snowflake-prod", &["dbt-cloud"]),
    );
    let out = world.warrant_live(&["plan", "manifests", "--out", "plan.json"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("via package workflow"), "{out:?}");
    let out = world.warrant_live(&["apply", "plan.json", "--workflow-timeout", "30"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .contains("+1 adminUsers; created and ran csa-api-token-connection-admin-"),
        "{out:?}"
    );
    assert!(out.stdout.contains(" Succeeded, verified)"), "{out:?}");
    assert!(admins(&world, SNOWFLAKE).iter().any(|u| u == DBT_CLOUD));
}

#[tokio::test]
async fn a_failed_run_shows_its_message() {
    let world = World::start(
        seed_with("runSeconds: 60\n"),
        &files(SNOWFLAKE, "snowflake-prod", &["dbt-cloud"]),
    )
    .await;
    // The sandbox makes the workflow (its real run takes a minute); the runs index says the
    // run failed, and why.
    let fake = FakeServer::start(&world.sandbox.atlan).await;
    fake.on(
        reqwest::Method::POST,
        "/api/service/runs/indexsearch",
        answer_json(|_| {
            serde_json::json!({"hits": {"total": {"value": 1}, "hits": [{"_id": "r-bcdfg", "_source": {
                "metadata": {"name": "r-bcdfg"},
                "status": {"phase": "Failed", "message": "Unable to find any API token with the GUID: 7c4b"}}}]}})
        }),
    );
    let mut live = world.live.clone();
    live.endpoints
        .insert("atlan-prod".to_string(), fake.url.clone());
    let session = warrant::plan::gather::open_session(&world.manifests, &[], &live).unwrap();
    let plan = world.plan(&session).await;
    let report = world.apply(&plan.plan, &session).await;
    let object = object_of(&report, "snowflake-prod");
    assert_eq!(object.status, Status::Failed, "{object:?}");
    let error = object.error.as_deref().unwrap();
    assert!(
        error
            .contains("run r-bcdfg ended Failed: Unable to find any API token with the GUID: 7c4b"),
        "{error}"
    );
    assert!(
        error.contains("the token is not an admin of connection default/snowflake/1700000001"),
        "{error}"
    );
}

#[tokio::test]
async fn a_joined_run_that_fails_is_followed_by_a_run_of_our_own() {
    // jsmith (not an admin of databricks) started the UI's workflow for dbt-cloud; it will
    // fail as jsmith. warrant (an admin) joins it, sees no grant, and runs it as itself.
    const DATABRICKS: &str = "default/databricks/1700000003";
    let world = World::start(
        seed_with(&format!(
            "runSeconds: 0.3\npendingSeconds: 0.1\ntemplates:\n  - name: {UI_TEMPLATE}\n    parameters:\n      connection_qualified_name: {DATABRICKS}\n      api_token_guid: 7c4b1e2f-8a3d-4f6e-9b0c-1d2e3f4a5b6c\n    createdBy: jsmith\n    runs: [{{phase: Running, remainingSeconds: 0.8}}]\n"
        )),
        &files(DATABRICKS, "databricks-lakehouse", &["dbt-cloud"]),
    )
    .await;
    let plan = world.plan(&world.session()).await;
    let report = world.apply(&plan.plan, &world.session()).await;
    let object = object_of(&report, "databricks-lakehouse");
    assert_eq!(object.status, Status::Applied, "{object:?}");
    let [joined, own] = object.runs.as_slice() else {
        panic!("the joined run and our own: {object:?}");
    };
    assert!(joined.joined && !joined.verified, "{joined:?}");
    assert_eq!(joined.phase, "Failed");
    assert!(
        joined
            .message
            .as_deref()
            .is_some_and(|m| m.contains("jsmith")),
        "{joined:?}"
    );
    assert!(!own.joined && own.verified, "{own:?}");
    assert_eq!(own.template, UI_TEMPLATE);
    let runs = workflows(&world)["runs"].clone();
    let phases: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["phase"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["Failed", "Succeeded"], "{runs}");
    assert!(admins(&world, DATABRICKS).iter().any(|u| u == DBT_CLOUD));
}
