//! The seeds' code for the API token connection admin package runs unchanged against the
//! sandbox's workflow engine (issue 16), with pyatlan 10.0.0 — the last pyatlan that has
//! `client.workflow` and `pyatlan.model.packages` — in its own venv under
//! `target/sdk-venv-pyatlan10`, built once per test process beside the 11.6 one
//! (`sdk_python.rs` holds the venv and script machinery).
//!
//! `tests/sdk/atlan_package_workflow.py sdk` configures the package, creates and runs it,
//! monitors it, finds it by type, reruns it and reruns it idempotently (joining the run just
//! submitted), and runs it as a non-admin of the connection; `… rest` drives the docs' raw REST
//! calls. The script scales pyatlan's own sleeps (5 s between polls, 10 s before an idempotent
//! rerun looks) by 0.1 so the test does not wait for nothing; every call is the SDK's. The
//! checks are on the sandbox's state afterwards and on which routes were used.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;
use warrant::sandbox::seed::{AtlanCaller, AtlanWorkflowTemplate};
use warrant::sandbox::{SandboxHandle, Seed};

use crate::sdk_python::{Venv, assert_only_appended, python_of, run_script_in, start_sandbox_with};
use crate::support::JSMITH_KEY;

/// A caller the tests here add to the example seed.
const CI_PIPELINE_KEY: &str = "sandbox-atlan-key-ci-pipeline";

const PYATLAN_WORKFLOWS: Venv = Venv {
    dir: "sdk-venv-pyatlan10",
    packages: &[("pyatlan", "10.0.0")],
};

fn python() -> &'static Path {
    static VENV: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    python_of(&VENV, &PYATLAN_WORKFLOWS)
}

// The example world (examples/WORLD.md) plus the ci-pipeline token as a caller.
const CI_PIPELINE_USER: &str = "service-account-apikey-ac69de56-6529-4c8f-b53c-791cb5346308";
const DBT_CLOUD_GUID: &str = "7c4b1e2f-8a3d-4f6e-9b0c-1d2e3f4a5b6c";
const DBT_CLOUD_USER: &str = "service-account-apikey-4e1f7a2b-9c3d-4b8e-a5f6-0d1c2b3a4e5f";
const LOOKER_SYNC_USER: &str = "service-account-apikey-2a9f8e7d-6c5b-4a3e-8d2c-1b0a9f8e7d6c";
const SNOWFLAKE: &str = "default/snowflake/1700000001";
const DATABRICKS: &str = "default/databricks/1700000003";
/// Seeded in examples/sandbox/seed.yaml: snowflake + ci-pipeline, created in the UI by jsmith.
const UI_TEMPLATE: &str = "csa-api-token-connection-admin-1700000500";
/// Added here: databricks (as the UI's JSON-array string) + looker-sync, by the ci-pipeline token.
const TOKEN_TEMPLATE: &str = "csa-api-token-connection-admin-1700000900";
const PACKAGE: &str = "csa-api-token-connection-admin";

/// The example world with the ci-pipeline API token as a caller (an API token user, admin of
/// snowflake and databricks through adminUsers), a second seeded template, and 2 s runs: long
/// enough for an idempotent rerun to find its run still going after pyatlan's (scaled) 1 s wait.
fn seed() -> Seed {
    let mut seed = Seed::example();
    seed.atlan.callers.push(AtlanCaller {
        api_key: CI_PIPELINE_KEY.into(),
        username: CI_PIPELINE_USER.into(),
        roles: vec!["$api-token-default-access".into()],
        groups: vec![],
    });
    let workflows = &mut seed.atlan.workflows;
    workflows.run_seconds = 2.0;
    workflows.pending_seconds = 0.2;
    let template: AtlanWorkflowTemplate = serde_yaml::from_str(&format!(
        "name: {TOKEN_TEMPLATE}\n\
         parameters:\n  connection_qualified_name: '[\"{DATABRICKS}\"]'\n  \
         api_token_guid: 5d3c1a9e-2b7f-4c1d-9e8a-6f4b2c0d1e3a\n\
         createdBy: {CI_PIPELINE_USER}\n"
    ))
    .expect("template YAML");
    workflows.templates.push(template);
    assert!(
        workflows.templates.iter().any(|t| t.name == UI_TEMPLATE),
        "the example seed lost its UI-created template"
    );
    seed
}

fn runs(state: &Value) -> Vec<Value> {
    state["atlan"]["workflows"]["runs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn run_named<'a>(runs: &'a [Value], name: &str) -> &'a Value {
    runs.iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no run {name} in {runs:?}"))
}

/// A finished script run: the sandbox it ran against (and its runtime), the state before, and
/// what the script printed as its result.
struct ScriptRun {
    _runtime: tokio::runtime::Runtime,
    sandbox: SandboxHandle,
    before: Value,
    result: Value,
}

/// Starts the sandbox on [`seed`], runs the script in `mode` against it with `env`, and checks
/// that no key of `env` (`…_KEY`) was printed.
fn run_mode(mode: &str, env: &[(&str, &str)]) -> ScriptRun {
    let python = python();
    let (runtime, sandbox) = start_sandbox_with(seed());
    let before = sandbox.state();
    let mut env = env.to_vec();
    env.push(("ATLAN_BASE_URL", &sandbox.atlan));
    let (result, output) = run_script_in(python, "atlan_package_workflow.py", &[mode], &env);
    for (name, value) in &env {
        if name.ends_with("_KEY") {
            assert!(!output.contains(value), "{name} was printed");
        }
    }
    ScriptRun {
        _runtime: runtime,
        sandbox,
        before,
        result,
    }
}

#[test]
fn pyatlan_10_runs_monitors_finds_reruns_and_joins_the_package_workflow() {
    let script = run_mode(
        "sdk",
        &[
            ("RUNNER_KEY", JSMITH_KEY),
            ("TOKEN_USER_KEY", CI_PIPELINE_KEY),
            ("CONNECTION_QN", SNOWFLAKE),
            ("TOKEN_GUID", DBT_CLOUD_GUID),
            ("OUTSIDER_CONNECTION_QN", DATABRICKS),
            ("SDK_TIME_SCALE", "0.1"),
        ],
    );
    let (sb, before, result) = (&script.sandbox, &script.before, &script.result);
    let after = sb.state();
    let runs = runs(&after);

    // configure + to_workflow() + run(), then monitor(workflow_name=…): Succeeded, the token
    // appended by jsmith (a connection admin through adminUsers), nothing removed.
    let created = result["run"]["template"].as_str().expect("template name");
    let epoch = created
        .strip_prefix(&format!("{PACKAGE}-"))
        .expect("pyatlan's name");
    assert!(
        epoch.len() == 10 && epoch.bytes().all(|b| b.is_ascii_digit()),
        "{created}"
    );
    assert_eq!(result["run"]["phase"], "Succeeded", "{result}");
    let first: Vec<&Value> = runs.iter().filter(|r| r["template"] == created).collect();
    let first_run = first
        .iter()
        .find(|r| r["createdBy"] == "jsmith")
        .expect("jsmith's run");
    assert_eq!(
        first_run["message"],
        "successfully updated the connection with API token as a new admin."
    );

    // find_by_type(prefix=…, max_results=5): the new workflow first, then the seeded ones,
    // newest first; rerun(existing[0]) submits a run of it.
    assert_eq!(
        result["found"],
        serde_json::json!([created, TOKEN_TEMPLATE, UI_TEMPLATE]),
        "{result}"
    );
    let rerun = result["rerun"]["run"].as_str().expect("rerun's run");
    assert!(rerun.starts_with(&format!("{created}-")), "{rerun}");
    assert_eq!(result["rerun"]["phase"], "Pending");
    // rerun(…, idempotent=True) joined that run instead of submitting another.
    assert_eq!(result["idempotent"]["run"], rerun, "{result}");
    assert!(
        ["Pending", "Running"].contains(&result["idempotent"]["phase"].as_str().unwrap_or("")),
        "{result}"
    );
    assert_eq!(first.len(), 2, "run + rerun only: {first:?}");
    let rerun_state = run_named(&runs, rerun);
    assert_eq!(result["rerunFinal"], "Succeeded");
    assert_eq!(rerun_state["phase"], "Succeeded");
    assert_eq!(
        rerun_state["createdBy"], CI_PIPELINE_USER,
        "runs as its submitter"
    );
    assert_eq!(
        rerun_state["message"],
        "API token is already an admin on the connection - no changes made."
    );

    // A run by a non-admin of the connection fails and changes nothing.
    assert_eq!(result["outsider"]["phase"], "Failed", "{result}");
    let outsider = result["outsider"]["template"].as_str().expect("template");
    let outsider_run = runs
        .iter()
        .find(|r| r["template"] == outsider)
        .expect("the outsider's run");
    let message = outsider_run["message"].as_str().unwrap_or("");
    assert!(
        message.contains("jsmith is not authorized to perform update entity: Connection:default/databricks/1700000003"),
        "{message}"
    );
    assert_only_appended(before, &after, SNOWFLAKE, DBT_CLOUD_USER);

    // pyatlan chose its routes by whoami: jsmith is not an API token user, ci-pipeline is.
    let counts = sb.request_counts();
    let count = |route: &str| counts.get(route).copied().unwrap_or(0);
    assert_eq!(
        count("atlan POST /api/service/package-workflows"),
        2,
        "{counts:?}"
    );
    assert_eq!(count("atlan POST /api/service/workflows"), 0, "{counts:?}");
    assert_eq!(
        count("atlan POST /api/service/workflows/submit"),
        1,
        "{counts:?}"
    );
    assert_eq!(count("atlan POST /api/service/package-workflows/submit"), 0);
    assert_eq!(count("atlan POST /api/service/workflows/indexsearch"), 1);
    assert!(
        count("atlan POST /api/service/runs/indexsearch") >= 4,
        "{counts:?}"
    );
    assert_eq!(
        runs.len(),
        before["atlan"]["workflows"]["runs"]
            .as_array()
            .map_or(0, Vec::len)
            + 3
    );
}

#[test]
fn the_raw_rest_prefix_search_and_submit_rerun_a_ui_created_workflow() {
    let script = run_mode("rest", &[("TOKEN_USER_KEY", CI_PIPELINE_KEY)]);
    let (sb, before, result) = (&script.sandbox, &script.before, &script.result);

    // The prefix query finds both seeded templates, newest first.
    assert_eq!(result["total"], 2, "{result}");
    assert_eq!(
        result["found"],
        serde_json::json!([TOKEN_TEMPLATE, UI_TEMPLATE])
    );
    assert_eq!(result["template"], TOKEN_TEMPLATE);
    let run = result["submitted"]["run"].as_str().expect("run name");
    assert!(run.starts_with(&format!("{TOKEN_TEMPLATE}-")), "{run}");
    assert_eq!(result["submitted"]["phase"], "Pending");
    assert_eq!(result["submitted"]["templateRef"], TOKEN_TEMPLATE);
    assert_eq!(
        result["final"],
        serde_json::json!({
            "phase": "Succeeded",
            "message": "successfully updated the connection with API token as a new admin.",
        }),
        "{result}"
    );

    let after = sb.state();
    // The connection came from the UI's JSON-array parameter; the token was appended.
    assert_only_appended(before, &after, DATABRICKS, LOOKER_SYNC_USER);
    let runs = runs(&after);
    let state_run = run_named(&runs, run);
    assert_eq!(state_run["createdBy"], CI_PIPELINE_USER);
    assert_eq!(
        sb.request_counts()
            .get("atlan POST /api/service/workflows/submit"),
        Some(&1)
    );
}
