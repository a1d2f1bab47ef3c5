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

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap, HashSet};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::post;
use rand::Rng;
use serde_json::{Map, Value, json};

use super::query::{Fields, Query, base_field, matches, parse_query, required_term};
use super::{Atlan, AtlanSim, Requested, atlas_error, bad_request, millis};
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
        let connection = self.active(&qualified_name);
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
        let current = &self.entities[idx].connection;
        let mut admin_users = current.admin_users.clone();
        if !admin_users.contains(&token_user) {
            admin_users.push(token_user);
        }
        // What the package saves: qualifiedName, name and adminUsers only.
        let request = Requested::admin_users(current, admin_users);
        match self.plan_admin_update(&submitter, idx, &request, now) {
            Ok(Some(next)) => {
                self.update_entity(idx, next, now);
                (WorkflowPhase::Succeeded, UPDATED.to_string())
            }
            Ok(None) => (WorkflowPhase::Succeeded, NOOP.to_string()),
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

/// The caller checked and the search body parsed, for either index.
fn search_request(
    state: &Atlan,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<SearchRequest, Response> {
    workflow_caller(state, headers)?;
    parse_search(&json_body(body)?).map_err(bad_request)
}

/// Positions of the documents an exact-term lookup names (in index order), or all of them.
fn candidates<'a, I: IntoIterator<Item = &'a usize>>(
    names: Option<&HashSet<String>>,
    all: usize,
    positions: impl Fn(&str) -> I,
) -> Vec<usize> {
    match names {
        Some(names) => {
            let mut found: Vec<usize> = names.iter().flat_map(|n| positions(n)).copied().collect();
            found.sort_unstable();
            found.dedup();
            found
        }
        None => (0..all).collect(),
    }
}

/// `POST /api/service/workflows/indexsearch`: the templates, as the index shows them.
async fn search_templates(State(sim): AtlanSim, headers: HeaderMap, body: Bytes) -> Response {
    let state = sim.state();
    let request = match search_request(&state, &headers, &body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let engine = &state.workflows;
    let visible_until = now_millis() - engine.lag_ms;
    let positions = candidates(
        required_term(&request.query, &["metadata.name", "_id"]),
        engine.templates.len(),
        |name| engine.template_index.get(name),
    );
    let docs = positions
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
    let request = match search_request(&state, &headers, &body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let engine = &state.workflows;
    let as_of = now_millis() - engine.lag_ms;
    let positions = candidates(
        required_term(
            &request.query,
            &[
                "spec.workflowTemplateRef.name",
                "metadata.labels.workflows.argoproj.io/workflow-template",
            ],
        ),
        engine.runs.len(),
        |name| engine.runs_of.get(name).into_iter().flatten(),
    );
    let docs = positions
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
        Some(q) => parse_query(q)?,
    };
    let post_filter = match body.get("post_filter") {
        None | Some(Value::Null) => None,
        Some(q) => Some(parse_query(q)?),
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
/// A document of a workflow index: its id and `_source`.
struct IndexDoc<'a> {
    id: &'a str,
    source: &'a Value,
}

impl Fields for IndexDoc<'_> {
    fn texts(&self, field: &str) -> Vec<Cow<'_, str>> {
        if field == "_id" {
            return vec![Cow::Borrowed(self.id)];
        }
        let mut values = Vec::new();
        field_values(self.source, field, &mut values);
        values
            .into_iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(Cow::Borrowed(s.as_str())),
                Value::Number(n) => Some(Cow::Owned(n.to_string())),
                Value::Bool(b) => Some(Cow::Owned(b.to_string())),
                _ => None,
            })
            .collect()
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
            let doc = IndexDoc { id, source: doc };
            matches(&request.query, &doc)
                && request
                    .post_filter
                    .as_ref()
                    .is_none_or(|f| matches(f, &doc))
        })
        .collect();
    if !request.sort.is_empty() {
        let keys: HashMap<usize, Vec<Option<String>>> = hits
            .iter()
            .map(|(seq, id, _, doc)| {
                let key = request
                    .sort
                    .iter()
                    .map(|(field, _)| {
                        IndexDoc { id, source: doc }
                            .texts(base_field(field))
                            .into_iter()
                            .next()
                            .map(Cow::into_owned)
                    })
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
