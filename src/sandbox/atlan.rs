//! The Atlan simulator, per `contracts/atlan.md`: API tokens (Heracles `/api/service/apikeys`),
//! users, whoami, and Connection assets (Atlas `/api/meta`: unique-attribute GET, indexsearch,
//! entity/bulk with the ConnectionPreProcessor admin rules), and, in `atlan_workflows.rs`, the
//! workflow engine that runs the API token connection admin package as its submitter through
//! the same admin rule ([`may_change_admins`]) and write.
//!
//! Auth is `Authorization: Bearer <apiKey>` of a seeded caller; anything else is 401.
//! Errors use the Atlas body `{"errorCode", "errorMessage"}`.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Map, Value, json};

#[path = "atlan_query.rs"]
mod query;
#[path = "atlan_workflows.rs"]
mod workflows;

use super::seed::{AtlanApiToken, AtlanCaller, AtlanConnection, AtlanSeed};
use super::{Platform, Sim, auth_credential, json_response, now_millis, query_pairs, query_value};

type AtlanSim = State<Arc<Sim<Atlan>>>;

pub(crate) struct Atlan {
    data: AtlanSeed,
    /// qualifiedName → index in `data.connections`. A plan searches 1,000 names at a time
    /// among tens of thousands of connections; scanning them all per request made the
    /// sandbox, not warrant, the cost of a large plan. Connections are never removed, so an
    /// index stays valid; a create adds its entry.
    by_qualified_name: HashMap<String, usize>,
    foreign_seq: u64,
    /// The package workflows: templates, runs, and the clock they run on.
    workflows: workflows::Engine,
}

impl Platform for Atlan {
    const NAME: &'static str = "atlan";
    type Seed = AtlanSeed;

    fn from_seed(seed: &AtlanSeed) -> Atlan {
        let by_qualified_name = seed
            .connections
            .iter()
            .enumerate()
            .map(|(i, c)| (c.qualified_name.clone(), i))
            .collect();
        Atlan {
            data: seed.clone(),
            by_qualified_name,
            foreign_seq: 0,
            workflows: workflows::Engine::from_seed(&seed.workflows, now_millis()),
        }
    }

    fn snapshot(&self) -> Value {
        json!({
            "callers": self.data.callers.iter().map(|c| json!({
                "username": c.username, "roles": c.roles, "groups": c.groups,
            })).collect::<Vec<_>>(),
            "users": self.data.users,
            "apiTokens": self.data.api_tokens,
            "connections": self.data.connections,
            "workflows": self.workflows.snapshot(now_millis()),
        })
    }

    fn advance(&mut self) {
        self.advance_workflows();
    }

    fn foreign_write(&mut self, rng: &mut StdRng) {
        if self.data.connections.is_empty() {
            return;
        }
        let i = rng.random_range(0..self.data.connections.len());
        self.foreign_seq += 1;
        let user = format!("foreign-admin-{}", self.foreign_seq);
        let conn = &mut self.data.connections[i];
        conn.admin_users.push(user);
        conn.updated_by = "foreign-writer".to_string();
        conn.update_time = now_millis();
        conn.version += 1;
    }

    fn fault_response(status: StatusCode, retry_after: Option<u64>) -> Response {
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            return atlas_error(
                status,
                "ATLAS-500-00-001",
                "Internal server error (injected)",
            );
        }
        // The gateway in front of Atlas answers these with plain text.
        let text = status.canonical_reason().unwrap_or("Error");
        let mut r = (status, text.to_string()).into_response();
        if let Some(secs) = retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        r
    }

    fn not_found() -> Response {
        atlas_error(
            StatusCode::NOT_FOUND,
            "ATLAS-404-00-001",
            "The requested resource does not exist",
        )
    }

    fn error(status: StatusCode, message: &str) -> Response {
        atlas_error(
            status,
            &format!("ATLAS-{}-00-001", status.as_u16()),
            message,
        )
    }

    fn routes() -> Router<Arc<Sim<Atlan>>> {
        Router::new()
            .route("/api/service/apikeys", get(list_api_keys))
            .route("/api/service/users", get(list_users))
            .route("/api/service/whoami", get(whoami))
            .route(
                "/api/meta/entity/uniqueAttribute/type/{type_name}",
                get(get_by_unique_attribute),
            )
            .route("/api/meta/entity/guid/{guid}", get(get_by_guid))
            .route("/api/meta/search/indexsearch", post(index_search))
            .route("/api/meta/entity/bulk", post(bulk))
            .route("/api/meta/entity/bulk/", post(bulk))
            .merge(workflows::routes())
    }
}

fn atlas_error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    json_response(
        status,
        &json!({"errorCode": code, "errorMessage": message.into()}),
    )
}

fn bad_request(message: impl Into<String>) -> Response {
    atlas_error(StatusCode::BAD_REQUEST, "ATLAS-400-00-001", message)
}

impl Atlan {
    fn caller(&self, headers: &HeaderMap) -> Result<AtlanCaller, Response> {
        let unauthorized = || {
            atlas_error(
                StatusCode::UNAUTHORIZED,
                "ATLAS-401-00-001",
                "Authentication required",
            )
        };
        let key = auth_credential(headers, "Bearer").ok_or_else(unauthorized)?;
        self.data
            .callers
            .iter()
            .find(|c| c.api_key == key)
            .cloned()
            .ok_or_else(unauthorized)
    }
}

// ---------------------------------------------------------------------------------------------
// Heracles: API tokens, users, whoami

/// `GET /api/service/apikeys?filter=&limit=&offset=&sort=&count=`
async fn list_api_keys(State(sim): AtlanSim, headers: HeaderMap, uri: Uri) -> Response {
    let state = sim.state();
    if let Err(r) = state.caller(&headers) {
        return r;
    }
    let q = query_pairs(&uri);
    let (filter, limit, offset) = match list_params(&q, &["displayName", "id", "clientId"]) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let field = |t: &AtlanApiToken, key: &str| -> String {
        match key {
            "displayName" => t.display_name.clone(),
            "id" => t.guid.clone(),
            "clientId" => t.client_id.clone(),
            _ => t.created_at.to_string(),
        }
    };
    let mut matched: Vec<&AtlanApiToken> = state
        .data
        .api_tokens
        .iter()
        .filter(|t| filter.iter().all(|(k, v)| &field(t, k) == v))
        .collect();
    if let Some(sort) = query_value(&q, "sort").filter(|s| !s.is_empty()) {
        let (desc, key) = match sort.strip_prefix('-') {
            Some(k) => (true, k),
            None => (false, sort),
        };
        match key {
            "createdAt" => matched.sort_by_key(|t| t.created_at),
            "displayName" | "clientId" | "id" => matched.sort_by_key(|t| field(t, key)),
            other => return bad_request(format!("Invalid sort field: {other}")),
        }
        if desc {
            matched.reverse();
        }
    }
    let records: Vec<Value> = matched
        .iter()
        .skip(offset)
        .take(limit)
        .map(|t| token_json(t))
        .collect();
    json_response(
        StatusCode::OK,
        &json!({
            "totalRecord": state.data.api_tokens.len(),
            "filterRecord": matched.len(),
            "records": records,
        }),
    )
}

/// Exact-match filter pairs, limit, offset.
type ListParams = (Vec<(String, String)>, usize, usize);

/// Parses `filter` (a JSON object of exact matches on `allowed` keys), `limit` and `offset`.
fn list_params(q: &[(String, String)], allowed: &[&str]) -> Result<ListParams, Response> {
    let mut filter = Vec::new();
    if let Some(text) = query_value(q, "filter").filter(|s| !s.trim().is_empty()) {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| bad_request(format!("Invalid filter JSON: {e}")))?;
        let Value::Object(map) = value else {
            return Err(bad_request("filter must be a JSON object"));
        };
        for (k, v) in map {
            if !allowed.contains(&k.as_str()) {
                return Err(bad_request(format!(
                    "Unsupported filter key: {k} (supported: {})",
                    allowed.join(", ")
                )));
            }
            let v = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            filter.push((k, v));
        }
    }
    let number = |key: &str, default: usize| -> Result<usize, Response> {
        match query_value(q, key) {
            None | Some("") => Ok(default),
            Some(v) => v
                .parse::<usize>()
                .map_err(|_| bad_request(format!("Invalid {key}: {v}"))),
        }
    };
    Ok((filter, number("limit", 100)?, number("offset", 0)?))
}

/// A token record as Heracles returns it on retrieval: some attributes are JSON-encoded strings.
fn token_json(t: &AtlanApiToken) -> Value {
    json!({
        "id": t.guid,
        "clientId": t.client_id,
        "displayName": t.display_name,
        "attributes": {
            "clientId": t.client_id,
            "displayName": t.display_name,
            "description": t.description,
            "createdAt": t.created_at.to_string(),
            "createdBy": t.created_by,
            "access.token.lifespan": t.lifespan_seconds.to_string(),
            "personaQualifiedName": "[]",
            "workspacePermissions": "[]",
            "personas": "[]",
        },
    })
}

/// `GET /api/service/users?filter={"username":…}&limit=&offset=`
async fn list_users(State(sim): AtlanSim, headers: HeaderMap, uri: Uri) -> Response {
    let state = sim.state();
    if let Err(r) = state.caller(&headers) {
        return r;
    }
    let q = query_pairs(&uri);
    let (filter, limit, offset) = match list_params(&q, &["username", "id", "email"]) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let matched: Vec<Value> = state
        .data
        .users
        .iter()
        .map(|u| {
            json!({
                "id": u.id.clone().unwrap_or_else(|| format!("user-{}", u.username)),
                "username": u.username,
                "email": u.email,
                "enabled": true,
            })
        })
        .filter(|u| {
            filter
                .iter()
                .all(|(k, v)| u.get(k).and_then(Value::as_str) == Some(v.as_str()))
        })
        .collect();
    let records: Vec<&Value> = matched.iter().skip(offset).take(limit).collect();
    json_response(
        StatusCode::OK,
        &json!({
            "totalRecord": state.data.users.len(),
            "filterRecord": matched.len(),
            "records": records,
        }),
    )
}

/// `GET /api/service/whoami`
async fn whoami(State(sim): AtlanSim, headers: HeaderMap) -> Response {
    let state = sim.state();
    match state.caller(&headers) {
        Err(r) => r,
        Ok(c) => json_response(
            StatusCode::OK,
            &json!({
                "username": c.username,
                "roles": c.roles.iter().map(|r| json!({"name": r})).collect::<Vec<_>>(),
                "groups": c.groups,
            }),
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Atlas: Connection entities

fn entity_json(c: &AtlanConnection, attributes: Option<&[String]>) -> Value {
    let all = json!({
        "qualifiedName": c.qualified_name,
        "name": c.name,
        "connectorName": c.connector_name,
        "category": c.category,
        "adminUsers": c.admin_users,
        "adminGroups": c.admin_groups,
        "adminRoles": c.admin_roles,
    });
    let attrs = match attributes {
        None => all,
        Some(wanted) => {
            let mut m = Map::new();
            for key in ["qualifiedName", "name"]
                .into_iter()
                .chain(wanted.iter().map(String::as_str))
            {
                if let Some(v) = all.get(key) {
                    m.insert(key.to_string(), v.clone());
                }
            }
            Value::Object(m)
        }
    };
    json!({
        "typeName": "Connection",
        "guid": c.guid,
        "status": "ACTIVE",
        "displayText": c.name,
        "attributes": attrs,
        "classificationNames": [],
        "meaningNames": [],
        "labels": [],
        "isIncomplete": false,
        "createdBy": c.created_by,
        "updatedBy": c.updated_by,
        "createTime": c.create_time,
        "updateTime": c.update_time,
        "version": c.version,
    })
}

/// `GET /api/meta/entity/uniqueAttribute/type/{type}?attr:qualifiedName=…`
async fn get_by_unique_attribute(
    State(sim): AtlanSim,
    Path(type_name): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let state = sim.state();
    if let Err(r) = state.caller(&headers) {
        return r;
    }
    let q = query_pairs(&uri);
    let Some(qn) = query_value(&q, "attr:qualifiedName") else {
        return bad_request("Unique attribute attr:qualifiedName is required");
    };
    let found = (type_name == "Connection")
        .then(|| state.by_qualified_name.get(qn))
        .flatten()
        .map(|&i| &state.data.connections[i]);
    match found {
        Some(c) => {
            let mut entity = entity_json(c, None);
            entity["relationshipAttributes"] = json!({});
            json_response(
                StatusCode::OK,
                &json!({"referredEntities": {}, "entity": entity}),
            )
        }
        None => atlas_error(
            StatusCode::NOT_FOUND,
            "ATLAS-404-00-009",
            format!(
                "Instance {type_name} with unique attribute {{qualifiedName={qn}}} does not exist"
            ),
        ),
    }
}

/// `GET /api/meta/entity/guid/{guid}`
async fn get_by_guid(
    State(sim): AtlanSim,
    Path(guid): Path<String>,
    headers: HeaderMap,
) -> Response {
    let state = sim.state();
    if let Err(r) = state.caller(&headers) {
        return r;
    }
    match state.data.connections.iter().find(|c| c.guid == guid) {
        Some(c) => json_response(
            StatusCode::OK,
            &json!({"referredEntities": {}, "entity": entity_json(c, None)}),
        ),
        None => atlas_error(
            StatusCode::NOT_FOUND,
            "ATLAS-404-00-005",
            format!("Given instance guid {guid} is invalid/not found"),
        ),
    }
}

fn field_value<'a>(c: &'a AtlanConnection, field: &str) -> Option<&'a str> {
    Some(match field {
        "qualifiedName" => &c.qualified_name,
        "name" | "name.keyword" => &c.name,
        "__typeName.keyword" | "__typeName" => "Connection",
        "__state" => "ACTIVE",
        "__guid" => &c.guid,
        "connectorName" => &c.connector_name,
        _ => return None,
    })
}

/// A connection as the search sees it: its admin lists, or one attribute.
impl query::Fields for AtlanConnection {
    fn texts(&self, field: &str) -> Vec<Cow<'_, str>> {
        let list = match field {
            "adminUsers" => &self.admin_users,
            "adminGroups" => &self.admin_groups,
            "adminRoles" => &self.admin_roles,
            _ => {
                return field_value(self, field)
                    .map(Cow::Borrowed)
                    .into_iter()
                    .collect();
            }
        };
        list.iter().map(|v| Cow::Borrowed(v.as_str())).collect()
    }
}

/// `POST /api/meta/search/indexsearch`
async fn index_search(State(sim): AtlanSim, headers: HeaderMap, body: Bytes) -> Response {
    let state = sim.state();
    if let Err(r) = state.caller(&headers) {
        return r;
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(format!("Invalid JSON in request body: {e}")),
    };
    let Some(dsl) = request.get("dsl").and_then(Value::as_object) else {
        return bad_request("dsl is required");
    };
    let clause = match dsl.get("query") {
        None | Some(Value::Null) => query::Query::All,
        Some(q) => match query::parse_query(q) {
            Ok(c) => c,
            Err(e) => return bad_request(e),
        },
    };
    let index = |key: &str, default: u64| -> Result<usize, Response> {
        match dsl.get(key) {
            None | Some(Value::Null) => Ok(default as usize),
            Some(v) => v
                .as_u64()
                .map(|n| n as usize)
                .ok_or_else(|| bad_request(format!("dsl.{key} must be a non-negative integer"))),
        }
    };
    let (from, size) = match (index("from", 0), index("size", 10)) {
        (Ok(f), Ok(s)) => (f, s),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let attributes: Vec<String> = request
        .get("attributes")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let connections = &state.data.connections;
    // The qualified names a query restricts the hits to are looked up, not scanned for.
    let mut hits: Vec<&AtlanConnection> = match query::required_term(&clause, &["qualifiedName"]) {
        Some(names) => {
            // Seed (creation) order, as a full scan would give.
            let mut found: Vec<usize> = names
                .iter()
                .filter_map(|n| state.by_qualified_name.get(n).copied())
                .collect();
            found.sort_unstable();
            found
                .into_iter()
                .map(|i| &connections[i])
                .filter(|c| query::matches(&clause, *c))
                .collect()
        }
        None => connections
            .iter()
            .filter(|c| query::matches(&clause, *c))
            .collect(),
    };
    sort_hits(&mut hits, dsl.get("sort"));
    let page: Vec<Value> = hits
        .iter()
        .skip(from)
        .take(size)
        .map(|c| entity_json(c, Some(&attributes)))
        .collect();
    let mut response = json!({
        "queryType": "INDEX",
        "searchParameters": {
            "dsl": Value::Object(dsl.clone()),
            "attributes": attributes,
            "showSearchScore": false,
            "suppressLogs": true,
        },
        "approximateCount": hits.len(),
    });
    if !page.is_empty() {
        response["entities"] = Value::Array(page);
    }
    json_response(StatusCode::OK, &response)
}

/// Applies the first recognized `sort` entry; unknown fields keep seed (creation) order.
fn sort_hits(hits: &mut [&AtlanConnection], sort: Option<&Value>) {
    let Some(entries) = sort.and_then(Value::as_array) else {
        return;
    };
    for entry in entries {
        let Some((field, spec)) = entry.as_object().and_then(|m| m.iter().next()) else {
            continue;
        };
        let desc = match spec {
            Value::String(s) => s == "desc",
            Value::Object(o) => o.get("order").and_then(Value::as_str) == Some("desc"),
            _ => false,
        };
        let key = |c: &&AtlanConnection| -> Option<String> {
            match field.as_str() {
                "__timestamp" | "createTime" => Some(format!("{:020}", c.create_time)),
                "__modificationTimestamp" | "updateTime" => Some(format!("{:020}", c.update_time)),
                f => field_value(c, f).map(str::to_string),
            }
        };
        if hits.first().and_then(key).is_none() {
            continue;
        }
        hits.sort_by_cached_key(|c| key(c));
        if desc {
            hits.reverse();
        }
        return;
    }
}

/// The admin lists and name an entity in a bulk request asks for.
struct Requested {
    placeholder: Option<String>,
    qualified_name: String,
    name: String,
    connector_name: Option<String>,
    admin_users: Option<Vec<String>>,
    admin_groups: Option<Vec<String>>,
    admin_roles: Option<Vec<String>>,
}

fn parse_entity(i: usize, e: &Value) -> Result<Requested, Response> {
    let type_name = e.get("typeName").and_then(Value::as_str).unwrap_or("");
    if type_name.is_empty() {
        return Err(bad_request(format!("entities[{i}]: typeName is required")));
    }
    if type_name != "Connection" {
        return Err(atlas_error(
            StatusCode::BAD_REQUEST,
            "ATLAS-400-00-01A",
            format!(
                "entities[{i}]: type {type_name} is not supported by the sandbox (Connection only)"
            ),
        ));
    }
    let Some(attrs) = e.get("attributes").and_then(Value::as_object) else {
        return Err(bad_request(format!(
            "entities[{i}]: attributes are required"
        )));
    };
    let text = |key: &str| attrs.get(key).and_then(Value::as_str).map(str::to_string);
    let qualified_name = text("qualifiedName")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            atlas_error(
                StatusCode::BAD_REQUEST,
                "ATLAS-400-00-01B",
                format!("entities[{i}]: mandatory attribute qualifiedName is missing"),
            )
        })?;
    let name = text("name").filter(|s| !s.is_empty()).ok_or_else(|| {
        atlas_error(
            StatusCode::BAD_REQUEST,
            "ATLAS-400-00-01B",
            format!("entities[{i}]: mandatory attribute name is missing"),
        )
    })?;
    let list = |key: &str| -> Result<Option<Vec<String>>, Response> {
        match attrs.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str().map(str::to_string).ok_or_else(|| {
                        bad_request(format!("entities[{i}]: {key} must be an array of strings"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(bad_request(format!(
                "entities[{i}]: {key} must be an array of strings"
            ))),
        }
    };
    Ok(Requested {
        placeholder: e.get("guid").and_then(Value::as_str).map(str::to_string),
        qualified_name,
        name,
        connector_name: text("connectorName"),
        admin_users: list("adminUsers")?,
        admin_groups: list("adminGroups")?,
        admin_roles: list("adminRoles")?,
    })
}

fn same_set(a: &[String], b: &[String]) -> bool {
    a.iter().collect::<BTreeSet<_>>() == b.iter().collect::<BTreeSet<_>>()
}

/// An Atlas error as data (`{"errorCode", "errorMessage"}` with its status), for paths that
/// report it other than as a response: a workflow run puts the message in its status.
struct AtlasError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl AtlasError {
    fn response(&self) -> Response {
        atlas_error(self.status, self.code, self.message.clone())
    }
}

fn is_workspace_admin(caller: &AtlanCaller) -> bool {
    caller.roles.iter().any(|r| r == "$admin")
}

/// Whether `caller` may change the admin lists of `connection`. The one rule for every write
/// of a connection's admins: the bulk entity write, and a package workflow run acting as its
/// submitter (so a run can never do what its submitter could not do directly).
fn may_change_admins(caller: &AtlanCaller, connection: &AtlanConnection) -> bool {
    is_workspace_admin(caller)
        || connection.admin_users.contains(&caller.username)
        || caller
            .groups
            .iter()
            .any(|g| connection.admin_groups.contains(g))
}

impl Atlan {
    /// The existing connection at `idx` as `req` would leave it, checked as `caller` would be
    /// checked by `entity/bulk`, and whether anything changes. Nothing is saved: a bulk request
    /// checks all its entities before it saves any.
    fn plan_admin_update(
        &self,
        caller: &AtlanCaller,
        idx: usize,
        req: &Requested,
        now: i64,
    ) -> Result<(AtlanConnection, bool), AtlasError> {
        let current = &self.data.connections[idx];
        if !may_change_admins(caller, current) {
            return Err(AtlasError {
                status: StatusCode::FORBIDDEN,
                code: "ATLAS-403-00-002",
                message: format!(
                    "{} is not admin for connection {}",
                    caller.username, current.qualified_name
                ),
            });
        }
        let supplied = [&req.admin_users, &req.admin_groups, &req.admin_roles];
        let any_supplied = supplied.iter().any(|l| l.is_some());
        let all_supplied_empty = any_supplied
            && supplied
                .iter()
                .all(|l| l.as_ref().is_none_or(Vec::is_empty));
        let mut next = current.clone();
        if let Some(l) = &req.admin_users {
            next.admin_users = l.clone();
        }
        if let Some(l) = &req.admin_groups {
            next.admin_groups = l.clone();
        }
        if let Some(l) = &req.admin_roles {
            next.admin_roles = l.clone();
        }
        let final_empty = next.admin_users.is_empty()
            && next.admin_groups.is_empty()
            && next.admin_roles.is_empty();
        if all_supplied_empty || final_empty {
            return Err(AtlasError {
                status: StatusCode::BAD_REQUEST,
                code: "ATLAS-400-00-114",
                message: "Admin list should not be empty for type Connection".to_string(),
            });
        }
        next.name = req.name.clone();
        let changed = next.name != current.name
            || !same_set(&next.admin_users, &current.admin_users)
            || !same_set(&next.admin_groups, &current.admin_groups)
            || !same_set(&next.admin_roles, &current.admin_roles);
        if changed {
            next.updated_by = caller.username.clone();
            next.update_time = now;
            next.version += 1;
        }
        Ok((next, changed))
    }

    /// Stores a changed connection planned by [`Atlan::plan_admin_update`].
    fn save_connection(&mut self, idx: usize, connection: AtlanConnection) {
        self.data.connections[idx] = connection;
    }
}

/// `POST /api/meta/entity/bulk[/]`: all entities are checked before any is changed.
async fn bulk(State(sim): AtlanSim, headers: HeaderMap, uri: Uri, body: Bytes) -> Response {
    let mut state = sim.state();
    let caller = match state.caller(&headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let q = query_pairs(&uri);
    let flags = ["replaceClassifications", "replaceTags", "appendTags"]
        .iter()
        .filter(|k| query_value(&q, k).is_some_and(|v| v.eq_ignore_ascii_case("true")))
        .count();
    if flags > 1 {
        return bad_request(
            "Only one of replaceClassifications, replaceTags and appendTags can be true",
        );
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(format!("Invalid JSON in request body: {e}")),
    };
    let Some(entities) = request.get("entities").and_then(Value::as_array) else {
        return bad_request("entities is required");
    };
    if entities.is_empty() {
        return bad_request("entities must not be empty");
    }
    let now = now_millis();
    // Planned results: (index into connections or None for a create, the new connection).
    let mut planned: Vec<(Option<usize>, AtlanConnection, bool, Option<String>)> = Vec::new();
    for (i, e) in entities.iter().enumerate() {
        let req = match parse_entity(i, e) {
            Ok(r) => r,
            Err(r) => return r,
        };
        let existing = state.by_qualified_name.get(&req.qualified_name).copied();
        match existing {
            Some(idx) => match state.plan_admin_update(&caller, idx, &req, now) {
                Ok((next, changed)) => planned.push((Some(idx), next, changed, req.placeholder)),
                Err(e) => return e.response(),
            },
            None => {
                if !is_workspace_admin(&caller) {
                    return atlas_error(
                        StatusCode::FORBIDDEN,
                        "ATLAS-403-00-001",
                        format!(
                            "{} is not authorized to perform create entity: Connection:{}",
                            caller.username, req.qualified_name
                        ),
                    );
                }
                let Some(connector_name) = req.connector_name.clone() else {
                    return atlas_error(
                        StatusCode::BAD_REQUEST,
                        "ATLAS-400-00-01B",
                        format!(
                            "entities[{i}]: mandatory attribute connectorName is missing (creating {})",
                            req.qualified_name
                        ),
                    );
                };
                let mut admin_users = req.admin_users.clone().unwrap_or_default();
                if !admin_users.contains(&caller.username) {
                    admin_users.push(caller.username.clone());
                }
                let created = AtlanConnection {
                    guid: uuid::Uuid::new_v4().to_string(),
                    qualified_name: req.qualified_name.clone(),
                    name: req.name.clone(),
                    connector_name,
                    category: None,
                    admin_users,
                    admin_groups: req.admin_groups.clone().unwrap_or_default(),
                    admin_roles: req.admin_roles.clone().unwrap_or_default(),
                    created_by: caller.username.clone(),
                    updated_by: caller.username.clone(),
                    create_time: now,
                    update_time: now,
                    version: 0,
                };
                planned.push((None, created, true, req.placeholder));
            }
        }
    }
    let mut updated = Vec::new();
    let mut created = Vec::new();
    let mut assignments = Map::new();
    for (idx, conn, changed, placeholder) in planned {
        if let Some(p) = placeholder {
            assignments.insert(p, Value::String(conn.guid.clone()));
        }
        let header = entity_json(
            &conn,
            Some(&[
                "adminUsers".to_string(),
                "adminGroups".to_string(),
                "adminRoles".to_string(),
            ]),
        );
        match idx {
            Some(i) => {
                if changed {
                    updated.push(header);
                    state.save_connection(i, conn);
                }
            }
            None => {
                created.push(header);
                let index = state.data.connections.len();
                state
                    .by_qualified_name
                    .insert(conn.qualified_name.clone(), index);
                state.data.connections.push(conn);
            }
        }
    }
    let mut response = json!({"guidAssignments": assignments});
    let mut mutated = Map::new();
    if !created.is_empty() {
        mutated.insert("CREATE".into(), Value::Array(created));
    }
    if !updated.is_empty() {
        mutated.insert("UPDATE".into(), Value::Array(updated));
    }
    if !mutated.is_empty() {
        response["mutatedEntities"] = Value::Object(mutated);
    }
    json_response(StatusCode::OK, &response)
}
