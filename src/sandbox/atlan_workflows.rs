//! Atlan's legacy (Argo) workflow engine, as far as the API token connection admin package
//! needs it (`contracts/atlan-workflows.md`): create and run a package workflow, find
//! templates and runs through their Elasticsearch-style indexes, rerun a template, and the
//! runs themselves, which move Pending → Running → Succeeded/Failed on a clock and, when
//! they finish, do the package's work **as their submitter** through the same permission
//! check and write as `entity/bulk` ([`Atlan::plan_admin_update`]).
//!
//! Hosted by `atlan.rs`: the state lives in `Atlan::workflows`, the routes are merged into
//! Atlan's. Time is lazy but unobservably so: [`Atlan::advance_workflows`] runs before every
//! request and every state read and finishes the runs whose time has come, in the order they
//! finish. The indexes show templates and runs as they were `indexLagSeconds` ago; create,
//! submit and the runs themselves never wait for the index.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap, HashSet};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::post;
use rand::Rng;
use regex::{Regex, RegexBuilder};
use serde_json::{Map, Value, json};

use super::{Atlan, AtlanSim, Requested, atlas_error, bad_request};
use crate::sandbox::seed::{
    API_TOKEN_CONNECTION_ADMIN, AtlanCaller, AtlanWorkflows, WorkflowPhase, name_epoch_millis,
    rfc3339_millis, valid_workflow_name,
};
use crate::sandbox::{Platform, Sim, json_response, now_millis, query_pairs, query_value};

const NAMESPACE: &str = "default";

// What the package logs (and the run's `status.message` carries), per contracts/atlan.md §8.
const MISSING_PARAMETER: &str =
    "Missing required parameter - you must provide BOTH a connection and the name of an API token.";
const UPDATED: &str = "successfully updated the connection with API token as a new admin.";
const NOOP: &str = "API token is already an admin on the connection - no changes made.";
const NOT_ADDED: &str = "Unable to add the API token as a connection admin.";

/// The most hits one search may page through, as Elasticsearch's `max_result_window`.
const MAX_RESULT_WINDOW: usize = 10_000;

/// The workflow engine's state: templates and runs, and its clock settings in milliseconds.
pub(super) struct Engine {
    enabled: bool,
    run_ms: i64,
    pending_ms: i64,
    lag_ms: i64,
    templates: Vec<Template>,
    template_index: HashMap<String, usize>,
    runs: Vec<Run>,
    runs_of: HashMap<String, Vec<usize>>,
    run_names: HashSet<String>,
    /// Runs not finished yet, by (finish time, index): the next to finish first.
    in_flight: BTreeSet<(i64, usize)>,
}

struct Template {
    name: String,
    uid: String,
    package: String,
    parameters: Vec<(String, String)>,
    created_by: String,
    created_ms: i64,
    labels: Map<String, Value>,
    annotations: Map<String, Value>,
    /// As submitted (or built for a seeded template).
    spec: Map<String, Value>,
    payload: Value,
}

struct Run {
    name: String,
    uid: String,
    template: String,
    parameters: Vec<(String, String)>,
    created_by: String,
    created_ms: i64,
    running_ms: i64,
    finish_ms: i64,
    /// The final phase and message, once the run has finished.
    outcome: Option<(WorkflowPhase, Option<String>)>,
}

impl Run {
    /// The phase the run had at `t` (`t` up to now: runs due by now have finished).
    fn phase_at(&self, t: i64) -> WorkflowPhase {
        match &self.outcome {
            Some((phase, _)) if t >= self.finish_ms => *phase,
            _ if t >= self.running_ms => WorkflowPhase::Running,
            _ => WorkflowPhase::Pending,
        }
    }
}

fn millis(seconds: f64) -> i64 {
    (seconds * 1000.0).round() as i64
}

/// `2023-11-14T22:15:00Z`, the format of Kubernetes timestamps.
fn timestamp(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Kubernetes' `generateName` alphabet (no vowels, no look-alikes).
const SUFFIX_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

impl Engine {
    /// The engine as seeded, `now` being the sandbox's start: seeded runs that are still
    /// Pending or Running finish `remainingSeconds` after it.
    pub(super) fn from_seed(seed: &AtlanWorkflows, now: i64) -> Engine {
        let mut engine = Engine {
            enabled: seed.enabled,
            run_ms: millis(seed.run_seconds),
            pending_ms: millis(seed.pending_seconds.min(seed.run_seconds)),
            lag_ms: millis(seed.index_lag_seconds),
            templates: Vec::new(),
            template_index: HashMap::new(),
            runs: Vec::new(),
            runs_of: HashMap::new(),
            run_names: seed
                .templates
                .iter()
                .flat_map(|t| t.runs.iter().filter_map(|r| r.name.clone()))
                .collect(),
            in_flight: BTreeSet::new(),
        };
        for t in &seed.templates {
            // Seed::check guarantees one of the two.
            let created_ms = t
                .creation_timestamp
                .as_deref()
                .and_then(rfc3339_millis)
                .or_else(|| name_epoch_millis(&t.name))
                .unwrap_or(0);
            let parameters = ordered_parameters(&t.parameters);
            let (labels, annotations) = seeded_metadata(&t.name, &t.package, &t.created_by);
            engine.add_template(Template {
                name: t.name.clone(),
                uid: uuid::Uuid::new_v4().to_string(),
                spec: package_spec(&t.package, &parameters),
                package: t.package.clone(),
                parameters,
                created_by: t.created_by.clone(),
                created_ms,
                labels,
                annotations,
                payload: json!([]),
            });
            for (i, r) in t.runs.iter().enumerate() {
                let started = r
                    .started_at
                    .as_deref()
                    .and_then(rfc3339_millis)
                    .unwrap_or(created_ms);
                let name = match &r.name {
                    Some(n) => n.clone(),
                    None => engine.unused_run_name(&t.name, |_| format!("s{:04}", i + 1)),
                };
                let (running_ms, finish_ms, outcome) = if r.phase.is_final() {
                    let finished = r
                        .finished_at
                        .as_deref()
                        .and_then(rfc3339_millis)
                        .unwrap_or(started + engine.run_ms);
                    (started, finished, Some((r.phase, r.message.clone())))
                } else {
                    let finish = now + r.remaining_seconds.map_or(engine.run_ms, millis);
                    let running = match r.phase {
                        WorkflowPhase::Running => started,
                        _ => (now + engine.pending_ms).min(finish),
                    };
                    (running, finish, None)
                };
                engine.add_run(Run {
                    name,
                    uid: uuid::Uuid::new_v4().to_string(),
                    template: t.name.clone(),
                    parameters: engine.templates[engine.templates.len() - 1]
                        .parameters
                        .clone(),
                    created_by: r.created_by.clone().unwrap_or_else(|| t.created_by.clone()),
                    created_ms: started,
                    running_ms,
                    finish_ms,
                    outcome,
                });
            }
        }
        engine
    }

    fn add_template(&mut self, template: Template) {
        self.template_index
            .insert(template.name.clone(), self.templates.len());
        self.templates.push(template);
    }

    fn add_run(&mut self, run: Run) {
        let index = self.runs.len();
        if run.outcome.is_none() {
            self.in_flight.insert((run.finish_ms, index));
        }
        self.run_names.insert(run.name.clone());
        self.runs_of
            .entry(run.template.clone())
            .or_default()
            .push(index);
        self.runs.push(run);
    }

    /// `<template>-<suffix>` not taken by any run.
    fn unused_run_name(&self, template: &str, mut suffix: impl FnMut(u32) -> String) -> String {
        (0..)
            .map(|attempt| format!("{template}-{}", suffix(attempt)))
            .find(|n| !self.run_names.contains(n))
            .unwrap_or_default()
    }

    /// Submits a run of `template` (which exists) as `creator`: Pending now, Running after
    /// `pendingSeconds`, finished after `runSeconds`.
    fn submit(&mut self, template: usize, creator: &str, now: i64) -> usize {
        let t = &self.templates[template];
        let mut rng = rand::rng();
        let name = self.unused_run_name(&t.name, |_| {
            (0..5)
                .map(|_| SUFFIX_ALPHABET[rng.random_range(0..SUFFIX_ALPHABET.len())] as char)
                .collect()
        });
        let run = Run {
            name,
            uid: uuid::Uuid::new_v4().to_string(),
            template: t.name.clone(),
            parameters: t.parameters.clone(),
            created_by: creator.to_string(),
            created_ms: now,
            running_ms: now + self.pending_ms,
            finish_ms: now + self.run_ms,
            outcome: None,
        };
        self.add_run(run);
        self.runs.len() - 1
    }

    /// The template's document (`_source` of the workflows index).
    fn template_document(&self, t: &Template) -> Value {
        let mut spec = t.spec.clone();
        spec.insert("workflowTemplateRef".into(), json!({"name": t.name}));
        json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "WorkflowTemplate",
            "metadata": template_metadata(t),
            "spec": spec,
        })
    }

    /// The run's document (`_source` of the runs index, and the body `submit` answers) as
    /// it was at `t`.
    fn run_document(&self, run: &Run, t: i64) -> Value {
        let phase = run.phase_at(t);
        let mut status = json!({
            "phase": phase.as_str(),
            "startedAt": timestamp(run.created_ms),
            "progress": if phase.is_final() { "1/1" } else { "0/1" },
        });
        if phase.is_final() {
            status["finishedAt"] = json!(timestamp(run.finish_ms));
            if let Some((_, Some(message))) = &run.outcome {
                status["message"] = json!(message);
            }
        }
        json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {
                "name": run.name,
                "generateName": format!("{}-", run.template),
                "namespace": NAMESPACE,
                "uid": run.uid,
                "creationTimestamp": timestamp(run.created_ms),
                "labels": {
                    "workflows.argoproj.io/creator": run.created_by,
                    "workflows.argoproj.io/phase": phase.as_str(),
                    "workflows.argoproj.io/completed": if phase.is_final() { "true" } else { "false" },
                    "workflows.argoproj.io/workflow-template": run.template,
                },
            },
            "spec": {
                "workflowTemplateRef": {"name": run.template},
                "arguments": {"parameters": parameters_json(&run.parameters)},
            },
            "status": status,
        })
    }

    /// The engine in `GET /_sandbox/state`: the true phases now, not the index's.
    pub(super) fn snapshot(&self, now: i64) -> Value {
        let templates: Vec<Value> = self
            .templates
            .iter()
            .map(|t| {
                json!({
                    "name": t.name,
                    "package": t.package,
                    "parameters": t.parameters.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<Map<_, _>>(),
                    "createdBy": t.created_by,
                    "creationTimestamp": timestamp(t.created_ms),
                })
            })
            .collect();
        let runs: Vec<Value> = self
            .runs
            .iter()
            .map(|r| {
                let phase = r.phase_at(now);
                let mut v = json!({
                    "name": r.name,
                    "template": r.template,
                    "phase": phase.as_str(),
                    "createdBy": r.created_by,
                    "startedAt": timestamp(r.created_ms),
                });
                if phase.is_final() {
                    v["finishedAt"] = json!(timestamp(r.finish_ms));
                    v["message"] = json!(r.outcome.as_ref().and_then(|(_, m)| m.clone()));
                }
                v
            })
            .collect();
        json!({
            "enabled": self.enabled,
            "templates": templates,
            "runs": runs,
        })
    }
}

/// Known parameters in the package's order, then any others by name.
fn ordered_parameters(map: &std::collections::BTreeMap<String, String>) -> Vec<(String, String)> {
    let first = ["connection_qualified_name", "api_token_guid"];
    let mut out: Vec<(String, String)> = first
        .iter()
        .filter_map(|k| map.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect();
    out.extend(
        map.iter()
            .filter(|(k, _)| !first.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    out
}

fn parameters_json(parameters: &[(String, String)]) -> Value {
    Value::Array(
        parameters
            .iter()
            .map(|(name, value)| json!({"name": name, "value": value}))
            .collect(),
    )
}

/// The spec pyatlan's `to_workflow()` builds for a package with these parameters.
fn package_spec(package: &str, parameters: &[(String, String)]) -> Map<String, Value> {
    let spec = json!({
        "entrypoint": "main",
        "templates": [{"name": "main", "dag": {"tasks": [{
            "name": "run",
            "arguments": {"parameters": parameters_json(parameters)},
            "templateRef": {"name": package, "template": "main", "clusterScope": true},
        }]}}],
    });
    match spec {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Labels and annotations of a template created in the UI.
fn seeded_metadata(
    name: &str,
    package: &str,
    created_by: &str,
) -> (Map<String, Value>, Map<String, Value>) {
    let mut labels = Map::new();
    let mut annotations = Map::new();
    labels.insert("orchestration.atlan.com/atlan-ui".into(), json!("true"));
    labels.insert("workflows.argoproj.io/creator".into(), json!(created_by));
    annotations.insert("orchestration.atlan.com/atlanName".into(), json!(name));
    if package == API_TOKEN_CONNECTION_ADMIN {
        annotations.insert(
            "orchestration.atlan.com/name".into(),
            json!("API Token Connection Admin"),
        );
        annotations.insert(
            "package.argoproj.io/name".into(),
            json!("@csa/api-token-connection-admin"),
        );
    }
    (labels, annotations)
}

fn template_metadata(t: &Template) -> Value {
    json!({
        "name": t.name,
        "namespace": NAMESPACE,
        "uid": t.uid,
        "creationTimestamp": timestamp(t.created_ms),
        "labels": t.labels,
        "annotations": t.annotations,
    })
}

// ---------------------------------------------------------------------------------------------
// Running the package

impl Atlan {
    /// Finishes every run whose time has come, earliest first, each doing the package's work
    /// at its finish time.
    pub(super) fn advance_workflows(&mut self) {
        let now = now_millis();
        while let Some(&(finish, index)) = self.workflows.in_flight.first() {
            if finish > now {
                break;
            }
            self.workflows.in_flight.pop_first();
            let (phase, message) = self.run_package(index, finish);
            self.workflows.runs[index].outcome = Some((phase, Some(message)));
        }
    }

    /// What the API token connection admin package does (contracts/atlan.md §8, following the
    /// seeds where the code differs): find the connection, find the token by GUID, then
    /// append `service-account-<clientId>` to the connection's adminUsers **as the run's
    /// submitter**, through the permission check and write `entity/bulk` uses. The package
    /// code logs a permission error and exits 0; the seeds say the workflow fails, so it
    /// does here.
    fn run_package(&mut self, index: usize, now: i64) -> (WorkflowPhase, String) {
        let run = &self.workflows.runs[index];
        let package = self
            .workflows
            .template_index
            .get(&run.template)
            .map(|&t| self.workflows.templates[t].package.clone())
            .unwrap_or_default();
        if package != API_TOKEN_CONNECTION_ADMIN {
            return (
                WorkflowPhase::Failed,
                format!(
                    "The sandbox runs only the {API_TOKEN_CONNECTION_ADMIN} package, not {package}."
                ),
            );
        }
        let param = |name: &str| {
            run.parameters
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.trim().to_string())
                .unwrap_or_default()
        };
        let qualified_name = first_of_multi_select(&param("connection_qualified_name"));
        let guid = param("api_token_guid");
        let connection = self.by_qualified_name.get(&qualified_name).copied();
        let (Some(idx), false) = (connection, guid.is_empty()) else {
            return (WorkflowPhase::Failed, MISSING_PARAMETER.to_string());
        };
        let Some(token) = self.data.api_tokens.iter().find(|t| t.guid == guid) else {
            return (
                WorkflowPhase::Failed,
                format!("Unable to find any API token with the GUID: {guid}"),
            );
        };
        let token_user = format!("service-account-{}", token.client_id);
        let submitter = self
            .data
            .callers
            .iter()
            .find(|c| c.username == run.created_by)
            .cloned()
            .unwrap_or_else(|| AtlanCaller {
                api_key: String::new(),
                username: run.created_by.clone(),
                roles: Vec::new(),
                groups: Vec::new(),
            });
        let current = &self.data.connections[idx];
        let mut admin_users = current.admin_users.clone();
        if !admin_users.contains(&token_user) {
            admin_users.push(token_user);
        }
        // What the package saves: qualifiedName, name and adminUsers only.
        let request = Requested {
            placeholder: None,
            qualified_name: current.qualified_name.clone(),
            name: current.name.clone(),
            connector_name: None,
            admin_users: Some(admin_users),
            admin_groups: None,
            admin_roles: None,
        };
        match self.plan_admin_update(&submitter, idx, &request, now) {
            Ok((next, true)) => {
                self.save_connection(idx, next);
                (WorkflowPhase::Succeeded, UPDATED.to_string())
            }
            Ok((_, false)) => (WorkflowPhase::Succeeded, NOOP.to_string()),
            Err(e) => (WorkflowPhase::Failed, format!("{NOT_ADDED} {}", e.message)),
        }
    }
}

/// The package's connection parameter: a qualifiedName, or a JSON array of them (the UI's
/// multi-select) of which it uses the first.
fn first_of_multi_select(value: &str) -> String {
    if value.starts_with('[')
        && let Ok(Value::Array(items)) = serde_json::from_str::<Value>(value)
    {
        return items
            .first()
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
            .to_string();
    }
    value.to_string()
}

// ---------------------------------------------------------------------------------------------
// Routes

pub(super) fn routes() -> Router<std::sync::Arc<Sim<Atlan>>> {
    Router::new()
        .route("/api/service/workflows", post(create))
        .route("/api/service/package-workflows", post(create))
        .route("/api/service/workflows/submit", post(submit))
        .route("/api/service/package-workflows/submit", post(submit))
        .route("/api/service/workflows/indexsearch", post(search_templates))
        .route("/api/service/runs/indexsearch", post(search_runs))
}

/// The caller of a workflow route: 404 when the tenant lacks the package (the routes do not
/// exist), else 401 unless the key is known.
fn workflow_caller(state: &Atlan, headers: &HeaderMap) -> Result<AtlanCaller, Response> {
    if !state.workflows.enabled {
        return Err(Atlan::not_found());
    }
    state.caller(headers)
}

fn json_body(body: &Bytes) -> Result<Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(bad_request("The request body must be a JSON object")),
        Err(e) => Err(bad_request(format!("Invalid JSON in request body: {e}"))),
    }
}

fn string_map(value: Option<&Value>, what: &str) -> Result<Map<String, Value>, Response> {
    match value {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) if m.values().all(Value::is_string) => Ok(m.clone()),
        Some(_) => Err(bad_request(format!(
            "{what} must be an object of string values"
        ))),
    }
}

/// A workflow as `POST workflows` receives it, checked.
struct NewTemplate {
    name: String,
    package: String,
    parameters: Vec<(String, String)>,
    labels: Map<String, Value>,
    annotations: Map<String, Value>,
    spec: Map<String, Value>,
    payload: Value,
}

fn parse_workflow(body: &Map<String, Value>) -> Result<NewTemplate, Response> {
    let Some(Value::Object(metadata)) = body.get("metadata") else {
        return Err(bad_request("metadata is required"));
    };
    let name = match metadata.get("name") {
        Some(Value::String(n)) if valid_workflow_name(n) => n.clone(),
        Some(Value::String(n)) => {
            return Err(bad_request(format!(
                "metadata.name {n:?} is invalid: a lowercase name of a-z, 0-9, - and . (at most 200 characters)"
            )));
        }
        _ => return Err(bad_request("metadata.name is required")),
    };
    match metadata.get("namespace") {
        None | Some(Value::Null) => {}
        Some(Value::String(ns)) if ns == NAMESPACE => {}
        Some(other) => {
            return Err(bad_request(format!(
                "metadata.namespace must be {NAMESPACE:?}, got {other}"
            )));
        }
    }
    let labels = string_map(metadata.get("labels"), "metadata.labels")?;
    let annotations = string_map(metadata.get("annotations"), "metadata.annotations")?;
    let Some(Value::Object(spec)) = body.get("spec") else {
        return Err(bad_request("spec is required"));
    };
    // The package to run: the first DAG task that refers to a (cluster) template.
    let task = spec
        .get("templates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| t.pointer("/dag/tasks").and_then(Value::as_array))
        .flatten()
        .find(|task| {
            task.pointer("/templateRef/name")
                .is_some_and(Value::is_string)
        });
    let Some(task) = task else {
        return Err(bad_request(
            "spec.templates has no DAG task with a templateRef naming the package to run",
        ));
    };
    let package = task
        .pointer("/templateRef/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut parameters = Vec::new();
    match task.pointer("/arguments/parameters") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for p in items {
                let (Some(n), Some(v)) = (p.get("name").and_then(Value::as_str), p.get("value"))
                else {
                    return Err(bad_request(
                        "each of arguments.parameters needs a name and a value",
                    ));
                };
                let v = match v {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                parameters.push((n.to_string(), v));
            }
        }
        Some(_) => return Err(bad_request("arguments.parameters must be an array")),
    }
    let payload = match body.get("payload") {
        None | Some(Value::Null) => json!([]),
        Some(v @ Value::Array(_)) => v.clone(),
        Some(_) => return Err(bad_request("payload must be an array")),
    };
    Ok(NewTemplate {
        name,
        package,
        parameters,
        labels,
        annotations,
        spec: spec.clone(),
        payload,
    })
}

/// `POST /api/service/workflows?submit=true` (API token users) and
/// `POST /api/service/package-workflows?submit=true` (other users): creates the workflow
/// template and, with `submit=true`, runs it once. Answers the template.
async fn create(State(sim): AtlanSim, headers: HeaderMap, uri: Uri, body: Bytes) -> Response {
    let mut state = sim.state();
    let caller = match workflow_caller(&state, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let body = match json_body(&body).and_then(|b| parse_workflow(&b)) {
        Ok(t) => t,
        Err(r) => return r,
    };
    if state.workflows.template_index.contains_key(&body.name) {
        return atlas_error(
            StatusCode::CONFLICT,
            "ATLAS-409-00-001",
            format!(
                "workflowtemplates.argoproj.io \"{}\" already exists",
                body.name
            ),
        );
    }
    let q = query_pairs(&uri);
    let run = query_value(&q, "submit").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let now = now_millis();
    let mut labels = body.labels;
    labels.insert(
        "workflows.argoproj.io/creator".into(),
        json!(caller.username),
    );
    let engine = &mut state.workflows;
    engine.add_template(Template {
        name: body.name,
        uid: uuid::Uuid::new_v4().to_string(),
        package: body.package,
        parameters: body.parameters,
        created_by: caller.username.clone(),
        created_ms: now,
        labels,
        annotations: body.annotations,
        spec: body.spec,
        payload: body.payload,
    });
    let index = engine.templates.len() - 1;
    if run {
        engine.submit(index, &caller.username, now);
    }
    let t = &engine.templates[index];
    json_response(
        StatusCode::OK,
        &json!({
            "metadata": template_metadata(t),
            "spec": t.spec,
            "payload": t.payload,
        }),
    )
}

/// `POST /api/service/workflows/submit` and `…/package-workflows/submit`: reruns a template
/// as the caller. Answers the new run, Pending.
async fn submit(State(sim): AtlanSim, headers: HeaderMap, body: Bytes) -> Response {
    let mut state = sim.state();
    let caller = match workflow_caller(&state, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let body = match json_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let text = |key: &str| body.get(key).and_then(Value::as_str);
    if text("resourceKind") != Some("WorkflowTemplate") {
        return bad_request("resourceKind must be \"WorkflowTemplate\"");
    }
    match body.get("namespace") {
        None | Some(Value::Null) => {}
        Some(Value::String(ns)) if ns == NAMESPACE => {}
        Some(_) => return bad_request(format!("namespace must be {NAMESPACE:?}")),
    }
    let Some(name) = text("resourceName").filter(|n| !n.is_empty()) else {
        return bad_request("resourceName is required");
    };
    let Some(&index) = state.workflows.template_index.get(name) else {
        return atlas_error(
            StatusCode::NOT_FOUND,
            "ATLAS-404-00-001",
            format!("workflowtemplates.argoproj.io \"{name}\" not found"),
        );
    };
    let now = now_millis();
    let engine = &mut state.workflows;
    let run = engine.submit(index, &caller.username, now);
    let mut doc = engine.run_document(&engine.runs[run], now);
    // The answer is the Workflow resource itself, not an index document.
    if let Value::Object(m) = &mut doc {
        m.remove("apiVersion");
        m.remove("kind");
    }
    json_response(StatusCode::OK, &doc)
}

/// `POST /api/service/workflows/indexsearch`: the templates, as the index shows them.
async fn search_templates(State(sim): AtlanSim, headers: HeaderMap, body: Bytes) -> Response {
    let state = sim.state();
    if let Err(r) = workflow_caller(&state, &headers) {
        return r;
    }
    let request = match json_body(&body).and_then(|b| parse_search(&b).map_err(bad_request)) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let engine = &state.workflows;
    let visible_until = now_millis() - engine.lag_ms;
    let candidates: Vec<usize> = match required_term(&request.query, &["metadata.name", "_id"]) {
        Some(names) => {
            let mut found: Vec<usize> = names
                .iter()
                .filter_map(|n| engine.template_index.get(n).copied())
                .collect();
            found.sort_unstable();
            found.dedup();
            found
        }
        None => (0..engine.templates.len()).collect(),
    };
    let docs = candidates
        .into_iter()
        .map(|i| &engine.templates[i])
        .filter(|t| t.created_ms <= visible_until)
        .map(|t| (t.name.clone(), t.created_ms, engine.template_document(t)));
    json_response(
        StatusCode::OK,
        &search_response("workflows", docs, &request),
    )
}

/// `POST /api/service/runs/indexsearch`: the runs, as the index shows them.
async fn search_runs(State(sim): AtlanSim, headers: HeaderMap, body: Bytes) -> Response {
    let state = sim.state();
    if let Err(r) = workflow_caller(&state, &headers) {
        return r;
    }
    let request = match json_body(&body).and_then(|b| parse_search(&b).map_err(bad_request)) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let engine = &state.workflows;
    let as_of = now_millis() - engine.lag_ms;
    let candidates: Vec<usize> = match required_term(
        &request.query,
        &[
            "spec.workflowTemplateRef.name",
            "metadata.labels.workflows.argoproj.io/workflow-template",
        ],
    ) {
        Some(names) => {
            let mut found: Vec<usize> = names
                .iter()
                .filter_map(|n| engine.runs_of.get(n))
                .flatten()
                .copied()
                .collect();
            found.sort_unstable();
            found.dedup();
            found
        }
        None => (0..engine.runs.len()).collect(),
    };
    let docs = candidates
        .into_iter()
        .map(|i| &engine.runs[i])
        .filter(|r| r.created_ms <= as_of)
        .map(|r| (r.name.clone(), r.created_ms, engine.run_document(r, as_of)));
    json_response(StatusCode::OK, &search_response("runs", docs, &request))
}

// ---------------------------------------------------------------------------------------------
// The search DSL: the subset of Elasticsearch's that pyatlan and the docs send

struct SearchRequest {
    from: usize,
    size: usize,
    query: Query,
    post_filter: Option<Query>,
    sort: Vec<(String, bool)>,
}

/// A query clause. `nested` is evaluated as its inner query: documents are searched whole,
/// with full field paths, as Elasticsearch's nested queries also name them.
enum Query {
    All,
    Bool {
        must: Vec<Query>,
        should: Vec<Query>,
        must_not: Vec<Query>,
        minimum_should_match: usize,
    },
    Term {
        field: String,
        values: Vec<String>,
        case_insensitive: bool,
    },
    Prefix {
        field: String,
        value: String,
        case_insensitive: bool,
    },
    Regexp {
        field: String,
        regex: Regex,
    },
    Exists {
        field: String,
    },
}

fn parse_search(body: &Map<String, Value>) -> Result<SearchRequest, String> {
    const KNOWN: [&str; 7] = [
        "from",
        "size",
        "track_total_hits",
        "query",
        "post_filter",
        "sort",
        "_source",
    ];
    if let Some(unknown) = body.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(format!("Unknown key for the search request: [{unknown}]"));
    }
    let number = |key: &str, default: usize| -> Result<usize, String> {
        match body.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| format!("[{key}] must be a non-negative integer")),
        }
    };
    let from = number("from", 0)?;
    let size = number("size", 10)?;
    if from.saturating_add(size) > MAX_RESULT_WINDOW {
        return Err(format!(
            "Result window is too large, from + size must be less than or equal to: [{MAX_RESULT_WINDOW}]"
        ));
    }
    let query = match body.get("query") {
        None | Some(Value::Null) => Query::All,
        Some(q) => parse_query(q, 0)?,
    };
    let post_filter = match body.get("post_filter") {
        None | Some(Value::Null) => None,
        Some(q) => Some(parse_query(q, 0)?),
    };
    let sort = parse_sort(body.get("sort"))?;
    Ok(SearchRequest {
        from,
        size,
        query,
        post_filter,
        sort,
    })
}

/// Deeper than any query a client builds; a hostile one cannot exhaust the stack.
const MAX_QUERY_DEPTH: usize = 32;

fn parse_query(v: &Value, depth: usize) -> Result<Query, String> {
    if depth > MAX_QUERY_DEPTH {
        return Err(format!("the query is nested deeper than {MAX_QUERY_DEPTH}"));
    }
    let Some((kind, body)) = v
        .as_object()
        .filter(|m| m.len() == 1)
        .and_then(|m| m.iter().next())
    else {
        return Err(format!("a query clause must be a one-key object, got {v}"));
    };
    let scalar = |v: &Value| -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    };
    // `{field: value}` or `{field: {"value": …, options}}`, beside an optional boost.
    let field_and_value = |body: &Value| -> Result<(String, Value), String> {
        let fields: Vec<(&String, &Value)> = body
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| k.as_str() != "boost")
            .collect();
        match fields[..] {
            [(field, value)] => Ok((field.clone(), value.clone())),
            _ => Err(format!(
                "[{kind}] query needs exactly one field, got {body}"
            )),
        }
    };
    let value_and_ci = |spec: &Value| -> Result<(String, bool), String> {
        match spec {
            Value::Object(o) => Ok((
                o.get("value")
                    .and_then(scalar)
                    .ok_or_else(|| format!("[{kind}] query needs a value"))?,
                o.get("case_insensitive")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            )),
            other => Ok((
                scalar(other).ok_or_else(|| format!("[{kind}] query needs a scalar value"))?,
                false,
            )),
        }
    };
    match kind.as_str() {
        "match_all" => Ok(Query::All),
        "term" => {
            let (field, spec) = field_and_value(body)?;
            let (value, case_insensitive) = value_and_ci(&spec)?;
            Ok(Query::Term {
                field,
                values: vec![value],
                case_insensitive,
            })
        }
        "terms" => {
            let (field, list) = field_and_value(body)?;
            let values = list
                .as_array()
                .ok_or("[terms] query needs an array of values")?
                .iter()
                .map(|v| scalar(v).ok_or("[terms] values must be scalars"))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Query::Term {
                field,
                values,
                case_insensitive: false,
            })
        }
        "prefix" => {
            let (field, spec) = field_and_value(body)?;
            let (value, case_insensitive) = value_and_ci(&spec)?;
            Ok(Query::Prefix {
                field,
                value,
                case_insensitive,
            })
        }
        "regexp" => {
            let (field, spec) = field_and_value(body)?;
            let (pattern, case_insensitive) = value_and_ci(&spec)?;
            let regex = RegexBuilder::new(&lucene_regex(&pattern)?)
                .case_insensitive(case_insensitive)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| format!("[regexp] {pattern:?} is not a valid expression: {e}"))?;
            Ok(Query::Regexp { field, regex })
        }
        "exists" => {
            let field = body
                .get("field")
                .and_then(Value::as_str)
                .ok_or("[exists] query needs a field")?;
            Ok(Query::Exists {
                field: field.to_string(),
            })
        }
        "nested" => {
            if !body.get("path").is_some_and(Value::is_string) {
                return Err("[nested] query needs a path".into());
            }
            let inner = body.get("query").ok_or("[nested] query needs a query")?;
            parse_query(inner, depth + 1)
        }
        "bool" => {
            let Some(b) = body.as_object() else {
                return Err("[bool] query needs an object".into());
            };
            let list = |key: &str| -> Result<Vec<Query>, String> {
                match b.get(key) {
                    None | Some(Value::Null) => Ok(Vec::new()),
                    Some(Value::Array(items)) => {
                        items.iter().map(|q| parse_query(q, depth + 1)).collect()
                    }
                    Some(one) => Ok(vec![parse_query(one, depth + 1)?]),
                }
            };
            let mut must = list("must")?;
            must.extend(list("filter")?);
            let should = list("should")?;
            let minimum_should_match = match b.get("minimum_should_match") {
                None | Some(Value::Null) => usize::from(must.is_empty() && !should.is_empty()),
                Some(v) => v
                    .as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or("[bool] minimum_should_match must be a count")?,
            };
            Ok(Query::Bool {
                must,
                should,
                must_not: list("must_not")?,
                minimum_should_match,
            })
        }
        other => Err(format!(
            "query clause [{other}] is not supported by the sandbox (supported: bool, nested, term, terms, prefix, regexp, exists, match_all)"
        )),
    }
}

/// A Lucene regular expression (always anchored at both ends) as a `regex` pattern. The
/// optional operators (`~ < > & @ #`) are refused rather than guessed at.
fn lucene_regex(pattern: &str) -> Result<String, String> {
    let mut out = String::from("^(?:");
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        if in_class {
            match c {
                ']' => {
                    in_class = false;
                    out.push(']');
                }
                '\\' => {
                    let next = chars.next().ok_or("[regexp] ends with a backslash")?;
                    out.push_str(&regex::escape(&next.to_string()));
                }
                '-' => out.push('-'),
                c if c.is_alphanumeric() => out.push(c),
                c => out.push_str(&regex::escape(&c.to_string())),
            }
            continue;
        }
        match c {
            '\\' => {
                let next = chars.next().ok_or("[regexp] ends with a backslash")?;
                out.push_str(&regex::escape(&next.to_string()));
            }
            '"' => {
                let mut literal = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some(ch) => literal.push(ch),
                        None => return Err("[regexp] has an unterminated quote".into()),
                    }
                }
                out.push_str(&regex::escape(&literal));
            }
            '[' => {
                in_class = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    out.push('^');
                }
            }
            '.' | '?' | '+' | '*' | '|' | '(' | ')' | '{' | '}' => out.push(c),
            '~' | '<' | '>' | '&' | '@' | '#' => {
                return Err(format!(
                    "[regexp] operator `{c}` is not supported by the sandbox"
                ));
            }
            c => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    if in_class {
        return Err("[regexp] has an unterminated character class".into());
    }
    out.push_str(")$");
    Ok(out)
}

/// Sort fields with descending flags. `_score` is ignored (every hit scores the same).
fn parse_sort(sort: Option<&Value>) -> Result<Vec<(String, bool)>, String> {
    let entries: Vec<&Value> = match sort {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one) => vec![one],
    };
    let mut out = Vec::new();
    for entry in entries {
        let (field, order) = match entry {
            Value::String(f) => (f.clone(), None),
            Value::Object(m) if m.len() == 1 => {
                let (field, spec) = m.iter().next().ok_or("empty sort entry")?;
                let order = match spec {
                    Value::String(o) => Some(o.as_str()),
                    Value::Object(o) => o.get("order").and_then(Value::as_str),
                    _ => return Err(format!("sort entry for {field} is not understood")),
                };
                (field.clone(), order)
            }
            other => return Err(format!("sort entry {other} is not understood")),
        };
        let desc = match order {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => return Err(format!("sort order must be asc or desc, got {other}")),
        };
        if field != "_score" {
            out.push((field, desc));
        }
    }
    Ok(out)
}

/// A field path without the `.keyword` sub-field suffix (the sandbox stores exact values).
fn base_field(field: &str) -> &str {
    field.strip_suffix(".keyword").unwrap_or(field)
}

/// Every scalar at `path` in `doc`. Object keys may themselves contain dots (Argo labels such
/// as `workflows.argoproj.io/phase`); arrays are searched through, as Elasticsearch flattens
/// them.
fn field_values<'a>(doc: &'a Value, path: &str, out: &mut Vec<&'a Value>) {
    match doc {
        Value::Array(items) => {
            for item in items {
                field_values(item, path, out);
            }
        }
        Value::Null => {}
        _ if path.is_empty() => out.push(doc),
        Value::Object(map) => {
            for (key, value) in map {
                if path == key {
                    field_values(value, "", out);
                } else if let Some(rest) = path
                    .strip_prefix(key.as_str())
                    .and_then(|r| r.strip_prefix('.'))
                {
                    field_values(value, rest, out);
                }
            }
        }
        _ => {}
    }
}

/// The values of `field` as text (`_id` is the document id).
fn texts(id: &str, doc: &Value, field: &str) -> Vec<String> {
    let field = base_field(field);
    if field == "_id" {
        return vec![id.to_string()];
    }
    let mut values = Vec::new();
    field_values(doc, field, &mut values);
    values
        .into_iter()
        .filter_map(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        })
        .collect()
}

fn matches(q: &Query, id: &str, doc: &Value) -> bool {
    match q {
        Query::All => true,
        Query::Bool {
            must,
            should,
            must_not,
            minimum_should_match,
        } => {
            must.iter().all(|m| matches(m, id, doc))
                && !must_not.iter().any(|m| matches(m, id, doc))
                && should.iter().filter(|s| matches(s, id, doc)).count() >= *minimum_should_match
        }
        Query::Term {
            field,
            values,
            case_insensitive,
        } => texts(id, doc, field).iter().any(|have| {
            values.iter().any(|want| {
                if *case_insensitive {
                    have.eq_ignore_ascii_case(want)
                } else {
                    have == want
                }
            })
        }),
        Query::Prefix {
            field,
            value,
            case_insensitive,
        } => texts(id, doc, field).iter().any(|have| {
            if *case_insensitive {
                have.to_lowercase().starts_with(&value.to_lowercase())
            } else {
                have.starts_with(value.as_str())
            }
        }),
        Query::Regexp { field, regex } => texts(id, doc, field)
            .iter()
            .any(|have| regex.is_match(have)),
        Query::Exists { field } => !texts(id, doc, field).is_empty(),
    }
}

/// The values an exact term on one of `fields` restricts the hits to, when the query requires
/// one (alone or among its `must`/`filter` clauses), so a search can look them up.
fn required_term<'a>(q: &'a Query, fields: &[&str]) -> Option<&'a [String]> {
    match q {
        Query::Term {
            field,
            values,
            case_insensitive: false,
        } if fields.contains(&base_field(field)) => Some(values),
        Query::Bool { must, .. } => must.iter().find_map(|m| required_term(m, fields)),
        _ => None,
    }
}

/// The Elasticsearch answer for `docs` (id, creation time, `_source`) in index order.
fn search_response(
    index: &str,
    docs: impl Iterator<Item = (String, i64, Value)>,
    request: &SearchRequest,
) -> Value {
    let mut hits: Vec<(usize, String, i64, Value)> = docs
        .enumerate()
        .map(|(seq, (id, created, doc))| (seq, id, created, doc))
        .filter(|(_, id, _, doc)| {
            matches(&request.query, id, doc)
                && request
                    .post_filter
                    .as_ref()
                    .is_none_or(|f| matches(f, id, doc))
        })
        .collect();
    if !request.sort.is_empty() {
        let keys: HashMap<usize, Vec<Option<String>>> = hits
            .iter()
            .map(|(seq, id, _, doc)| {
                let key = request
                    .sort
                    .iter()
                    .map(|(field, _)| texts(id, doc, field).into_iter().next())
                    .collect();
                (*seq, key)
            })
            .collect();
        // Equal keys (timestamps have whole seconds) keep index order, reversed when the
        // first sort is descending, so "newest first" holds within a second too.
        let first_desc = request.sort[0].1;
        hits.sort_by(|a, b| {
            for (i, (_, desc)) in request.sort.iter().enumerate() {
                let (x, y) = (&keys[&a.0][i], &keys[&b.0][i]);
                let ordering = match (x, y) {
                    (Some(x), Some(y)) if *desc => y.cmp(x),
                    (Some(x), Some(y)) => x.cmp(y),
                    // Missing values sort last either way.
                    (Some(_), None) => Ordering::Less,
                    (None, Some(_)) => Ordering::Greater,
                    (None, None) => Ordering::Equal,
                };
                if ordering != Ordering::Equal {
                    return ordering;
                }
            }
            if first_desc {
                b.0.cmp(&a.0)
            } else {
                a.0.cmp(&b.0)
            }
        });
    }
    let total = hits.len();
    let page: Vec<Value> = hits
        .into_iter()
        .skip(request.from)
        .take(request.size)
        .map(|(seq, id, created, doc)| {
            json!({
                "_index": index,
                "_type": "_doc",
                "_id": id,
                "_seq_no": seq,
                "_primary_term": 1,
                "_score": null,
                "_source": doc,
                "sort": [created],
            })
        })
        .collect();
    json!({
        "took": 1,
        "timed_out": false,
        "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
        "hits": {
            "total": {"value": total, "relation": "eq"},
            "max_score": null,
            "hits": page,
        },
    })
}
