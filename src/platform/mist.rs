//! Client for Juniper Mist (contracts/mist.md): org API tokens with their privileges and
//! source-IP limits.
//!
//! Values are canonical strings: a privilege is `role:scope` or `role:scope:<site or
//! sitegroup id>` (e.g. `read:org`, `write:site:d96e…`); a source IP is an address in its
//! normal form or a CIDR as `network/prefix`. Tokens are read with one list per org and matched
//! by name. The list is one array; when the server pages it with `X-Page-*` headers, it is
//! complete only when it reached the stated `X-Page-Total` (`super::listing`). A token whose
//! `privileges` is missing, null or malformed is unreadable, never empty; a missing or null
//! `src_ips` means none (the field is never written after creation, and Mist leaves it out
//! when a token has none).
//!
//! A token name is not unique in Mist, so before the creates of a batch the list is read once
//! more, and a create is refused when a token of that name appeared since the plan. A create
//! (`POST`) returns the token's key once: it becomes a [`Secret`] in the write outcome and
//! goes only to the manifest's key sink; the applier then reads the token back. An update
//! first `GET`s the one token, then `PUT`s the name and the full privilege list (the privilege
//! objects of that fresh read as they are, plus the new ones); `src_ips` is fixed at creation
//! and never sent. `export` writes every token of the org back as a manifest spec; its key
//! cannot be read back, so the key sink is a placeholder the adopter sets.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use futures::{StreamExt, stream};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::manifest::{
    KeySinkSpec, MistRole, MistScope, MistTarget, OrgApiTokenSpec, PrivilegeSpec, Resource,
    ResourceSpec,
};
use crate::model::{
    Address, CreateRule, DesiredField, DesiredObject, FieldPolicy, Kind, KnownList, LiveObject,
    LiveState, SmallMap, UnreadableField, Values, WriteOp, WriteOutcome,
};
use crate::platform::http::{
    ApiError, Auth, Http, Method, RateLimit, Request, Response, Transient, plain_text,
};
use crate::platform::listing::{Listing, Next, present};
use crate::platform::{
    ClientOptions, ErrorKind, Export, ExportedObject, PlatformError, RequestCounts,
};
use crate::secret::Secret;

const PRIVILEGES: &str = "privileges";
const SRC_IPS: &str = "srcIps";
/// Mist allows at most 10 privileges per token.
const MAX_PRIVILEGES: usize = 10;
const LIST_ROUTE: &str = "/api/v1/orgs/{org_id}/apitokens";
const ITEM_ROUTE: &str = "/api/v1/orgs/{org_id}/apitokens/{apitoken_id}";

pub struct MistClient {
    http: Http,
    org_id: String,
}

impl std::fmt::Debug for MistClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MistClient")
            .field("http", &self.http)
            .field("org_id", &self.org_id)
            .finish()
    }
}

/// An org API token as listed (the key masked) or created (the full key, once). The lists
/// stay raw JSON until [`known_privileges`] and [`known_src_ips`] check them, so one
/// malformed token makes that token unreadable instead of failing the whole list. It is
/// serialized only into the hash a listing keeps of each item, never with its key.
#[derive(Deserialize, Serialize)]
struct ApiToken {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default, skip_serializing)]
    key: Option<String>,
    #[serde(default, deserialize_with = "present")]
    privileges: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    src_ips: Option<Value>,
}

impl ApiToken {
    fn listing_id(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

/// The token's privilege objects as they are, each with a role and scope.
fn known_privileges(token: &ApiToken) -> Result<KnownList<Map<String, Value>>, UnreadableField> {
    KnownList::from_json("privileges", token.privileges.as_ref(), |v| {
        v.as_object()
            .filter(|p| live_privilege(p).is_some())
            .cloned()
    })
}

/// The token's source IPs. Missing or null means none: Mist leaves the field out when a token
/// has none, and it is never written after creation, so no write can drop what it hides.
fn known_src_ips(token: &ApiToken) -> Result<Values, UnreadableField> {
    match &token.src_ips {
        None | Some(Value::Null) => Ok(Values::new()),
        some => KnownList::strings("src_ips", some.as_ref()).map(|ips| {
            ips.items()
                .iter()
                .map(|ip| canonical_ip(ip).unwrap_or_else(|| ip.clone()))
                .collect()
        }),
    }
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiToken")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Mist error bodies are `{"detail": "…"}` (DRF); anything else is kept as text.
fn parse_error(_status: u16, body: &[u8]) -> ApiError {
    if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) {
        return ApiError {
            code: None,
            message: map
                .get("detail")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| plain_text(body)),
        };
    }
    ApiError {
        code: None,
        message: plain_text(body),
    }
}

impl MistClient {
    pub fn new(
        target: &str,
        settings: &MistTarget,
        base_url: Option<&str>,
        api_token: Secret,
        options: &ClientOptions,
    ) -> Result<MistClient, PlatformError> {
        let base = base_url
            .or(settings.base_url.as_deref())
            .or_else(|| settings.cloud.as_deref().and_then(cloud_base_url))
            .ok_or_else(|| {
                PlatformError::new(
                    target,
                    ErrorKind::Other,
                    format!(
                        "no base URL: cloud {:?} is not a known Mist cloud and no baseUrl is set",
                        settings.cloud.as_deref().unwrap_or("")
                    ),
                )
            })?;
        let auth = Auth::Header(Secret::new(format!("Token {}", api_token.expose())));
        let http = Http::new(
            target,
            base,
            auth,
            Some(RateLimit::per_hour(settings.requests_per_hour)),
            options,
            parse_error,
        )?;
        Ok(MistClient {
            http,
            org_id: settings.org_id.clone(),
        })
    }

    pub fn request_counts(&self) -> RequestCounts {
        self.http.request_counts()
    }

    fn list_path(&self) -> String {
        format!("/api/v1/orgs/{}/apitokens", self.org_id)
    }

    fn item_path(&self, id: &str) -> String {
        format!("/api/v1/orgs/{}/apitokens/{id}", self.org_id)
    }

    // ---------------------------------------------------------------- resolve

    /// Nothing to look up: privileges and addresses are canonicalized locally.
    pub async fn resolve(
        &self,
        resources: &[&Resource],
    ) -> Result<Vec<DesiredObject>, PlatformError> {
        resources
            .iter()
            .map(|r| {
                let ResourceSpec::OrgApiToken(spec) = &r.spec else {
                    return Err(self.http.error(
                        ErrorKind::Other,
                        format!("{} is not an OrgApiToken document", r.name),
                    ));
                };
                let mut problems = Vec::new();
                let privileges: Values = spec.privileges.iter().map(canonical_privilege).collect();
                let mut src_ips = Values::new();
                for ip in &spec.src_ips {
                    match canonical_ip(ip) {
                        Some(c) => {
                            src_ips.insert(c);
                        }
                        None => problems.push(format!("srcIps: {ip:?} is not an address or CIDR")),
                    }
                }
                let key_sink = spec.key_sink.sink();
                if key_sink.is_none() {
                    problems.push("keySink must name exactly one of file and command".into());
                }
                Ok(DesiredObject {
                    address: Address {
                        kind: Kind::OrgApiToken,
                        name: r.name.clone(),
                        target: self.http.target().to_string(),
                        remote_key: spec.name.clone().unwrap_or_else(|| r.name.clone()),
                    },
                    fields: SmallMap::from([
                        (
                            PRIVILEGES.to_string(),
                            DesiredField {
                                policy: FieldPolicy::Append,
                                values: privileges,
                                max_items: Some(MAX_PRIVILEGES),
                            },
                        ),
                        (
                            SRC_IPS.to_string(),
                            DesiredField {
                                policy: FieldPolicy::Immutable,
                                values: src_ips,
                                max_items: None,
                            },
                        ),
                    ]),
                    create: CreateRule::Allowed,
                    labels: SmallMap::new(),
                    problems,
                    key_sink,
                })
            })
            .collect()
    }

    // ---------------------------------------------------------------- read

    pub async fn read(&self, objects: &[DesiredObject]) -> Result<Vec<LiveState>, PlatformError> {
        Ok(self.read_noting(objects, false).await?.0)
    }

    /// [`read`](Self::read), and the names of the other live tokens (for the planner's
    /// look-alike warnings). Only the names of those are kept, never the objects.
    pub async fn read_noting_others(
        &self,
        objects: &[DesiredObject],
    ) -> Result<(Vec<LiveState>, Vec<String>), PlatformError> {
        self.read_noting(objects, true).await
    }

    async fn read_noting(
        &self,
        objects: &[DesiredObject],
        note_others: bool,
    ) -> Result<(Vec<LiveState>, Vec<String>), PlatformError> {
        let wanted: BTreeSet<&str> = objects
            .iter()
            .map(|o| o.address.remote_key.as_str())
            .collect();
        let others = std::sync::Mutex::new(BTreeSet::new());
        let tokens = self
            .list(|t| match t.name.as_deref() {
                Some(n) if wanted.contains(n) => true,
                Some(n) => {
                    if note_others && let Ok(mut others) = others.lock() {
                        others.insert(n.to_string());
                    }
                    false
                }
                None => false,
            })
            .await?;
        let others: Vec<String> = others
            .into_inner()
            .map(|o| o.into_iter().collect())
            .unwrap_or_default();
        let mut by_name: BTreeMap<&str, Vec<&ApiToken>> = BTreeMap::new();
        for t in &tokens {
            if let Some(n) = t.name.as_deref() {
                by_name.entry(n).or_default().push(t);
            }
        }
        objects
            .iter()
            .map(|o| {
                Ok(
                    match by_name
                        .get(o.address.remote_key.as_str())
                        .map(Vec::as_slice)
                    {
                        None | Some([]) => LiveState::Absent,
                        Some([one]) => self.live_state(one, &format!("GET {LIST_ROUTE}"))?,
                        Some(many) => LiveState::Ambiguous {
                            ids: many.iter().filter_map(|t| t.id.clone()).collect(),
                        },
                    },
                )
            })
            .collect::<Result<Vec<_>, PlatformError>>()
            .map(|states| (states, others))
    }

    /// The tokens of the org that `keep` wants. The list is one array; when the server pages
    /// it with `X-Page-Total/Limit/Page` headers, the following pages are requested until the
    /// stated total is proven reached. Every token is checked; only the kept ones are held.
    async fn list(&self, keep: impl Fn(&ApiToken) -> bool) -> Result<Vec<ApiToken>, PlatformError> {
        let mut listing = Listing::new(&self.http, format!("GET {LIST_ROUTE}"), None);
        let mut tokens = Vec::new();
        let mut request = Request::get(LIST_ROUTE, self.list_path());
        let mut limit = None;
        loop {
            let response = self.http.call(&request).await?;
            let page: Vec<ApiToken> = response.json()?;
            let claim = page_header(&response, "X-Page-Total")?;
            if claim.is_none() && listing.pages() == 0 {
                // Not paged: this one answer is the whole list.
                listing.record_whole(&page, ApiToken::listing_id)?;
                return Ok(page.into_iter().filter(&keep).collect());
            }
            if limit.is_none() {
                let stated = page_header(&response, "X-Page-Limit")?.filter(|l| *l > 0);
                if let Some(stated) = stated {
                    listing.set_page_size(stated);
                }
                limit = stated.or(Some(page.len().max(1) as u64));
            }
            let next = listing.record(claim, &page, ApiToken::listing_id)?;
            tokens.extend(page.into_iter().filter(&keep));
            if next == Next::Done {
                return Ok(tokens);
            }
            request = Request::get(LIST_ROUTE, self.list_path())
                .query("limit", limit.unwrap_or(1).to_string())
                .query("page", (listing.pages() + 1).to_string());
        }
    }

    async fn get(&self, id: &str) -> Result<ApiToken, PlatformError> {
        self.http
            .call(&Request::get(ITEM_ROUTE, self.item_path(id)))
            .await?
            .json()
    }

    /// The live state of one token read with `read_with`: present when its privileges and
    /// source IPs are known, unreadable (a conflict, never "empty") when they are not.
    fn live_state(&self, token: &ApiToken, read_with: &str) -> Result<LiveState, PlatformError> {
        let name = token.name.as_deref().unwrap_or("");
        let Some(id) = token.id.clone() else {
            return Err(self.http.error(
                ErrorKind::Malformed,
                format!("API token {name:?} has no id"),
            ));
        };
        let privileges = known_privileges(token).map(|p| {
            p.items()
                .iter()
                .filter_map(live_privilege)
                .collect::<Values>()
        });
        let src_ips = known_src_ips(token);
        let (privileges, src_ips) = match (privileges, src_ips) {
            (Ok(p), Ok(s)) => (p, s),
            (p, s) => {
                let reasons = [p.err(), s.err()]
                    .into_iter()
                    .flatten()
                    .map(|e| e.reason(read_with))
                    .collect();
                return Ok(LiveState::Unreadable { id, reasons });
            }
        };
        Ok(LiveState::Present {
            object: LiveObject {
                id,
                fields: SmallMap::from([
                    (PRIVILEGES.to_string(), privileges),
                    (SRC_IPS.to_string(), src_ips),
                ]),
                labels: SmallMap::new(),
                write_denied: None,
                extra: SmallMap::new(),
            },
        })
    }

    // ---------------------------------------------------------------- export

    /// Every org API token as an `OrgApiToken` spec with its privileges and source IPs. The key
    /// of an existing token cannot be read back; the sink only matters if the token is ever
    /// created again, so it is a placeholder. Tokens whose name is shared or missing, or with
    /// no privilege a manifest can express, are left out with a note.
    pub async fn export(&self) -> Result<Export, PlatformError> {
        let tokens = self.list(|_| true).await?;
        let mut by_name: BTreeMap<&str, Vec<&ApiToken>> = BTreeMap::new();
        let mut export = Export::default();
        for t in &tokens {
            match t.name.as_deref().filter(|n| !n.is_empty()) {
                Some(n) => by_name.entry(n).or_default().push(t),
                None => export.notes.push(format!(
                    "API token {} was left out: it has no name",
                    t.id.as_deref().unwrap_or("(no id)")
                )),
            }
        }
        for (name, found) in by_name {
            let [token] = found.as_slice() else {
                export.notes.push(format!(
                    "API token {name} was left out: {} tokens have this name",
                    found.len()
                ));
                continue;
            };
            let state = self.live_state(token, &format!("GET {LIST_ROUTE}"))?;
            let Some(live) = export.present(state, &format!("API token {name}")) else {
                continue;
            };
            let Ok(raw_privileges) = known_privileges(token).map(KnownList::into_items) else {
                continue;
            };
            let mut privileges = BTreeSet::new();
            let mut comments = vec![
                "the key of an existing token cannot be read back: keySink is only used if this token is ever created again; set it before applying".to_string(),
            ];
            for raw in &raw_privileges {
                match privilege_spec(raw) {
                    Some(p) => {
                        privileges.insert(p);
                    }
                    None => comments.push(format!(
                        "privilege {} cannot be written in a manifest; it stays live and plan reports it as drift",
                        Value::Object(raw.clone())
                    )),
                }
            }
            if privileges.is_empty() {
                export.notes.push(format!(
                    "API token {name} was left out: none of its privileges can be written in a manifest"
                ));
                continue;
            }
            export.objects.push(ExportedObject {
                remote_name: name.to_string(),
                id: live.id.clone(),
                spec: ResourceSpec::OrgApiToken(OrgApiTokenSpec {
                    target: self.http.target().to_string(),
                    name: None,
                    privileges: privileges.into_iter().collect(),
                    src_ips: live.fields[SRC_IPS].iter().cloned().collect(),
                    key_sink: KeySinkSpec::file(format!("CHANGE-ME/{name}.key")),
                }),
                comments,
            });
        }
        Ok(export)
    }

    // ---------------------------------------------------------------- write

    pub async fn write(&self, ops: Vec<WriteOp>) -> Vec<Result<WriteOutcome, PlatformError>> {
        let taken = match self.names_taken(&ops).await {
            Ok(taken) => taken,
            Err(e) => {
                let e = e.context(
                    "not created: the token list could not be read again right before creating",
                );
                return ops
                    .iter()
                    .map(|op| match op {
                        WriteOp::Create { .. } => Err(e.clone()),
                        WriteOp::Update { .. } => Err(self.http.error(
                            ErrorKind::Other,
                            "not attempted: the token list read before this batch's creates failed",
                        )),
                    })
                    .collect();
            }
        };
        stream::iter(ops)
            .map(|op| {
                let taken = &taken;
                async move {
                    match op {
                        WriteOp::Create { desired, fields } => {
                            let name = &desired.address.remote_key;
                            match taken.get(name.as_str()) {
                                Some(ids) => Err(self
                                    .http
                                    .error(
                                        ErrorKind::Rejected,
                                        format!(
                                            "not created: an API token named {name} appeared since the plan (id {}); Mist does not keep names unique, so creating it would make a duplicate",
                                            ids.join(", ")
                                        ),
                                    )
                                    .with_hint("run plan again to see the token that exists now")),
                                None => self.create(name, &fields).await,
                            }
                        }
                        WriteOp::Update {
                            address,
                            live,
                            fields,
                        } => self.update(&address, &live, &fields).await,
                    }
                }
            })
            .buffered(self.http.options().parallelism.max(1))
            .collect()
            .await
    }

    /// The ids of live tokens already named like the tokens `ops` create, read with one more
    /// list right before the creates (no request when nothing is created). The applier's
    /// read can be a whole batch old by then; this keeps the window in which a concurrent
    /// apply or a human creates the same name to one round trip.
    async fn names_taken(
        &self,
        ops: &[WriteOp],
    ) -> Result<BTreeMap<String, Vec<String>>, PlatformError> {
        let creating: BTreeSet<&str> = ops
            .iter()
            .filter_map(|op| match op {
                WriteOp::Create { desired, .. } => Some(desired.address.remote_key.as_str()),
                WriteOp::Update { .. } => None,
            })
            .collect();
        if creating.is_empty() {
            return Ok(BTreeMap::new());
        }
        let mut taken: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let named = |t: &ApiToken| t.name.as_deref().is_some_and(|n| creating.contains(n));
        for t in self.list(named).await? {
            if let Some(name) = t.name {
                taken
                    .entry(name)
                    .or_default()
                    .push(t.id.unwrap_or_else(|| "unknown".into()));
            }
        }
        Ok(taken)
    }

    /// Creates a token and returns its key as a secret. A create is never re-sent blindly:
    /// after an unclear failure the list is read again, and if the token exists its key is
    /// lost (Mist shows it only once), which is reported so a human can replace the token.
    async fn create(
        &self,
        name: &str,
        fields: &SmallMap<Values>,
    ) -> Result<WriteOutcome, PlatformError> {
        let privileges: Vec<Value> = fields
            .get(PRIVILEGES)
            .into_iter()
            .flatten()
            .map(|p| privilege_object(p).map(Value::Object))
            .collect::<Option<_>>()
            .ok_or_else(|| self.http.error(ErrorKind::Other, "invalid privilege value"))?;
        let mut body = json!({ "name": name, "privileges": privileges });
        if let Some(ips) = fields.get(SRC_IPS).filter(|ips| !ips.is_empty()) {
            body["src_ips"] = json!(ips);
        }
        let request = Request::new(Method::POST, LIST_ROUTE, self.list_path()).json(body);
        let mut backoff = self.http.backoff();
        loop {
            let failure = match self.http.send(&request).await {
                Ok(response) => return created(name, &response),
                Err(f) => f,
            };
            let maybe_applied = failure.maybe_applied();
            backoff.wait(failure).await?;
            if maybe_applied {
                let existing: Vec<String> = self
                    .list(|t| t.name.as_deref() == Some(name))
                    .await?
                    .into_iter()
                    .filter_map(|t| t.id)
                    .collect();
                if !existing.is_empty() {
                    return Err(self
                        .http
                        .error(
                            ErrorKind::Other,
                            format!(
                                "API token {name} was created (id {}) but the response was lost, so its key is unknown",
                                existing.join(", ")
                            ),
                        )
                        .with_hint(format!(
                            "delete token {name} in Mist and apply again to get a new key"
                        )));
                }
            }
        }
    }

    /// Adds privileges with `PUT`. Mist has no conditional write and replaces the privilege
    /// list it is sent, so the window in which a concurrent change can be overwritten is kept
    /// to one round trip: each attempt first reads this token alone and sends its privilege
    /// objects as they are at that moment (every attribute, such as `views`, kept) plus the
    /// additions, never privileges the batch read saw but which are gone now. A fresh read
    /// whose privileges are missing, null or malformed fails the update: writing the additions
    /// alone would replace what is live. `src_ips` is not sent (absent keys are kept);
    /// `name`, the schema's one required field, is sent as it is. The answer is not read: the
    /// applier confirms the write with a read.
    async fn update(
        &self,
        address: &Address,
        live: &LiveObject,
        fields: &SmallMap<Values>,
    ) -> Result<WriteOutcome, PlatformError> {
        let Some(wanted) = fields.get(PRIVILEGES) else {
            return Err(self.http.error(
                ErrorKind::Other,
                format!("{address}: only privileges can change after creation"),
            ));
        };
        let had = live.fields.get(PRIVILEGES);
        let additions: Vec<Map<String, Value>> = wanted
            .iter()
            .filter(|p| !had.is_some_and(|h| h.contains(p)))
            .map(|p| {
                privilege_object(p).ok_or_else(|| {
                    self.http
                        .error(ErrorKind::Other, format!("invalid privilege value {p:?}"))
                })
            })
            .collect::<Result<_, _>>()?;
        if additions.is_empty() {
            return Ok(WriteOutcome::already_there());
        }
        let context = |error: PlatformError| {
            error.context(format_args!("updating API token {}", address.remote_key))
        };
        let mut backoff = self.http.backoff();
        loop {
            let fresh = self.get(&live.id).await.map_err(context)?;
            let fresh = known_privileges(&fresh)
                .map_err(|e| context(self.http.unreadable(&e, &format!("GET {ITEM_ROUTE}"))))?;
            let body = json!({
                "name": address.remote_key,
                "privileges": with_additions(fresh, &additions),
            });
            let request =
                Request::new(Method::PUT, ITEM_ROUTE, self.item_path(&live.id)).json(body);
            let failure = match self.http.send(&request).await {
                Ok(_) => return Ok(WriteOutcome::already_there()),
                Err(f) => f,
            };
            if failure.transient == Transient::No {
                let mut error = context(failure.error);
                if error.status == Some(403) {
                    error.hint = Some(
                        "the org token warrant uses needs the write or admin role on the org"
                            .into(),
                    );
                }
                return Err(error);
            }
            backoff.wait(failure).await.map_err(context)?;
        }
    }
}

/// The outcome of a create: the new token's id, and its key as a secret for the sink. Nothing
/// else of the answer is trusted; the applier reads the token back.
fn created(name: &str, response: &Response) -> Result<WriteOutcome, PlatformError> {
    let token: ApiToken = response.json()?;
    let (Some(id), Some(key)) = (token.id, token.key) else {
        return Err(response.malformed(format!(
            "the created token {name} has no id or key; if it exists, delete it in Mist and apply again"
        )));
    };
    Ok(WriteOutcome {
        created_id: Some(id),
        // Masked from now on: an error or log line quoting a response must not show it.
        secret: Some(Secret::in_use(key)),
    })
}

/// The privilege list of a `PUT`: the fresh privilege objects unchanged, then each addition
/// not already among them.
fn with_additions(
    fresh: KnownList<Map<String, Value>>,
    additions: &[Map<String, Value>],
) -> Vec<Map<String, Value>> {
    let fresh = fresh.into_items();
    let present: Values = fresh.iter().filter_map(live_privilege).collect();
    let mut out = fresh;
    out.extend(
        additions
            .iter()
            .filter(|a| live_privilege(a).is_none_or(|c| !present.contains(&c)))
            .cloned(),
    );
    out
}

/// A numeric `X-Page-*` header, when the response has it.
fn page_header(response: &Response, name: &str) -> Result<Option<u64>, PlatformError> {
    match response.header(name) {
        None => Ok(None),
        Some(text) => text
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| response.malformed(format!("{name} is not a number"))),
    }
}

/// `role:scope[:id]` of a manifest privilege.
pub fn canonical_privilege(p: &PrivilegeSpec) -> String {
    let word = |v: Value| v.as_str().unwrap_or_default().to_string();
    let role = word(json!(p.role));
    let scope = word(json!(p.scope));
    match p.site_id.as_ref().or(p.sitegroup_id.as_ref()) {
        Some(id) => format!("{role}:{scope}:{}", id.to_ascii_lowercase()),
        None => format!("{role}:{scope}"),
    }
}

/// `role:scope[:id]` of a live privilege object; `None` without role or scope.
fn live_privilege(p: &Map<String, Value>) -> Option<String> {
    let text = |k: &str| p.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    let role = text("role")?;
    let scope = text("scope")?;
    let id = match scope {
        "site" => text("site_id"),
        "sitegroup" => text("sitegroup_id"),
        _ => None,
    };
    Some(match id {
        Some(id) => format!("{role}:{scope}:{}", id.to_ascii_lowercase()),
        None => format!("{role}:{scope}"),
    })
}

/// The manifest form of a live privilege object; `None` for a role or scope the manifest
/// format does not know, or a site/sitegroup scope without its id.
fn privilege_spec(p: &Map<String, Value>) -> Option<PrivilegeSpec> {
    let text = |k: &str| p.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    let role: MistRole = serde_json::from_value(json!(text("role")?)).ok()?;
    let scope: MistScope = serde_json::from_value(json!(text("scope")?)).ok()?;
    let (site_id, sitegroup_id) = match scope {
        MistScope::Site => (Some(text("site_id")?.to_string()), None),
        MistScope::Sitegroup => (None, Some(text("sitegroup_id")?.to_string())),
        MistScope::Org | MistScope::Orgsites => (None, None),
    };
    Some(PrivilegeSpec {
        role,
        scope,
        site_id,
        sitegroup_id,
    })
}

/// The wire object of a canonical privilege.
fn privilege_object(canonical: &str) -> Option<Map<String, Value>> {
    let mut parts = canonical.splitn(3, ':');
    let role = parts.next().filter(|s| !s.is_empty())?;
    let scope = parts.next().filter(|s| !s.is_empty())?;
    let mut object = Map::new();
    object.insert("role".into(), json!(role));
    object.insert("scope".into(), json!(scope));
    match (scope, parts.next()) {
        ("site", Some(id)) => {
            object.insert("site_id".into(), json!(id));
        }
        ("sitegroup", Some(id)) => {
            object.insert("sitegroup_id".into(), json!(id));
        }
        (_, None) => {}
        (_, Some(_)) => return None,
    }
    Some(object)
}

/// An address in its normal form, or a CIDR as `network/prefix`.
pub fn canonical_ip(text: &str) -> Option<String> {
    let text = text.trim();
    if let Ok(addr) = text.parse::<IpAddr>() {
        return Some(addr.to_string());
    }
    text.parse::<IpNet>().ok().map(|n| n.trunc().to_string())
}

/// Mist cloud names accepted by `Target.spec.mist.cloud`, with their API base URLs
/// (contracts/mist.md §4).
pub const CLOUDS: &[(&str, &str)] = &[
    ("global01", "https://api.mist.com"),
    ("global02", "https://api.gc1.mist.com"),
    ("global03", "https://api.ac2.mist.com"),
    ("global04", "https://api.gc2.mist.com"),
    ("global05", "https://api.gc4.mist.com"),
    ("emea01", "https://api.eu.mist.com"),
    ("emea02", "https://api.gc3.mist.com"),
    ("emea03", "https://api.ac6.mist.com"),
    ("emea04", "https://api.gc6.mist.com"),
    ("apac01", "https://api.ac5.mist.com"),
    ("apac02", "https://api.gc5.mist.com"),
    ("apac03", "https://api.gc7.mist.com"),
    ("govcloud", "https://api.us.mist-federal.com"),
];

/// The API base URL of a Mist cloud name.
pub fn cloud_base_url(cloud: &str) -> Option<&'static str> {
    CLOUDS.iter().find(|(n, _)| *n == cloud).map(|(_, u)| *u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_networks_are_canonical() {
        assert_eq!(canonical_ip("63.3.55.4").as_deref(), Some("63.3.55.4"));
        assert_eq!(
            canonical_ip("63.3.56.0/24").as_deref(),
            Some("63.3.56.0/24")
        );
        assert_eq!(canonical_ip("10.1.2.3/8").as_deref(), Some("10.0.0.0/8"));
        assert_eq!(
            canonical_ip("2001:0db8:0000::0001").as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(canonical_ip("not-an-ip"), None);
    }

    #[test]
    fn privileges_round_trip_between_canonical_and_wire_forms() {
        for c in [
            "read:org",
            "write:site:d96e3952",
            "read:sitegroup:581328b6",
            "installer:orgsites",
        ] {
            let object = privilege_object(c).expect("valid canonical value");
            assert_eq!(live_privilege(&object).as_deref(), Some(c));
        }
        assert_eq!(privilege_object("read"), None);
        assert_eq!(privilege_object("read:org:extra"), None);
    }

    #[test]
    fn a_put_keeps_the_fresh_privileges_as_they_are_and_adds_only_what_is_missing() {
        let object = |v: Value| v.as_object().cloned().unwrap();
        let fresh = vec![
            object(json!({"role": "read", "scope": "org", "views": ["reporting"]})),
            object(json!({"role": "write", "scope": "site", "site_id": "S1"})),
        ];
        let additions = vec![
            privilege_object("write:site:s1").unwrap(),
            privilege_object("admin:org").unwrap(),
        ];
        let token: ApiToken =
            serde_json::from_value(json!({"id": "t", "privileges": fresh.clone()})).unwrap();
        let sent = with_additions(known_privileges(&token).unwrap(), &additions);
        assert_eq!(sent.len(), 3);
        assert_eq!(sent[..2], fresh[..]);
        assert_eq!(live_privilege(&sent[2]).as_deref(), Some("admin:org"));
    }

    #[test]
    fn privileges_missing_null_or_malformed_are_unknown_and_absent_src_ips_are_none() {
        let parse = |v: Value| serde_json::from_value::<ApiToken>(v).unwrap();
        for (token, problem) in [
            (json!({"id": "t"}), "field privileges is missing"),
            (
                json!({"id": "t", "privileges": null}),
                "field privileges is null",
            ),
            (
                json!({"id": "t", "privileges": "admin"}),
                "is a string instead of a list",
            ),
            (
                json!({"id": "t", "privileges": [{"role": "admin"}]}),
                "unreadable element at position 0",
            ),
        ] {
            let error = known_privileges(&parse(token)).unwrap_err();
            assert!(error.to_string().contains(problem), "{error}");
        }
        let none = parse(json!({"id": "t", "privileges": [], "src_ips": null}));
        assert_eq!(known_src_ips(&none).unwrap(), Values::new());
        let wrong = parse(json!({"id": "t", "privileges": [], "src_ips": "10.0.0.1"}));
        assert!(known_src_ips(&wrong).is_err());
    }
}
