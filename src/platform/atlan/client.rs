//! The Atlan client (contracts/atlan.md): API tokens as connection admins.
//!
//! - `resolve` turns the API tokens a `ConnectionAdmins` document names (display name or GUID)
//!   into their usernames `service-account-<clientId>`, through `/api/service/apikeys`.
//! - `read` fetches every referenced connection through `/api/meta/search/indexsearch` with a
//!   `terms` query on qualifiedName (chunks of `SEARCH_CHUNK`, paged), plus
//!   `/api/service/whoami` once, so the plan can predict a refused write.
//! - `write` updates connections through `POST /api/meta/entity/bulk`, sending only typeName,
//!   qualifiedName, name and adminUsers (the server replaces each list it is sent, so the
//!   other admin lists are never sent). Several connections go in one request; the server
//!   treats a batch as all-or-nothing, so a refused batch is split in halves until the
//!   refused connections are isolated. There is no conditional write: a batch that waits
//!   behind others, or is retried, reads its connections again and is rebuilt as that fresh
//!   read ∪ the additions.
//! - `export` lists every active connection (the same paged search, without the name filter)
//!   and the complete token list, and declares the API tokens among each one's admins.
//!
//! Every listing is proven complete against the count Atlan states (`totalRecord` or
//! `filterRecord` of the token list, `approximateCount` of the search; `super::listing`), so a
//! token list cut short can never settle an ambiguous display name, and a connection missing
//! from a short search page is an error, not "not found". A connection whose `adminUsers`,
//! `adminGroups` or `adminRoles` is missing, null or not a list of strings is unreadable,
//! never empty.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use futures::{StreamExt, TryStreamExt, stream};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use futures::future::BoxFuture;

use super::workflow::{self, GrantRoute};
use super::{AtlanTarget, ConnectionAdminsSpec, KIND, TokenRef, Via};
use crate::model::{
    Address, CreateRule, DesiredField, DesiredObject, FieldPolicy, KnownList, LiveObject,
    LiveState, Reason, SmallMap, UnreadableField, Values, WriteOp, WriteOutcome,
};
use crate::platform::http::{
    ApiError, Auth, Failure, Http, Method, RateLimit, Request, Transient, plain_text,
};
use crate::platform::listing::{Listing, Next};
use crate::platform::{
    ClientOptions, ErrorKind, Export, ExportedObject, LiveTarget, Noted, PlatformError,
    RequestCounts, Resource, ResourceSpec,
};
use crate::secret::Secret;

/// Qualified names per search request. A `terms` query of 1,000 keywords is far inside
/// Elasticsearch's limit (65,536) and keeps the body near 40 kB; the page size matches, so a
/// chunk normally costs one request.
const SEARCH_CHUNK: usize = 1000;
/// Hits asked for per search page: one more than a chunk, so that the hits of a chunk whose
/// names all exist fill no page, and the listing is proven complete without asking for an
/// empty page after it (`super::listing`).
const SEARCH_PAGE: usize = SEARCH_CHUNK + 1;
/// Tokens per page when listing all API tokens.
const TOKEN_PAGE: usize = 500;
/// Records asked for at least in a lookup: two per name are enough to detect a duplicate.
const TOKEN_LOOKUP_LIMIT: usize = 5;
/// Values per `$in` lookup of API tokens: 50 display names or GUIDs keep the URL near 3 kB.
const TOKEN_BATCH: usize = 50;
/// Connections per `entity/bulk` request.
const WRITE_BATCH: usize = 20;

const ADMIN_USERS: &str = "adminUsers";
const ADMIN_FIELDS: [&str; 3] = ["adminUsers", "adminGroups", "adminRoles"];
const USERNAME_PREFIX: &str = "service-account-";
const TOKENS_ROUTE: &str = "/api/service/apikeys";
const SEARCH_ROUTE: &str = "/api/meta/search/indexsearch";
/// The entity store's read of many entities by GUID.
const STORE_ROUTE: &str = "/api/meta/entity/bulk";
/// GUIDs per entity-store read: a URL of 100 GUIDs is about 5 kB, far inside what servers
/// and proxies take (8 kB is a common floor), and the reads stay at one request per 100
/// connections written.
const STORE_CHUNK: usize = 100;
const _: () = assert!(STORE_CHUNK.is_multiple_of(WRITE_BATCH));
/// What a live state read by search, or from the store, names as its source.
const SEARCH_READ: &str = "POST /api/meta/search/indexsearch";
const STORE_READ: &str = "GET /api/meta/entity/bulk";

pub(super) struct AtlanClient {
    http: Http,
    /// Username → display name of every token seen, to label live admins for free.
    token_labels: Mutex<BTreeMap<String, String>>,
    /// The route of each object's writes, and what the package workflow route needs.
    workflows: workflow::Routes,
    /// The target's `workspaceAdminsMayChangeConnections`.
    workspace_admins_may: bool,
    /// qualifiedName → GUID of every active connection a read found: a connection's GUID never
    /// changes, so the entity-store reads of apply find their GUIDs here.
    guids: Mutex<BTreeMap<String, String>>,
    /// The caller, once asked (`whoami`): `Some(None)` when it cannot be asked.
    caller: tokio::sync::Mutex<Option<Option<Arc<WhoAmI>>>>,
}

impl std::fmt::Debug for AtlanClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtlanClient")
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

/// One API token as the apikeys endpoint returns it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiToken {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    attributes: Option<serde_json::Map<String, Value>>,
}

impl ApiToken {
    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.as_ref()?.get(key)?.as_str()
    }

    fn client_id(&self) -> Option<&str> {
        self.client_id
            .as_deref()
            .or_else(|| self.attribute("clientId"))
    }

    fn display_name(&self) -> Option<&str> {
        self.display_name
            .as_deref()
            .or_else(|| self.attribute("displayName"))
    }

    fn username(&self) -> Option<String> {
        self.client_id().map(|c| format!("{USERNAME_PREFIX}{c}"))
    }

    /// What identifies the token in a listing: its GUID, else its client id.
    fn listing_id(&self) -> Option<&str> {
        self.id.as_deref().or_else(|| self.client_id())
    }
}

/// One page of `/api/service/apikeys`. `records` is absent or null when nothing matches.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenPage {
    #[serde(default)]
    total_record: Option<u64>,
    #[serde(default)]
    filter_record: Option<u64>,
    #[serde(default)]
    records: Option<Vec<ApiToken>>,
}

impl TokenPage {
    /// The count this page states for its listing: the records matching the filter, which
    /// without a filter is every token.
    fn claim(&self) -> Option<u64> {
        self.filter_record.or(self.total_record)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Entity {
    #[serde(default)]
    type_name: Option<String>,
    #[serde(default)]
    guid: Option<String>,
    /// `ACTIVE`, or `DELETED` for an archived connection.
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    attributes: Attributes,
}

/// The attributes of an entity that warrant uses; any other attribute in a response is
/// skipped while parsing, so reading 100,000 connections does not hold what it never reads.
#[derive(Debug, Clone, Default)]
struct Attributes(SmallMap<Value>);

/// What [`Attributes`] keeps.
const KEPT_ATTRIBUTES: [&str; 5] = [
    "qualifiedName",
    "name",
    "adminUsers",
    "adminGroups",
    "adminRoles",
];

impl Attributes {
    fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }
}

impl Serialize for Attributes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Attributes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Attributes, D::Error> {
        struct Kept;
        impl<'de> serde::de::Visitor<'de> for Kept {
            type Value = Attributes;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an attributes object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Attributes, A::Error> {
                let mut kept = SmallMap::new();
                while let Some(key) = map.next_key::<String>()? {
                    if KEPT_ATTRIBUTES.contains(&key.as_str()) {
                        kept.insert(key, map.next_value::<Value>()?);
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                Ok(Attributes(kept))
            }
        }
        deserializer.deserialize_map(Kept)
    }
}

impl Entity {
    fn archived(&self) -> bool {
        self.status.as_deref() == Some("DELETED")
    }

    fn qualified_name(&self) -> Option<&str> {
        self.attributes.get("qualifiedName")?.as_str()
    }

    /// One admin list of the entity, known or unreadable.
    fn admin_list(&self, field: &str) -> Result<KnownList, UnreadableField> {
        KnownList::strings(field, self.attributes.get(field))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchPage {
    #[serde(default)]
    entities: Option<Vec<Entity>>,
    #[serde(default)]
    approximate_count: Option<u64>,
}

/// `GET /api/meta/entity/bulk?guid=…` (`AtlasEntitiesWithExtInfo`).
#[derive(Debug, Deserialize)]
struct StorePage {
    #[serde(default)]
    entities: Option<Vec<Entity>>,
}

/// What a read found under one qualifiedName.
#[derive(Debug, Clone)]
enum Found {
    /// The active connections with it (normally one).
    Active(Vec<Entity>),
    /// Only an archived connection has it: its GUID.
    Archived(String),
}

/// The distinct qualified names of these objects, sorted.
fn distinct_names(objects: &[DesiredObject]) -> Vec<String> {
    objects
        .iter()
        .map(|o| o.address.remote_key.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MutationResponse {
    #[serde(default)]
    mutated_entities: Option<BTreeMap<String, Vec<Entity>>>,
    #[serde(default)]
    guid_assignments: Option<BTreeMap<String, String>>,
}

/// The caller's identity (`/api/service/whoami`).
#[derive(Debug, Deserialize)]
struct WhoAmI {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    roles: Vec<Value>,
    #[serde(default)]
    groups: Vec<Value>,
}

impl WhoAmI {
    fn not_admin_of(&self, connection: &str) -> Reason {
        Reason::NotConnectionAdmin {
            caller: self.username.as_deref().unwrap_or("unknown").to_string(),
            connection: connection.to_string(),
        }
    }

    fn is_admin(&self) -> bool {
        self.roles.iter().any(|r| name_of(r) == Some("$admin"))
    }

    /// Whether Atlan lets this caller change a connection's admins (contracts/atlan-workflows.md
    /// §5): a user in `adminUsers`, a member of a group in `adminGroups`, or a holder of a role
    /// whose id is in `adminRoles`. Workspace `$admin` counts only through `adminRoles`, unless
    /// the target says its workspace admins may (`workspaceAdminsMayChangeConnections`).
    /// `None` when it cannot be told: a role of the caller came without its id and the
    /// connection has role admins (then a refusal is reported at apply, never guessed).
    fn may_administer(
        &self,
        users: &Values,
        groups: &Values,
        roles: &Values,
        workspace_admins_may: bool,
    ) -> Option<bool> {
        if (workspace_admins_may && self.is_admin())
            || self.username.as_ref().is_some_and(|u| users.contains(u))
            || self
                .groups
                .iter()
                .filter_map(name_of)
                .any(|g| groups.contains(g))
        {
            return Some(true);
        }
        let mut unknown = false;
        for role in &self.roles {
            match role.get("id").and_then(Value::as_str) {
                Some(id) if roles.iter().any(|r| r.eq_ignore_ascii_case(id)) => return Some(true),
                Some(_) => {}
                None => unknown = true,
            }
        }
        if unknown && !roles.is_empty() {
            None
        } else {
            Some(false)
        }
    }
}

/// A role or group given as a string or as `{"name": …}`.
fn name_of(v: &Value) -> Option<&str> {
    v.as_str().or_else(|| v.get("name").and_then(Value::as_str))
}

/// Atlas error bodies: `{errorCode, errorMessage}`; gateways may use `code`/`status` and
/// `message`; anything else is kept as text.
fn parse_error(_status: u16, body: &[u8]) -> ApiError {
    if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) {
        let text = |keys: &[&str]| {
            keys.iter().find_map(|k| match map.get(*k) {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            })
        };
        return ApiError {
            code: text(&["errorCode", "code", "status"]),
            message: text(&["errorMessage", "message", "error"]),
        };
    }
    ApiError {
        code: None,
        message: plain_text(body),
    }
}

/// What a resolved token reference became.
#[derive(Debug, Clone)]
enum Resolved {
    Token { username: String, label: String },
    Problem(Reason),
}

/// One connection update in flight.
#[derive(Debug, Clone)]
struct Pending {
    index: usize,
    /// The connection's GUID, by which it is read again from the entity store.
    guid: String,
    qualified_name: String,
    name: String,
    /// The body's list: the last read of the connection ∪ `additions`.
    admin_users: Values,
    /// What this update adds to the applier's read; a re-read rebuilds `admin_users` from
    /// these, so an admin removed meanwhile is not written back.
    additions: Values,
    placeholder: String,
}

impl AtlanClient {
    pub(super) fn new(
        target: &str,
        settings: &AtlanTarget,
        base_url: Option<&str>,
        api_key: Secret,
        options: &ClientOptions,
    ) -> Result<AtlanClient, PlatformError> {
        let auth = Auth::Header(Secret::new(format!("Bearer {}", api_key.expose())));
        let http = Http::new(
            target,
            base_url.unwrap_or(&settings.base_url),
            auth,
            Some(RateLimit::per_minute(settings.requests_per_minute)),
            options,
            parse_error,
        )?;
        Ok(AtlanClient {
            http,
            token_labels: Mutex::new(BTreeMap::new()),
            workflows: workflow::Routes::new(settings.grant_via),
            workspace_admins_may: settings.workspace_admins_may_change_connections,
            guids: Mutex::new(BTreeMap::new()),
            caller: tokio::sync::Mutex::new(None),
        })
    }

    fn parallelism(&self) -> usize {
        self.http.options().parallelism.max(1)
    }

    // ---------------------------------------------------------------- resolve

    async fn resolve(&self, resources: &[&Resource]) -> Result<Vec<DesiredObject>, PlatformError> {
        let mut refs: BTreeSet<TokenRef> = BTreeSet::new();
        for r in resources {
            match &r.spec {
                ResourceSpec::ConnectionAdmins(s) => refs.extend(s.api_tokens.iter().cloned()),
                _ => {
                    return Err(self.http.error(
                        ErrorKind::Other,
                        format!("{} is not a ConnectionAdmins document", r.name),
                    ));
                }
            }
        }
        let resolved = self.resolve_tokens(&refs).await?;

        let mut out = Vec::with_capacity(resources.len());
        for r in resources {
            let ResourceSpec::ConnectionAdmins(spec) = &r.spec else {
                continue;
            };
            let mut values = Values::new();
            let mut labels = BTreeMap::new();
            let mut problems = Vec::new();
            for token in &spec.api_tokens {
                match resolved.get(token) {
                    Some(Resolved::Token { username, label }) => {
                        values.insert(username.clone());
                        labels.insert(username.clone(), label.clone());
                    }
                    Some(Resolved::Problem(p)) => problems.push(p.clone()),
                    None => problems.push(Reason::Unresolved(format!(
                        "{} was not resolved",
                        describe(token)
                    ))),
                }
            }
            out.push(DesiredObject {
                address: Address {
                    kind: KIND,
                    name: r.name.clone(),
                    target: self.http.target().to_string(),
                    remote_key: spec.connection.clone(),
                },
                fields: SmallMap::from([(
                    ADMIN_USERS.to_string(),
                    DesiredField {
                        policy: FieldPolicy::Append,
                        values,
                        max_items: None,
                    },
                )]),
                create: CreateRule::Never(Reason::NeverCreated {
                    what: "connection",
                    key: spec.connection.clone(),
                }),
                labels: labels.into(),
                problems,
                key_sink: None,
                route: None,
                adopt: Default::default(),
            });
        }
        self.route_resolved(resources, &mut out).await?;
        Ok(out)
    }

    /// Marks the objects whose tokens are granted by the package workflow (their `via`, or
    /// the target's `grantVia`), with a note per token on whether an existing workflow is
    /// re-run. A tenant without the package makes them conflicts that say so.
    async fn route_resolved(
        &self,
        resources: &[&Resource],
        out: &mut [DesiredObject],
    ) -> Result<(), PlatformError> {
        let mut routed = Vec::new();
        for (i, (r, o)) in resources.iter().zip(out.iter()).enumerate() {
            let ResourceSpec::ConnectionAdmins(spec) = &r.spec else {
                continue;
            };
            if self.workflows.choose(&o.address, spec.via) == Via::Workflow {
                routed.push(i);
            }
        }
        if routed.is_empty() {
            return Ok(());
        }
        let templates = match self.workflow_route(true).find().await {
            Ok(t) => t,
            Err(e) if e.kind == ErrorKind::NotFound => {
                for &i in &routed {
                    out[i].problems.push(Reason::Unresolved(e.to_string()));
                    out[i].route = Some(workflow::route(&[], &[], ""));
                }
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        for i in routed {
            let o = &mut out[i];
            let tokens: Vec<(String, String)> = o
                .fields
                .values()
                .flat_map(|f| f.values.iter())
                .filter_map(|u| Some((u.clone(), self.workflows.guid(u)?)))
                .collect();
            o.route = Some(workflow::route(&tokens, &templates, &o.address.remote_key));
        }
        Ok(())
    }

    /// The package workflow route on this tenant, as an API token user or not.
    fn workflow_route(&self, token_user: bool) -> workflow::legacy::Legacy<'_> {
        workflow::legacy::Legacy {
            http: &self.http,
            token_user,
        }
    }

    /// Resolves token references by filtered lookups only, never by listing every token
    /// (which no SDK does, and which a credential without `$admin` may be refused): the
    /// display names in batches of `TOKEN_BATCH` with `{"displayName": {"$in": […]}}`, the
    /// GUIDs likewise on `id`, each batch read to the `filterRecord` it states, so a name is
    /// settled only by a complete read of every token that has it. A server that refuses the
    /// `$in` form (400) is asked one reference at a time, as pyatlan does (docs/atlan.md).
    async fn resolve_tokens(
        &self,
        refs: &BTreeSet<TokenRef>,
    ) -> Result<BTreeMap<TokenRef, Resolved>, PlatformError> {
        let names: Vec<String> = refs
            .iter()
            .filter_map(|r| match r {
                TokenRef::Name(n) => Some(n.clone()),
                TokenRef::Guid(_) => None,
            })
            .collect();
        let guids: Vec<String> = refs
            .iter()
            .filter_map(|r| match r {
                TokenRef::Guid(g) => Some(g.clone()),
                TokenRef::Name(_) => None,
            })
            .collect();
        let batches: Vec<(String, Vec<String>)> = names
            .chunks(TOKEN_BATCH)
            .map(|c| ("displayName".to_string(), c.to_vec()))
            .chain(
                guids
                    .chunks(TOKEN_BATCH)
                    .map(|c| ("id".to_string(), c.to_vec())),
            )
            .collect();
        let found: Vec<Vec<ApiToken>> = stream::iter(batches)
            .map(|(key, values)| self.lookup_batch(key, values))
            .buffer_unordered(self.parallelism())
            .try_collect()
            .await?;
        // A token can answer two lookups (by name and by GUID): it counts once.
        let mut seen = BTreeSet::new();
        let tokens: Vec<ApiToken> = found
            .into_iter()
            .flatten()
            .filter(|t| seen.insert(t.listing_id().map(str::to_string)))
            .collect();
        self.remember(&tokens);
        Ok(refs
            .iter()
            .map(|r| (r.clone(), resolve_in(r, &tokens)))
            .collect())
    }

    /// Every token whose `key` is one of `values`: one lookup with `$in` (or, when the server
    /// refuses that form, one per value), each read to the count it states.
    async fn lookup_batch(
        &self,
        key: String,
        values: Vec<String>,
    ) -> Result<Vec<ApiToken>, PlatformError> {
        let filter = if values.len() == 1 {
            json!({ key.clone(): values[0] })
        } else {
            json!({ key.clone(): { "$in": values } })
        };
        match self.lookup(&filter, values.len()).await {
            Err(e) if values.len() > 1 && e.kind == ErrorKind::Rejected => {
                tracing::debug!(target = %self.http.target(), error = %e, "no $in lookups; one at a time");
                let filters: Vec<Value> = values
                    .into_iter()
                    .map(|v| json!({ key.clone(): v }))
                    .collect();
                let one_by_one: Vec<Vec<ApiToken>> = stream::iter(filters)
                    .map(|f| async move { self.lookup(&f, 1).await })
                    .buffer_unordered(self.parallelism())
                    .try_collect()
                    .await?;
                Ok(one_by_one.into_iter().flatten().collect())
            }
            other => other,
        }
    }

    /// Every API token, proven complete against the count the list states (a token missing
    /// from it could be an admin exported as a human).
    async fn all_tokens(&self) -> Result<Vec<ApiToken>, PlatformError> {
        let mut listing = self.token_listing("GET /api/service/apikeys", TOKEN_PAGE);
        let first = self.token_page(0, TOKEN_PAGE, None).await?;
        let (next, mut tokens) = self.record_tokens(&mut listing, first)?;
        if next == Next::Page {
            let stride = tokens.len();
            tokens.extend(self.rest_of_tokens(&mut listing, stride).await?);
        }
        Ok(tokens)
    }

    fn token_listing(&self, what: &str, page: usize) -> Listing {
        Listing::new(&self.http, what, Some(page as u64))
    }

    /// The tokens after a first page of `stride`. The pages the stated total needs are
    /// fetched at once (at offsets `stride`, `2·stride`, …; their number is bounded by
    /// `max_pages`) and recorded in order; if the total is still not reached, or none was
    /// stated, paging goes on one page at a time until the listing is complete.
    async fn rest_of_tokens(
        &self,
        listing: &mut Listing,
        stride: usize,
    ) -> Result<Vec<ApiToken>, PlatformError> {
        let stride = stride.max(1);
        let known_pages = listing.claim().map_or(0, |total| {
            total.saturating_sub(stride as u64).div_ceil(stride as u64)
        });
        listing.fits(known_pages)?;
        let offsets: Vec<usize> = (1..=known_pages as usize).map(|i| i * stride).collect();
        let mut offset = stride;
        let pages: Vec<TokenPage> = stream::iter(offsets)
            .map(|o| self.token_page(o, TOKEN_PAGE, None))
            .buffered(self.parallelism())
            .try_collect()
            .await?;
        let mut tokens = Vec::new();
        let mut next = Next::Page;
        for (i, page) in pages.into_iter().enumerate() {
            offset = (i + 1) * stride;
            let (n, records) = self.record_tokens(listing, page)?;
            offset += records.len();
            tokens.extend(records);
            next = n;
        }
        while next == Next::Page {
            let page = self.token_page(offset, TOKEN_PAGE, None).await?;
            let (n, records) = self.record_tokens(listing, page)?;
            offset += records.len();
            tokens.extend(records);
            next = n;
        }
        Ok(tokens)
    }

    /// Records one page of a token listing; returns what comes next and the page's tokens.
    fn record_tokens(
        &self,
        listing: &mut Listing,
        page: TokenPage,
    ) -> Result<(Next, Vec<ApiToken>), PlatformError> {
        let claim = page.claim();
        // Absent or null records are no records; the stated count decides if that is right.
        let records = page.records.unwrap_or_default();
        Ok((
            listing.record(claim, &records, ApiToken::listing_id)?,
            records,
        ))
    }

    async fn token_page(
        &self,
        offset: usize,
        limit: usize,
        filter: Option<&Value>,
    ) -> Result<TokenPage, PlatformError> {
        let mut request = Request::get(TOKENS_ROUTE, TOKENS_ROUTE)
            .query("limit", limit.to_string())
            .query("offset", offset.to_string())
            .query("sort", "createdAt")
            .query("count", "true");
        if let Some(filter) = filter {
            request = request.query("filter", filter.to_string());
        }
        self.http.call(&request).await?.json()
    }

    /// Every token matching `filter`, read to the `filterRecord` the server states: more
    /// matches than a page holds are paged, never cut off. `expected` sizes the first page.
    async fn lookup(
        &self,
        filter: &Value,
        expected: usize,
    ) -> Result<Vec<ApiToken>, PlatformError> {
        // Two per value detect a duplicate name; more are paged.
        let page = (expected * 2).clamp(TOKEN_LOOKUP_LIMIT, TOKEN_PAGE);
        let mut listing =
            self.token_listing(&format!("GET /api/service/apikeys (lookup {filter})"), page);
        let mut found = Vec::new();
        loop {
            let answer = self.token_page(found.len(), page, Some(filter)).await?;
            let (next, records) = self.record_tokens(&mut listing, answer)?;
            found.extend(records);
            if next == Next::Done {
                return Ok(found);
            }
        }
    }

    /// Labels the service accounts among these live admins that no resolved token named (an
    /// API token nobody declared shows by its display name in drift): one lookup by clientId
    /// per `TOKEN_BATCH` unknown ones. A failed lookup leaves them unlabelled.
    async fn label_unknown(&self, found: &BTreeMap<String, Found>) {
        let labels = self
            .token_labels
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default();
        let unknown: BTreeSet<String> = found
            .values()
            .filter_map(|f| match f {
                Found::Active(list) => Some(list),
                Found::Archived(_) => None,
            })
            .flatten()
            .filter_map(|e| e.admin_list(ADMIN_USERS).ok())
            .flat_map(|l| l.values().iter().cloned().collect::<Vec<_>>())
            .filter(|u| !labels.contains_key(u))
            .filter_map(|u| u.strip_prefix(USERNAME_PREFIX).map(str::to_string))
            .collect();
        let client_ids: Vec<String> = unknown.into_iter().collect();
        let batches: Vec<Vec<String>> = client_ids.chunks(TOKEN_BATCH).map(<[_]>::to_vec).collect();
        let found: Vec<Result<Vec<ApiToken>, PlatformError>> = stream::iter(batches)
            .map(|b| self.lookup_batch("clientId".to_string(), b))
            .buffer_unordered(self.parallelism())
            .collect()
            .await;
        for tokens in found.into_iter().flatten() {
            self.remember(&tokens);
        }
    }

    fn remember(&self, tokens: &[ApiToken]) {
        for t in tokens {
            if let (Some(u), Some(id)) = (t.username(), &t.id) {
                self.workflows.remember_guid(u, id.clone());
            }
        }
        if let Ok(mut labels) = self.token_labels.lock() {
            for t in tokens {
                if let (Some(u), Some(n)) = (t.username(), t.display_name()) {
                    labels.insert(u, n.to_string());
                }
            }
        }
    }

    // ---------------------------------------------------------------- read

    /// The plan's read: every connection by qualifiedName through the search index (one
    /// search per 1,000 names), and the caller once.
    async fn read(&self, objects: &[DesiredObject]) -> Result<Vec<LiveState>, PlatformError> {
        let names = distinct_names(objects);
        let (found, caller) = futures::try_join!(self.search(&names), self.whoami())?;
        self.label_unknown(&found).await;
        self.states(objects, &found, caller.as_deref(), SEARCH_READ)
    }

    /// The applier's read, right before a write and again to verify it: from the entity store
    /// (`GET /api/meta/entity/bulk?guid=…`, up to `STORE_CHUNK` connections a request), which
    /// sees every write at once, never from the search index, which may lag behind it. An
    /// admin another writer added a moment ago is then part of the list warrant writes back
    /// (the server replaces `adminUsers` whole). The GUIDs come from an earlier read of this
    /// run; names not seen yet are searched once for their GUIDs only (a connection's GUID
    /// never changes, so a lagging index still gives the right one).
    async fn read_consistent(
        &self,
        objects: &[DesiredObject],
    ) -> Result<Vec<LiveState>, PlatformError> {
        let names = distinct_names(objects);
        let known = self.known_guids();
        let unknown: Vec<String> = names
            .iter()
            .filter(|n| !known.contains_key(*n))
            .cloned()
            .collect();
        let (searched, caller) = futures::try_join!(self.search(&unknown), self.whoami())?;
        // What the store answers replaces what the index said, name by name.
        let mut found: BTreeMap<String, Found> = BTreeMap::new();
        // GUID → the qualified name it was found under.
        let mut wanted: BTreeMap<String, String> = BTreeMap::new();
        for name in &names {
            match (known.get(name), searched.get(name)) {
                (Some(guid), _) => {
                    wanted.insert(guid.clone(), name.clone());
                }
                (None, Some(Found::Active(list))) if list.len() == 1 => {
                    if let Some(guid) = &list[0].guid {
                        wanted.insert(guid.clone(), name.clone());
                    }
                }
                (None, Some(other)) => {
                    found.insert(name.clone(), other.clone());
                }
                (None, None) => {}
            }
        }
        let guids: Vec<String> = wanted.keys().cloned().collect();
        for (guid, entity) in self.store_entities(&guids).await? {
            let qn = entity.qualified_name().unwrap_or_default().to_string();
            // A connection's qualifiedName never changes: a store that answers a GUID with
            // another connection is not believed (its lists would be written to the wrong one).
            if wanted.get(&guid) != Some(&qn) {
                return Err(self.http.error(
                    ErrorKind::Malformed,
                    format!(
                        "unexpected response to {STORE_READ}: GUID {guid} came back as connection {qn:?}, not {}",
                        wanted.get(&guid).map_or("", String::as_str)
                    ),
                ));
            }
            found.insert(
                qn,
                if entity.archived() {
                    Found::Archived(entity.guid.clone().unwrap_or_default())
                } else {
                    Found::Active(vec![entity])
                },
            );
        }
        self.states(objects, &found, caller.as_deref(), STORE_READ)
    }

    /// One live state per object from what a read found.
    fn states(
        &self,
        objects: &[DesiredObject],
        found: &BTreeMap<String, Found>,
        caller: Option<&WhoAmI>,
        read_with: &str,
    ) -> Result<Vec<LiveState>, PlatformError> {
        let labels = self
            .token_labels
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default();
        let mut out = Vec::with_capacity(objects.len());
        for o in objects {
            let qn = &o.address.remote_key;
            let state = match found.get(qn) {
                None => LiveState::Absent,
                Some(Found::Archived(guid)) => LiveState::Unreadable {
                    id: guid.clone(),
                    reasons: vec![Reason::Archived {
                        what: "connection",
                        key: qn.clone(),
                    }],
                },
                Some(Found::Active(list)) => match list.as_slice() {
                    [] => LiveState::Absent,
                    [entity] => self.live_state(entity, caller, &labels, read_with)?,
                    many => LiveState::Ambiguous {
                        ids: many.iter().filter_map(|e| e.guid.clone()).collect(),
                    },
                },
            };
            out.push(state);
        }
        Ok(out)
    }

    fn known_guids(&self) -> BTreeMap<String, String> {
        self.guids.lock().map(|g| g.clone()).unwrap_or_default()
    }

    /// Every connection with one of these qualified names, by qualified name: the active ones,
    /// else the archived one (a name only archived connections have is not free to write).
    async fn search(&self, names: &[String]) -> Result<BTreeMap<String, Found>, PlatformError> {
        let chunks: Vec<Vec<String>> = names.chunks(SEARCH_CHUNK).map(<[_]>::to_vec).collect();
        let pages: Vec<Vec<Entity>> = stream::iter(chunks)
            .map(|c| async move { self.search_chunk(&c).await })
            .buffer_unordered(self.parallelism())
            .try_collect()
            .await?;
        let mut found: BTreeMap<String, Found> = BTreeMap::new();
        for entity in pages.into_iter().flatten() {
            if entity
                .type_name
                .as_deref()
                .is_some_and(|t| t != "Connection")
            {
                continue;
            }
            let Some(qn) = entity.qualified_name() else {
                continue;
            };
            let slot = found
                .entry(qn.to_string())
                .or_insert(Found::Active(Vec::new()));
            match (slot, entity.archived()) {
                (Found::Active(list), false) => {
                    if !list.iter().any(|e| e.guid == entity.guid) {
                        list.push(entity);
                    }
                }
                (slot @ Found::Active(_), true) => {
                    if matches!(slot, Found::Active(list) if list.is_empty()) {
                        *slot = Found::Archived(entity.guid.clone().unwrap_or_default());
                    }
                }
                (slot @ Found::Archived(_), false) => *slot = Found::Active(vec![entity]),
                (Found::Archived(_), true) => {}
            }
        }
        if let Ok(mut guids) = self.guids.lock() {
            for (qn, f) in &found {
                if let Found::Active(list) = f
                    && let [one] = list.as_slice()
                    && let Some(guid) = &one.guid
                {
                    guids.insert(qn.clone(), guid.clone());
                }
            }
        }
        Ok(found)
    }

    async fn search_chunk(&self, names: &[String]) -> Result<Vec<Entity>, PlatformError> {
        let wanted: BTreeSet<&str> = names.iter().map(String::as_str).collect();
        // No `__state` filter: an archived connection is found, to be named as archived.
        self.search_connections(
            Some(json!({"terms": {"qualifiedName": names}})),
            false,
            |e| e.qualified_name().is_some_and(|qn| wanted.contains(qn)),
        )
        .await
    }

    /// Connections from the entity store by GUID, `STORE_CHUNK` a request, by GUID. A GUID
    /// the store does not know (the connection was purged) is left out: Atlas fails the
    /// whole request with 404 then, so such a request is split in halves until the unknown
    /// GUIDs are isolated.
    async fn store_entities(
        &self,
        guids: &[String],
    ) -> Result<BTreeMap<String, Entity>, PlatformError> {
        let chunks: Vec<Vec<String>> = guids.chunks(STORE_CHUNK).map(<[_]>::to_vec).collect();
        let parts: Vec<Vec<Entity>> = stream::iter(chunks)
            .map(|c| self.store_chunk(c))
            .buffer_unordered(self.parallelism())
            .try_collect()
            .await?;
        let mut out = BTreeMap::new();
        for entity in parts.into_iter().flatten() {
            if entity
                .type_name
                .as_deref()
                .is_some_and(|t| t != "Connection")
            {
                continue;
            }
            if let Some(guid) = entity.guid.clone()
                && guids.contains(&guid)
            {
                out.insert(guid, entity);
            }
        }
        Ok(out)
    }

    fn store_chunk(&self, guids: Vec<String>) -> BoxFuture<'_, Result<Vec<Entity>, PlatformError>> {
        Box::pin(async move {
            if guids.is_empty() {
                return Ok(Vec::new());
            }
            let mut request = Request::get(STORE_ROUTE, STORE_ROUTE)
                .query("minExtInfo", "true")
                .query("ignoreRelationships", "true");
            for guid in &guids {
                request = request.query("guid", guid.clone());
            }
            match self.http.call(&request).await {
                Ok(response) => {
                    let page: StorePage = response.json()?;
                    Ok(page.entities.unwrap_or_default())
                }
                Err(e) if e.kind == ErrorKind::NotFound => {
                    if guids.len() == 1 {
                        if let Ok(mut known) = self.guids.lock() {
                            known.retain(|_, g| g != &guids[0]);
                        }
                        return Ok(Vec::new());
                    }
                    let mut left = guids;
                    let right = left.split_off(left.len() / 2);
                    let (l, r) =
                        futures::try_join!(self.store_chunk(left), self.store_chunk(right))?;
                    Ok(l.into_iter().chain(r).collect())
                }
                Err(e) => Err(e),
            }
        })
    }

    /// Every connection (only active ones when `active_only`, matching `filter` when given),
    /// paged with `from`/`size` in a stable order (`__guid`), proven complete against the
    /// `approximateCount` the search states (`super::listing`).
    async fn search_connections(
        &self,
        filter: Option<Value>,
        active_only: bool,
        keep: impl Fn(&Entity) -> bool,
    ) -> Result<Vec<Entity>, PlatformError> {
        let mut filters = vec![
            json!({"term": {"__typeName.keyword": {"value": "Connection", "case_insensitive": false}}}),
        ];
        if active_only {
            filters
                .push(json!({"term": {"__state": {"value": "ACTIVE", "case_insensitive": false}}}));
        }
        filters.extend(filter);
        let mut listing = Listing::new(
            &self.http,
            format!("POST {SEARCH_ROUTE}"),
            Some(SEARCH_PAGE as u64),
        );
        let mut all = Vec::new();
        loop {
            let body = json!({
                "attributes": ADMIN_FIELDS,
                "dsl": {
                    "from": listing.received(),
                    "size": SEARCH_PAGE,
                    "track_total_hits": true,
                    "query": {"bool": {"filter": filters}},
                    "sort": [{"__guid": {"order": "asc"}}],
                },
                "requestMetadata": {"saveSearchLog": false},
            });
            let request = Request::new(Method::POST, SEARCH_ROUTE, SEARCH_ROUTE).json(body);
            let page: SearchPage = self.http.call(&request).await?.json()?;
            // `entities` is left out when there are no hits (contracts/atlan.md §4.2).
            let entities = page.entities.unwrap_or_default();
            let next = listing.record(page.approximate_count, &entities, |e| e.guid.as_deref())?;
            all.extend(entities.into_iter().filter(&keep));
            if next == Next::Done {
                return Ok(all);
            }
        }
    }

    /// The caller's identity, asked once per run; `None` when the endpoint is not offered to
    /// this credential (then refused writes cannot be predicted, only reported).
    async fn whoami(&self) -> Result<Option<Arc<WhoAmI>>, PlatformError> {
        let mut cached = self.caller.lock().await;
        if let Some(known) = &*cached {
            return Ok(known.clone());
        }
        let request = Request::get("/api/service/whoami", "/api/service/whoami");
        let me = match self.http.call(&request).await {
            Ok(r) => Some(Arc::new(r.json::<WhoAmI>()?)),
            Err(e) if matches!(e.kind, ErrorKind::NotFound | ErrorKind::Forbidden) => {
                tracing::debug!(target = %self.http.target(), error = %e, "whoami unavailable");
                None
            }
            Err(e) => return Err(e),
        };
        *cached = Some(me.clone());
        Ok(me)
    }

    /// The live state of one connection: present when its admin lists are known,
    /// unreadable (a conflict, never "empty") when one is not.
    fn live_state(
        &self,
        entity: &Entity,
        caller: Option<&WhoAmI>,
        labels: &BTreeMap<String, String>,
        read_with: &str,
    ) -> Result<LiveState, PlatformError> {
        let qn = entity.qualified_name().unwrap_or_default().to_string();
        let Some(guid) = entity.guid.clone() else {
            return Err(self
                .http
                .error(ErrorKind::Malformed, format!("connection {qn} has no guid")));
        };
        let mut fields = SmallMap::new();
        let mut reasons = Vec::new();
        for field in ADMIN_FIELDS {
            match entity.admin_list(field) {
                Ok(known) => {
                    fields.insert(field.to_string(), known.values());
                }
                Err(e) => reasons.push(e.reason(read_with)),
            }
        }
        if !reasons.is_empty() {
            return Ok(LiveState::Unreadable { id: guid, reasons });
        }
        let admins = &fields[ADMIN_USERS];
        let write_denied = caller
            .filter(|_| self.http.options().predicts_writes)
            .and_then(|c| {
                let may = c.may_administer(
                    admins,
                    &fields["adminGroups"],
                    &fields["adminRoles"],
                    self.workspace_admins_may,
                );
                (may == Some(false)).then(|| c.not_admin_of(&qn))
            });
        let live_labels = admins
            .iter()
            .filter_map(|u| labels.get(u).map(|l| (u.clone(), l.clone())))
            .collect();
        let mut extra = SmallMap::from([("guid".to_string(), guid.clone())]);
        if let Some(name) = entity.attributes.get("name").and_then(Value::as_str) {
            extra.insert("name".to_string(), name.to_string());
        }
        Ok(LiveState::Present {
            object: LiveObject {
                id: guid,
                fields,
                labels: live_labels,
                write_denied,
                extra,
                made_outside_by: None,
            },
        })
    }

    // ---------------------------------------------------------------- export

    /// Every active connection with at least one API token among its `adminUsers`, as a
    /// `ConnectionAdmins` spec naming those tokens: by display name when no other token has
    /// it, else by GUID. Humans, groups and roles are not API tokens; the comment of each
    /// document counts them so the adopter sees who else has access.
    async fn export(&self) -> Result<Export, PlatformError> {
        let (tokens, entities) = futures::try_join!(
            self.all_tokens(),
            self.search_connections(None, true, |_| true)
        )?;
        self.remember(&tokens);
        let mut name_counts: BTreeMap<&str, usize> = BTreeMap::new();
        for t in &tokens {
            if let Some(n) = t.display_name() {
                *name_counts.entry(n).or_default() += 1;
            }
        }
        let by_username: BTreeMap<String, &ApiToken> = tokens
            .iter()
            .filter_map(|t| Some((t.username()?, t)))
            .collect();

        let mut by_name: BTreeMap<String, Vec<&Entity>> = BTreeMap::new();
        for e in &entities {
            if e.type_name.as_deref().is_some_and(|t| t != "Connection") {
                continue;
            }
            if let Some(qn) = e.qualified_name() {
                let list = by_name.entry(qn.to_string()).or_default();
                if !list.iter().any(|x| x.guid == e.guid) {
                    list.push(e);
                }
            }
        }

        let mut export = Export::default();
        let mut without_tokens = 0usize;
        for (qn, found) in &by_name {
            let [entity] = found.as_slice() else {
                export.notes.push(format!(
                    "connection {qn} was left out: {} live connections have this qualifiedName",
                    found.len()
                ));
                continue;
            };
            let state = self.live_state(entity, None, &BTreeMap::new(), SEARCH_READ)?;
            let Some(live) = export.present(state, &format!("connection {qn}")) else {
                continue;
            };
            let (users, groups, roles) = (
                &live.fields[ADMIN_USERS],
                &live.fields["adminGroups"],
                &live.fields["adminRoles"],
            );
            let mut refs = BTreeSet::new();
            let mut comments = Vec::new();
            let mut humans = 0usize;
            for user in users {
                let Some(token) = by_username.get(user) else {
                    humans += 1;
                    continue;
                };
                let name = token.display_name();
                match (name, name.and_then(|n| name_counts.get(n)), &token.id) {
                    (Some(n), Some(1), _) => {
                        refs.insert(TokenRef::Name(n.to_string()));
                    }
                    (_, _, Some(id)) => {
                        refs.insert(TokenRef::Guid(id.clone()));
                        comments.push(match name {
                            Some(n) => format!(
                                "{id} is one of {} API tokens named {n:?}, so it is listed by guid",
                                name_counts.get(n).copied().unwrap_or_default()
                            ),
                            None => format!("{id} is an API token without a display name"),
                        });
                    }
                    (_, _, None) => {
                        humans += 1;
                        comments.push(format!(
                            "{user} is an API token with neither a unique display name nor a guid; it cannot be declared"
                        ));
                    }
                }
            }
            if refs.is_empty() {
                without_tokens += 1;
                continue;
            }
            let others = if humans + groups.len() + roles.len() == 0 {
                "no other admins: this connection has no human, group or role admins".to_string()
            } else {
                format!(
                    "also admins, not exported (they are not API tokens): {humans} user(s), {} group(s), {} role(s)",
                    groups.len(),
                    roles.len()
                )
            };
            comments.insert(0, others);
            let remote_name = entity
                .attributes
                .get("name")
                .and_then(Value::as_str)
                .filter(|n| !n.trim().is_empty())
                .unwrap_or(qn)
                .to_string();
            export.objects.push(ExportedObject {
                remote_name,
                id: live.id.clone(),
                spec: ResourceSpec::ConnectionAdmins(ConnectionAdminsSpec {
                    target: self.http.target().to_string(),
                    connection: qn.clone(),
                    api_tokens: refs.into_iter().collect(),
                    via: None,
                }),
                comments,
            });
        }
        if without_tokens > 0 {
            export.notes.push(format!(
                "{without_tokens} connection(s) with no API token among their admins were left out"
            ));
        }
        self.export_workflows(&mut export, &tokens).await;
        Ok(export)
    }

    /// Declares `via: workflow` on each exported connection that has a package workflow
    /// granting one of its exported tokens, so a team that grants through the package keeps
    /// doing so. A grant made both ways is still one token of one document. Templates whose
    /// grant is not live are noted; a tenant without the package only gets a note.
    async fn export_workflows(&self, export: &mut Export, tokens: &[ApiToken]) {
        let templates = match self.workflow_route(true).find().await {
            Ok(t) => t,
            Err(e) if e.kind == ErrorKind::NotFound => return,
            Err(e) => {
                export.notes.push(format!(
                    "package workflows could not be listed, so every connection is exported via direct: {e}"
                ));
                return;
            }
        };
        let guid_of = |token: &TokenRef| -> Option<String> {
            match token {
                TokenRef::Guid(g) => Some(g.clone()),
                TokenRef::Name(n) => tokens
                    .iter()
                    .find(|t| t.display_name() == Some(n.as_str()))
                    .and_then(|t| t.id.clone()),
            }
        };
        let mut used = BTreeSet::new();
        for object in &mut export.objects {
            let ResourceSpec::ConnectionAdmins(spec) = &mut object.spec else {
                continue;
            };
            let mut through = Vec::new();
            for token in &spec.api_tokens {
                if let Some(guid) = guid_of(token)
                    && let Some(t) = workflow::newest(&templates, &spec.connection, &guid)
                {
                    used.insert((spec.connection.clone(), guid.to_lowercase()));
                    through.push(format!("{} ({})", t.name, describe(token)));
                }
            }
            if !through.is_empty() {
                spec.via = Some(Via::Workflow);
                object.comments.push(format!(
                    "granted through the API token connection admin package: {}",
                    through.join(", ")
                ));
            }
        }
        let stale = templates
            .iter()
            .filter(|t| !used.contains(&(t.connection.clone(), t.token_guid.to_lowercase())))
            .count();
        if stale > 0 {
            export.notes.push(format!(
                "{stale} package workflow(s) grant a token that is not an admin of its connection now (or a connection not exported); not declared"
            ));
        }
    }

    // ---------------------------------------------------------------- write

    /// Writes `ops`: those declared `via: workflow` through the package, the others
    /// directly; one result per op, in order.
    async fn write(&self, ops: Vec<WriteOp>) -> Vec<Result<WriteOutcome, PlatformError>> {
        let n = ops.len();
        let (direct, routed) = self.workflows.split(ops);
        let (indices, direct): (Vec<usize>, Vec<WriteOp>) = direct.into_iter().unzip();
        let routed = async {
            if routed.is_empty() {
                return Vec::new();
            }
            // A run acts as its submitter; pyatlan sends API token users to `workflows…`.
            let token_user = match self.whoami().await {
                Ok(Some(me)) => me
                    .roles
                    .iter()
                    .filter_map(name_of)
                    .any(|r| r == "$api-token-default-access" || r == "$admin"),
                Ok(None) => true,
                Err(e) => {
                    return routed
                        .into_iter()
                        .map(|(i, _)| (i, Err(e.clone())))
                        .collect();
                }
            };
            let options = self.http.options();
            workflow::write(
                &self.workflow_route(token_user),
                self,
                &self.workflows,
                self.http.target(),
                routed,
                self.parallelism(),
                options.workflow_timeout,
            )
            .await
        };
        let (direct, routed) = futures::join!(self.write_direct(direct), routed);
        let mut results: Vec<Option<Result<WriteOutcome, PlatformError>>> =
            (0..n).map(|_| None).collect();
        for (i, r) in indices.into_iter().zip(direct).chain(routed) {
            results[i] = Some(r);
        }
        self.every_write(results)
    }

    async fn write_direct(&self, ops: Vec<WriteOp>) -> Vec<Result<WriteOutcome, PlatformError>> {
        let mut results: Vec<Option<Result<WriteOutcome, PlatformError>>> =
            ops.iter().map(|_| None).collect();
        let mut pending = Vec::new();
        for (index, op) in ops.into_iter().enumerate() {
            match op {
                WriteOp::Create { desired, .. } => {
                    results[index] = Some(Err(self.http.error(
                        ErrorKind::Other,
                        format!(
                            "connection {} not found; warrant never creates connections",
                            desired.address.remote_key
                        ),
                    )));
                }
                WriteOp::Update {
                    address,
                    live,
                    mut additions,
                } => {
                    let Some(additions) = additions.remove(ADMIN_USERS) else {
                        results[index] = Some(Err(self.http.error(
                            ErrorKind::Other,
                            format!("{address}: only adminUsers can be written"),
                        )));
                        continue;
                    };
                    let Some(name) = live.extra.get("name") else {
                        results[index] = Some(Err(self.http.error(
                            ErrorKind::Other,
                            format!("{address}: the live connection has no name to write with"),
                        )));
                        continue;
                    };
                    // A present live object carries every admin list it was read with; one
                    // without adminUsers was never known, and nothing is built from it.
                    let Some(had) = live.fields.get(ADMIN_USERS) else {
                        results[index] = Some(Err(self.http.error(
                            ErrorKind::Other,
                            format!(
                                "{address}: the live adminUsers are unknown; nothing was written"
                            ),
                        )));
                        continue;
                    };
                    // The applier's read, made right before: the first wave's fresh read.
                    let admin_users = KnownList::of_present(had.iter().cloned())
                        .union(additions.iter().cloned())
                        .into_iter()
                        .collect();
                    pending.push(Pending {
                        index,
                        guid: live.id.clone(),
                        qualified_name: address.remote_key.clone(),
                        name: name.clone(),
                        admin_users,
                        additions,
                        placeholder: placeholder_guid(),
                    });
                }
            }
        }
        let batches: Vec<Vec<Pending>> = pending.chunks(WRITE_BATCH).map(<[_]>::to_vec).collect();
        // There is no conditional write, so a batch's body should be built from a read as
        // recent as possible. The first `parallelism` batches start at once, right after the
        // applier's read; a later one waits for an earlier one to finish (at least one bulk
        // round trip, many on large plans), so it reads its connections again first: one
        // search per 20 connections, only on plans of more than `parallelism` batches.
        let wave = self.parallelism();
        let done: Vec<Vec<(usize, Result<WriteOutcome, PlatformError>)>> = stream::iter(batches)
            .enumerate()
            .map(|(i, b)| self.write_waiting_batch(b, i >= wave))
            .buffer_unordered(wave)
            .collect()
            .await;
        for (index, r) in done.into_iter().flatten() {
            results[index] = Some(r);
        }
        self.every_write(results)
    }

    /// One outcome per object; a slot no write filled is an error, never a silent success.
    fn every_write(
        &self,
        results: Vec<Option<Result<WriteOutcome, PlatformError>>>,
    ) -> Vec<Result<WriteOutcome, PlatformError>> {
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(self.http.error(ErrorKind::Other, "write was not performed"))
                })
            })
            .collect()
    }

    /// Writes one batch, first re-reading its connections when it `waited` behind others.
    async fn write_waiting_batch(
        &self,
        mut batch: Vec<Pending>,
        waited: bool,
    ) -> Vec<(usize, Result<WriteOutcome, PlatformError>)> {
        if !waited {
            return self.write_batch(batch).await;
        }
        let mut done = match self.refresh(&mut batch).await {
            Ok(vanished) => vanished,
            Err(e) => return batch.iter().map(|p| (p.index, Err(e.clone()))).collect(),
        };
        done.extend(self.write_batch(batch).await);
        done
    }

    /// Writes one batch. A transient failure is retried after re-reading the connections (so
    /// the body is rebuilt as fresh live ∪ additions); a refused batch is split in halves.
    fn write_batch(
        &self,
        mut batch: Vec<Pending>,
    ) -> futures::future::BoxFuture<'_, Vec<(usize, Result<WriteOutcome, PlatformError>)>> {
        Box::pin(async move {
            let mut failed = Vec::new();
            let mut backoff = self.http.backoff();
            loop {
                if batch.is_empty() {
                    return failed;
                }
                let request = bulk_request(&batch);
                let failure = match self.http.send(&request).await {
                    Ok(response) => {
                        failed.extend(self.interpret(&batch, &response));
                        return failed;
                    }
                    Err(f) => f,
                };
                if matches!(failure.transient, Transient::Yes { .. }) {
                    if let Err(e) = backoff.wait(failure).await {
                        // The answers may have been lost after the server applied the
                        // write: what the store now holds decides (`settle`).
                        failed.extend(self.settle(&batch, e).await);
                        return failed;
                    }
                    match self.refresh(&mut batch).await {
                        Ok(vanished) => failed.extend(vanished),
                        Err(e) => {
                            failed.extend(batch.iter().map(|p| (p.index, Err(e.clone()))));
                            return failed;
                        }
                    }
                    continue;
                }
                if batch.len() > 1 {
                    let right = batch.split_off(batch.len() / 2);
                    let (l, r) = futures::join!(self.write_batch(batch), self.write_batch(right));
                    failed.extend(l);
                    failed.extend(r);
                    return failed;
                }
                let error = self.explain(failure, &batch[0].qualified_name).await;
                failed.push((batch[0].index, Err(error)));
                return failed;
            }
        })
    }

    /// After a write whose answers never arrived: each connection whose stored `adminUsers`
    /// hold every addition is done (the applier verifies it with its own read, as after any
    /// write); the others fail with `error`. A write applied with its response lost is not
    /// reported as failed, and is not sent again.
    async fn settle(
        &self,
        batch: &[Pending],
        error: PlatformError,
    ) -> Vec<(usize, Result<WriteOutcome, PlatformError>)> {
        let guids: Vec<String> = batch.iter().map(|p| p.guid.clone()).collect();
        let fresh = self.store_entities(&guids).await.unwrap_or_default();
        batch
            .iter()
            .map(|p| {
                let stored = fresh
                    .get(&p.guid)
                    .filter(|e| !e.archived())
                    .and_then(|e| e.admin_list(ADMIN_USERS).ok())
                    .map(|l| l.values());
                let done =
                    stored.is_some_and(|users| p.additions.iter().all(|a| users.contains(a)));
                (
                    p.index,
                    if done {
                        Ok(WriteOutcome::already_there())
                    } else {
                        Err(error.clone())
                    },
                )
            })
            .collect()
    }

    /// Re-reads the batch's connections from the entity store (one request per
    /// `STORE_CHUNK`) and rebuilds each body as fresh live ∪ additions. Connections that
    /// disappeared or were archived are taken out of the batch and returned as errors.
    async fn refresh(
        &self,
        batch: &mut Vec<Pending>,
    ) -> Result<Vec<(usize, Result<WriteOutcome, PlatformError>)>, PlatformError> {
        let guids: Vec<String> = batch.iter().map(|p| p.guid.clone()).collect();
        let fresh = self.store_entities(&guids).await?;
        let mut vanished = Vec::new();
        let mut kept = Vec::new();
        for mut p in batch.drain(..) {
            let entity = match fresh.get(&p.guid) {
                Some(e) if !e.archived() && e.qualified_name() == Some(&p.qualified_name) => e,
                _ => {
                    vanished.push((
                        p.index,
                        Err(self.http.error(
                            ErrorKind::NotFound,
                            format!(
                                "connection {} is gone or archived when read again right before writing; nothing was written",
                                p.qualified_name
                            ),
                        )),
                    ));
                    continue;
                }
            };
            match entity.admin_list(ADMIN_USERS) {
                Ok(users) => {
                    p.admin_users = users
                        .union(p.additions.iter().cloned())
                        .into_iter()
                        .collect();
                    if let Some(name) = entity.attributes.get("name").and_then(Value::as_str) {
                        p.name = name.to_string();
                    }
                    p.placeholder = placeholder_guid();
                    kept.push(p);
                }
                Err(e) => vanished.push((
                    p.index,
                    Err(self
                        .http
                        .unreadable(&e, STORE_READ)
                        .context(format_args!("connection {}", p.qualified_name))),
                )),
            }
        }
        *batch = kept;
        Ok(vanished)
    }

    fn interpret(
        &self,
        batch: &[Pending],
        response: &crate::platform::http::Response,
    ) -> Vec<(usize, Result<WriteOutcome, PlatformError>)> {
        let parsed: MutationResponse = match response.json() {
            Ok(p) => p,
            Err(e) => return batch.iter().map(|p| (p.index, Err(e.clone()))).collect(),
        };
        let mutated = parsed.mutated_entities.unwrap_or_default();
        let assigned = parsed.guid_assignments.unwrap_or_default();
        let find = |kinds: &[&str], qn: &str| -> Option<Entity> {
            kinds.iter().find_map(|k| {
                mutated
                    .get(*k)?
                    .iter()
                    .find(|e| e.qualified_name() == Some(qn))
                    .cloned()
            })
        };
        batch
            .iter()
            .map(|p| {
                let qn = p.qualified_name.as_str();
                // What the answer says was done is not taken as proof: the applier confirms
                // the write with a search.
                let result = if find(&["UPDATE", "PARTIAL_UPDATE"], qn).is_some() {
                    Ok(WriteOutcome::already_there())
                } else if find(&["CREATE"], qn).is_some() {
                    Err(self.http.error(
                        ErrorKind::Other,
                        format!("the server created connection {qn} instead of updating it; warrant never creates connections, check it in Atlan"),
                    ))
                } else if find(&["DELETE", "PURGE"], qn).is_some() {
                    Err(self.http.error(
                        ErrorKind::Other,
                        format!("the server reports connection {qn} as deleted by the update"),
                    ))
                } else if assigned.contains_key(&p.placeholder) {
                    // NOOP: the server found nothing to change.
                    Ok(WriteOutcome::already_there())
                } else {
                    Err(response.malformed(format!("connection {qn} is not mentioned")))
                };
                (p.index, result)
            })
            .collect()
    }

    /// Adds the human explanation to a refused write of one connection. A 403 on the update
    /// of an existing connection (Atlas `ATLAS-403-00-001` "… is not authorized to perform
    /// update entity: …") means the caller is not its admin: the error carries that typed
    /// reason, in its words.
    async fn explain(&self, failure: Failure, qualified_name: &str) -> PlatformError {
        let mut error = failure.error;
        if error.status == Some(403) {
            let caller = self
                .caller
                .lock()
                .await
                .clone()
                .flatten()
                .and_then(|c| c.username.clone())
                .unwrap_or_else(|| "unknown".to_string());
            let reason = Reason::NotConnectionAdmin {
                caller,
                connection: qualified_name.to_string(),
            };
            error.message = format!(
                "{reason}{}",
                failure
                    .api
                    .message
                    .map(|m| format!(" (Atlan says: {m})"))
                    .unwrap_or_default()
            );
            error.hint = None;
            error = error.with_reason(reason);
        } else {
            error = error.context(format_args!("updating connection {qualified_name}"));
        }
        error
    }
}

/// The bulk request for a batch: only the attributes the update needs.
fn bulk_request(batch: &[Pending]) -> Request {
    let entities: Vec<Value> = batch
        .iter()
        .map(|p| {
            json!({
                "typeName": "Connection",
                "attributes": {
                    "qualifiedName": p.qualified_name,
                    "name": p.name,
                    "adminUsers": p.admin_users,
                },
                "guid": p.placeholder,
            })
        })
        .collect();
    Request::new(
        Method::POST,
        "/api/meta/entity/bulk",
        "/api/meta/entity/bulk",
    )
    .query("replaceTags", "false")
    .query("appendTags", "false")
    .query("replaceBusinessAttributes", "false")
    .query("overwriteBusinessAttributes", "false")
    .json(json!({ "entities": entities }))
}

/// A negative placeholder GUID, as the SDKs send for updates.
fn placeholder_guid() -> String {
    use rand::Rng;
    format!(
        "-{}",
        rand::rng().random_range(1_000_000_000_000u64..u64::MAX / 2)
    )
}

fn describe(token: &TokenRef) -> String {
    match token {
        TokenRef::Name(n) => format!("API token {n:?}"),
        TokenRef::Guid(g) => format!("API token with guid {g}"),
    }
}

/// Resolves one reference among tokens known to include every match.
fn resolve_in(token: &TokenRef, tokens: &[ApiToken]) -> Resolved {
    let matches: Vec<&ApiToken> = tokens
        .iter()
        .filter(|t| match token {
            TokenRef::Name(n) => t.display_name() == Some(n.as_str()),
            TokenRef::Guid(g) => t.id.as_deref().is_some_and(|id| id.eq_ignore_ascii_case(g)),
        })
        .collect();
    match (token, matches.as_slice()) {
        (_, []) => Resolved::Problem(Reason::Unresolved(format!("{} not found", describe(token)))),
        (_, [one]) => match one.username() {
            Some(username) => Resolved::Token {
                username,
                label: match (one.display_name(), token) {
                    (Some(n), _) => n.to_string(),
                    (None, TokenRef::Guid(g)) => format!("guid {g}"),
                    (None, TokenRef::Name(n)) => n.clone(),
                },
            },
            None => Resolved::Problem(Reason::Unresolved(format!(
                "{} has no clientId",
                describe(token)
            ))),
        },
        (TokenRef::Name(n), many) => Resolved::Problem(Reason::Unresolved(format!(
            "ambiguous: {} tokens named {n}; use guid",
            many.len()
        ))),
        (TokenRef::Guid(g), many) => Resolved::Problem(Reason::Unresolved(format!(
            "ambiguous: {} tokens with guid {g}",
            many.len()
        ))),
    }
}

/// The package workflow route verifies each run by reading the connection again.
impl workflow::Reader for AtlanClient {
    fn admin_users<'a>(
        &'a self,
        connection: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<String>>, PlatformError>> {
        // The consistent read (the entity store, by GUID), as for a direct write's
        // verification: a run's grant is never taken from a search index that may lag.
        Box::pin(async move {
            let guid = match self.known_guids().get(connection) {
                Some(guid) => guid.clone(),
                None => {
                    let found = self.search(&[connection.to_string()]).await?;
                    match found.get(connection) {
                        Some(Found::Active(list)) if list.len() == 1 => {
                            match list[0].guid.clone() {
                                Some(guid) => guid,
                                None => return Ok(None),
                            }
                        }
                        _ => return Ok(None),
                    }
                }
            };
            let stored = self.store_entities(std::slice::from_ref(&guid)).await?;
            let Some(entity) = stored.get(&guid) else {
                return Ok(None);
            };
            if entity.qualified_name() != Some(connection) || entity.archived() {
                return Ok(None);
            }
            match entity.admin_list(ADMIN_USERS) {
                Ok(users) => Ok(Some(users.into_items())),
                Err(e) => Err(self
                    .http
                    .unreadable(&e, STORE_READ)
                    .context(format_args!("connection {connection}"))),
            }
        })
    }
}

impl LiveTarget for AtlanClient {
    fn resolve<'a>(
        &'a self,
        resources: &'a [&'a Resource],
    ) -> BoxFuture<'a, Result<Vec<DesiredObject>, PlatformError>> {
        Box::pin(AtlanClient::resolve(self, resources))
    }

    /// Connections are never created, so no other name is noted.
    fn read_noting<'a>(
        &'a self,
        objects: &'a [DesiredObject],
        _note_others: bool,
    ) -> BoxFuture<'a, Result<Noted, PlatformError>> {
        Box::pin(async move { Ok((AtlanClient::read(self, objects).await?, Vec::new())) })
    }

    /// The applier's reads come from the entity store, not the search index.
    fn read<'a>(
        &'a self,
        objects: &'a [DesiredObject],
    ) -> BoxFuture<'a, Result<Vec<LiveState>, PlatformError>> {
        Box::pin(AtlanClient::read_consistent(self, objects))
    }

    fn write(&self, ops: Vec<WriteOp>) -> BoxFuture<'_, Vec<Result<WriteOutcome, PlatformError>>> {
        Box::pin(AtlanClient::write(self, ops))
    }

    fn export(&self) -> BoxFuture<'_, Result<Export, PlatformError>> {
        Box::pin(AtlanClient::export(self))
    }

    /// Atlan's bulk endpoint takes `WRITE_BATCH` connections per request, and the entity
    /// store's read `STORE_CHUNK` (a multiple of it): batches of whole store reads keep the
    /// applier's reads before and after the writes at one request per 100 connections each.
    fn objects_per_write(&self) -> usize {
        STORE_CHUNK
    }

    fn request_counts(&self) -> RequestCounts {
        self.http.request_counts()
    }
}
