//! The Atlan simulator's workflow engine over real HTTP (contracts/atlan-workflows.md, issue
//! 16): the routes and bodies pyatlan 10.0.0 and the docs' raw REST send, run phases and
//! timing, what a run does as its submitter, index lag, the disabled switch, seeded templates
//! and runs, and hostile bodies.

use std::time::{Duration, Instant};

use crate::support::{ATLAN_KEY as ADMIN_KEY, JSMITH_KEY};
use reqwest::StatusCode;
use serde_json::{Value, json};
use warrant::sandbox::seed::AtlanWorkflows;
use warrant::sandbox::{self, Faults, SandboxHandle, Seed};

const SNOWFLAKE: &str = "default/snowflake/1700000001";
const DATABRICKS: &str = "default/databricks/1700000003";
const CI_PIPELINE_GUID: &str = "92588c67-5ddf-4a45-8b5c-dd92f4b84e99";
const DBT_CLOUD_GUID: &str = "7c4b1e2f-8a3d-4f6e-9b0c-1d2e3f4a5b6c";
const DBT_CLOUD_USER: &str = "service-account-apikey-4e1f7a2b-9c3d-4b8e-a5f6-0d1c2b3a4e5f";
const LOOKER_SYNC_GUID: &str = "5d3c1a9e-2b7f-4c1d-9e8a-6f4b2c0d1e3a";
const LOOKER_SYNC_USER: &str = "service-account-apikey-2a9f8e7d-6c5b-4a3e-8d2c-1b0a9f8e7d6c";
const PACKAGE: &str = "csa-api-token-connection-admin";
const UI_TEMPLATE: &str = "csa-api-token-connection-admin-1700000500";
const UPDATED: &str = "successfully updated the connection with API token as a new admin.";
const NOOP: &str = "API token is already an admin on the connection - no changes made.";

const WORKFLOW_ROUTES: [&str; 6] = [
    "/api/service/workflows?submit=true",
    "/api/service/package-workflows?submit=true",
    "/api/service/workflows/submit",
    "/api/service/package-workflows/submit",
    "/api/service/workflows/indexsearch",
    "/api/service/runs/indexsearch",
];

/// The example world with its `atlan.workflows` replaced by `workflows` (YAML).
async fn start(workflows: &str) -> SandboxHandle {
    let mut seed = Seed::example();
    seed.atlan.workflows = serde_yaml::from_str::<AtlanWorkflows>(workflows).expect("YAML");
    sandbox::start(seed, Faults::default()).await.unwrap()
}

async fn post(sb: &SandboxHandle, path: &str, key: &str, body: &Value) -> (StatusCode, Value) {
    post_raw(sb, path, key, body.to_string()).await
}

async fn post_raw(sb: &SandboxHandle, path: &str, key: &str, body: String) -> (StatusCode, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}{path}", sb.atlan))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The workflow JSON pyatlan 10.0.0's `APITokenConnectionAdmin().config(…).to_workflow()` sends.
fn package_workflow(name: &str, connection: &str, guid: &str) -> Value {
    json!({
        "metadata": {
            "name": name,
            "namespace": "default",
            "labels": {
                "orchestration.atlan.com/certified": "true",
                "orchestration.atlan.com/source": "atlan",
                "package.argoproj.io/name": "a-t-rcsas-l-a-s-hapi-token-connection-admin",
                "orchestration.atlan.com/atlan-ui": "true",
            },
            "annotations": {
                "orchestration.atlan.com/name": "API Token Connection Admin",
                "package.argoproj.io/name": "@csa/api-token-connection-admin",
                "orchestration.atlan.com/atlanName": name,
            },
        },
        "spec": {
            "entrypoint": "main",
            "templates": [{"name": "main", "dag": {"tasks": [{
                "name": "run",
                "arguments": {"parameters": [
                    {"name": "connection_qualified_name", "value": connection},
                    {"name": "api_token_guid", "value": guid},
                ]},
                "templateRef": {"name": PACKAGE, "template": "main", "clusterScope": true},
            }]}}],
            "workflowMetadata": {"annotations": {"package.argoproj.io/name": "@csa/api-token-connection-admin"}},
        },
        "payload": [],
    })
}

/// Creates and runs the package as jsmith (no API token user: pyatlan sends him to
/// package-workflows) and returns the template the sandbox answers.
async fn run_as_jsmith(sb: &SandboxHandle, name: &str, connection: &str, guid: &str) -> Value {
    let (s, created) = post(
        sb,
        "/api/service/package-workflows?submit=true",
        JSMITH_KEY,
        &package_workflow(name, connection, guid),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{created}");
    created
}

/// `find_by_type(prefix=API_TOKEN_CONNECTION_ADMIN, max_results=size)`, as pyatlan sends it.
fn find_by_type(size: u64) -> Value {
    json!({"from": 0, "size": size, "track_total_hits": true,
        "query": {"bool": {"filter": [{"nested": {"path": "metadata", "query": {"regexp": {"metadata.name.keyword": {"value": "csa[-]api[-]token[-]connection[-]admin[-][0-9]{10}"}}}}}]}},
        "sort": [{"metadata.creationTimestamp": {"order": "desc", "nested": {"path": "metadata"}}}]})
}

/// The docs' raw REST search.
fn find_by_prefix() -> Value {
    json!({"from": 0, "size": 10,
        "query": {"bool": {"filter": [{"nested": {"path": "metadata", "query": {"prefix": {"metadata.name.keyword": {"value": PACKAGE}}}}}]}},
        "sort": [{"metadata.creationTimestamp": {"nested": {"path": "metadata"}, "order": "desc"}}],
        "track_total_hits": true})
}

/// `find_by_id(name)`.
fn find_by_id(name: &str) -> Value {
    json!({"from": 0, "size": 1, "track_total_hits": true,
        "query": {"bool": {"filter": [{"nested": {"path": "metadata", "query": {"bool": {"must": [{"term": {"metadata.name.keyword": {"value": name}}}]}}}}]}},
        "sort": [{"metadata.creationTimestamp": {"order": "desc", "nested": {"path": "metadata"}}}]})
}

fn template_filter(template: &str) -> Value {
    json!({"nested": {"path": "spec", "query": {"term": {"spec.workflowTemplateRef.name.keyword": {"value": template}}}}})
}

/// `monitor(workflow_name=…)`'s latest-run lookup.
fn latest_run(template: &str) -> Value {
    json!({"from": 0, "size": 1, "track_total_hits": true,
        "query": {"bool": {"filter": [template_filter(template)]}},
        "sort": [{"status.startedAt": {"order": "desc"}}]})
}

/// `rerun(…, idempotent=True)`'s current-run lookup.
fn current_runs(template: &str) -> Value {
    json!({"from": 0, "size": 50, "track_total_hits": true,
        "query": {"bool": {"filter": [template_filter(template)]}},
        "sort": [{"metadata.creationTimestamp": {"order": "desc", "nested": {"path": "metadata"}}}]})
}

/// `get_runs(name, phase)`.
fn runs_by_phase(template: &str, phase: &str) -> Value {
    json!({"from": 0, "size": 100, "track_total_hits": true,
        "query": {"bool": {"must": [template_filter(template)],
                           "filter": [{"term": {"status.phase.keyword": {"value": phase}}}]}},
        "sort": [{"metadata.creationTimestamp": {"order": "desc", "nested": {"path": "metadata"}}}]})
}

fn hits(body: &Value) -> Vec<Value> {
    body["hits"]["hits"].as_array().cloned().unwrap_or_default()
}

fn ids(body: &Value) -> Vec<String> {
    hits(body)
        .iter()
        .map(|h| h["_id"].as_str().unwrap_or("").to_string())
        .collect()
}

fn connection(state: &Value, qn: &str) -> Value {
    state["atlan"]["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["qualifiedName"] == qn)
        .cloned()
        .unwrap()
}

fn state_runs(sb: &SandboxHandle) -> Vec<Value> {
    sb.state()["atlan"]["workflows"]["runs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The run of `template` in the sandbox's state (the true phase, not the index's).
fn state_run(sb: &SandboxHandle, template: &str) -> Value {
    state_runs(sb)
        .into_iter()
        .rfind(|r| r["template"] == template)
        .unwrap_or_else(|| panic!("no run of {template}"))
}

/// Waits (up to 10 s) until the run of `template` is finished, and returns it.
async fn finished(sb: &SandboxHandle, template: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let run = state_run(sb, template);
        if !["Pending", "Running"].contains(&run["phase"].as_str().unwrap_or("")) {
            return run;
        }
        assert!(
            Instant::now() < deadline,
            "{template} never finished: {run}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn is_timestamp(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() == 20 && s.ends_with('Z') && humantime::parse_rfc3339(s).is_ok())
}

#[tokio::test]
async fn a_run_goes_pending_running_succeeded_and_appends_the_token_as_its_submitter() {
    let sb = start("runSeconds: 1.5\npendingSeconds: 0.3\n").await;
    let before = sb.state();
    let name = "csa-api-token-connection-admin-1800000001";
    let sent = Instant::now();
    let created = run_as_jsmith(&sb, name, SNOWFLAKE, DBT_CLOUD_GUID).await;
    assert_eq!(created["metadata"]["name"], name);
    assert_eq!(created["metadata"]["namespace"], "default");
    assert!(is_timestamp(&created["metadata"]["creationTimestamp"]));
    assert_eq!(
        created["metadata"]["annotations"]["orchestration.atlan.com/atlanName"],
        name
    );
    assert_eq!(
        created["spec"],
        package_workflow(name, SNOWFLAKE, DBT_CLOUD_GUID)["spec"]
    );
    assert_eq!(created["payload"], json!([]));

    // monitor()'s lookup until the run ends: phases only move forward.
    let order = ["Pending", "Running", "Succeeded"];
    let mut seen: Vec<String> = Vec::new();
    let last = loop {
        let (s, body) = post(
            &sb,
            "/api/service/runs/indexsearch",
            JSMITH_KEY,
            &latest_run(name),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let elapsed = sent.elapsed();
        let hit = hits(&body)
            .into_iter()
            .next()
            .expect("the run is indexed at once");
        let phase = hit["_source"]["status"]["phase"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(order.contains(&phase.as_str()), "{phase}");
        if seen.last() != Some(&phase) {
            seen.push(phase.clone());
        }
        if phase == "Succeeded" {
            assert!(
                elapsed >= Duration::from_millis(1500),
                "finished after {elapsed:?}"
            );
            break hit;
        }
        assert!(elapsed < Duration::from_secs(10), "still {phase}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(seen, order, "phases seen: {seen:?}");

    // The run document pyatlan parses.
    let run = &last["_source"];
    let run_name = run["metadata"]["name"].as_str().unwrap();
    assert_eq!(last["_id"], run_name);
    let suffix = run_name
        .strip_prefix(&format!("{name}-"))
        .expect("run name");
    assert!(
        suffix.len() == 5
            && suffix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() && !b.is_ascii_uppercase())
    );
    assert_eq!(run["kind"], "Workflow");
    assert_eq!(run["metadata"]["generateName"], format!("{name}-"));
    assert_eq!(
        run["metadata"]["labels"]["workflows.argoproj.io/workflow-template"],
        name
    );
    assert_eq!(
        run["metadata"]["labels"]["workflows.argoproj.io/phase"],
        "Succeeded"
    );
    assert_eq!(
        run["metadata"]["labels"]["workflows.argoproj.io/creator"],
        "jsmith"
    );
    assert_eq!(run["spec"]["workflowTemplateRef"]["name"], name);
    assert!(is_timestamp(&run["status"]["startedAt"]));
    assert!(is_timestamp(&run["status"]["finishedAt"]));
    assert_eq!(run["status"]["message"], UPDATED);
    assert_eq!(run["status"]["progress"], "1/1");

    // The token appended by jsmith; nothing else changed.
    let after = sb.state();
    let was = connection(&before, SNOWFLAKE);
    let now = connection(&after, SNOWFLAKE);
    let mut expected = was["adminUsers"].as_array().unwrap().clone();
    expected.push(json!(DBT_CLOUD_USER));
    assert_eq!(now["adminUsers"], Value::Array(expected));
    assert_eq!(now["adminGroups"], was["adminGroups"]);
    assert_eq!(now["adminRoles"], was["adminRoles"]);
    assert_eq!(now["updatedBy"], "jsmith");
    assert_eq!(now["version"], was["version"].as_u64().unwrap() + 1);
    for qn in ["default/bigquery/1700000002", DATABRICKS] {
        assert_eq!(connection(&before, qn), connection(&after, qn));
    }
}

#[tokio::test]
async fn failed_runs_say_why_and_change_nothing_and_a_granted_token_is_a_noop() {
    let sb = start("runSeconds: 0.1\npendingSeconds: 0\n").await;
    let before = sb.state()["atlan"]["connections"].clone();
    let cases = [
        // (template, connection, guid, phase, message)
        (
            "csa-api-token-connection-admin-1800000011",
            "default/nothing/1",
            DBT_CLOUD_GUID,
            "Failed",
            "Missing required parameter - you must provide BOTH a connection and the name of an API token.",
        ),
        (
            "csa-api-token-connection-admin-1800000012",
            SNOWFLAKE,
            "",
            "Failed",
            "Missing required parameter - you must provide BOTH a connection and the name of an API token.",
        ),
        (
            "csa-api-token-connection-admin-1800000013",
            SNOWFLAKE,
            "00000000-0000-4000-8000-000000000000",
            "Failed",
            "Unable to find any API token with the GUID: 00000000-0000-4000-8000-000000000000",
        ),
        // jsmith administers snowflake and bigquery, not databricks.
        (
            "csa-api-token-connection-admin-1800000014",
            DATABRICKS,
            DBT_CLOUD_GUID,
            "Failed",
            "Unable to add the API token as a connection admin. jsmith is not authorized to perform update entity: Connection:default/databricks/1700000003",
        ),
        // ci-pipeline is an admin of snowflake already.
        (
            "csa-api-token-connection-admin-1800000015",
            SNOWFLAKE,
            CI_PIPELINE_GUID,
            "Succeeded",
            NOOP,
        ),
    ];
    for (name, qn, guid, _, _) in cases {
        run_as_jsmith(&sb, name, qn, guid).await;
    }
    for (name, _, _, phase, message) in cases {
        let run = finished(&sb, name).await;
        assert_eq!(run["phase"], phase, "{name}: {run}");
        assert_eq!(run["message"], message, "{name}");
        assert_eq!(run["createdBy"], "jsmith");
    }
    assert_eq!(
        sb.state()["atlan"]["connections"],
        before,
        "a connection changed"
    );

    // The run's permission error is the one entity/bulk gives jsmith for the same write:
    // one rule for both paths.
    let (s, body) = post(
        &sb,
        "/api/meta/entity/bulk",
        JSMITH_KEY,
        &json!({"entities": [{"typeName": "Connection", "attributes": {
            "qualifiedName": DATABRICKS, "name": "databricks-lakehouse",
            "adminUsers": ["service-account-apikey-ac69de56-6529-4c8f-b53c-791cb5346308", DBT_CLOUD_USER]}}]}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(
        body["errorMessage"],
        "jsmith is not authorized to perform update entity: Connection:default/databricks/1700000003"
    );
}

#[tokio::test]
async fn the_ui_multi_select_connection_parameter_uses_its_first_element() {
    let sb = start("runSeconds: 0.1\n").await;
    let name = "csa-api-token-connection-admin-1800000021";
    let multi = format!("[\"{SNOWFLAKE}\", \"{DATABRICKS}\"]");
    run_as_jsmith(&sb, name, &multi, LOOKER_SYNC_GUID).await;
    let run = finished(&sb, name).await;
    assert_eq!(run["phase"], "Succeeded", "{run}");
    let state = sb.state();
    assert!(
        connection(&state, SNOWFLAKE)["adminUsers"]
            .as_array()
            .unwrap()
            .contains(&json!(LOOKER_SYNC_USER))
    );
    assert!(
        !connection(&state, DATABRICKS)["adminUsers"]
            .as_array()
            .unwrap()
            .contains(&json!(LOOKER_SYNC_USER))
    );
}

#[tokio::test]
async fn template_search_serves_the_regexp_prefix_and_id_queries() {
    let sb = start(&format!(
        "templates:\n\
         - {{name: {UI_TEMPLATE}, createdBy: jsmith, parameters: {{connection_qualified_name: {SNOWFLAKE}, api_token_guid: {CI_PIPELINE_GUID}}}}}\n\
         - {{name: csa-api-token-connection-admin-1700000900, createdBy: jsmith}}\n\
         - {{name: csa-api-token-connection-admin-1700000300, createdBy: jsmith}}\n\
         - {{name: csa-api-token-connection-admin-123, creationTimestamp: '2023-11-14T22:30:00Z'}}\n\
         - {{name: csa-api-token-connection-admin-17000009999, creationTimestamp: '2023-11-14T22:31:00Z'}}\n\
         - {{name: atlan-snowflake-miner-1700000800, package: atlan-snowflake-miner}}\n"
    ))
    .await;

    // pyatlan's regexp: the package prefix and exactly ten digits, newest first.
    let (s, body) = post(
        &sb,
        "/api/service/workflows/indexsearch",
        ADMIN_KEY,
        &find_by_type(5),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        ids(&body),
        [
            "csa-api-token-connection-admin-1700000900",
            UI_TEMPLATE,
            "csa-api-token-connection-admin-1700000300"
        ]
    );
    assert_eq!(body["hits"]["total"], json!({"value": 3, "relation": "eq"}));
    let (_, body) = post(
        &sb,
        "/api/service/workflows/indexsearch",
        ADMIN_KEY,
        &find_by_type(1),
    )
    .await;
    assert_eq!(ids(&body), ["csa-api-token-connection-admin-1700000900"]);
    assert_eq!(body["hits"]["total"]["value"], 3);

    // The docs' prefix query: every name that starts with the package's.
    let (_, body) = post(
        &sb,
        "/api/service/workflows/indexsearch",
        ADMIN_KEY,
        &find_by_prefix(),
    )
    .await;
    assert_eq!(body["hits"]["total"]["value"], 5, "{body}");
    assert!(!ids(&body).iter().any(|i| i.starts_with("atlan-")));

    // find_by_id, and the document a rerun is built from.
    let (_, body) = post(
        &sb,
        "/api/service/workflows/indexsearch",
        JSMITH_KEY,
        &find_by_id(UI_TEMPLATE),
    )
    .await;
    let hit = &hits(&body)[0];
    assert_eq!(hit["_id"], UI_TEMPLATE);
    let source = &hit["_source"];
    assert_eq!(source["kind"], "WorkflowTemplate");
    assert_eq!(source["metadata"]["name"], UI_TEMPLATE);
    assert_eq!(source["metadata"]["namespace"], "default");
    assert_eq!(
        source["metadata"]["creationTimestamp"],
        "2023-11-14T22:21:40Z"
    );
    assert_eq!(source["spec"]["workflowTemplateRef"]["name"], UI_TEMPLATE);
    let task = &source["spec"]["templates"][0]["dag"]["tasks"][0];
    assert_eq!(task["templateRef"]["name"], PACKAGE);
    assert_eq!(
        task["arguments"]["parameters"],
        json!([{"name": "connection_qualified_name", "value": SNOWFLAKE},
               {"name": "api_token_guid", "value": CI_PIPELINE_GUID}])
    );
    let (s, body) = post(
        &sb,
        "/api/service/workflows/indexsearch",
        ADMIN_KEY,
        &find_by_id("csa-api-token-connection-admin-1111111111"),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(hits(&body), Vec::<Value>::new());
    assert_eq!(body["hits"]["total"]["value"], 0);
}

#[tokio::test]
async fn run_search_serves_latest_current_and_by_phase_lookups() {
    let runs = [
        format!(
            "{{name: {UI_TEMPLATE}-aaaaa, phase: Succeeded, startedAt: '2023-11-15T10:00:00Z', message: done}}"
        ),
        format!(
            "{{name: {UI_TEMPLATE}-bbbbb, phase: Failed, startedAt: '2023-11-16T10:00:00Z', finishedAt: '2023-11-16T10:00:05Z', message: nope}}"
        ),
        format!(
            "{{name: {UI_TEMPLATE}-ccccc, phase: Running, startedAt: '2023-11-17T10:00:00Z', remainingSeconds: 100000}}"
        ),
    ];
    let sb = start(&format!(
        "templates:\n\
         - {{name: {UI_TEMPLATE}, createdBy: jsmith, runs: [{}],\n  \
              parameters: {{connection_qualified_name: {SNOWFLAKE}, api_token_guid: {CI_PIPELINE_GUID}}}}}\n\
         - {{name: csa-api-token-connection-admin-1700000900, runs: [{{phase: Succeeded}}]}}\n",
        runs.join(", ")
    ))
    .await;
    let search = |body: Value| {
        let sb = &sb;
        async move {
            let (s, r) = post(sb, "/api/service/runs/indexsearch", ADMIN_KEY, &body).await;
            assert_eq!(s, StatusCode::OK, "{r}");
            r
        }
    };
    let latest = search(latest_run(UI_TEMPLATE)).await;
    assert_eq!(ids(&latest), [format!("{UI_TEMPLATE}-ccccc")]);
    assert_eq!(latest["hits"]["total"]["value"], 3);
    let running = &hits(&latest)[0]["_source"];
    assert_eq!(running["status"]["phase"], "Running");
    assert_eq!(running["status"]["startedAt"], "2023-11-17T10:00:00Z");
    assert!(running["status"].get("finishedAt").is_none());
    assert!(running["status"].get("message").is_none());

    let current = search(current_runs(UI_TEMPLATE)).await;
    assert_eq!(
        ids(&current),
        ["ccccc", "bbbbb", "aaaaa"].map(|s| format!("{UI_TEMPLATE}-{s}"))
    );
    let failed = &hits(&current)[1]["_source"]["status"];
    assert_eq!(failed["finishedAt"], "2023-11-16T10:00:05Z");
    assert_eq!(failed["message"], "nope");

    let by_phase = search(runs_by_phase(UI_TEMPLATE, "Succeeded")).await;
    assert_eq!(ids(&by_phase), [format!("{UI_TEMPLATE}-aaaaa")]);
    let other = search(runs_by_phase(
        "csa-api-token-connection-admin-1700000900",
        "Succeeded",
    ))
    .await;
    assert_eq!(
        ids(&other),
        ["csa-api-token-connection-admin-1700000900-s0001"]
    );

    // find_run_by_id (`_id`), and find_runs_by_status_and_time_range's label terms + exists.
    let by_id = search(json!({"from": 0, "size": 1, "query": {"bool": {"filter": [{"term": {"_id": {"value": format!("{UI_TEMPLATE}-bbbbb")}}}]}}})).await;
    assert_eq!(ids(&by_id), [format!("{UI_TEMPLATE}-bbbbb")]);
    let by_status = search(json!({"from": 0, "size": 100, "query": {"bool": {"must": [
        {"nested": {"path": "metadata", "query": {"terms": {"metadata.labels.workflows.argoproj.io/phase.keyword": ["Failed", "Running"]}}}},
        {"nested": {"path": "metadata", "query": {"exists": {"field": "metadata.labels.workflows.argoproj.io/creator"}}}}]}}})).await;
    assert_eq!(by_status["hits"]["total"]["value"], 2, "{by_status}");
}

#[tokio::test]
async fn rerun_submits_a_run_as_the_caller_and_unknown_templates_are_404() {
    let sb = start(&format!(
        "runSeconds: 0.2\ntemplates:\n- {{name: {UI_TEMPLATE}, createdBy: jsmith, parameters: {{connection_qualified_name: {SNOWFLAKE}, api_token_guid: {LOOKER_SYNC_GUID}}}}}\n"
    ))
    .await;
    let rerun = json!({"namespace": "default", "resourceKind": "WorkflowTemplate", "resourceName": UI_TEMPLATE});
    for (path, key) in [
        ("/api/service/workflows/submit", ADMIN_KEY),
        ("/api/service/package-workflows/submit", JSMITH_KEY),
    ] {
        let (s, run) = post(&sb, path, key, &rerun).await;
        assert_eq!(s, StatusCode::OK, "{run}");
        let name = run["metadata"]["name"].as_str().unwrap();
        assert!(name.starts_with(&format!("{UI_TEMPLATE}-")), "{name}");
        assert_eq!(run["metadata"]["generateName"], format!("{UI_TEMPLATE}-"));
        assert_eq!(run["metadata"]["namespace"], "default");
        assert!(
            run["metadata"]["uid"]
                .as_str()
                .is_some_and(|u| u.len() == 36)
        );
        assert!(is_timestamp(&run["metadata"]["creationTimestamp"]));
        assert_eq!(
            run["metadata"]["labels"]["workflows.argoproj.io/workflow-template"],
            UI_TEMPLATE
        );
        assert_eq!(run["spec"]["workflowTemplateRef"]["name"], UI_TEMPLATE);
        assert_eq!(run["status"]["phase"], "Pending");
    }
    let runs = state_runs(&sb);
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1]["createdBy"], "jsmith");
    assert_ne!(runs[0]["name"], runs[1]["name"]);
    // Both finish; the first appends, the second finds the token there already.
    let first = runs[0]["name"].as_str().unwrap().to_string();
    finished(&sb, UI_TEMPLATE).await;
    let runs = state_runs(&sb);
    let first = runs.iter().find(|r| r["name"] == first).unwrap();
    assert_eq!(first["message"], UPDATED, "{runs:?}");
    assert_eq!(runs[1]["message"], NOOP, "{runs:?}");

    for (body, status) in [
        (
            json!({"namespace": "default", "resourceKind": "WorkflowTemplate", "resourceName": "csa-api-token-connection-admin-1111111111"}),
            StatusCode::NOT_FOUND,
        ),
        (
            json!({"namespace": "default", "resourceKind": "ClusterWorkflowTemplate", "resourceName": UI_TEMPLATE}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"namespace": "default", "resourceName": UI_TEMPLATE}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"namespace": "kube-system", "resourceKind": "WorkflowTemplate", "resourceName": UI_TEMPLATE}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"namespace": "default", "resourceKind": "WorkflowTemplate"}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (s, answer) = post(&sb, "/api/service/workflows/submit", ADMIN_KEY, &body).await;
        assert_eq!(s, status, "{body} → {answer}");
        assert!(answer["errorMessage"].is_string(), "{answer}");
    }
    assert_eq!(state_runs(&sb).len(), 2, "a refused submit ran something");
}

#[tokio::test]
async fn index_lag_hides_new_documents_and_shows_old_phases() {
    let sb = start("runSeconds: 1\npendingSeconds: 0\nindexLagSeconds: 1\n").await;
    let name = "csa-api-token-connection-admin-1800000031";
    let sent = Instant::now();
    let (s, _) = post(
        &sb,
        "/api/service/workflows?submit=true",
        JSMITH_KEY,
        &package_workflow(name, SNOWFLAKE, DBT_CLOUD_GUID),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    // Create and submit never wait for the index: a rerun by name works at once.
    let (s, _) = post(
        &sb,
        "/api/service/workflows/submit",
        JSMITH_KEY,
        &json!({"namespace": "default", "resourceKind": "WorkflowTemplate", "resourceName": name}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);

    let lag = Duration::from_secs(1);
    let run_time = Duration::from_secs(1);
    let mut hidden_seen = false;
    let mut stale_seen = false;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, templates) = post(
            &sb,
            "/api/service/workflows/indexsearch",
            JSMITH_KEY,
            &find_by_id(name),
        )
        .await;
        let (_, runs) = post(
            &sb,
            "/api/service/runs/indexsearch",
            JSMITH_KEY,
            &latest_run(name),
        )
        .await;
        let truth = state_run(&sb, name);
        // Every document was created after `sent`, so `elapsed` bounds its age from above.
        let elapsed = sent.elapsed();
        let indexed = hits(&runs);
        if elapsed < lag {
            assert!(
                hits(&templates).is_empty(),
                "template visible after {elapsed:?}"
            );
            assert!(indexed.is_empty(), "run visible after {elapsed:?}");
            hidden_seen = true;
        } else if let Some(run) = indexed.first() {
            let phase = run["_source"]["status"]["phase"].as_str().unwrap();
            if elapsed < lag + run_time {
                // The index still shows the run as it was a second ago, unfinished, while
                // the run itself has finished (it ran for 1 s and is over a second old).
                assert_ne!(phase, "Succeeded", "index caught up early ({elapsed:?})");
                if truth["phase"] == "Succeeded" {
                    stale_seen = true;
                }
            } else if phase == "Succeeded" {
                assert_eq!(hits(&templates).len(), 1);
                break;
            }
        }
        assert!(Instant::now() < deadline, "the index never caught up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        hidden_seen && stale_seen,
        "hidden {hidden_seen}, stale {stale_seen}"
    );
}

#[tokio::test]
async fn a_tenant_without_the_package_answers_404_on_every_workflow_route() {
    let sb = start(&format!(
        "enabled: false\ntemplates:\n- {{name: {UI_TEMPLATE}, createdBy: jsmith}}\n"
    ))
    .await;
    for path in WORKFLOW_ROUTES {
        for key in [ADMIN_KEY, "no-such-key"] {
            let (s, body) = post(&sb, path, key, &json!({})).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
            assert_eq!(body["errorCode"], "ATLAS-404-00-001", "{path}: {body}");
        }
    }
    // The rest of Atlan is there.
    let r = reqwest::Client::new()
        .get(format!("{}/api/service/whoami", sb.atlan))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(sb.state()["atlan"]["workflows"]["enabled"], false);
}

#[tokio::test]
async fn seeded_runs_in_flight_finish_as_their_creator_and_reset_restores_the_seed() {
    let sb = start(&format!(
        "templates:\n\
         - {{name: {UI_TEMPLATE}, createdBy: jsmith, runs: [{{phase: Running, remainingSeconds: 0.3}}],\n  \
              parameters: {{connection_qualified_name: {SNOWFLAKE}, api_token_guid: {LOOKER_SYNC_GUID}}}}}\n\
         - {{name: csa-api-token-connection-admin-1700000900, createdBy: jsmith, runs: [{{phase: Pending, remainingSeconds: 100000}}],\n  \
              parameters: {{connection_qualified_name: {DATABRICKS}, api_token_guid: {LOOKER_SYNC_GUID}}}}}\n"
    ))
    .await;
    let seeded = sb.state();
    let run = finished(&sb, UI_TEMPLATE).await;
    assert_eq!(run["phase"], "Succeeded", "{run}");
    assert_eq!(run["message"], UPDATED);
    let after = sb.state();
    let snowflake = connection(&after, SNOWFLAKE);
    assert!(
        snowflake["adminUsers"]
            .as_array()
            .unwrap()
            .contains(&json!(LOOKER_SYNC_USER))
    );
    assert_eq!(
        snowflake["updatedBy"], "jsmith",
        "the run acts as its creator"
    );
    // The seeded Pending run started running after pendingSeconds, and is still going.
    assert_eq!(
        state_run(&sb, "csa-api-token-connection-admin-1700000900")["phase"],
        "Running"
    );

    // Something created at run time, then a reset: back to the seed.
    run_as_jsmith(
        &sb,
        "csa-api-token-connection-admin-1800000041",
        SNOWFLAKE,
        DBT_CLOUD_GUID,
    )
    .await;
    sb.reset();
    let reset = sb.state();
    assert_eq!(reset["atlan"]["workflows"], seeded["atlan"]["workflows"]);
    assert_eq!(
        reset["atlan"]["connections"],
        seeded["atlan"]["connections"]
    );
}

#[tokio::test]
async fn hostile_bodies_get_clear_errors_and_change_nothing() {
    let sb = start(&format!(
        "templates:\n- {{name: {UI_TEMPLATE}, createdBy: jsmith}}\n"
    ))
    .await;
    let before = sb.state();
    let good = package_workflow(
        "csa-api-token-connection-admin-1800000051",
        SNOWFLAKE,
        DBT_CLOUD_GUID,
    );
    let with = |pointer: &str, value: Value| {
        let mut body = good.clone();
        *body.pointer_mut(pointer).unwrap() = value;
        body
    };
    let long = "a".repeat(201);
    let creates = [
        (json!([]), StatusCode::BAD_REQUEST),
        (json!({"spec": good["spec"]}), StatusCode::BAD_REQUEST),
        (
            with("/metadata/name", json!("CSA-Upper")),
            StatusCode::BAD_REQUEST,
        ),
        (
            with("/metadata/name", json!("../etc")),
            StatusCode::BAD_REQUEST,
        ),
        (with("/metadata/name", json!("")), StatusCode::BAD_REQUEST),
        (with("/metadata/name", json!(long)), StatusCode::BAD_REQUEST),
        (with("/metadata/name", json!(7)), StatusCode::BAD_REQUEST),
        (
            with("/metadata/namespace", json!("kube-system")),
            StatusCode::BAD_REQUEST,
        ),
        (
            with("/metadata/labels", json!({"a": 1})),
            StatusCode::BAD_REQUEST,
        ),
        (with("/spec/templates", json!([])), StatusCode::BAD_REQUEST),
        (
            with(
                "/spec/templates/0/dag/tasks/0/arguments/parameters",
                json!("x"),
            ),
            StatusCode::BAD_REQUEST,
        ),
        (with("/payload", json!({})), StatusCode::BAD_REQUEST),
        (
            with("/metadata/name", json!(UI_TEMPLATE)),
            StatusCode::CONFLICT,
        ),
    ];
    for (body, status) in creates {
        let (s, answer) = post(&sb, "/api/service/workflows?submit=true", ADMIN_KEY, &body).await;
        assert_eq!(s, status, "{body} → {answer}");
        assert!(
            answer["errorMessage"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{answer}"
        );
    }
    let (s, _) = post_raw(
        &sb,
        "/api/service/workflows?submit=true",
        ADMIN_KEY,
        "{not json".into(),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = post(
        &sb,
        "/api/service/workflows?submit=true",
        "wrong-key",
        &good,
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let mut deep = json!({"match_all": {}});
    for _ in 0..100 {
        deep = json!({"bool": {"must": [deep]}});
    }
    let searches = [
        json!({"query": {"wildcard": {"metadata.name": "csa*"}}}),
        json!({"query": {"regexp": {"metadata.name.keyword": {"value": "csa~x"}}}}),
        json!({"query": {"regexp": {"metadata.name.keyword": {"value": "csa[a-"}}}}),
        json!({"query": {"term": {"a": 1, "b": 2}}}),
        json!({"query": deep}),
        json!({"from": 9_999, "size": 2}),
        json!({"size": -1}),
        json!({"aggs": {}}),
        json!({"sort": [{"metadata.creationTimestamp": {"order": "sideways"}}]}),
    ];
    for body in searches {
        for path in [
            "/api/service/workflows/indexsearch",
            "/api/service/runs/indexsearch",
        ] {
            let (s, answer) = post(&sb, path, ADMIN_KEY, &body).await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{path} {body} → {answer}");
            assert!(answer["errorMessage"].is_string());
        }
    }
    assert_eq!(
        sb.state()["atlan"]["workflows"],
        before["atlan"]["workflows"]
    );
}
