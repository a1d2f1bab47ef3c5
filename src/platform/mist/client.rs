//! The Juniper Mist client (contracts/mist.md): org API tokens with their privileges and
//! source-IP limits.
//!
//! In the object model a privilege is its text form `role:scope[:id]` (`super::privilege`),
//! a source IP an address in its normal form or a CIDR as `network/prefix`. Tokens are read with one list per org and matched
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
//! first `GET`s the one token, then `PUT`s the name, the full privilege list (the privileges
//! of that fresh read as they are, plus the new ones) and that read's `src_ips` exactly as
//! the server wrote them: the spec says PUT replaces the token, so a body without `src_ips`
//! could clear them (and widen the token to any address). The applier's read-back then
//! checks that no value of any field was lost. `export` writes every token of the org back as a manifest spec; its key
//! cannot be read back, so the key sink is a placeholder the adopter sets.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::BoxFuture;
use futures::{StreamExt, stream};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::privilege::Privilege;
use super::spec::canonical_ip;
use super::{KIND, MAX_PRIVILEGES, MistTarget, OrgApiTokenSpec};
use crate::manifest::KeySinkSpec;
use crate::model::{
    Address, Adopt, CreateRule, DesiredField, DesiredObject, FieldPolicy, KnownList, LiveObject,
    LiveState, Reason, SmallMap, UnreadableField, Values, WriteOp, WriteOutcome,
};
use crate::platform::http::{
    ApiError, Auth, Http, Method, RateLimit, Request, Response, Transient, plain_text,
};
use crate::platform::listing::{Listing, Next, present};
use crate::platform::{
    ClientOptions, ErrorKind, Export, ExportedObject, LiveTarget, Noted, PlatformError,
    RequestCounts, Resource, ResourceSpec,
};
use crate::secret::Secret;

const PRIVILEGES: &str = "privileges";
const SRC_IPS: &str = "srcIps";
const LIST_ROUTE: &str = "/api/v1/orgs/{org_id}/apitokens";
const ITEM_ROUTE: &str = "/api/v1/orgs/{org_id}/apitokens/{apitoken_id}";
const SELF_ROUTE: &str = "/api/v1/self";

pub(super) struct MistClient {
    http: Http,
    org_id: String,
    /// What `GET /api/v1/self` said of the token in use, once per resolve.
    me: std::sync::Mutex<Me>,
}

/// What the token in use is, from `GET /api/v1/self`.
#[derive(Debug, Default, Clone)]
struct Me {
    /// Whether it may create and change tokens of the org; `None` until read, or when
    /// `/self` does not say.
    can_write: Option<bool>,
    /// The email of the person it belongs to (a user token); `None` for an org token, whose
    /// `/self` has no email, or when `/self` was not read.
    email: Option<String>,
}

impl std::fmt::Debug for MistClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MistClient")
            .field("http", &self.http)
            .field("org_id", &self.org_id)
            .finish_non_exhaustive()
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
    /// "email of the token creator / null if creator is deleted"; null too when an org token
    /// made it. Server text: escaped wherever it is shown.
    #[serde(default)]
    created_by: Option<Value>,
}

impl ApiToken {
    fn listing_id(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

/// The token's privileges as they are, each with a role and scope.
fn known_privileges(token: &ApiToken) -> Result<KnownList<Privilege>, UnreadableField> {
    KnownList::from_json("privileges", token.privileges.as_ref(), |v| {
        Privilege::from_wire(v.as_object()?)
    })
}

/// The token's source IPs exactly as the server wrote them (`None` when it lists none), to be
/// sent back unchanged: a PUT that replaces the token would otherwise clear them, and a
/// rewritten form (`/32` dropped) could read as a change of a field Mist keeps fixed.
fn src_ips_as_read(token: &ApiToken) -> Result<Option<Vec<String>>, UnreadableField> {
    match &token.src_ips {
        None | Some(Value::Null) => Ok(None),
        some => KnownList::strings("src_ips", some.as_ref()).map(|ips| {
            let ips = ips.into_items();
            (!ips.is_empty()).then_some(ips)
        }),
    }
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

/// Who made `token` outside warrant: its `created_by` email, when it names a person other than
/// `me` (the email of the user token in use; emails compare case-insensitively). warrant keeps
/// no state, so this is read from the token itself: an email means a person made it (in the
/// UI, or with their user token); that person's own token made it when the email is `me`. A
/// null or missing `created_by` (made by an org token, or its creator deleted) cannot be told
/// apart from warrant's own creates, so it is never called an adoption.
fn made_outside_by(token: &ApiToken, me: Option<&str>) -> Option<String> {
    let by = token.created_by.as_ref()?.as_str()?.trim();
    if by.is_empty() || me.is_some_and(|me| me.eq_ignore_ascii_case(by)) {
        return None;
    }
    Some(by.to_string())
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
    /// A client of the org of `settings` at `base` (the base URL its settings or an
    /// `--endpoint` imply).
    pub(super) fn new(
        target: &str,
        settings: &MistTarget,
        base: &str,
        api_token: Secret,
        options: &ClientOptions,
    ) -> Result<MistClient, PlatformError> {
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
            me: std::sync::Mutex::new(Me::default()),
        })
    }

    fn list_path(&self) -> String {
        format!("/api/v1/orgs/{}/apitokens", self.org_id)
    }

    fn item_path(&self, id: &str) -> String {
        format!("/api/v1/orgs/{}/apitokens/{id}", self.org_id)
    }

    // ---------------------------------------------------------------- resolve

    /// Whether the token in use may write the org's tokens, from its own privileges
    /// (`GET /api/v1/self`, contracts/mist.md §4): Mist asks `write` or `admin` for POST, PUT
    /// and DELETE, and an org token's privileges on this org are its `scope: org` entries
    /// (their `org_id`, when given, this org), or an MSP-wide one. `None` when `/self` lists
    /// no readable privileges: nothing is predicted and the server decides at apply. The
    /// same answer gives the email of a user token's owner (an org token has none), which
    /// tells a token this credential made from one made outside warrant.
    async fn read_self(&self) -> Result<Me, PlatformError> {
        let me: Value = match self
            .http
            .call(&Request::get(SELF_ROUTE, SELF_ROUTE.to_string()))
            .await
        {
            Ok(response) => response.json()?,
            Err(e) if matches!(e.status, Some(403 | 404)) => return Ok(Me::default()),
            Err(e) => return Err(e.context("reading the token's own privileges")),
        };
        let email = me
            .get("email")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_string);
        let Some(privileges) = me.get("privileges").and_then(Value::as_array) else {
            return Ok(Me {
                can_write: None,
                email,
            });
        };
        let this_org = |p: &Value| {
            p.get("org_id")
                .and_then(Value::as_str)
                .is_none_or(|o| o.eq_ignore_ascii_case(&self.org_id))
        };
        // Only a certain "no" is predicted: an MSP-wide write or admin privilege (a user token
        // of an MSP admin) may cover the org, so it counts as one that can write.
        let can_write = Some(privileges.iter().any(|p| {
            let text = |k: &str| p.get(k).and_then(Value::as_str);
            matches!(text("role"), Some("admin" | "write"))
                && match text("scope") {
                    Some("org") => this_org(p),
                    Some("msp") => true,
                    _ => false,
                }
        }));
        // A plan that reads with a Target's separate read token learns nothing of the write
        // token's privileges from it (see `ClientOptions::predicts_writes`).
        let can_write = can_write.filter(|_| self.http.options().predicts_writes);
        Ok(Me { can_write, email })
    }

    /// Privileges and addresses are canonicalized locally; the one request is `/self`, to
    /// predict whether Mist will let the token write (a read-only token's creates are
    /// conflicts here, its updates in the read).
    async fn resolve(&self, resources: &[&Resource]) -> Result<Vec<DesiredObject>, PlatformError> {
        let me = self.read_self().await?;
        let create = match me.can_write {
            Some(false) => CreateRule::Never(Reason::TokenReadOnly { verb: "create" }),
            _ => CreateRule::Allowed,
        };
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
                let privileges: Values = spec
                    .privileges
                    .iter()
                    .map(|p| Privilege::from_spec(p).to_string())
                    .collect();
                let mut src_ips = Values::new();
                for ip in &spec.src_ips {
                    match canonical_ip(ip) {
                        Some(c) => {
                            src_ips.insert(c);
                        }
                        None => problems.push(Reason::Unresolved(format!(
                            "srcIps: {ip:?} is not an address or CIDR"
                        ))),
                    }
                }
                let key_sink = spec.key_sink.sink();
                if key_sink.is_none() {
                    problems.push(Reason::Unresolved(
                        "keySink must name exactly one of file and command".into(),
                    ));
                }
                Ok(DesiredObject {
                    address: Address {
                        kind: KIND,
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
                    create: create.clone(),
                    labels: SmallMap::new(),
                    problems,
                    key_sink,
                    route: None,
                    adopt: spec.adopt,
                })
            })
            .collect::<Result<Vec<_>, PlatformError>>()
            .inspect(|_| {
                if let Ok(mut known) = self.me.lock() {
                    *known = me;
                }
            })
    }

    // ---------------------------------------------------------------- read

    /// The live state of these tokens, and with `note_others` the names of the other live
    /// tokens (for the planner's look-alike warnings; only their names are kept, never the
    /// objects).
    async fn read_tokens(
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
                .map(ToString::to_string)
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
        let me = self.me.lock().map(|m| m.clone()).unwrap_or_default();
        Ok(LiveState::Present {
            object: LiveObject {
                made_outside_by: made_outside_by(token, me.email.as_deref()),
                id,
                fields: SmallMap::from([
                    (PRIVILEGES.to_string(), privileges),
                    (SRC_IPS.to_string(), src_ips),
                ]),
                labels: SmallMap::new(),
                write_denied: match me.can_write {
                    Some(false) => Some(Reason::TokenReadOnly { verb: "change" }),
                    _ => None,
                },
                extra: SmallMap::new(),
            },
        })
    }

    // ---------------------------------------------------------------- export

    /// Every org API token as an `OrgApiToken` spec with its privileges and source IPs. The key
    /// of an existing token cannot be read back; the sink only matters if the token is ever
    /// created again, so it is a placeholder. Tokens whose name is shared or missing, or with
    /// no privilege a manifest can express, are left out with a note.
    async fn export(&self) -> Result<Export, PlatformError> {
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
            for privilege in &raw_privileges {
                match privilege.to_spec() {
                    Some(p) => {
                        privileges.insert(p);
                    }
                    None => comments.push(format!(
                        "privilege {} cannot be written in a manifest; it stays live and plan reports it as drift",
                        Value::Object(privilege.to_wire())
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
                    adopt: Adopt::Always,
                }),
                comments,
            });
        }
        Ok(export)
    }

    // ---------------------------------------------------------------- write

    async fn write(&self, ops: Vec<WriteOp>) -> Vec<Result<WriteOutcome, PlatformError>> {
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
                            additions,
                        } => self.update(&address, &live, &additions).await,
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
            .map(|p| Privilege::parse(p).map(|p| Value::Object(p.to_wire())))
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
    /// to one round trip: each attempt first reads this token alone and sends its privileges
    /// as they are at that moment (every attribute, such as `views`, kept) plus the additions
    /// ([`KnownList::union`]), never privileges the batch read saw but which are gone now. A fresh read
    /// whose privileges are missing, null or malformed fails the update: writing the additions
    /// alone would replace what is live. `src_ips` is sent as that fresh read shows it, unchanged,
    /// so a PUT that replaces the token keeps them; `name`, the schema's one required field,
    /// is sent as it is. The answer is not read: the
    /// applier confirms the write with a read.
    async fn update(
        &self,
        address: &Address,
        live: &LiveObject,
        additions: &SmallMap<Values>,
    ) -> Result<WriteOutcome, PlatformError> {
        let Some(additions) = additions.get(PRIVILEGES) else {
            return Err(self.http.error(
                ErrorKind::Other,
                format!("{address}: only privileges can change after creation"),
            ));
        };
        let additions: Vec<Privilege> = additions
            .iter()
            .map(|p| {
                Privilege::parse(p).ok_or_else(|| {
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
            let token = self.get(&live.id).await.map_err(context)?;
            let unreadable = |e: UnreadableField| {
                context(self.http.unreadable(&e, &format!("GET {ITEM_ROUTE}")))
            };
            let fresh = known_privileges(&token).map_err(unreadable)?;
            let src_ips = src_ips_as_read(&token).map_err(unreadable)?;
            let privileges: Vec<Value> = fresh
                .union(additions.iter().cloned())
                .iter()
                .map(|p| Value::Object(p.to_wire()))
                .collect();
            let mut body = json!({
                "name": address.remote_key,
                "privileges": privileges,
            });
            if let Some(ips) = src_ips {
                body["src_ips"] = json!(ips);
            }
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
        runs: Vec::new(),
    })
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

impl LiveTarget for MistClient {
    fn resolve<'a>(
        &'a self,
        resources: &'a [&'a Resource],
    ) -> BoxFuture<'a, Result<Vec<DesiredObject>, PlatformError>> {
        Box::pin(MistClient::resolve(self, resources))
    }

    fn read_noting<'a>(
        &'a self,
        objects: &'a [DesiredObject],
        note_others: bool,
    ) -> BoxFuture<'a, Result<Noted, PlatformError>> {
        Box::pin(self.read_tokens(objects, note_others))
    }

    fn write(&self, ops: Vec<WriteOp>) -> BoxFuture<'_, Vec<Result<WriteOutcome, PlatformError>>> {
        Box::pin(MistClient::write(self, ops))
    }

    fn export(&self) -> BoxFuture<'_, Result<Export, PlatformError>> {
        Box::pin(MistClient::export(self))
    }

    fn request_counts(&self) -> RequestCounts {
        self.http.request_counts()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_put_keeps_the_fresh_privileges_as_they_are_and_adds_only_what_is_missing() {
        let fresh = vec![
            json!({"role": "read", "scope": "org", "views": ["reporting"]}),
            json!({"role": "write", "scope": "site", "site_id": "S1"}),
        ];
        let additions = ["write:site:s1", "admin:org"].map(|p| Privilege::parse(p).unwrap());
        let token: ApiToken =
            serde_json::from_value(json!({"id": "t", "privileges": fresh.clone()})).unwrap();
        let sent: Vec<Value> = known_privileges(&token)
            .unwrap()
            .union(additions)
            .iter()
            .map(|p| Value::Object(p.to_wire()))
            .collect();
        assert_eq!(sent.len(), 3);
        assert_eq!(sent[..2], fresh[..]);
        assert_eq!(sent[2], json!({"role": "admin", "scope": "org"}));
    }

    #[test]
    fn only_a_creator_email_other_than_the_credential_s_is_made_outside() {
        let token = |by: Value| -> ApiToken {
            serde_json::from_value(json!({"id": "t", "created_by": by})).unwrap()
        };
        let ui = token(json!("netops@acme.example"));
        assert_eq!(
            made_outside_by(&ui, None).as_deref(),
            Some("netops@acme.example")
        );
        assert_eq!(
            made_outside_by(&ui, Some("jane@acme.example")).as_deref(),
            Some("netops@acme.example")
        );
        assert_eq!(made_outside_by(&ui, Some("NetOps@ACME.example")), None);
        for unknown in [json!(null), json!(""), json!(42)] {
            assert_eq!(made_outside_by(&token(unknown), None), None);
        }
        let missing: ApiToken = serde_json::from_value(json!({"id": "t"})).unwrap();
        assert_eq!(made_outside_by(&missing, None), None);
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
