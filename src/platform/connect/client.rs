//! The AVEVA CONNECT client (contracts/connect.md): automation identities of a tenant, with
//! their roles and tags.
//!
//! Authentication is the OAuth2 client-credentials grant at `/identity/connect/token`
//! (cached and refreshed by the HTTP layer). Roles and identities are read by paging with
//! `count=1000`; there is no filter by name, so one listing serves every identity of a plan.
//! A listing is complete only when it reached the `Total-Count` the server states (on the
//! `GET`, or else from one `HEAD`); a page shorter than asked for, with more stated, is a
//! server-side cap and paging continues (`super::listing`). An identity whose `RoleIds` or
//! `Tags` is missing, null or not a list of strings is unreadable, never empty.
//! Role names in manifests are resolved to the tenant's role ids: built-in roles by their
//! `RoleTypeId` (their API names are not published), other roles by exact `Name`. Identities
//! are matched by name under the case rule of [`super::same_identity`], in the read and when
//! a create meets an identity that exists: a 409 adopts the one live identity of that name,
//! and is a conflict when there is none or several (docs/connect.md).
//! The role-subset rule is predicted: `resolve` reads the caller's own roles once
//! (`ClientCredentialClients/{clientId}/Roles`); for a caller that is not a Tenant
//! Administrator, a create assigning a role it lacks is never made, and an update of an
//! identity with a role it lacks is denied ([`Reason::RolesNotHeld`]). A 403 names the
//! `MissingRoleIds` it carries by role name.
//! Writes: `POST` creates (Name, RoleIds, Tags). `PUT` replaces each list it is sent and
//! keeps null ones, so an update first `GET`s the one identity and sends only the lists that
//! gain values, as that fresh read ∪ additions, and null for the rest.
//! `export` lists roles and identities and writes each identity's roles back as names that
//! `resolve` maps to exactly the same ids (or as `{id: …}` where no name does).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use futures::{StreamExt, stream};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use futures::future::BoxFuture;

use super::{AutomationIdentitySpec, ConnectTarget, KIND, RoleRef, same_identity};
use crate::model::{
    Address, CreateRule, DesiredField, DesiredObject, FieldPolicy, KnownList, LiveObject,
    LiveState, Reason, SmallMap, UnreadableField, Values, WriteOp, WriteOutcome,
};
use crate::platform::http::{ApiError, Auth, Http, Method, Request, Transient, plain_text};
use crate::platform::listing::{Listing, Next, present};
use crate::platform::{
    ClientOptions, ErrorKind, Export, ExportedObject, LiveTarget, Noted, PlatformError,
    RequestCounts, Resource, ResourceSpec,
};
use crate::secret::Secret;

/// Items per page (the largest page the AVEVA samples use, and the sandbox's cap).
const PAGE: usize = 1000;
const ROLE_IDS: &str = "roleIds";
const TAGS: &str = "tags";
/// The stated total of a listing (contracts/connect.md §3, §6).
const TOTAL_COUNT: &str = "Total-Count";
const IDENTITIES_ROUTE: &str = "/api/v1/Tenants/{tenantId}/AutomationIdentities";
const IDENTITY_ROUTE: &str = "/api/v1/Tenants/{tenantId}/AutomationIdentities/{id}";
/// The caller's own roles: a client credential client may read its own (contracts/connect.md
/// §3, "Roles of a client"; docs/connect.md).
const OWN_ROLES_ROUTE: &str = "/api/v1/Tenants/{tenantId}/ClientCredentialClients/{clientId}/Roles";
const TENANT_ADMINISTRATOR: &str = "2dc742ab-39ea-4fc0-a39e-2bcb71c26a5f";
/// How an error message lists the roles a 403 says are missing.
const MISSING_ROLES: &str = "Missing roles:";

/// Built-in roles and their role type ids (contracts/connect.md §4).
const BUILTIN_ROLES: &[(&str, &str)] = &[
    (
        "Tenant Administrator",
        "2dc742ab-39ea-4fc0-a39e-2bcb71c26a5f",
    ),
    ("Tenant Contributor", "f1439595-e5a2-487f-8a4f-0627fefe75df"),
    (
        "Tenant Data Steward",
        "45b66433-5f57-420b-bbdf-8bbd60c1cd9d",
    ),
    ("Tenant Member", "7ad2b9ef-5386-4ead-ac9f-ad99c5c5b977"),
    ("Tenant Viewer", "e6cbf91e-0be8-4858-92b5-f88ecafd5574"),
    (
        "Community Administrator",
        "b50b3349-fa9e-4a03-9220-cf99184b4645",
    ),
    (
        "Community Moderator",
        "f49f69a6-61b2-423e-8ad5-d58841be441c",
    ),
    ("Community Member", "f79a55da-7c76-4600-a809-0f62ca9971d9"),
];

pub(super) struct ConnectClient {
    http: Http,
    tenant_path: String,
    /// The client id warrant authenticates as: whose own roles [`Caller`] holds.
    client_id: String,
    /// Role id → name, from the last role listing, to label live role ids for free.
    role_names: Mutex<BTreeMap<String, String>>,
    /// The caller's own roles, read once by `resolve`; `None` until then, or when CONNECT
    /// would not show them (then nothing is predicted and the server decides at apply).
    caller: Mutex<Option<Caller>>,
}

/// What the role-subset rule needs to know of the caller (contracts/connect.md §7).
#[derive(Debug, Clone)]
struct Caller {
    /// Holds the Tenant Administrator role: the rule does not apply.
    admin: bool,
    /// The ids of its roles, in lowercase (GUIDs compare without case).
    held: BTreeSet<String>,
}

impl Caller {
    /// The roles of `needed` (ids) the caller would need and lacks; none for an admin.
    fn lacks<'a>(&self, needed: impl IntoIterator<Item = &'a String>) -> Vec<&'a String> {
        if self.admin {
            return Vec::new();
        }
        let mut seen = BTreeSet::new();
        needed
            .into_iter()
            .filter(|id| !self.held.contains(&id.to_lowercase()))
            .filter(|id| seen.insert(id.to_lowercase()))
            .collect()
    }
}

impl std::fmt::Debug for ConnectClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectClient")
            .field("http", &self.http)
            .field("tenant_path", &self.tenant_path)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Role {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    role_type_id: Option<String>,
}

/// An automation identity. Its lists stay raw JSON until [`known_lists`] checks them, so one
/// malformed identity makes that identity unreadable instead of failing the whole listing.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Identity {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    role_ids: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    tags: Option<Value>,
}

/// What a listing needs to know of an item.
trait Listed {
    fn id(&self) -> Option<&str>;
}

impl Listed for Role {
    fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

impl Listed for Identity {
    fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

/// The identity's role ids and tags, each known or unreadable.
fn known_lists(identity: &Identity) -> [(&'static str, Result<KnownList, UnreadableField>); 2] {
    [
        (
            ROLE_IDS,
            KnownList::strings("RoleIds", identity.role_ids.as_ref()),
        ),
        (TAGS, KnownList::strings("Tags", identity.tags.as_ref())),
    ]
}

/// CONNECT `ErrorResponse` (`OperationId`, `Error`, `Reason`, `Resolution`) or an OAuth
/// error (`error`, `error_description`); a 401 has no body.
fn parse_error(_status: u16, body: &[u8]) -> ApiError {
    if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) {
        let text = |k: &str| map.get(k).and_then(Value::as_str).map(str::to_string);
        if let Some(oauth) = text("error").filter(|_| !map.contains_key("OperationId")) {
            return ApiError {
                message: Some(text("error_description").unwrap_or_else(|| oauth.clone())),
                code: Some(oauth),
            };
        }
        let mut parts: Vec<String> = ["Error", "Reason", "Resolution"]
            .iter()
            .filter_map(|k| text(k))
            .filter(|s| !s.is_empty())
            .collect();
        // The role-subset rule's 403 names the roles the caller lacks; the client shows them
        // by name (`ConnectClient::name_roles`).
        let missing: Vec<&str> = map
            .get("DynamicProperties")
            .and_then(|d| d.get("MissingRoleIds"))
            .and_then(Value::as_array)
            .map(|ids| ids.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if !missing.is_empty() {
            parts.push(format!("{MISSING_ROLES} {}.", missing.join(", ")));
        }
        return ApiError {
            code: text("OperationId"),
            message: (!parts.is_empty()).then(|| parts.join(" ")),
        };
    }
    ApiError {
        code: None,
        message: plain_text(body),
    }
}

impl ConnectClient {
    pub(super) fn new(
        target: &str,
        settings: &ConnectTarget,
        base_url: Option<&str>,
        client_id: String,
        client_secret: Secret,
        options: &ClientOptions,
    ) -> Result<ConnectClient, PlatformError> {
        let own_id = client_id.clone();
        let auth = Auth::ClientCredentials {
            token_path: "/identity/connect/token".into(),
            client_id,
            client_secret,
        };
        let http = Http::new(
            target,
            base_url.unwrap_or(&settings.base_url),
            auth,
            None,
            options,
            parse_error,
        )?;
        Ok(ConnectClient {
            http,
            tenant_path: format!("/api/v1/Tenants/{}", settings.tenant_id),
            client_id: own_id,
            role_names: Mutex::new(BTreeMap::new()),
            caller: Mutex::new(None),
        })
    }

    /// The items of a collection that `keep` wants, paged with `skip`/`count` until the
    /// listing is proven complete against the `Total-Count` the server states
    /// (`super::listing`). Every item is checked; only the kept ones are held, so memory
    /// follows what the caller needs, not what the server sends.
    async fn list<T: DeserializeOwned + Serialize + Listed>(
        &self,
        route: &'static str,
        collection: &str,
        keep: impl Fn(&T) -> bool,
    ) -> Result<Vec<T>, PlatformError> {
        let path = format!("{}/{collection}", self.tenant_path);
        let mut listing = Listing::new(&self.http, format!("GET {route}"), Some(PAGE as u64));
        // The total from a HEAD, when the GET does not state one.
        let mut counted: Option<u64> = None;
        let mut all = Vec::new();
        loop {
            let request = Request::get(route, path.clone())
                .query("skip", listing.received().to_string())
                .query("count", PAGE.to_string());
            let response = self.http.call(&request).await?;
            let mut claim = total_count(&response)?;
            if claim.is_none() && listing.pages() == 0 {
                let head = Request::new(Method::HEAD, route, path.clone());
                counted = total_count(&self.http.call(&head).await?)?;
            }
            claim = claim.or(counted);
            let page: Vec<T> = response.json()?;
            let next = listing.record(claim, &page, T::id)?;
            all.extend(page.into_iter().filter(&keep));
            if next == Next::Done {
                return Ok(all);
            }
        }
    }

    async fn roles(&self) -> Result<Vec<Role>, PlatformError> {
        let roles: Vec<Role> = self
            .list("/api/v1/Tenants/{tenantId}/Roles", "Roles", |_| true)
            .await?;
        if let Ok(mut names) = self.role_names.lock() {
            *names = roles
                .iter()
                .filter_map(|r| Some((r.id.clone()?, r.name.clone()?)))
                .collect();
        }
        Ok(roles)
    }

    /// The identities `keep` wants, from a complete listing.
    async fn identities(
        &self,
        keep: impl Fn(&Identity) -> bool,
    ) -> Result<Vec<Identity>, PlatformError> {
        self.list(IDENTITIES_ROUTE, "AutomationIdentities", keep)
            .await
    }

    // ---------------------------------------------------------------- resolve

    /// The caller's own roles, read once per resolve; `None` when CONNECT refuses or does not
    /// know the read (403, 404): the rule is then left to the server.
    async fn own_roles(&self) -> Result<Option<Caller>, PlatformError> {
        if !self.http.options().predicts_writes {
            return Ok(None);
        }
        let collection = format!("ClientCredentialClients/{}/Roles", self.client_id);
        let roles: Vec<Role> = match self.list(OWN_ROLES_ROUTE, &collection, |_| true).await {
            Ok(roles) => roles,
            Err(e) if matches!(e.status, Some(403 | 404)) => return Ok(None),
            Err(e) => return Err(e.context("reading the caller's own roles")),
        };
        Ok(Some(Caller {
            admin: roles.iter().any(|r| {
                r.role_type_id
                    .as_deref()
                    .is_some_and(|t| t.eq_ignore_ascii_case(TENANT_ADMINISTRATOR))
            }),
            held: roles
                .iter()
                .filter_map(|r| r.id.as_deref().map(str::to_lowercase))
                .collect(),
        }))
    }

    /// The names of these role ids, for people (an id with no known name stays an id).
    fn role_labels(&self, ids: &[&String]) -> Vec<String> {
        let names = self
            .role_names
            .lock()
            .map(|n| n.clone())
            .unwrap_or_default();
        ids.iter()
            .map(|id| {
                names
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(id))
                    .map_or_else(|| id.to_string(), |(_, n)| format!("{n:?}"))
            })
            .collect()
    }

    /// `error` with the role ids of its "Missing roles:" list shown as `"Name" (id)`.
    fn name_roles(&self, mut error: PlatformError) -> PlatformError {
        let Some((head, tail)) = error.message.split_once(MISSING_ROLES) else {
            return error;
        };
        let ids: Vec<String> = tail
            .trim_end_matches('.')
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        let refs: Vec<&String> = ids.iter().collect();
        let named: Vec<String> = self
            .role_labels(&refs)
            .into_iter()
            .zip(&ids)
            .map(|(label, id)| {
                if &label == id {
                    label
                } else {
                    format!("{label} ({id})")
                }
            })
            .collect();
        error.message = format!("{head}{MISSING_ROLES} {}.", named.join(", "));
        error
    }

    async fn resolve(&self, resources: &[&Resource]) -> Result<Vec<DesiredObject>, PlatformError> {
        let (roles, caller) = futures::try_join!(self.roles(), self.own_roles())?;
        if let Ok(mut held) = self.caller.lock() {
            held.clone_from(&caller);
        }
        let mut out = Vec::with_capacity(resources.len());
        for r in resources {
            let ResourceSpec::AutomationIdentity(spec) = &r.spec else {
                return Err(self.http.error(
                    ErrorKind::Other,
                    format!("{} is not an AutomationIdentity document", r.name),
                ));
            };
            let mut role_ids = Values::new();
            let mut labels = BTreeMap::new();
            let mut problems = Vec::new();
            for role in &spec.roles {
                match resolve_role(role, &roles) {
                    Ok((id, label)) => {
                        role_ids.insert(id.clone());
                        labels.insert(id, label);
                    }
                    Err(p) => problems.push(Reason::Unresolved(p)),
                }
            }
            let field = |values: Values| DesiredField {
                policy: FieldPolicy::Append,
                values,
                max_items: None,
            };
            // A create needs the caller to hold every role it assigns (unless it is a Tenant
            // Administrator): predicted here, so the plan shows the conflict, not apply a 403.
            let lacking: Vec<&String> = caller
                .as_ref()
                .map(|c| c.lacks(role_ids.iter()))
                .unwrap_or_default();
            let create = if lacking.is_empty() {
                CreateRule::Allowed
            } else {
                CreateRule::Never(Reason::RolesNotHeld {
                    roles: lacking
                        .iter()
                        .map(|id| {
                            labels
                                .get(*id)
                                .map_or_else(|| id.to_string(), |l| format!("{l:?}"))
                        })
                        .collect(),
                })
            };
            out.push(DesiredObject {
                address: Address {
                    kind: KIND,
                    name: r.name.clone(),
                    target: self.http.target().to_string(),
                    remote_key: spec.name.clone().unwrap_or_else(|| r.name.clone()),
                },
                fields: SmallMap::from([
                    (ROLE_IDS.to_string(), field(role_ids)),
                    (TAGS.to_string(), field(spec.tags.iter().cloned().collect())),
                ]),
                create,
                labels: labels.into(),
                problems,
                key_sink: None,
                route: None,
                adopt: Default::default(),
            });
        }
        Ok(out)
    }

    // ---------------------------------------------------------------- read

    /// The live state of these identities, and with `note_others` the names of the other live
    /// identities (for the planner's look-alike warnings; only their names are kept, never
    /// the objects). A declared name finds the live identity whose name is the same under
    /// the case rule.
    async fn read_identities(
        &self,
        objects: &[DesiredObject],
        note_others: bool,
    ) -> Result<(Vec<LiveState>, Vec<String>), PlatformError> {
        let wanted: BTreeSet<String> = objects
            .iter()
            .map(|o| same_identity(&o.address.remote_key))
            .collect();
        let others = std::sync::Mutex::new(BTreeSet::new());
        let identities = self
            .identities(|i| match i.name.as_deref() {
                Some(n) if wanted.contains(&same_identity(n)) => true,
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
        let mut by_name: BTreeMap<String, Vec<&Identity>> = BTreeMap::new();
        for i in &identities {
            if let Some(n) = i.name.as_deref() {
                by_name.entry(same_identity(n)).or_default().push(i);
            }
        }
        objects
            .iter()
            .map(|o| {
                Ok(
                    match by_name
                        .get(&same_identity(&o.address.remote_key))
                        .map(Vec::as_slice)
                    {
                        None | Some([]) => LiveState::Absent,
                        Some([one]) => {
                            let mut state =
                                self.live_state(one, &format!("GET {IDENTITIES_ROUTE}"))?;
                            self.deny_update(&mut state, o);
                            state
                        }
                        Some(many) => LiveState::Ambiguous {
                            ids: many.iter().filter_map(|i| i.id.clone()).collect(),
                        },
                    },
                )
            })
            .collect::<Result<Vec<_>, PlatformError>>()
            .map(|states| (states, others))
    }

    /// The live state of one identity read with `read_with`: present when its lists are
    /// known, unreadable (a conflict, never "empty") when one is not.
    fn live_state(&self, identity: &Identity, read_with: &str) -> Result<LiveState, PlatformError> {
        let Some(id) = identity.id.clone() else {
            return Err(self.http.error(
                ErrorKind::Malformed,
                format!(
                    "automation identity {:?} has no Id",
                    identity.name.as_deref().unwrap_or("")
                ),
            ));
        };
        let mut fields = SmallMap::new();
        let mut reasons = Vec::new();
        for (field, list) in known_lists(identity) {
            match list {
                Ok(known) => {
                    fields.insert(field.to_string(), known.values());
                }
                Err(e) => reasons.push(e.reason(read_with)),
            }
        }
        if !reasons.is_empty() {
            return Ok(LiveState::Unreadable { id, reasons });
        }
        let names = self
            .role_names
            .lock()
            .map(|n| n.clone())
            .unwrap_or_default();
        let labels = fields[ROLE_IDS]
            .iter()
            .filter_map(|r| names.get(r).map(|n| (r.clone(), n.clone())))
            .collect();
        Ok(LiveState::Present {
            object: LiveObject {
                id,
                fields,
                labels,
                write_denied: None,
                extra: SmallMap::new(),
                made_outside_by: None,
            },
        })
    }

    /// The role-subset rule for an update of `state`, which would give it `desired`'s roles:
    /// a caller that is not a Tenant Administrator must hold every role the identity has and
    /// every role it gains. A denial only matters when there is something to add.
    fn deny_update(&self, state: &mut LiveState, desired: &DesiredObject) {
        let Ok(caller) = self.caller.lock().map(|c| c.clone()) else {
            return;
        };
        let (Some(caller), LiveState::Present { object }) = (caller, state) else {
            return;
        };
        let needed = object.fields.get(ROLE_IDS).into_iter().flatten().chain(
            desired
                .fields
                .get(ROLE_IDS)
                .into_iter()
                .flat_map(|f| &f.values),
        );
        let lacking = caller.lacks(needed);
        if !lacking.is_empty() {
            object.write_denied = Some(Reason::RolesNotHeld {
                roles: self.role_labels(&lacking),
            });
        }
    }

    // ---------------------------------------------------------------- export

    /// Every automation identity as an `AutomationIdentity` spec: its roles by name (built-in
    /// roles by their canonical name) when that name resolves to exactly this role, else by
    /// id; and its tags. Identities whose name is shared or missing cannot be declared and
    /// are left out with a note.
    async fn export(&self) -> Result<Export, PlatformError> {
        let (roles, identities) = futures::try_join!(self.roles(), self.identities(|_| true))?;
        let mut by_name: BTreeMap<&str, Vec<&Identity>> = BTreeMap::new();
        let mut export = Export::default();
        for i in &identities {
            match i.name.as_deref().filter(|n| !n.is_empty()) {
                Some(n) => by_name.entry(n).or_default().push(i),
                None => export.notes.push(format!(
                    "automation identity {} was left out: it has no name",
                    i.id.as_deref().unwrap_or("(no id)")
                )),
            }
        }
        for (name, found) in by_name {
            let [identity] = found.as_slice() else {
                export.notes.push(format!(
                    "automation identity {name} was left out: {} identities have this name",
                    found.len()
                ));
                continue;
            };
            let state = self.live_state(identity, &format!("GET {IDENTITIES_ROUTE}"))?;
            let Some(live) = export.present(state, &format!("automation identity {name}")) else {
                continue;
            };
            let mut refs = BTreeSet::new();
            let mut comments = Vec::new();
            for id in &live.fields[ROLE_IDS] {
                let (role, comment) = export_role(id, &roles);
                refs.insert(role);
                comments.extend(comment);
            }
            if refs.is_empty() {
                export.notes.push(format!(
                    "automation identity {name} was left out: it has no roles, and a manifest declares at least one"
                ));
                continue;
            }
            export.objects.push(ExportedObject {
                remote_name: name.to_string(),
                id: live.id.clone(),
                spec: ResourceSpec::AutomationIdentity(AutomationIdentitySpec {
                    target: self.http.target().to_string(),
                    name: None,
                    roles: refs.into_iter().collect(),
                    tags: live.fields[TAGS].iter().cloned().collect(),
                }),
                comments,
            });
        }
        Ok(export)
    }

    // ---------------------------------------------------------------- write

    async fn write(&self, ops: Vec<WriteOp>) -> Vec<Result<WriteOutcome, PlatformError>> {
        stream::iter(ops)
            .map(|op| async move {
                match op {
                    WriteOp::Create { desired, fields } => {
                        self.create(&desired.address.remote_key, &fields).await
                    }
                    WriteOp::Update {
                        address,
                        live,
                        additions,
                    } => self.update(&address, &live, &additions).await,
                }
            })
            .buffered(self.http.options().parallelism.max(1))
            .collect()
            .await
    }

    /// Creates an identity. After an unclear failure the identity list is read again: if the
    /// identity now exists the create took effect; only otherwise is the POST sent again.
    async fn create(
        &self,
        name: &str,
        fields: &SmallMap<Values>,
    ) -> Result<WriteOutcome, PlatformError> {
        let declared = |field: &str| {
            fields.get(field).cloned().ok_or_else(|| {
                self.http.error(
                    ErrorKind::Other,
                    format!("creating automation identity {name}: no {field} were given"),
                )
            })
        };
        let body = json!({
            "Name": name,
            "RoleIds": declared(ROLE_IDS)?,
            "Tags": declared(TAGS)?,
        });
        let request = Request::new(
            Method::POST,
            IDENTITIES_ROUTE,
            format!("{}/AutomationIdentities", self.tenant_path),
        )
        .json(body);
        let mut backoff = self.http.backoff();
        loop {
            let failure = match self.http.send(&request).await {
                // Only the id is taken from the answer; the applier reads the identity back.
                Ok(response) => {
                    let identity: Identity = response.json()?;
                    let Some(id) = identity.id else {
                        return Err(response.malformed(format!(
                            "the created automation identity {name} has no Id"
                        )));
                    };
                    return Ok(WriteOutcome {
                        created_id: Some(id),
                        secret: None,
                        runs: Vec::new(),
                    });
                }
                Err(f) => f,
            };
            if failure.error.status == Some(409) {
                // "Already exists": the identity was made by someone else since the read, or
                // by this very create whose answer was lost before a retry. Either way the
                // name is the identity's key, as it is in the plan: one live identity of this
                // name under the case rule is adopted (the applier then reads it back and
                // adds what it lacks, as reviewed); none or several is a conflict.
                let existing = self.find_by_name(name).await?;
                match existing.as_slice() {
                    [one] if one.id.is_some() => {
                        return Ok(WriteOutcome {
                            created_id: one.id.clone(),
                            secret: None,
                            runs: Vec::new(),
                        });
                    }
                    found => {
                        let ids: Vec<String> = found.iter().filter_map(|i| i.id.clone()).collect();
                        let mut error = failure.error;
                        error.kind = ErrorKind::Rejected;
                        error.message = if ids.is_empty() {
                            format!(
                                "CONNECT says an automation identity like {name} already exists, but no identity of that name (in any case) is listed; not created"
                            )
                        } else {
                            format!(
                                "CONNECT says an automation identity named {name} already exists, and {} identities of that name (in any case) are listed ({}); not created",
                                ids.len(),
                                ids.join(", ")
                            )
                        };
                        error.hint =
                            Some("run plan again to see the identities that exist now".into());
                        return Err(error);
                    }
                }
            }
            if failure.error.status == Some(403) {
                return Err(self
                    .name_roles(failure.error)
                    .context(format_args!("creating automation identity {name}")));
            }
            let maybe_applied = failure.maybe_applied();
            backoff.wait(failure).await?;
            if maybe_applied {
                let existing = self.find_by_name(name).await?;
                match existing.as_slice() {
                    [] => {}
                    [one] => {
                        return Ok(WriteOutcome {
                            created_id: one.id.clone(),
                            secret: None,
                            runs: Vec::new(),
                        });
                    }
                    many => {
                        return Err(self.http.error(
                            ErrorKind::Other,
                            format!(
                                "creating automation identity {name} failed unclearly and {} identities with that name now exist",
                                many.len()
                            ),
                        ));
                    }
                }
            }
        }
    }

    /// The live identities that are `name` under the case rule.
    async fn find_by_name(&self, name: &str) -> Result<Vec<Identity>, PlatformError> {
        let wanted = same_identity(name);
        self.identities(|i| {
            i.name
                .as_deref()
                .is_some_and(|n| same_identity(n) == wanted)
        })
        .await
    }

    /// Updates the listed fields with `PUT`. CONNECT has no conditional write, so the window
    /// in which a concurrent change can be overwritten is kept to one round trip: each attempt
    /// first reads this identity alone, then sends only the lists that gain values, each as
    /// that fresh read ∪ the additions (never values the batch read saw but which are gone
    /// now); the other list is sent as null, which CONNECT leaves unchanged (§3). A list to
    /// be written that the fresh read does not show as a list fails the update: its live
    /// value is unknown, and writing the additions alone would replace it.
    async fn update(
        &self,
        address: &Address,
        live: &LiveObject,
        additions: &SmallMap<Values>,
    ) -> Result<WriteOutcome, PlatformError> {
        let path = format!("{}/AutomationIdentities/{}", self.tenant_path, live.id);
        let additions: SmallMap<Values> = [ROLE_IDS, TAGS]
            .into_iter()
            .filter_map(|field| Some((field.to_string(), additions.get(field)?.clone())))
            .collect();
        if additions.is_empty() {
            return Err(self.http.error(
                ErrorKind::Other,
                format!("{address}: nothing to write (only roleIds and tags can change)"),
            ));
        }
        if additions.values().all(Values::is_empty) {
            return Ok(WriteOutcome::already_there());
        }
        let context = |error: PlatformError| {
            error.context(format_args!(
                "updating automation identity {}",
                address.remote_key
            ))
        };
        let mut backoff = self.http.backoff();
        loop {
            let fresh: Identity = self
                .http
                .call(&Request::get(IDENTITY_ROUTE, path.clone()))
                .await
                .and_then(|r| r.json())
                .map_err(context)?;
            let mut known = SmallMap::new();
            for (field, list) in known_lists(&fresh) {
                if additions.get(field).is_some_and(|a| !a.is_empty()) {
                    let list = list.map_err(|e| {
                        context(self.http.unreadable(&e, &format!("GET {IDENTITY_ROUTE}")))
                    })?;
                    known.insert(field.to_string(), list);
                }
            }
            let request = Request::new(Method::PUT, IDENTITY_ROUTE, path.clone())
                .json(update_body(known, &additions));
            let failure = match self.http.send(&request).await {
                // The answer is not read back: the applier confirms the write with a read.
                Ok(_) => return Ok(WriteOutcome::already_there()),
                Err(f) => f,
            };
            if failure.transient == Transient::No {
                let mut error = context(self.name_roles(failure.error));
                if error.status == Some(403) {
                    error.hint = Some(
                        "a caller who is not a Tenant Administrator must hold every role of the identity and every role it adds; a Tenant Administrator must apply this"
                            .into(),
                    );
                }
                return Err(error);
            }
            backoff.wait(failure).await.map_err(context)?;
        }
    }
}

/// The `PUT` body: each list with additions as its fresh known value ∪ additions, every
/// other list null so the server keeps it as it is at that moment. A list with additions
/// but no known fresh value is sent as null too (the caller refuses that case first).
fn update_body(mut fresh: SmallMap<KnownList>, additions: &SmallMap<Values>) -> Value {
    let mut body = Map::new();
    for (field, key) in [(ROLE_IDS, "RoleIds"), (TAGS, "Tags")] {
        let value = match (
            additions.get(field).filter(|a| !a.is_empty()),
            fresh.remove(field),
        ) {
            (Some(add), Some(known)) => {
                json!(
                    known
                        .union(add.iter().cloned())
                        .into_iter()
                        .collect::<Values>()
                )
            }
            _ => Value::Null,
        };
        body.insert(key.to_string(), value);
    }
    Value::Object(body)
}

/// The stated total of a listing response, when it states one.
fn total_count(response: &crate::platform::http::Response) -> Result<Option<u64>, PlatformError> {
    match response.header(TOTAL_COUNT) {
        None => Ok(None),
        Some(text) => text
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| response.malformed(format!("{TOTAL_COUNT} is not a count"))),
    }
}

/// How a manifest names the role with this id: the name `resolve_role` maps back to exactly
/// this id (the canonical name of a built-in role, else the role's own name), or `{id: …}`
/// with a comment saying why.
fn export_role(id: &str, roles: &[Role]) -> (RoleRef, Option<String>) {
    let by_id = RoleRef::Id { id: id.to_string() };
    let Some(role) = roles
        .iter()
        .find(|r| r.id.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(id)))
    else {
        return (
            by_id,
            Some(format!("role {id} is not a role of the tenant")),
        );
    };
    let builtin = role.role_type_id.as_deref().and_then(|t| {
        BUILTIN_ROLES
            .iter()
            .find(|(_, x)| x.eq_ignore_ascii_case(t))
            .map(|(n, _)| *n)
    });
    let Some(name) = builtin.or(role.name.as_deref()) else {
        return (by_id, Some(format!("role {id} has no name")));
    };
    let by_name = RoleRef::Name(name.to_string());
    match resolve_role(&by_name, roles) {
        Ok((resolved, _)) if resolved.eq_ignore_ascii_case(id) => (by_name, None),
        _ => (
            by_id,
            Some(format!(
                "role {id} is {name:?}, a name that does not identify it uniquely in the tenant"
            )),
        ),
    }
}

/// Resolves one role reference to `(id, label)` or a problem.
fn resolve_role(role: &RoleRef, roles: &[Role]) -> Result<(String, String), String> {
    match role {
        RoleRef::Id { id } => roles
            .iter()
            .find(|r| r.id.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(id)))
            .and_then(|r| Some((r.id.clone()?, r.name.clone().unwrap_or_else(|| id.clone()))))
            .ok_or_else(|| format!("role id {id} does not exist in the tenant")),
        RoleRef::Name(name) => {
            let builtin = BUILTIN_ROLES
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, t)| *t);
            let matches: Vec<&Role> = roles
                .iter()
                .filter(|r| match builtin {
                    Some(t) => r
                        .role_type_id
                        .as_deref()
                        .is_some_and(|x| x.eq_ignore_ascii_case(t)),
                    None => r.name.as_deref() == Some(name.as_str()),
                })
                .collect();
            let unique: BTreeSet<&str> = matches.iter().filter_map(|r| r.id.as_deref()).collect();
            match unique.len() {
                0 => Err(format!("role {name:?} not found in the tenant")),
                1 => Ok((
                    unique.into_iter().next().unwrap_or_default().to_string(),
                    name.clone(),
                )),
                n => Err(format!(
                    "role name {name:?} matches {n} roles ({}); use {{id: …}}",
                    unique.into_iter().collect::<Vec<_>>().join(", ")
                )),
            }
        }
    }
}

impl LiveTarget for ConnectClient {
    fn resolve<'a>(
        &'a self,
        resources: &'a [&'a Resource],
    ) -> BoxFuture<'a, Result<Vec<DesiredObject>, PlatformError>> {
        Box::pin(ConnectClient::resolve(self, resources))
    }

    fn read_noting<'a>(
        &'a self,
        objects: &'a [DesiredObject],
        note_others: bool,
    ) -> BoxFuture<'a, Result<Noted, PlatformError>> {
        Box::pin(self.read_identities(objects, note_others))
    }

    fn write(&self, ops: Vec<WriteOp>) -> BoxFuture<'_, Vec<Result<WriteOutcome, PlatformError>>> {
        Box::pin(ConnectClient::write(self, ops))
    }

    fn export(&self) -> BoxFuture<'_, Result<Export, PlatformError>> {
        Box::pin(ConnectClient::export(self))
    }

    fn request_counts(&self) -> RequestCounts {
        self.http.request_counts()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(xs: &[&str]) -> Values {
        xs.iter().map(|x| x.to_string()).collect()
    }

    /// The lists of a fresh single read, as `update` checks them.
    fn known(roles: &[&str], tags: &[&str]) -> SmallMap<KnownList> {
        let identity: Identity =
            serde_json::from_value(json!({"Id": "i", "RoleIds": roles, "Tags": tags})).unwrap();
        known_lists(&identity)
            .into_iter()
            .map(|(field, list)| (field.to_string(), list.unwrap()))
            .collect()
    }

    #[test]
    fn an_update_adding_only_a_role_leaves_tags_to_the_server() {
        let add = SmallMap::from([(ROLE_IDS.to_string(), values(&["runner"]))]);
        // Since the read, someone removed viewer, added steward and changed the tags.
        let fresh = known(&["member", "steward"], &["b"]);
        let body = update_body(fresh, &add);
        assert_eq!(body["Tags"], Value::Null);
        assert_eq!(body["RoleIds"], json!(["member", "runner", "steward"]));
    }

    #[test]
    fn both_lists_gain_their_own_additions_over_the_fresh_read() {
        let add = SmallMap::from([
            (ROLE_IDS.to_string(), values(&["runner"])),
            (TAGS.to_string(), values(&["managed"])),
        ]);
        let fresh = known(&["member"], &["a", "foreign:1"]);
        let body = update_body(fresh, &add);
        assert_eq!(body["RoleIds"], json!(["member", "runner"]));
        assert_eq!(body["Tags"], json!(["a", "foreign:1", "managed"]));
    }

    #[test]
    fn missing_null_or_malformed_lists_are_unknown_not_empty() {
        for (identity, problem) in [
            (json!({"Id": "i", "Tags": []}), "field RoleIds is missing"),
            (
                json!({"Id": "i", "RoleIds": null, "Tags": []}),
                "field RoleIds is null",
            ),
            (
                json!({"Id": "i", "RoleIds": [], "Tags": "x"}),
                "field Tags is a string",
            ),
            (
                json!({"Id": "i", "RoleIds": [1], "Tags": []}),
                "field RoleIds holds",
            ),
        ] {
            let identity: Identity = serde_json::from_value(identity).unwrap();
            let reasons: Vec<String> = known_lists(&identity)
                .into_iter()
                .filter_map(|(_, l)| l.err().map(|e| e.reason("GET x").to_string()))
                .collect();
            assert_eq!(reasons.len(), 1, "{reasons:?}");
            assert!(reasons[0].contains(problem), "{reasons:?}");
            // Nothing of an unreadable list can reach a body: it stays null.
            let add = SmallMap::from([(ROLE_IDS.to_string(), values(&["r"]))]);
            let body = update_body(SmallMap::new(), &add);
            assert_eq!(body["RoleIds"], Value::Null);
        }
    }
}
