//! The AVEVA CONNECT simulator, per `contracts/connect.md`: OpenID discovery, the
//! client-credentials token endpoint, tenant Roles, the roles of a client credential client
//! (how a caller reads its own roles) and AutomationIdentities.
//!
//! Paths match case-insensitively (ASP.NET); every response carries `Operation-Id`; errors use
//! the ErrorResponse body `{OperationId, Error, Reason, Resolution, DynamicProperties}`, except
//! 401 which has no body. Non-verbose responses (the default) omit null properties.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

use super::seed::{ConnectIdentity, ConnectRole, ConnectSeed, ConnectTenant};
use super::{Platform, Sim, auth_credential, json_response, query_pairs, random_alnum};

type ConnectSim = State<Arc<Sim<Connect>>>;

const OPERATION_ID: HeaderName = HeaderName::from_static("operation-id");
const TOTAL_COUNT: HeaderName = HeaderName::from_static("total-count");
const TENANT_ADMINISTRATOR: &str = "2dc742ab-39ea-4fc0-a39e-2bcb71c26a5f";
const TENANT_MEMBER: &str = "7ad2b9ef-5386-4ead-ac9f-ad99c5c5b977";
/// `count` above this is 400 (the documented samples page with 1000).
const MAX_COUNT: i64 = 1000;

pub(crate) struct Connect {
    tenants: Vec<ConnectTenant>,
    /// The most items a list page holds (`connect.maxPageSize`).
    max_page_size: Option<usize>,
    tokens: HashMap<String, IssuedToken>,
    foreign_seq: u64,
}

struct IssuedToken {
    tenant_id: String,
    client_id: String,
    expires: Instant,
}

impl Platform for Connect {
    const NAME: &'static str = "connect";
    type Seed = ConnectSeed;

    fn from_seed(seed: &ConnectSeed) -> Connect {
        Connect {
            tenants: seed.tenants.clone(),
            max_page_size: seed.max_page_size.map(|n| n.max(1) as usize),
            tokens: HashMap::new(),
            foreign_seq: 0,
        }
    }

    fn snapshot(&self) -> Value {
        let tenants: Vec<Value> = self
            .tenants
            .iter()
            .map(|t| {
                json!({
                    "id": t.id,
                    "name": t.name,
                    "uniqueIdentityNames": t.unique_identity_names,
                    "roles": t.roles,
                    "automationIdentities": t.automation_identities,
                    "clients": t.clients.iter().map(|c| json!({
                        "clientId": c.client_id,
                        "roleIds": c.role_ids,
                        "tokenLifetimeSeconds": c.token_lifetime_seconds,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({
            "maxPageSize": self.max_page_size,
            "tenants": tenants,
            "issuedTokens": self.tokens.len(),
        })
    }

    fn foreign_write(&mut self, rng: &mut StdRng) {
        let candidates: Vec<usize> = (0..self.tenants.len())
            .filter(|&t| !self.tenants[t].automation_identities.is_empty())
            .collect();
        if candidates.is_empty() {
            return;
        }
        let tenant = &mut self.tenants[candidates[rng.random_range(0..candidates.len())]];
        let i = rng.random_range(0..tenant.automation_identities.len());
        let missing: Vec<String> = tenant
            .roles
            .iter()
            .map(|r| r.id.clone())
            .filter(|id| !tenant.automation_identities[i].role_ids.contains(id))
            .collect();
        let identity = &mut tenant.automation_identities[i];
        if !missing.is_empty() && rng.random_bool(0.5) {
            identity
                .role_ids
                .push(missing[rng.random_range(0..missing.len())].clone());
        } else {
            self.foreign_seq += 1;
            identity.tags.push(format!("foreign:{}", self.foreign_seq));
        }
    }

    fn fault_response(status: StatusCode, retry_after: Option<u64>) -> Response {
        let mut r = error(
            status,
            status.canonical_reason().unwrap_or("Error"),
            "The fault was injected by the sandbox.",
            "Try the request again later.",
            Value::Null,
        );
        if let Some(secs) = retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        r
    }

    fn not_found() -> Response {
        error(
            StatusCode::NOT_FOUND,
            "Not found.",
            "The requested resource does not exist.",
            "Check the request path.",
            Value::Null,
        )
    }

    fn error(status: StatusCode, message: &str) -> Response {
        error(
            status,
            status.canonical_reason().unwrap_or("Error"),
            message,
            "Correct the request and try again.",
            Value::Null,
        )
    }

    fn routes() -> Router<Arc<Sim<Connect>>> {
        Router::new()
            .route("/identity/.well-known/openid-configuration", get(discovery))
            .route("/identity/connect/token", post(token))
            .route(
                "/api/v1/Tenants/{tenant_id}/Roles",
                get(list_roles).head(count_roles),
            )
            .route(
                "/api/v1/Tenants/{tenant_id}/Roles/{role_id}",
                get(get_role).head(head_role),
            )
            .route(
                "/api/v1/Tenants/{tenant_id}/ClientCredentialClients/{client_id}/Roles",
                get(list_client_roles).head(count_client_roles),
            )
            .route(
                "/api/v1/Tenants/{tenant_id}/AutomationIdentities",
                get(list_identities)
                    .head(count_identities)
                    .post(create_identity),
            )
            .route(
                "/api/v1/Tenants/{tenant_id}/AutomationIdentities/{id}",
                get(get_identity)
                    .head(head_identity)
                    .put(update_identity)
                    .delete(delete_identity),
            )
    }

    fn canonical_path(path: &str) -> Option<String> {
        const LITERALS: [&str; 11] = [
            "api",
            "v1",
            "Tenants",
            "Roles",
            "ClientCredentialClients",
            "AutomationIdentities",
            "identity",
            ".well-known",
            "openid-configuration",
            "connect",
            "token",
        ];
        let rewritten: Vec<&str> = path
            .split('/')
            .map(|seg| {
                LITERALS
                    .iter()
                    .find(|l| l.eq_ignore_ascii_case(seg))
                    .copied()
                    .unwrap_or(seg)
            })
            .collect();
        let rewritten = rewritten.join("/");
        (rewritten != path).then_some(rewritten)
    }

    fn is_write(method: &axum::http::Method, route: &str) -> bool {
        // The token endpoint issues a token; it changes nothing a client manages.
        !matches!(*method, axum::http::Method::GET | axum::http::Method::HEAD)
            && route != "/identity/connect/token"
    }

    fn finish(router: Router) -> Router {
        router.layer(axum::middleware::map_response(
            |mut r: Response| async move {
                if !r.headers().contains_key(OPERATION_ID)
                    && let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
                {
                    r.headers_mut().insert(OPERATION_ID, v);
                }
                r
            },
        ))
    }
}

/// An ErrorResponse with a fresh OperationId, repeated in the `Operation-Id` header.
fn error(
    status: StatusCode,
    error: &str,
    reason: impl Into<String>,
    resolution: &str,
    dynamic: Value,
) -> Response {
    let id = uuid::Uuid::new_v4().to_string();
    let mut r = json_response(
        status,
        &json!({
            "OperationId": id,
            "Error": error,
            "Reason": reason.into(),
            "Resolution": resolution,
            "DynamicProperties": dynamic,
        }),
    );
    if let Ok(v) = HeaderValue::from_str(&id) {
        r.headers_mut().insert(OPERATION_ID, v);
    }
    r
}

fn bad_request(reason: impl Into<String>) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "Missing or invalid inputs.",
        reason,
        "Correct the request and try again.",
        Value::Null,
    )
}

fn not_found_identity() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "Not found.",
        "Automation identity or tenant not found.",
        "Check the tenant and automation identity identifiers.",
        Value::Null,
    )
}

fn forbidden(reason: impl Into<String>, dynamic: Value) -> Response {
    error(
        StatusCode::FORBIDDEN,
        "Forbidden.",
        reason,
        "Request the missing roles or ask a Tenant Administrator to perform the operation.",
        dynamic,
    )
}

/// 401 has no body.
fn unauthorized() -> Response {
    StatusCode::UNAUTHORIZED.into_response()
}

fn oauth_error(code: &str) -> Response {
    json_response(StatusCode::BAD_REQUEST, &json!({"error": code}))
}

/// Without `Accept-Verbosity: verbose`, null properties are left out.
fn render(headers: &HeaderMap, mut value: Value) -> Value {
    let verbose = headers
        .get("accept-verbosity")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("verbose"));
    if !verbose {
        strip_nulls(&mut value);
    }
    value
}

fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(m) => m.retain(|_, v| !v.is_null()),
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

fn role_json(t: &ConnectTenant, r: &ConnectRole) -> Value {
    json!({
        "Id": r.id,
        "Name": r.name,
        "Description": r.description,
        "RoleScope": r.role_scope,
        "TenantId": if r.role_scope == 1 { Some(&t.id) } else { None },
        "CommunityId": r.community_id,
        "RoleTypeId": r.role_type_id,
    })
}

fn identity_json(t: &ConnectTenant, i: &ConnectIdentity) -> Value {
    let role_type_ids: Vec<&String> = i
        .role_ids
        .iter()
        .filter_map(|id| {
            t.roles
                .iter()
                .find(|r| r.id.eq_ignore_ascii_case(id))
                .and_then(|r| r.role_type_id.as_ref())
        })
        .collect();
    json!({
        "Id": i.id,
        "Name": i.name,
        "TenantId": t.id,
        "RoleIds": i.role_ids,
        "RoleTypeIds": role_type_ids,
        "Tags": i.tags,
    })
}

/// Who is calling, for the tenant in the path.
struct Caller {
    tenant: usize,
    client_id: String,
    role_ids: BTreeSet<String>,
    admin: bool,
}

impl Connect {
    /// 401 for a missing, unknown or expired token; 404 for an unknown tenant; 403 when the token
    /// belongs to another tenant or the client lacks Tenant Member.
    fn caller(&self, headers: &HeaderMap, tenant_id: &str) -> Result<Caller, Response> {
        let token = auth_credential(headers, "Bearer").ok_or_else(unauthorized)?;
        let issued = self.tokens.get(token).ok_or_else(unauthorized)?;
        if issued.expires <= Instant::now() {
            return Err(unauthorized());
        }
        let tenant = self
            .tenants
            .iter()
            .position(|t| t.id.eq_ignore_ascii_case(tenant_id))
            .ok_or_else(not_found_identity)?;
        let t = &self.tenants[tenant];
        if !t.id.eq_ignore_ascii_case(&issued.tenant_id) {
            return Err(forbidden(
                "The caller does not belong to this tenant.",
                Value::Null,
            ));
        }
        let client = t
            .clients
            .iter()
            .find(|c| c.client_id == issued.client_id)
            .ok_or_else(unauthorized)?;
        let role_ids: BTreeSet<String> = client.role_ids.iter().map(|r| r.to_lowercase()).collect();
        let has_type = |type_id: &str| {
            t.roles.iter().any(|r| {
                role_ids.contains(&r.id.to_lowercase())
                    && r.role_type_id.as_deref() == Some(type_id)
            })
        };
        let admin = has_type(TENANT_ADMINISTRATOR);
        if !admin && !has_type(TENANT_MEMBER) {
            return Err(forbidden(
                "The caller does not hold the Tenant Member role.",
                Value::Null,
            ));
        }
        Ok(Caller {
            tenant,
            client_id: client.client_id.clone(),
            role_ids,
            admin,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Identity server

/// `GET /identity/.well-known/openid-configuration`
async fn discovery(headers: HeaderMap) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let base = format!("http://{host}/identity");
    json_response(
        StatusCode::OK,
        &json!({
            "issuer": base,
            "jwks_uri": format!("{base}/.well-known/openid-configuration/jwks"),
            "authorization_endpoint": format!("{base}/connect/authorize"),
            "token_endpoint": format!("{base}/connect/token"),
            "userinfo_endpoint": format!("{base}/connect/userinfo"),
            "scopes_supported": ["openid", "ocsapi"],
            "grant_types_supported": ["client_credentials", "authorization_code"],
            "response_types_supported": ["code"],
            "token_endpoint_auth_methods_supported": ["client_secret_post"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }),
    )
}

/// `POST /identity/connect/token` (form: grant_type=client_credentials, client_id, client_secret)
async fn token(State(sim): ConnectSim, headers: HeaderMap, body: Bytes) -> Response {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return oauth_error("invalid_request");
    }
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let mut state = sim.state();
    let found = state.tenants.iter().find_map(|t| {
        t.clients
            .iter()
            .find(|c| {
                c.client_id == field("client_id") && c.client_secret == field("client_secret")
            })
            .map(|c| (t.id.clone(), c.client_id.clone(), c.token_lifetime_seconds))
    });
    let Some((tenant_id, client_id, lifetime)) = found else {
        return oauth_error("invalid_client");
    };
    match field("grant_type") {
        "client_credentials" => {}
        "" => return oauth_error("invalid_request"),
        _ => return oauth_error("unsupported_grant_type"),
    }
    let now = Instant::now();
    if state.tokens.len() > 10_000 {
        state.tokens.retain(|_, t| t.expires > now);
    }
    let access_token = format!("sbx.{}", random_alnum(48));
    state.tokens.insert(
        access_token.clone(),
        IssuedToken {
            tenant_id,
            client_id,
            expires: now + Duration::from_secs(lifetime),
        },
    );
    json_response(
        StatusCode::OK,
        &json!({
            "access_token": access_token,
            "expires_in": lifetime,
            "token_type": "Bearer",
            "scope": "ocsapi",
        }),
    )
}

// ---------------------------------------------------------------------------------------------
// Roles

impl Connect {
    /// `skip` and `count` of a list request, `count` clamped to the seed's `maxPageSize`.
    fn paging(&self, q: &[(String, String)]) -> Result<(usize, usize), Response> {
        let (skip, count) = paging(q)?;
        Ok((skip, self.max_page_size.map_or(count, |max| count.min(max))))
    }
}

/// `skip` (default 0, ≥ 0) and `count` (default 100, 1..=1000).
fn paging(q: &[(String, String)]) -> Result<(usize, usize), Response> {
    let number = |key: &str, default: i64| -> Result<i64, Response> {
        match q.iter().rev().find(|(k, _)| k.eq_ignore_ascii_case(key)) {
            None => Ok(default),
            Some((_, v)) => v
                .parse::<i64>()
                .map_err(|_| bad_request(format!("The value '{v}' is not valid for {key}."))),
        }
    };
    let skip = number("skip", 0)?;
    let count = number("count", 100)?;
    if skip < 0 {
        return Err(bad_request("skip must not be negative."));
    }
    if !(1..=MAX_COUNT).contains(&count) {
        return Err(bad_request(format!(
            "count must be between 1 and {MAX_COUNT}."
        )));
    }
    Ok((skip as usize, count as usize))
}

/// One page of `items` (`skip`, `count` items), rendered by `json`, with the `Total-Count` of
/// all of them: every list answers this way.
fn page_of<T>(
    headers: &HeaderMap,
    items: &[&T],
    (skip, count): (usize, usize),
    json: impl Fn(&T) -> Value,
) -> Response {
    let page: Vec<Value> = items
        .iter()
        .skip(skip)
        .take(count)
        .map(|i| json(i))
        .collect();
    with_total(
        json_response(StatusCode::OK, &render(headers, Value::Array(page))),
        items.len(),
    )
}

fn with_total(mut r: Response, total: usize) -> Response {
    r.headers_mut()
        .insert(TOTAL_COUNT, HeaderValue::from(total));
    r
}

fn roles_of<'a>(t: &'a ConnectTenant, q: &[(String, String)]) -> Vec<&'a ConnectRole> {
    let role_type = q
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("roleTypeId"))
        .map(|(_, v)| v.as_str());
    t.roles
        .iter()
        .filter(|r| {
            role_type.is_none_or(|want| {
                r.role_type_id
                    .as_deref()
                    .is_some_and(|have| have.eq_ignore_ascii_case(want))
            })
        })
        .collect()
}

/// `GET /api/v1/Tenants/{tenantId}/Roles?skip=&count=&roleTypeId=`
async fn list_roles(
    State(sim): ConnectSim,
    Path(tenant_id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let state = sim.state();
    let caller = match state.caller(&headers, &tenant_id) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let q = query_pairs(&uri);
    let paging = match state.paging(&q) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let t = &state.tenants[caller.tenant];
    page_of(&headers, &roles_of(t, &q), paging, |r| role_json(t, r))
}

/// `HEAD /api/v1/Tenants/{tenantId}/Roles`
async fn count_roles(
    State(sim): ConnectSim,
    Path(tenant_id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let state = sim.state();
    match state.caller(&headers, &tenant_id) {
        Ok(c) => with_total(
            StatusCode::OK.into_response(),
            roles_of(&state.tenants[c.tenant], &query_pairs(&uri)).len(),
        ),
        Err(r) => r,
    }
}

fn role_not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "Not found.",
        "Role or tenant not found.",
        "Check the tenant and role identifiers.",
        Value::Null,
    )
}

/// `GET /api/v1/Tenants/{tenantId}/Roles/{roleId}`
async fn get_role(
    State(sim): ConnectSim,
    Path((tenant_id, role_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let state = sim.state();
    let caller = match state.caller(&headers, &tenant_id) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let t = &state.tenants[caller.tenant];
    match t.roles.iter().find(|r| r.id.eq_ignore_ascii_case(&role_id)) {
        Some(r) => json_response(StatusCode::OK, &render(&headers, role_json(t, r))),
        None => role_not_found(),
    }
}

/// `HEAD /api/v1/Tenants/{tenantId}/Roles/{roleId}`
async fn head_role(
    State(sim): ConnectSim,
    Path((tenant_id, role_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let state = sim.state();
    let caller = match state.caller(&headers, &tenant_id) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let t = &state.tenants[caller.tenant];
    if t.roles.iter().any(|r| r.id.eq_ignore_ascii_case(&role_id)) {
        StatusCode::OK.into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}

// ---------------------------------------------------------------------------------------------
// Roles of a client credential client: how a caller reads its own roles

/// The roles of client `client_id`, for a caller that is that client ("Self") or a Tenant
/// Administrator; 404 for a client the tenant lacks, 403 for anyone else.
fn client_roles<'a>(
    t: &'a ConnectTenant,
    caller: &Caller,
    client_id: &str,
) -> Result<Vec<&'a ConnectRole>, Response> {
    let Some(client) = t
        .clients
        .iter()
        .find(|c| c.client_id.eq_ignore_ascii_case(client_id))
    else {
        return Err(error(
            StatusCode::NOT_FOUND,
            "Not found.",
            "Tenant or client credential client not found.",
            "Check the tenant and client identifiers.",
            Value::Null,
        ));
    };
    if !caller.admin && !caller.client_id.eq_ignore_ascii_case(&client.client_id) {
        return Err(error(
            StatusCode::FORBIDDEN,
            "Forbidden.",
            "Only the client itself or a Tenant Administrator may read a client's roles.",
            "Read the roles of the calling client, or ask a Tenant Administrator.",
            Value::Null,
        ));
    }
    Ok(t.roles
        .iter()
        .filter(|r| {
            client
                .role_ids
                .iter()
                .any(|id| id.eq_ignore_ascii_case(&r.id))
        })
        .collect())
}

/// `GET /api/v1/Tenants/{tenantId}/ClientCredentialClients/{clientId}/Roles?skip=&count=`
async fn list_client_roles(
    State(sim): ConnectSim,
    Path((tenant_id, client_id)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let state = sim.state();
    let caller = match state.caller(&headers, &tenant_id) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let paging = match state.paging(&query_pairs(&uri)) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let t = &state.tenants[caller.tenant];
    match client_roles(t, &caller, &client_id) {
        Ok(roles) => page_of(&headers, &roles, paging, |r| role_json(t, r)),
        Err(r) => r,
    }
}

/// `HEAD /api/v1/Tenants/{tenantId}/ClientCredentialClients/{clientId}/Roles`
async fn count_client_roles(
    State(sim): ConnectSim,
    Path((tenant_id, client_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let state = sim.state();
    let caller = match state.caller(&headers, &tenant_id) {
        Ok(c) => c,
        Err(r) => return r,
    };
    match client_roles(&state.tenants[caller.tenant], &caller, &client_id) {
        Ok(roles) => with_total(StatusCode::OK.into_response(), roles.len()),
        Err(r) => r,
    }
}

// ---------------------------------------------------------------------------------------------
// Automation identities

/// Identities having at least one of the `tag` values (all when none is given).
fn identities_of<'a>(t: &'a ConnectTenant, q: &[(String, String)]) -> Vec<&'a ConnectIdentity> {
    let tags: Vec<&str> = q
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("tag"))
        .map(|(_, v)| v.as_str())
        .collect();
    t.automation_identities
        .iter()
        .filter(|i| tags.is_empty() || i.tags.iter().any(|have| tags.contains(&have.as_str())))
        .collect()
}

/// `GET /api/v1/Tenants/{tenantId}/AutomationIdentities?tag=&skip=&count=`
async fn list_identities(
    State(sim): ConnectSim,
    Path(tenant_id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let state = sim.state();
    let caller = match state.caller(&headers, &tenant_id) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let q = query_pairs(&uri);
    let paging = match state.paging(&q) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let t = &state.tenants[caller.tenant];
    page_of(&headers, &identities_of(t, &q), paging, |i| {
        identity_json(t, i)
    })
}

/// `HEAD /api/v1/Tenants/{tenantId}/AutomationIdentities?tag=`
async fn count_identities(
    State(sim): ConnectSim,
    Path(tenant_id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let state = sim.state();
    match state.caller(&headers, &tenant_id) {
        Ok(c) => with_total(
            StatusCode::OK.into_response(),
            identities_of(&state.tenants[c.tenant], &query_pairs(&uri)).len(),
        ),
        Err(r) => r,
    }
}

/// The fields of a create or update body; `None` = absent or null.
struct IdentityInput {
    name: Option<String>,
    role_ids: Option<Vec<String>>,
    tags: Option<Vec<String>>,
}

fn parse_input(t: &ConnectTenant, body: &[u8]) -> Result<IdentityInput, Response> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| bad_request(format!("The request body is not valid JSON: {e}")))?;
    let Value::Object(m) = value else {
        return Err(bad_request("The request body must be a JSON object."));
    };
    // ASP.NET binds properties case-insensitively.
    let get = |key: &str| {
        m.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
    };
    let strings = |key: &str| -> Result<Option<Vec<String>>, Response> {
        match get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| bad_request(format!("{key} must be an array of strings.")))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(bad_request(format!("{key} must be an array of strings."))),
        }
    };
    let name = match get("Name") {
        None => None,
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(_) => return Err(bad_request("Name must be a non-empty string.")),
    };
    let role_ids = strings("RoleIds")?;
    if let Some(ids) = &role_ids {
        for id in ids {
            if uuid::Uuid::parse_str(id).is_err() {
                return Err(bad_request(format!(
                    "RoleIds contains '{id}', which is not a GUID."
                )));
            }
            if !t.roles.iter().any(|r| r.id.eq_ignore_ascii_case(id)) {
                return Err(bad_request(format!(
                    "RoleIds contains {id}, which is not a role in the tenant."
                )));
            }
        }
    }
    // Role ids are GUIDs, equal whatever their case; tags are text, equal only when identical
    // (the `tag` filter matches them case-sensitively too).
    let dedup = |list: Vec<String>, key: fn(&str) -> String| {
        let mut seen = BTreeSet::new();
        list.into_iter()
            .filter(|x| seen.insert(key(x)))
            .collect::<Vec<_>>()
    };
    Ok(IdentityInput {
        name,
        role_ids: role_ids.map(|ids| dedup(ids, str::to_lowercase)),
        tags: strings("Tags")?.map(|tags| dedup(tags, str::to_string)),
    })
}

/// The role-subset rule: a non-administrator must hold every role in `needed`.
fn check_subset<'a>(
    caller: &Caller,
    needed: impl Iterator<Item = &'a String>,
    what: &str,
) -> Result<(), Response> {
    if caller.admin {
        return Ok(());
    }
    let missing: BTreeSet<&String> = needed
        .filter(|id| !caller.role_ids.contains(&id.to_lowercase()))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(forbidden(
            format!("A non-administrator caller must have all roles {what}."),
            json!({"MissingRoleIds": missing}),
        ))
    }
}

/// `POST /api/v1/Tenants/{tenantId}/AutomationIdentities`
async fn create_identity(
    State(sim): ConnectSim,
    Path(tenant_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut state = sim.state();
    let caller = match state.caller(&headers, &tenant_id) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let t = &state.tenants[caller.tenant];
    let input = match parse_input(t, &body) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let Some(name) = input.name else {
        return bad_request("Name is required.");
    };
    let Some(role_ids) = input.role_ids else {
        return bad_request("RoleIds is required.");
    };
    if let Err(r) = check_subset(
        &caller,
        role_ids.iter(),
        "being assigned to the new automation identity",
    ) {
        return r;
    }
    if t.unique_identity_names
        && t.automation_identities
            .iter()
            .any(|i| i.name.to_lowercase() == name.to_lowercase())
    {
        return error(
            StatusCode::CONFLICT,
            "Already exists.",
            "An automation identity with the same name already exists in the tenant.",
            "Use a different name or update the existing automation identity.",
            Value::Null,
        );
    }
    let identity = ConnectIdentity {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        role_ids,
        tags: input.tags.unwrap_or_default(),
    };
    let t = &mut state.tenants[caller.tenant];
    t.automation_identities.push(identity);
    let (t, i) = (
        &*t,
        &t.automation_identities[t.automation_identities.len() - 1],
    );
    let mut r = json_response(StatusCode::CREATED, &render(&headers, identity_json(t, i)));
    let location = format!("/api/v1/Tenants/{}/AutomationIdentities/{}", t.id, i.id);
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn find_identity(t: &ConnectTenant, id: &str) -> Option<usize> {
    t.automation_identities
        .iter()
        .position(|i| i.id.eq_ignore_ascii_case(id))
}

/// `GET /api/v1/Tenants/{tenantId}/AutomationIdentities/{id}`
async fn get_identity(
    State(sim): ConnectSim,
    Path((tenant_id, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let state = sim.state();
    let caller = match state.caller(&headers, &tenant_id) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let t = &state.tenants[caller.tenant];
    match find_identity(t, &id) {
        Some(i) => json_response(
            StatusCode::OK,
            &render(&headers, identity_json(t, &t.automation_identities[i])),
        ),
        None => not_found_identity(),
    }
}

/// `HEAD /api/v1/Tenants/{tenantId}/AutomationIdentities/{id}`
async fn head_identity(
    State(sim): ConnectSim,
    Path((tenant_id, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let state = sim.state();
    let caller = match state.caller(&headers, &tenant_id) {
        Ok(c) => c,
        Err(r) => return r,
    };
    match find_identity(&state.tenants[caller.tenant], &id) {
        Some(_) => StatusCode::OK.into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `PUT /api/v1/Tenants/{tenantId}/AutomationIdentities/{id}`: absent or null fields are kept,
/// arrays replace.
async fn update_identity(
    State(sim): ConnectSim,
    Path((tenant_id, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut state = sim.state();
    let caller = match state.caller(&headers, &tenant_id) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let t = &state.tenants[caller.tenant];
    let Some(index) = find_identity(t, &id) else {
        return not_found_identity();
    };
    let input = match parse_input(t, &body) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let existing = &t.automation_identities[index];
    let needed = existing
        .role_ids
        .iter()
        .chain(input.role_ids.iter().flatten());
    if let Err(r) = check_subset(
        &caller,
        needed,
        "belonging to the existing automation identity, as well as any roles being added",
    ) {
        return r;
    }
    let t = &mut state.tenants[caller.tenant];
    let identity = &mut t.automation_identities[index];
    if let Some(name) = input.name {
        identity.name = name;
    }
    if let Some(ids) = input.role_ids {
        identity.role_ids = ids;
    }
    if let Some(tags) = input.tags {
        identity.tags = tags;
    }
    let t = &*t;
    json_response(
        StatusCode::OK,
        &render(&headers, identity_json(t, &t.automation_identities[index])),
    )
}

/// `DELETE /api/v1/Tenants/{tenantId}/AutomationIdentities/{id}`
async fn delete_identity(
    State(sim): ConnectSim,
    Path((tenant_id, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut state = sim.state();
    let caller = match state.caller(&headers, &tenant_id) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let t = &state.tenants[caller.tenant];
    let Some(index) = find_identity(t, &id) else {
        return not_found_identity();
    };
    if let Err(r) = check_subset(
        &caller,
        t.automation_identities[index].role_ids.iter(),
        "belonging to the automation identity being deleted",
    ) {
        return r;
    }
    state.tenants[caller.tenant]
        .automation_identities
        .remove(index);
    StatusCode::NO_CONTENT.into_response()
}
