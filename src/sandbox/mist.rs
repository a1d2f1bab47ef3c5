//! The Juniper Mist simulator, per `contracts/mist.md`: org API tokens
//! (`/api/v1/orgs/{org_id}/apitokens`), `GET /api/v1/self` and `/api/v1/self/usage`.
//!
//! Callers authenticate with `Authorization: Token <key>` of one of the seeded org tokens.
//! GET needs an org-scope privilege on the org (any role but installer), writes need `write` or
//! `admin`. Each token may make `requestsPerHour` requests per clock hour, then gets 429 with
//! `Retry-After` until the next hour. Errors are `{"detail": "…"}` (DRF style). Keys are
//! masked `abcd...wxyz` everywhere except in the create response.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ipnet::IpNet;
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Map, Value, json};

use super::seed::{MistOrg, MistPrivilege, MistSeed, MistToken};
use super::{
    Platform, Sim, auth_credential, json_response, now_millis, query_pairs, query_value,
    random_alnum,
};

type MistSim = State<Arc<Sim<Mist>>>;

const ROLES: [&str; 5] = ["admin", "helpdesk", "installer", "read", "write"];
const SCOPES: [&str; 4] = ["org", "site", "sitegroup", "orgsites"];
const VIEWS: [&str; 8] = [
    "lobby_admin",
    "location",
    "marketing",
    "mxedge_admin",
    "reporting",
    "security",
    "super_observer",
    "switch_admin",
];
const RATE_LIMIT_DETAIL: &str = "Too Many Request. The API Token used for the request reached the 5000 API Calls per hour threshold";

pub(crate) struct Mist {
    seed: MistSeed,
    /// Per key: (hour number since the epoch, requests in that hour).
    usage: std::collections::HashMap<String, (i64, u32)>,
    /// What the foreign writer added, as (org id, token id, privilege): Mist privileges carry
    /// no number, so tests need this record to tell whether a later write overwrote one.
    foreign_added: Vec<(String, String, MistPrivilege)>,
}

impl Platform for Mist {
    const NAME: &'static str = "mist";
    type Seed = MistSeed;

    fn from_seed(seed: &MistSeed) -> Mist {
        Mist {
            seed: seed.clone(),
            usage: Default::default(),
            foreign_added: Vec::new(),
        }
    }

    fn snapshot(&self) -> Value {
        let orgs: Vec<Value> = self
            .seed
            .orgs
            .iter()
            .map(|o| {
                let tokens: Vec<Value> = o
                    .api_tokens
                    .iter()
                    .map(|t| {
                        let mut v = serde_json::to_value(t).unwrap_or(Value::Null);
                        v["key"] = Value::String(mask(&t.key));
                        v["requestsThisHour"] = json!(self.requests_this_hour(&t.key));
                        v
                    })
                    .collect();
                json!({
                    "id": o.id, "name": o.name, "sites": o.sites, "sitegroups": o.sitegroups,
                    "apiTokens": tokens,
                })
            })
            .collect();
        json!({
            "requestsPerHour": self.seed.requests_per_hour,
            "omitPrivilegesOnCreate": self.seed.omit_privileges_on_create,
            "pageLimit": self.seed.page_limit,
            "putClearsMissingSrcIps": self.seed.put_clears_missing_src_ips,
            "orgs": orgs,
            "foreignAdded": self.foreign_added.iter().map(|(org, token, privilege)| {
                json!({"orgId": org, "tokenId": token, "privilege": privilege})
            }).collect::<Vec<_>>(),
        })
    }

    fn foreign_write(&mut self, rng: &mut StdRng) {
        let orgs: Vec<usize> = (0..self.seed.orgs.len())
            .filter(|&o| !self.seed.orgs[o].api_tokens.is_empty())
            .collect();
        if orgs.is_empty() {
            return;
        }
        let org = &mut self.seed.orgs[orgs[rng.random_range(0..orgs.len())]];
        let i = rng.random_range(0..org.api_tokens.len());
        let privilege = if org.sites.is_empty() {
            MistPrivilege {
                role: "read".into(),
                scope: "org".into(),
                site_id: None,
                sitegroup_id: None,
                views: Vec::new(),
            }
        } else {
            let site = &org.sites[rng.random_range(0..org.sites.len())];
            MistPrivilege {
                role: ["read", "write", "helpdesk"][rng.random_range(0..3)].into(),
                scope: "site".into(),
                site_id: Some(site.id.clone()),
                sitegroup_id: None,
                views: Vec::new(),
            }
        };
        let token = &mut org.api_tokens[i];
        if token.privileges.len() < 10 && !token.privileges.contains(&privilege) {
            self.foreign_added
                .push((org.id.clone(), token.id.clone(), privilege.clone()));
            token.privileges.push(privilege);
        }
    }

    fn fault_response(status: StatusCode, retry_after: Option<u64>) -> Response {
        let detail = if status == StatusCode::TOO_MANY_REQUESTS {
            RATE_LIMIT_DETAIL.to_string()
        } else {
            format!(
                "{} (injected by the sandbox)",
                status.canonical_reason().unwrap_or("Error")
            )
        };
        let mut r = detail_response(status, &detail);
        if let Some(secs) = retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        r
    }

    fn not_found() -> Response {
        detail_response(StatusCode::NOT_FOUND, "Not found.")
    }

    fn error(status: StatusCode, message: &str) -> Response {
        detail_response(status, message)
    }

    fn routes() -> Router<Arc<Sim<Mist>>> {
        Router::new()
            .route("/api/v1/self", get(get_self))
            .route("/api/v1/self/usage", get(get_usage))
            .route(
                "/api/v1/orgs/{org_id}/apitokens",
                get(list_tokens).post(create_token),
            )
            .route(
                "/api/v1/orgs/{org_id}/apitokens/{apitoken_id}",
                get(get_token).put(update_token).delete(delete_token),
            )
    }
}

fn detail_response(status: StatusCode, detail: &str) -> Response {
    json_response(status, &json!({"detail": detail}))
}

fn bad_request(detail: impl AsRef<str>) -> Response {
    detail_response(StatusCode::BAD_REQUEST, detail.as_ref())
}

fn forbidden() -> Response {
    detail_response(
        StatusCode::FORBIDDEN,
        "You do not have permission to perform this action.",
    )
}

/// First 4 and last 4 characters, as Mist shows a key after creation.
fn mask(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() < 8 {
        return "...".to_string();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}...{tail}")
}

fn now_secs() -> i64 {
    now_millis() / 1000
}

/// Who is calling: org and token indexes.
struct Caller {
    org: usize,
    token: usize,
}

#[derive(PartialEq, Eq)]
enum Need {
    Read,
    Write,
}

impl Mist {
    fn requests_this_hour(&self, key: &str) -> u32 {
        match self.usage.get(key) {
            Some((hour, n)) if *hour == now_secs() / 3600 => *n,
            _ => 0,
        }
    }

    fn limit_of(&self, token: &MistToken) -> u32 {
        token
            .requests_per_hour
            .unwrap_or(self.seed.requests_per_hour)
    }

    /// Authenticates, counts the request against the token's hourly budget (429 beyond it) and
    /// records `last_used`.
    fn caller(&mut self, headers: &HeaderMap) -> Result<Caller, Response> {
        if headers.get(header::AUTHORIZATION).is_none() {
            return Err(detail_response(
                StatusCode::UNAUTHORIZED,
                "Authentication credentials were not provided.",
            ));
        }
        let invalid = || detail_response(StatusCode::UNAUTHORIZED, "Invalid token.");
        let key = auth_credential(headers, "Token").ok_or_else(invalid)?;
        let (org, token) = self
            .seed
            .orgs
            .iter()
            .enumerate()
            .find_map(|(o, org)| {
                org.api_tokens
                    .iter()
                    .position(|t| t.key == key)
                    .map(|t| (o, t))
            })
            .ok_or_else(invalid)?;
        let now = now_secs();
        let hour = now / 3600;
        let limit = self.limit_of(&self.seed.orgs[org].api_tokens[token]);
        let used = self.usage.entry(key.to_string()).or_insert((hour, 0));
        if used.0 != hour {
            *used = (hour, 0);
        }
        if used.1 >= limit {
            let wait = 3600 - now.rem_euclid(3600);
            let mut r = detail_response(StatusCode::TOO_MANY_REQUESTS, RATE_LIMIT_DETAIL);
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait));
            return Err(r);
        }
        used.1 += 1;
        self.seed.orgs[org].api_tokens[token].last_used = Some(now);
        Ok(Caller { org, token })
    }

    /// The caller needs an org-scope privilege on `org_id` with a role that allows `need`.
    fn authorize(
        &mut self,
        headers: &HeaderMap,
        org_id: &str,
        need: Need,
    ) -> Result<usize, Response> {
        self.authorize_caller(headers, org_id, need).map(|c| c.org)
    }

    /// [`Mist::authorize`], telling which token called.
    fn authorize_caller(
        &mut self,
        headers: &HeaderMap,
        org_id: &str,
        need: Need,
    ) -> Result<Caller, Response> {
        let caller = self.caller(headers)?;
        let org = &self.seed.orgs[caller.org];
        if !org.id.eq_ignore_ascii_case(org_id) {
            return Err(forbidden());
        }
        let allowed = org.api_tokens[caller.token].privileges.iter().any(|p| {
            p.scope == "org"
                && match need {
                    Need::Read => ["admin", "write", "read", "helpdesk"].contains(&p.role.as_str()),
                    Need::Write => ["admin", "write"].contains(&p.role.as_str()),
                }
        });
        if allowed {
            Ok(caller)
        } else {
            Err(forbidden())
        }
    }
}

fn privilege_json(org: &MistOrg, p: &MistPrivilege) -> Value {
    let mut m = Map::new();
    m.insert("scope".into(), json!(p.scope));
    m.insert("role".into(), json!(p.role));
    if p.scope == "org" {
        m.insert("org_id".into(), json!(org.id));
    }
    if let Some(s) = &p.site_id {
        m.insert("site_id".into(), json!(s));
    }
    if let Some(s) = &p.sitegroup_id {
        m.insert("sitegroup_id".into(), json!(s));
    }
    if !p.views.is_empty() {
        m.insert("views".into(), json!(p.views));
    }
    Value::Object(m)
}

fn token_json(org: &MistOrg, t: &MistToken, full_key: bool, privileges: bool) -> Value {
    let mut v = json!({
        "id": t.id,
        "org_id": org.id,
        "name": t.name,
        "key": if full_key { t.key.clone() } else { mask(&t.key) },
        "created_by": t.created_by,
        "created_time": t.created_time,
        "last_used": t.last_used,
    });
    if privileges {
        v["privileges"] = Value::Array(
            t.privileges
                .iter()
                .map(|p| privilege_json(org, p))
                .collect(),
        );
    }
    if !t.src_ips.is_empty() {
        v["src_ips"] = json!(t.src_ips);
    }
    v
}

// ---------------------------------------------------------------------------------------------
// Validation (contract §3 and §7)

fn parse_body(body: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err("JSON parse error - expected a JSON object".into()),
        Err(e) => Err(format!("JSON parse error - {e}")),
    }
}

fn parse_name(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
        _ => Err("invalid field: name - a non-empty string is required".into()),
    }
}

fn parse_privileges(org: &MistOrg, v: &Value) -> Result<Vec<MistPrivilege>, String> {
    let Some(items) = v.as_array() else {
        return Err("invalid field: privileges - a list is required".into());
    };
    if items.is_empty() || items.len() > 10 {
        return Err(format!(
            "invalid field: privileges - between 1 and 10 items are required, got {}",
            items.len()
        ));
    }
    let mut out: Vec<MistPrivilege> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(m) = item.as_object() else {
            return Err(format!(
                "invalid field: privileges[{i}] - an object is required"
            ));
        };
        let text = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
        let role = text("role").unwrap_or_default();
        if !ROLES.contains(&role.as_str()) {
            return Err(format!(
                "invalid field: privileges[{i}].role - must be one of {}",
                ROLES.join(", ")
            ));
        }
        let scope = text("scope").unwrap_or_default();
        if !SCOPES.contains(&scope.as_str()) {
            return Err(format!(
                "invalid field: privileges[{i}].scope - must be one of {}",
                SCOPES.join(", ")
            ));
        }
        if let Some(given) = text("org_id")
            && !given.eq_ignore_ascii_case(&org.id)
        {
            return Err(format!(
                "invalid field: privileges[{i}].org_id - not this org"
            ));
        }
        let site_id = text("site_id");
        let sitegroup_id = text("sitegroup_id");
        match (scope.as_str(), &site_id, &sitegroup_id) {
            ("site", Some(s), None) => {
                if !org.sites.iter().any(|x| x.id.eq_ignore_ascii_case(s)) {
                    return Err(format!(
                        "invalid field: privileges[{i}].site_id - {s} is not a site of this org"
                    ));
                }
            }
            ("sitegroup", None, Some(g)) => {
                if !org.sitegroups.iter().any(|x| x.id.eq_ignore_ascii_case(g)) {
                    return Err(format!(
                        "invalid field: privileges[{i}].sitegroup_id - {g} is not a sitegroup of this org"
                    ));
                }
            }
            ("site", _, _) => {
                return Err(format!(
                    "invalid field: privileges[{i}] - scope site requires site_id (and no sitegroup_id)"
                ));
            }
            ("sitegroup", _, _) => {
                return Err(format!(
                    "invalid field: privileges[{i}] - scope sitegroup requires sitegroup_id (and no site_id)"
                ));
            }
            (_, None, None) => {}
            _ => {
                return Err(format!(
                    "invalid field: privileges[{i}] - site_id/sitegroup_id are only allowed with scope site/sitegroup"
                ));
            }
        }
        let views = match m.get("views") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(vs)) => {
                let mut views = Vec::new();
                for v in vs {
                    match v.as_str() {
                        Some(s) if VIEWS.contains(&s) => views.push(s.to_string()),
                        _ => {
                            return Err(format!(
                                "invalid field: privileges[{i}].views - must be among {}",
                                VIEWS.join(", ")
                            ));
                        }
                    }
                }
                views
            }
            Some(_) => {
                return Err(format!(
                    "invalid field: privileges[{i}].views - a list is required"
                ));
            }
        };
        let p = MistPrivilege {
            role,
            scope,
            site_id,
            sitegroup_id,
            views,
        };
        if out.contains(&p) {
            return Err(format!(
                "invalid field: privileges[{i}] - duplicate privilege"
            ));
        }
        out.push(p);
    }
    Ok(out)
}

/// At most 10 entries, each an IP address or a CIDR whose address is the network base.
fn parse_src_ips(v: &Value) -> Result<Vec<String>, String> {
    let Some(items) = v.as_array() else {
        return Err("invalid field: src_ips - a list is required".into());
    };
    if items.len() > 10 {
        return Err("invalid field: src_ips - at most 10 entries".into());
    }
    items
        .iter()
        .map(|item| {
            let s = item.as_str().unwrap_or_default();
            let ok = s.parse::<IpAddr>().is_ok()
                || s.parse::<IpNet>().is_ok_and(|n| n.network() == n.addr());
            if ok {
                Ok(s.to_string())
            } else {
                Err(format!(
                    "invalid field: src_ips - {item} is not an IP address or network"
                ))
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Handlers

/// `GET /api/v1/self`: for an org token, its name and privileges (with org/site names).
async fn get_self(State(sim): MistSim, headers: HeaderMap) -> Response {
    let mut state = sim.state();
    let caller = match state.caller(&headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let org = &state.seed.orgs[caller.org];
    let token = &org.api_tokens[caller.token];
    let privileges: Vec<Value> = token
        .privileges
        .iter()
        .map(|p| {
            let mut v = privilege_json(org, p);
            v["org_id"] = json!(org.id);
            let name = match (&p.site_id, &p.sitegroup_id) {
                (Some(s), _) => org
                    .sites
                    .iter()
                    .find(|x| &x.id == s)
                    .map(|x| x.name.clone()),
                (_, Some(g)) => org
                    .sitegroups
                    .iter()
                    .find(|x| &x.id == g)
                    .map(|x| x.name.clone()),
                _ => Some(org.name.clone()),
            };
            v["name"] = json!(name);
            v["org_name"] = json!(org.name);
            v
        })
        .collect();
    // A user token's /self is its person (with their email); an org token's has no email.
    let mut me = json!({"name": token.name, "privileges": privileges});
    if let Some(email) = &token.user_email {
        me["email"] = json!(email);
    }
    json_response(StatusCode::OK, &me)
}

/// `GET /api/v1/self/usage`: `seconds` is the time left until the hourly window resets.
async fn get_usage(State(sim): MistSim, headers: HeaderMap) -> Response {
    let mut state = sim.state();
    let caller = match state.caller(&headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let token = &state.seed.orgs[caller.org].api_tokens[caller.token];
    json_response(
        StatusCode::OK,
        &json!({
            "requests": state.requests_this_hour(&token.key),
            "request_limit": state.limit_of(token),
            "seconds": 3600 - now_secs().rem_euclid(3600),
        }),
    )
}

const X_PAGE_LIMIT: HeaderName = HeaderName::from_static("x-page-limit");
const X_PAGE_PAGE: HeaderName = HeaderName::from_static("x-page-page");
const X_PAGE_TOTAL: HeaderName = HeaderName::from_static("x-page-total");

/// `GET /api/v1/orgs/{org_id}/apitokens`: all tokens, unless paging is asked for with
/// `X-Page-Limit`/`X-Page-Page` headers or `limit`/`page` query parameters, or the seed's
/// `pageLimit` pages it by default.
async fn list_tokens(
    State(sim): MistSim,
    Path(org_id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let mut state = sim.state();
    let org = match state.authorize(&headers, &org_id, Need::Read) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let q = query_pairs(&uri);
    let param = |header: &HeaderName, query: &str| -> Option<String> {
        headers
            .get(header)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or_else(|| query_value(&q, query).map(str::to_string))
    };
    let limit = param(&X_PAGE_LIMIT, "limit")
        .or_else(|| state.seed.page_limit.map(|n| n.max(1).to_string()));
    let page = param(&X_PAGE_PAGE, "page");
    let org = &state.seed.orgs[org];
    let all: Vec<&MistToken> = org.api_tokens.iter().collect();
    if limit.is_none() && page.is_none() {
        let body: Vec<Value> = all
            .iter()
            .map(|t| token_json(org, t, false, true))
            .collect();
        return json_response(StatusCode::OK, &Value::Array(body));
    }
    let parse = |v: Option<String>, default: usize, what: &str| -> Result<usize, Response> {
        match v {
            None => Ok(default),
            Some(s) => match s.parse::<usize>() {
                Ok(n) if n >= 1 => Ok(n),
                _ => Err(bad_request(format!("invalid field: {what}"))),
            },
        }
    };
    let (limit, page) = match (parse(limit, 100, "limit"), parse(page, 1, "page")) {
        (Ok(l), Ok(p)) => (l, p),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let body: Vec<Value> = all
        .iter()
        .skip((page - 1).saturating_mul(limit))
        .take(limit)
        .map(|t| token_json(org, t, false, true))
        .collect();
    let mut r = json_response(StatusCode::OK, &Value::Array(body));
    let h = r.headers_mut();
    h.insert(X_PAGE_LIMIT, HeaderValue::from(limit));
    h.insert(X_PAGE_PAGE, HeaderValue::from(page));
    h.insert(X_PAGE_TOTAL, HeaderValue::from(all.len()));
    r
}

/// `POST /api/v1/orgs/{org_id}/apitokens`: 200 with the full key (the only time it is shown).
async fn create_token(
    State(sim): MistSim,
    Path(org_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut state = sim.state();
    let (org_index, caller_token) = match state.authorize_caller(&headers, &org_id, Need::Write) {
        Ok(c) => (c.org, c.token),
        Err(r) => return r,
    };
    let org = &state.seed.orgs[org_index];
    let fields = match parse_body(&body) {
        Ok(m) => m,
        Err(e) => return bad_request(e),
    };
    let name = match fields.get("name").map(parse_name) {
        Some(Ok(n)) => n,
        Some(Err(e)) => return bad_request(e),
        None => return bad_request("invalid field: name - this field is required"),
    };
    let privileges = match fields.get("privileges").map(|v| parse_privileges(org, v)) {
        Some(Ok(p)) => p,
        Some(Err(e)) => return bad_request(e),
        None => return bad_request("invalid field: privileges - this field is required"),
    };
    let src_ips = match fields
        .get("src_ips")
        .filter(|v| !v.is_null())
        .map(parse_src_ips)
    {
        Some(Ok(s)) => s,
        Some(Err(e)) => return bad_request(e),
        None => Vec::new(),
    };
    let token = MistToken {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        key: random_alnum(40),
        privileges,
        src_ips,
        // A person's own token records them; an org token's create records null.
        created_by: state.seed.orgs[org_index].api_tokens[caller_token]
            .user_email
            .clone(),
        created_time: now_secs(),
        last_used: None,
        requests_per_hour: None,
        user_email: None,
    };
    let omit = state.seed.omit_privileges_on_create;
    let org = &mut state.seed.orgs[org_index];
    let body = token_json(org, &token, true, !omit);
    org.api_tokens.push(token);
    json_response(StatusCode::OK, &body)
}

fn find_token(org: &MistOrg, id: &str) -> Option<usize> {
    org.api_tokens
        .iter()
        .position(|t| t.id.eq_ignore_ascii_case(id))
}

/// `GET /api/v1/orgs/{org_id}/apitokens/{apitoken_id}`
async fn get_token(
    State(sim): MistSim,
    Path((org_id, token_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut state = sim.state();
    let org = match state.authorize(&headers, &org_id, Need::Read) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let org = &state.seed.orgs[org];
    match find_token(org, &token_id) {
        Some(i) => json_response(
            StatusCode::OK,
            &token_json(org, &org.api_tokens[i], false, true),
        ),
        None => Mist::not_found(),
    }
}

/// `PUT /api/v1/orgs/{org_id}/apitokens/{apitoken_id}`: `name` and `privileges` replace when
/// present; a changed `src_ips` is 400; an absent (or null) `src_ips` keeps them, or — with
/// the seed's `putClearsMissingSrcIps` — clears them. Answers 200 with the (masked) token.
async fn update_token(
    State(sim): MistSim,
    Path((org_id, token_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut state = sim.state();
    let org_index = match state.authorize(&headers, &org_id, Need::Write) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let org = &state.seed.orgs[org_index];
    let Some(index) = find_token(org, &token_id) else {
        return Mist::not_found();
    };
    let fields = match parse_body(&body) {
        Ok(m) => m,
        Err(e) => return bad_request(e),
    };
    let name = match fields.get("name").filter(|v| !v.is_null()).map(parse_name) {
        Some(Ok(n)) => Some(n),
        Some(Err(e)) => return bad_request(e),
        None => None,
    };
    let privileges = match fields
        .get("privileges")
        .filter(|v| !v.is_null())
        .map(|v| parse_privileges(org, v))
    {
        Some(Ok(p)) => Some(p),
        Some(Err(e)) => return bad_request(e),
        None => None,
    };
    let src_ips_given = fields.get("src_ips").filter(|v| !v.is_null());
    if let Some(v) = src_ips_given {
        let given = match parse_src_ips(v) {
            Ok(s) => s,
            Err(e) => return bad_request(e),
        };
        let stored = &org.api_tokens[index].src_ips;
        if given.iter().collect::<BTreeSet<_>>() != stored.iter().collect::<BTreeSet<_>>() {
            return bad_request(
                "invalid field: src_ips - cannot be changed once the API Token is created",
            );
        }
    }
    let clear_src_ips = src_ips_given.is_none() && state.seed.put_clears_missing_src_ips;
    let org = &mut state.seed.orgs[org_index];
    let token = &mut org.api_tokens[index];
    if let Some(n) = name {
        token.name = n;
    }
    if let Some(p) = privileges {
        token.privileges = p;
    }
    if clear_src_ips {
        token.src_ips.clear();
    }
    let org = &*org;
    json_response(
        StatusCode::OK,
        &token_json(org, &org.api_tokens[index], false, true),
    )
}

/// `DELETE /api/v1/orgs/{org_id}/apitokens/{apitoken_id}`: 200 with no body.
async fn delete_token(
    State(sim): MistSim,
    Path((org_id, token_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut state = sim.state();
    let org_index = match state.authorize(&headers, &org_id, Need::Write) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let org = &mut state.seed.orgs[org_index];
    match find_token(org, &token_id) {
        Some(i) => {
            org.api_tokens.remove(i);
            StatusCode::OK.into_response()
        }
        None => Mist::not_found(),
    }
}
