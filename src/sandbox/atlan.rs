//! The Atlan simulator, per `contracts/atlan.md`: API tokens (Heracles `/api/service/apikeys`),
//! users, whoami, and Connection assets (Atlas `/api/meta`: the entity store's GETs by
//! qualifiedName and by GUID, indexsearch over a search index that may lag behind the store,
//! entity/bulk with the ConnectionPreProcessor admin rules), and, in `atlan_workflows.rs`, the
//! workflow engine that runs the API token connection admin package as its submitter through
//! the same admin rule ([`Atlan::may_change_admins`]) and write.
//!
//! Auth is `Authorization: Bearer <apiKey>` of a seeded caller; anything else is 401.
//! Errors use the Atlas body `{"errorCode", "errorMessage"}`.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
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

use super::seed::{
    AtlanApiToken, AtlanCaller, AtlanConnection, AtlanRole, AtlanSeed, ConnectionAdminRule,
};
use super::{Platform, Sim, auth_credential, json_response, now_millis, query_pairs, query_value};

type AtlanSim = State<Arc<Sim<Atlan>>>;

/// A connection as the entity store holds it.
#[derive(Debug, Clone, PartialEq)]
struct Entity {
    connection: AtlanConnection,
    /// Attributes the sandbox does not model (such as `description`), as last saved.
    other: BTreeMap<String, Value>,
    /// Archived (`status: DELETED`): readable, never written.
    archived: bool,
}

impl Entity {
    fn status(&self) -> &'static str {
        if self.archived { "DELETED" } else { "ACTIVE" }
    }
}

/// The search index of connections, `lag_ms` behind the entity store: each write reaches it
/// `lag_ms` after it was made. With no lag (the default) it is the store itself.
#[derive(Default)]
struct SearchIndex {
    lag_ms: i64,
    /// Positions the index shows differently from the store: an older version, or `None`
    /// for a connection created too recently to be searchable.
    stale: HashMap<usize, Option<Entity>>,
    /// Versions on their way into the index, oldest first: (searchable from, position).
    pending: VecDeque<(i64, usize, Entity)>,
    /// Per position, how many of its versions are still pending.
    in_flight: HashMap<usize, usize>,
}

impl SearchIndex {
    /// The version of the entity at `position` a search sees, if any.
    fn view<'a>(&'a self, entities: &'a [Entity], position: usize) -> Option<&'a Entity> {
        match self.stale.get(&position) {
            Some(version) => version.as_ref(),
            None => entities.get(position),
        }
    }

    /// Records a write made at `at`: the index keeps showing `before` until then + lag.
    fn record(&mut self, position: usize, before: Option<&Entity>, after: &Entity, at: i64) {
        if self.lag_ms == 0 {
            return;
        }
        self.stale
            .entry(position)
            .or_insert_with(|| before.cloned());
        self.pending
            .push_back((at.saturating_add(self.lag_ms), position, after.clone()));
        *self.in_flight.entry(position).or_insert(0) += 1;
    }

    /// Makes every version whose time has come searchable.
    fn advance(&mut self, now: i64) {
        while self.pending.front().is_some_and(|(at, _, _)| *at <= now) {
            let Some((_, position, version)) = self.pending.pop_front() else {
                break;
            };
            let left = self
                .in_flight
                .get(&position)
                .copied()
                .unwrap_or(1)
                .saturating_sub(1);
            if left == 0 {
                self.in_flight.remove(&position);
                self.stale.remove(&position);
            } else {
                self.in_flight.insert(position, left);
                self.stale.insert(position, Some(version));
            }
        }
    }
}

pub(crate) struct Atlan {
    /// Callers, users, tokens and options; its connection lists are moved into `entities`.
    data: AtlanSeed,
    /// Every connection: the seeded active ones, the archived ones, then those created.
    entities: Vec<Entity>,
    /// qualifiedName → position of the *active* connection. A plan searches 1,000 names at a
    /// time among tens of thousands of connections; scanning them all per request made the
    /// sandbox, not warrant, the cost of a large plan. Connections are never removed, so a
    /// position stays valid; a create adds its entry.
    by_qualified_name: HashMap<String, usize>,
    /// GUID → position, active or archived.
    by_guid: HashMap<String, usize>,
    /// Positions of the archived connections (few), which qualifiedName lookups skip.
    archived: Vec<usize>,
    /// Every workspace role (seeded and built-in).
    roles: Vec<AtlanRole>,
    index: SearchIndex,
    foreign_seq: u64,
    /// The package workflows: templates, runs, and the clock they run on.
    workflows: workflows::Engine,
}

impl Platform for Atlan {
    const NAME: &'static str = "atlan";
    type Seed = AtlanSeed;

    fn from_seed(seed: &AtlanSeed) -> Atlan {
        let mut data = seed.clone();
        let active = std::mem::take(&mut data.connections);
        let archived = std::mem::take(&mut data.archived_connections);
        let entity = |connection: AtlanConnection, archived: bool| Entity {
            connection,
            other: BTreeMap::new(),
            archived,
        };
        let entities: Vec<Entity> = active
            .into_iter()
            .map(|c| entity(c, false))
            .chain(archived.into_iter().map(|c| entity(c, true)))
            .collect();
        let by_qualified_name = entities
            .iter()
            .enumerate()
            .filter(|(_, e)| !e.archived)
            .map(|(i, e)| (e.connection.qualified_name.clone(), i))
            .collect();
        let by_guid = entities
            .iter()
            .enumerate()
            .map(|(i, e)| (e.connection.guid.clone(), i))
            .collect();
        let archived = (0..entities.len())
            .filter(|&i| entities[i].archived)
            .collect();
        Atlan {
            roles: data.all_roles(),
            index: SearchIndex {
                lag_ms: millis(data.index_lag_seconds),
                ..SearchIndex::default()
            },
            entities,
            by_qualified_name,
            by_guid,
            archived,
            foreign_seq: 0,
            workflows: workflows::Engine::from_seed(&seed.workflows, now_millis()),
            data,
        }
    }

    fn snapshot(&self) -> Value {
        let shown = |archived: bool| -> Vec<Value> {
            self.entities
                .iter()
                .filter(|e| e.archived == archived)
                .map(|e| {
                    let mut v = serde_json::to_value(&e.connection).unwrap_or(Value::Null);
                    if !e.other.is_empty() {
                        v["attributes"] = json!(e.other);
                    }
                    v
                })
                .collect()
        };
        json!({
            "callers": self.data.callers.iter().map(|c| json!({
                "username": c.username, "roles": c.roles, "groups": c.groups,
            })).collect::<Vec<_>>(),
            "roles": self.roles,
            "users": self.data.users,
            "apiTokens": self.data.api_tokens,
            "connections": shown(false),
            "archivedConnections": shown(true),
            "workflows": self.workflows.snapshot(now_millis()),
        })
    }

    fn advance(&mut self) {
        self.advance_workflows();
        self.index.advance(now_millis());
    }

    fn foreign_write(&mut self, rng: &mut StdRng) {
        let active = self.entities.len() - self.archived.len();
        if active == 0 {
            return;
        }
        let nth = rng.random_range(0..active);
        let Some(i) = (0..self.entities.len())
            .filter(|&i| !self.entities[i].archived)
            .nth(nth)
        else {
            return;
        };
        self.foreign_seq += 1;
        let now = now_millis();
        let mut next = self.entities[i].clone();
        let conn = &mut next.connection;
        conn.admin_users
            .push(format!("foreign-admin-{}", self.foreign_seq));
        conn.updated_by = "foreign-writer".to_string();
        conn.update_time = now;
        conn.version += 1;
        self.update_entity(i, next, now);
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
            .route("/api/meta/entity/bulk", get(get_by_guids).post(bulk))
            .route("/api/meta/entity/bulk/", get(get_by_guids).post(bulk))
            .merge(workflows::routes())
    }

    fn is_write(method: &axum::http::Method, route: &str) -> bool {
        // The search endpoints are POSTs that only read.
        !(matches!(*method, axum::http::Method::GET | axum::http::Method::HEAD)
            || route.ends_with("/indexsearch"))
    }
}

/// Milliseconds of a seed's (checked, finite, non-negative) seconds.
fn millis(seconds: f64) -> i64 {
    (seconds * 1000.0).round() as i64
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

    /// The ids of the caller's workspace roles.
    fn role_ids<'a>(&'a self, caller: &'a AtlanCaller) -> impl Iterator<Item = &'a str> + 'a {
        caller.roles.iter().filter_map(|name| {
            self.roles
                .iter()
                .find(|r| &r.name == name)
                .map(|r| r.id.as_str())
        })
    }

    /// The active connection with this qualifiedName.
    fn active(&self, qualified_name: &str) -> Option<usize> {
        self.by_qualified_name.get(qualified_name).copied()
    }

    /// Replaces the entity at `position` by `next`, written at `at`.
    fn update_entity(&mut self, position: usize, next: Entity, at: i64) {
        self.index
            .record(position, Some(&self.entities[position]), &next, at);
        self.entities[position] = next;
    }

    /// Adds a new active connection, written at `at`.
    fn create_entity(&mut self, entity: Entity, at: i64) {
        let position = self.entities.len();
        self.index.record(position, None, &entity, at);
        self.by_qualified_name
            .insert(entity.connection.qualified_name.clone(), position);
        self.by_guid
            .insert(entity.connection.guid.clone(), position);
        self.entities.push(entity);
    }
}

// ---------------------------------------------------------------------------------------------
// Heracles: API tokens, users, whoami

/// `GET /api/service/apikeys?filter=&limit=&offset=&sort=&count=`
async fn list_api_keys(State(sim): AtlanSim, headers: HeaderMap, uri: Uri) -> Response {
    let state = sim.state();
    let caller = match state.caller(&headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let q = query_pairs(&uri);
    let (filter, limit, offset) = match list_params(&q, &["displayName", "id", "clientId"]) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if filter.is_empty()
        && state.data.unfiltered_token_list_needs_admin
        && !is_workspace_admin(&caller)
    {
        return atlas_error(
            StatusCode::FORBIDDEN,
            "ATLAS-403-00-001",
            format!(
                "{} is not authorized to list all API tokens; look tokens up with a filter on displayName, id or clientId",
                caller.username
            ),
        );
    }
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
        .filter(|t| filter.iter().all(|(k, vs)| vs.contains(&field(t, k))))
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

/// Per filtered key, the values a record may have there; limit; offset.
type ListParams = (Vec<(String, Vec<String>)>, usize, usize);

/// Parses `filter` (a JSON object of `key: value` exact matches, or `key: {"$in": [values]}`,
/// on `allowed` keys), `limit` and `offset`.
fn list_params(q: &[(String, String)], allowed: &[&str]) -> Result<ListParams, Response> {
    let mut filter = Vec::new();
    if let Some(text) = query_value(q, "filter").filter(|s| !s.trim().is_empty()) {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| bad_request(format!("Invalid filter JSON: {e}")))?;
        let Value::Object(map) = value else {
            return Err(bad_request("filter must be a JSON object"));
        };
        let scalar = |v: Value| match v {
            Value::String(s) => s,
            other => other.to_string(),
        };
        for (k, v) in map {
            if !allowed.contains(&k.as_str()) {
                return Err(bad_request(format!(
                    "Unsupported filter key: {k} (supported: {})",
                    allowed.join(", ")
                )));
            }
            let values = match v {
                Value::Object(mut operator) => match (operator.remove("$in"), operator.len()) {
                    (Some(Value::Array(items)), 0) => items.into_iter().map(scalar).collect(),
                    _ => {
                        return Err(bad_request(format!(
                            "Unsupported filter on {k}: only a value or {{\"$in\": [values]}}"
                        )));
                    }
                },
                other => vec![scalar(other)],
            };
            filter.push((k, values));
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
            filter.iter().all(|(k, vs)| {
                u.get(k)
                    .and_then(Value::as_str)
                    .is_some_and(|have| vs.iter().any(|v| v == have))
            })
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

/// `GET /api/service/whoami`: the caller's workspace roles as `{"id", "name"}`.
async fn whoami(State(sim): AtlanSim, headers: HeaderMap) -> Response {
    let state = sim.state();
    match state.caller(&headers) {
        Err(r) => r,
        Ok(c) => {
            let roles: Vec<Value> = c
                .roles
                .iter()
                .map(|name| {
                    let id = state.roles.iter().find(|r| &r.name == name).map(|r| &r.id);
                    json!({"id": id, "name": name})
                })
                .collect();
            json_response(
                StatusCode::OK,
                &json!({
                    "username": c.username,
                    "roles": roles,
                    "groups": c.groups,
                }),
            )
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Atlas: Connection entities

/// The attributes the sandbox models; every other attribute of a save is kept as sent.
const MODELLED: [&str; 7] = [
    "qualifiedName",
    "name",
    "connectorName",
    "category",
    "adminUsers",
    "adminGroups",
    "adminRoles",
];

fn entity_json(e: &Entity, attributes: Option<&[String]>) -> Value {
    let c = &e.connection;
    let mut all = json!({
        "qualifiedName": c.qualified_name,
        "name": c.name,
        "connectorName": c.connector_name,
        "category": c.category,
        "adminUsers": c.admin_users,
        "adminGroups": c.admin_groups,
        "adminRoles": c.admin_roles,
    });
    if let Value::Object(m) = &mut all {
        m.extend(e.other.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
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
        "status": e.status(),
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

/// `GET /api/meta/entity/uniqueAttribute/type/{type}?attr:qualifiedName=…`: active
/// connections only (Atlas resolves unique attributes among active entities).
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
        .then(|| state.active(qn))
        .flatten()
        .map(|i| &state.entities[i]);
    match found {
        Some(e) => {
            let mut entity = entity_json(e, None);
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

fn guid_not_found(guid: &str) -> Response {
    atlas_error(
        StatusCode::NOT_FOUND,
        "ATLAS-404-00-005",
        format!("Given instance guid {guid} is invalid/not found"),
    )
}

/// `GET /api/meta/entity/guid/{guid}`: from the entity store, archived connections included.
async fn get_by_guid(
    State(sim): AtlanSim,
    Path(guid): Path<String>,
    headers: HeaderMap,
) -> Response {
    let state = sim.state();
    if let Err(r) = state.caller(&headers) {
        return r;
    }
    match state.by_guid.get(&guid) {
        Some(&i) => json_response(
            StatusCode::OK,
            &json!({"referredEntities": {}, "entity": entity_json(&state.entities[i], None)}),
        ),
        None => guid_not_found(&guid),
    }
}

/// `GET /api/meta/entity/bulk[/]?guid=…&guid=…&minExtInfo=&ignoreRelationships=`: many
/// entities from the store in one request, in the order asked (`AtlasEntitiesWithExtInfo`).
/// As in Atlas, no `guid` or any unknown one fails the whole request with 404.
async fn get_by_guids(State(sim): AtlanSim, headers: HeaderMap, uri: Uri) -> Response {
    let state = sim.state();
    if let Err(r) = state.caller(&headers) {
        return r;
    }
    let q = query_pairs(&uri);
    let guids: Vec<&str> = q
        .iter()
        .filter(|(k, _)| k == "guid")
        .map(|(_, v)| v.as_str())
        .collect();
    if guids.is_empty() {
        return guid_not_found("[]");
    }
    let mut entities = Vec::with_capacity(guids.len());
    for guid in guids {
        match state.by_guid.get(guid) {
            Some(&i) => entities.push(entity_json(&state.entities[i], None)),
            None => return guid_not_found(guid),
        }
    }
    json_response(
        StatusCode::OK,
        &json!({"referredEntities": {}, "entities": entities}),
    )
}

fn field_value<'a>(e: &'a Entity, field: &str) -> Option<&'a str> {
    let c = &e.connection;
    Some(match field {
        "qualifiedName" => &c.qualified_name,
        "name" | "name.keyword" => &c.name,
        "__typeName.keyword" | "__typeName" => "Connection",
        "__state" => e.status(),
        "__guid" => &c.guid,
        "connectorName" => &c.connector_name,
        "category" => c.category.as_deref()?,
        other => e.other.get(other)?.as_str()?,
    })
}

/// A connection as the search sees it: its admin lists, or one attribute.
impl query::Fields for Entity {
    fn texts(&self, field: &str) -> Vec<Cow<'_, str>> {
        let c = &self.connection;
        let list = match field {
            "adminUsers" => &c.admin_users,
            "adminGroups" => &c.admin_groups,
            "adminRoles" => &c.admin_roles,
            other => {
                if let Some(Value::Array(items)) = self.other.get(other) {
                    return items
                        .iter()
                        .filter_map(Value::as_str)
                        .map(Cow::Borrowed)
                        .collect();
                }
                return field_value(self, field)
                    .map(Cow::Borrowed)
                    .into_iter()
                    .collect();
            }
        };
        list.iter().map(|v| Cow::Borrowed(v.as_str())).collect()
    }

    /// Atlan indexes type names through a lowercase normalizer: pyatlan's
    /// `find_connections_by_name` asks for `__typeName.keyword` = `CONNECTION`.
    fn normalized(&self, field: &str) -> bool {
        field == "__typeName"
    }
}

/// `POST /api/meta/search/indexsearch`: over the search index, which shows connections as
/// they were `indexLagSeconds` ago.
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
    let entities = &state.entities;
    // The qualified names a query restricts the hits to are looked up, not scanned for.
    let positions: Vec<usize> = match query::required_term(&clause, &["qualifiedName"]) {
        Some(names) => {
            let mut found: Vec<usize> = names
                .iter()
                .filter_map(|n| state.active(n))
                .chain(
                    state
                        .archived
                        .iter()
                        .copied()
                        .filter(|&i| names.contains(&entities[i].connection.qualified_name)),
                )
                .collect();
            // Store (creation) order, as a full scan would give.
            found.sort_unstable();
            found
        }
        None => (0..entities.len()).collect(),
    };
    let mut hits: Vec<&Entity> = positions
        .into_iter()
        .filter_map(|i| state.index.view(entities, i))
        .filter(|e| query::matches(&clause, *e))
        .collect();
    sort_hits(&mut hits, dsl.get("sort"));
    let page: Vec<Value> = hits
        .iter()
        .skip(from)
        .take(size)
        .map(|e| entity_json(e, Some(&attributes)))
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

/// Applies the first recognized `sort` entry; unknown fields keep store (creation) order.
fn sort_hits(hits: &mut [&Entity], sort: Option<&Value>) {
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
        let key = |e: &&Entity| -> Option<String> {
            let c = &e.connection;
            match field.as_str() {
                "__timestamp" | "createTime" => Some(format!("{:020}", c.create_time)),
                "__modificationTimestamp" | "updateTime" => Some(format!("{:020}", c.update_time)),
                f => field_value(e, f).map(str::to_string),
            }
        };
        if hits.first().and_then(key).is_none() {
            continue;
        }
        hits.sort_by_cached_key(|e| key(e));
        if desc {
            hits.reverse();
        }
        return;
    }
}

/// What an entity in a bulk request asks for.
struct Requested {
    placeholder: Option<String>,
    qualified_name: String,
    name: String,
    connector_name: Option<String>,
    /// Absent: unchanged; `Some(None)`: cleared (null).
    category: Option<Option<String>>,
    admin_users: Option<Vec<String>>,
    admin_groups: Option<Vec<String>>,
    admin_roles: Option<Vec<String>>,
    /// Every attribute the sandbox does not model, as sent (null clears it).
    other: BTreeMap<String, Value>,
}

impl Requested {
    /// A save of only these admin users, as the package does.
    fn admin_users(current: &AtlanConnection, admin_users: Vec<String>) -> Requested {
        Requested {
            placeholder: None,
            qualified_name: current.qualified_name.clone(),
            name: current.name.clone(),
            connector_name: None,
            category: None,
            admin_users: Some(admin_users),
            admin_groups: None,
            admin_roles: None,
            other: BTreeMap::new(),
        }
    }
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
    let category = match attrs.get("category") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(s.clone())),
        Some(_) => {
            return Err(bad_request(format!(
                "entities[{i}]: category must be a string"
            )));
        }
    };
    Ok(Requested {
        placeholder: e.get("guid").and_then(Value::as_str).map(str::to_string),
        qualified_name,
        name,
        connector_name: text("connectorName").filter(|s| !s.is_empty()),
        category,
        admin_users: list("adminUsers")?,
        admin_groups: list("adminGroups")?,
        admin_roles: list("adminRoles")?,
        other: attrs
            .iter()
            .filter(|(k, _)| !MODELLED.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
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

impl Atlan {
    /// Whether `caller` may change `connection` (its admin lists or any other attribute). The
    /// one rule for every write of an existing connection: the bulk entity write, and a
    /// package workflow run acting as its submitter (so a run can never do what its
    /// submitter could not do directly). See [`ConnectionAdminRule`].
    fn may_change_admins(&self, caller: &AtlanCaller, connection: &AtlanConnection) -> bool {
        let listed = connection.admin_users.contains(&caller.username)
            || caller
                .groups
                .iter()
                .any(|g| connection.admin_groups.contains(g));
        match self.data.connection_admin_rule {
            ConnectionAdminRule::Legacy => listed || is_workspace_admin(caller),
            ConnectionAdminRule::Atlan => {
                listed
                    || self
                        .role_ids(caller)
                        .any(|id| connection.admin_roles.iter().any(|r| r == id))
                    || (self.data.workspace_admins_may_change_connections
                        && is_workspace_admin(caller))
            }
        }
    }

    /// The refusal of a change to `connection` by `caller`, in the rule's words.
    fn refusal(&self, caller: &AtlanCaller, connection: &AtlanConnection) -> AtlasError {
        let (code, message) = match self.data.connection_admin_rule {
            ConnectionAdminRule::Legacy => (
                "ATLAS-403-00-002",
                format!(
                    "{} is not admin for connection {}",
                    caller.username, connection.qualified_name
                ),
            ),
            ConnectionAdminRule::Atlan => (
                "ATLAS-403-00-001",
                format!(
                    "{} is not authorized to perform update entity: Connection:{}",
                    caller.username, connection.qualified_name
                ),
            ),
        };
        AtlasError {
            status: StatusCode::FORBIDDEN,
            code,
            message,
        }
    }

    /// The existing connection at `idx` as `req` would leave it, checked as `caller` would be
    /// checked by `entity/bulk`: `None` when nothing changes (a NOOP). Nothing is saved: a
    /// bulk request checks all its entities before it saves any.
    fn plan_admin_update(
        &self,
        caller: &AtlanCaller,
        idx: usize,
        req: &Requested,
        now: i64,
    ) -> Result<Option<Entity>, AtlasError> {
        let current = &self.entities[idx];
        let legacy = self.data.connection_admin_rule == ConnectionAdminRule::Legacy;
        if legacy && !self.may_change_admins(caller, &current.connection) {
            return Err(self.refusal(caller, &current.connection));
        }
        let supplied = [&req.admin_users, &req.admin_groups, &req.admin_roles];
        let any_supplied = supplied.iter().any(|l| l.is_some());
        let all_supplied_empty = any_supplied
            && supplied
                .iter()
                .all(|l| l.as_ref().is_none_or(Vec::is_empty));
        let mut next = current.clone();
        let conn = &mut next.connection;
        if let Some(l) = &req.admin_users {
            conn.admin_users = l.clone();
        }
        if let Some(l) = &req.admin_groups {
            conn.admin_groups = l.clone();
        }
        if let Some(l) = &req.admin_roles {
            conn.admin_roles = l.clone();
        }
        let final_empty = conn.admin_users.is_empty()
            && conn.admin_groups.is_empty()
            && conn.admin_roles.is_empty();
        if all_supplied_empty || final_empty {
            return Err(AtlasError {
                status: StatusCode::BAD_REQUEST,
                code: "ATLAS-400-00-114",
                message: "Admin list should not be empty for type Connection".to_string(),
            });
        }
        conn.name = req.name.clone();
        if let Some(connector) = &req.connector_name {
            conn.connector_name = connector.clone();
        }
        if let Some(category) = &req.category {
            conn.category = category.clone();
        }
        for (key, value) in &req.other {
            if value.is_null() {
                next.other.remove(key);
            } else {
                next.other.insert(key.clone(), value.clone());
            }
        }
        let (was, conn) = (&current.connection, &next.connection);
        let changed = conn.name != was.name
            || conn.connector_name != was.connector_name
            || conn.category != was.category
            || !same_set(&conn.admin_users, &was.admin_users)
            || !same_set(&conn.admin_groups, &was.admin_groups)
            || !same_set(&conn.admin_roles, &was.admin_roles)
            || next.other != current.other;
        if !changed {
            return Ok(None);
        }
        // Atlas drops unchanged entities before it checks permissions.
        if !legacy && !self.may_change_admins(caller, &current.connection) {
            return Err(self.refusal(caller, &current.connection));
        }
        let conn = &mut next.connection;
        conn.updated_by = caller.username.clone();
        conn.update_time = now;
        conn.version += 1;
        Ok(Some(next))
    }
}

/// What a bulk request does to one of its entities.
enum Planned {
    Update(usize, Entity),
    Noop(usize),
    Create(Entity),
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
    let mut planned: Vec<(Planned, Option<String>)> = Vec::new();
    for (i, e) in entities.iter().enumerate() {
        let req = match parse_entity(i, e) {
            Ok(r) => r,
            Err(r) => return r,
        };
        match state.active(&req.qualified_name) {
            Some(idx) => match state.plan_admin_update(&caller, idx, &req, now) {
                Ok(Some(next)) => planned.push((Planned::Update(idx, next), req.placeholder)),
                Ok(None) => planned.push((Planned::Noop(idx), req.placeholder)),
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
                    category: req.category.clone().flatten(),
                    admin_users,
                    admin_groups: req.admin_groups.clone().unwrap_or_default(),
                    admin_roles: req.admin_roles.clone().unwrap_or_default(),
                    created_by: caller.username.clone(),
                    updated_by: caller.username.clone(),
                    create_time: now,
                    update_time: now,
                    version: 0,
                };
                let other = req
                    .other
                    .into_iter()
                    .filter(|(_, v)| !v.is_null())
                    .collect();
                planned.push((
                    Planned::Create(Entity {
                        connection: created,
                        other,
                        archived: false,
                    }),
                    req.placeholder,
                ));
            }
        }
    }
    let mut updated = Vec::new();
    let mut created = Vec::new();
    let mut assignments = Map::new();
    let header = |e: &Entity| {
        entity_json(
            e,
            Some(&[
                "adminUsers".to_string(),
                "adminGroups".to_string(),
                "adminRoles".to_string(),
            ]),
        )
    };
    for (plan, placeholder) in planned {
        let guid = match &plan {
            Planned::Update(_, e) | Planned::Create(e) => e.connection.guid.clone(),
            Planned::Noop(idx) => state.entities[*idx].connection.guid.clone(),
        };
        if let Some(p) = placeholder {
            assignments.insert(p, Value::String(guid));
        }
        match plan {
            Planned::Update(idx, next) => {
                updated.push(header(&next));
                state.update_entity(idx, next, now);
            }
            Planned::Noop(_) => {}
            Planned::Create(entity) => {
                created.push(header(&entity));
                state.create_entity(entity, now);
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
