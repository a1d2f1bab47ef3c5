//! The platforms: each one is one module behind one trait, and this file lists them.
//!
//! A platform module (`atlan/`, `connect/`, `mist/`) owns everything about its platform: the
//! Target settings and their defaults, the resource kind it manages and the rules of its spec
//! (it is the manifest layer's `Dialect` for them), the remote key
//! and its case rule, the base-URL derivation, name resolution, the live read and the
//! append-only write, the nouns and headings renderers need; its simulator lives beside it in
//! `crate::sandbox`. All of them sit on the one HTTP layer in `http.rs` (retry, backoff, rate
//! limit, concurrency bound, bounds on size and time, redaction, request counting) and the one
//! completeness checker of paged reads in `listing.rs`. A list field a read shows missing, null
//! or malformed is never taken as empty (`crate::model::KnownList`).
//!
//! The rest of warrant reaches a live system only through [`LiveTarget`], one client per
//! target, opened by a [`Session`]:
//!
//! - [`LiveTarget::resolve`] (plan time, and again at apply time): resolve names in declared
//!   resources to ids, producing [`DesiredObject`]s (with `problems` for what could not be
//!   resolved);
//! - [`LiveTarget::read`]: read the live state of many objects in as few requests as the API
//!   allows; any failed page fails the whole read, never "absent". The applier also verifies
//!   every write with it: an independent read, never the write's own answer;
//! - [`LiveTarget::write`]: perform append-only writes, each built as *fresh live ∪
//!   additions* (`crate::model::KnownList::union`) from the freshest read the client holds;
//! - [`LiveTarget::export`] (`warrant export`): list every live object of the target as the
//!   manifest spec that would declare it, for adopting warrant on an existing tenant.
//!
//! **The one list of platforms** is `ALL` (each platform's `Definition`) with the two enums
//! beside it, [`TargetPlatform`] (a Target's settings) and [`ResourceSpec`] (a resource's
//! spec), and their match arms: nothing else in warrant names a platform. A new platform is a
//! new module here, one entry in each of the three, and its simulator in `crate::sandbox`.

mod atlan;
mod connect;
pub mod http;
mod listing;
mod mist;
mod session;
pub mod wait;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::future::BoxFuture;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::manifest::{self, Diagnostic, Dialect, Doc, KeySinkSpec};
use crate::model::{DesiredObject, Kind, LiveObject, LiveState, WriteOp, WriteOutcome};

pub use atlan::{AtlanRead, AtlanTarget, ConnectionAdminsSpec, TokenRef, Via};
pub use connect::{AutomationIdentitySpec, ConnectRead, ConnectTarget, RoleRef};
pub use http::RequestCounts;
pub use mist::{MistRead, MistRole, MistScope, MistTarget, OrgApiTokenSpec, PrivilegeSpec};
pub use session::{Credentials, Environment, LiveOptions, Session};

// ------------------------------------------------------------------ the one list of platforms

/// Every platform, in the order they are listed everywhere (messages, schemas, digests).
pub(crate) static ALL: [&dyn Platform; 3] = [&atlan::PLATFORM, &connect::PLATFORM, &mist::PLATFORM];

/// The one platform a Target points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum TargetPlatform {
    Atlan(AtlanTarget),
    Connect(ConnectTarget),
    Mist(MistTarget),
}

/// The spec of a resource document, of the kind of one platform. Serialized as the spec
/// itself, as a manifest writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ResourceSpec {
    ConnectionAdmins(ConnectionAdminsSpec),
    AutomationIdentity(AutomationIdentitySpec),
    OrgApiToken(OrgApiTokenSpec),
}

impl TargetPlatform {
    fn settings(&self) -> &dyn TargetSettings {
        match self {
            TargetPlatform::Atlan(t) => t,
            TargetPlatform::Connect(t) => t,
            TargetPlatform::Mist(t) => t,
        }
    }
}

impl ResourceSpec {
    fn spec(&self) -> &dyn manifest::Spec {
        match self {
            ResourceSpec::ConnectionAdmins(s) => s,
            ResourceSpec::AutomationIdentity(s) => s,
            ResourceSpec::OrgApiToken(s) => s,
        }
    }

    fn spec_mut(&mut self) -> &mut dyn manifest::Spec {
        match self {
            ResourceSpec::ConnectionAdmins(s) => s,
            ResourceSpec::AutomationIdentity(s) => s,
            ResourceSpec::OrgApiToken(s) => s,
        }
    }
}

// ------------------------------------------------------------------ what a platform is

/// One platform: how the manifest layer reads its documents ([`Dialect`]), and what the
/// planner, renderers and exporter need to know about it. Its one implementation is
/// [`Definition`].
pub(crate) trait Platform: Dialect<TargetPlatform, ResourceSpec> {
    /// What a new object of the kind is called, in a sentence (`token`).
    fn short_noun(&self) -> &'static str;
    /// The file `warrant export` writes objects of the kind to.
    fn export_file(&self) -> &'static str;
}

/// The facts of a platform: its names, its kind and how documents of it are written, and the
/// types of its Target settings (`T`) and resource spec (`S`) with their variants in the
/// list's enums. Each platform module defines one (`PLATFORM`); [`ALL`] lists them. Its
/// behaviour is in its types: `T` is [`TargetSettings`], `S` is a [`manifest::Spec`].
pub(crate) struct Definition<T: 'static, S: 'static> {
    /// The key of the platform under a Target's `spec:` (`atlan`).
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
    /// One remote object of the kind, in messages (`connection`).
    pub(crate) noun: &'static str,
    /// A new object of the kind, in a sentence (`declare a new token`).
    pub(crate) short_noun: &'static str,
    pub(crate) remote_key: manifest::RemoteKey,
    /// The form in which two remote keys are the same remote object (a case rule).
    pub(crate) same_object: fn(&str) -> String,
    /// Whether documents of the kind have a `keySink`.
    pub(crate) has_key_sink: bool,
    /// A Target's `spec.<name>` as an example in hints.
    pub(crate) target_example: &'static str,
    pub(crate) schema_file: &'static str,
    pub(crate) export_file: &'static str,
    pub(crate) target: fn(T) -> TargetPlatform,
    pub(crate) spec: fn(S) -> ResourceSpec,
}

impl<T, S> Dialect<TargetPlatform, ResourceSpec> for Definition<T, S>
where
    T: DeserializeOwned + JsonSchema,
    S: DeserializeOwned + JsonSchema,
{
    fn name(&self) -> &'static str {
        self.name
    }

    fn kind(&self) -> Kind {
        self.kind
    }

    fn noun(&self) -> &'static str {
        self.noun
    }

    fn remote_key(&self) -> manifest::RemoteKey {
        self.remote_key
    }

    fn same_object(&self, key: &str) -> String {
        (self.same_object)(key)
    }

    fn has_key_sink(&self) -> bool {
        self.has_key_sink
    }

    fn target_example(&self) -> &'static str {
        self.target_example
    }

    fn read_target(
        &self,
        node: &manifest::Node,
        unknown: &RefCell<Vec<manifest::DeError>>,
    ) -> Result<Option<TargetPlatform>, manifest::DeError> {
        Ok(manifest::from_node::<Option<T>>(node, unknown)?.map(self.target))
    }

    fn read_spec(
        &self,
        node: &manifest::Node,
        unknown: &RefCell<Vec<manifest::DeError>>,
    ) -> Result<ResourceSpec, manifest::DeError> {
        manifest::from_node::<S>(node, unknown).map(self.spec)
    }

    fn target_schema(&self, generator: &mut SchemaGenerator) -> Schema {
        generator.subschema_for::<Option<T>>()
    }

    fn spec_schema(&self, generator: &mut SchemaGenerator) -> Schema {
        generator.subschema_for::<S>()
    }

    fn schema_file(&self) -> &'static str {
        self.schema_file
    }
}

impl<T, S> Platform for Definition<T, S>
where
    T: DeserializeOwned + JsonSchema,
    S: DeserializeOwned + JsonSchema,
{
    fn short_noun(&self) -> &'static str {
        self.short_noun
    }

    fn export_file(&self) -> &'static str {
        self.export_file
    }
}

/// A platform's Target settings beyond what the manifest layer checks: where its API is, as
/// whom warrant calls it, and how a client is opened.
pub(crate) trait TargetSettings: manifest::Settings + Send + Sync {
    /// The settings as used: `endpoint` (`--endpoint`), or a base URL the settings imply,
    /// becomes the recorded base URL, so a plan says exactly where it read from.
    fn as_used(&self, endpoint: Option<&str>) -> TargetPlatform;
    /// The settings with the Target's separate read credentials (`read:`) in place of its
    /// write credentials, for a session that only reads; `None` when it names none.
    fn for_reading(&self) -> Option<TargetPlatform>;
    /// The settings that decide where requests go and as whom, by their manifest names (the
    /// applier compares them between a plan and the manifests). Rate limits are not among
    /// them: they change nothing about what is written.
    fn identity(&self) -> Vec<(&'static str, Option<&str>)>;
    /// `platform, base URL` as a target's heading shows it.
    fn heading(&self) -> String;
    /// A client for the target `name` (the `--endpoint` override, if any, replaces the base
    /// URL), with credentials from `environment`.
    fn open(
        &self,
        name: &str,
        endpoint: Option<&str>,
        environment: &Environment,
        options: &ClientOptions,
    ) -> Result<Box<dyn LiveTarget>, PlatformError>;
}

/// The platform that manages `kind`.
pub(crate) fn of_kind(kind: Kind) -> Option<&'static dyn Platform> {
    ALL.iter().copied().find(|p| p.kind() == kind)
}

/// Where `kind` is in the list of platforms: the order of kinds wherever one is needed.
pub(crate) fn kind_order(kind: Kind) -> usize {
    ALL.iter()
        .position(|p| p.kind() == kind)
        .unwrap_or(ALL.len())
}

/// The kinds the platforms manage, in list order.
pub(crate) fn kinds() -> impl Iterator<Item = Kind> {
    ALL.iter().map(|p| p.kind())
}

fn dialects() -> Vec<&'static dyn Dialect<TargetPlatform, ResourceSpec>> {
    ALL.iter()
        .map(|p| *p as &'static dyn Dialect<TargetPlatform, ResourceSpec>)
        .collect()
}

impl TargetPlatform {
    /// The name of the platform (`atlan`).
    pub(crate) fn platform_name(&self) -> &'static str {
        self.settings().platform_name()
    }

    /// The settings as used: see [`TargetSettings::as_used`].
    pub(crate) fn as_used(&self, endpoint: Option<&str>) -> TargetPlatform {
        self.settings().as_used(endpoint)
    }

    /// The settings a read-only session opens the target with: its read credentials when it
    /// names some ([`TargetSettings::for_reading`]), else the settings themselves.
    pub(crate) fn for_reading(&self) -> TargetPlatform {
        self.settings()
            .for_reading()
            .unwrap_or_else(|| self.clone())
    }

    /// How the settings differ from `declared` where it matters (where requests go and as
    /// whom); empty when they do not. `self` is a plan's (untrusted: quoted with `{:?}`).
    pub(crate) fn differences(&self, declared: &TargetPlatform) -> Vec<String> {
        if self.platform_name() != declared.platform_name() {
            return vec!["the platform differs between the plan and the manifests".into()];
        }
        let planned = self.settings().identity();
        let declared = declared.settings().identity();
        planned
            .iter()
            .zip(&declared)
            .filter(|((_, p), (_, m))| p != m)
            .map(|((setting, plan), (_, manifests))| {
                format!(
                    "{setting} is {} in the plan but {} in the manifests",
                    plan.map_or("unset".to_string(), |p| format!("{p:?}")),
                    manifests.map_or("unset".to_string(), |m| format!("{m:?}")),
                )
            })
            .collect()
    }

    /// `name (platform, base URL)`: a target's heading.
    pub(crate) fn heading(&self, name: &str) -> String {
        format!("{name} ({})", self.settings().heading())
    }

    /// A client of the target `name` with these settings: its base URL, or `endpoint`
    /// (`--endpoint`), with credentials from the variables the settings name in
    /// `environment`. [`Session::open`] opens one per target.
    pub fn open(
        &self,
        name: &str,
        endpoint: Option<&str>,
        environment: &Environment,
        options: &ClientOptions,
    ) -> Result<Box<dyn LiveTarget>, PlatformError> {
        self.settings().open(name, endpoint, environment, options)
    }
}

impl manifest::Settings for TargetPlatform {
    fn platform_name(&self) -> &'static str {
        self.settings().platform_name()
    }

    fn credential_variables(&self) -> Vec<&str> {
        self.settings().credential_variables()
    }

    fn check(&self, doc: &mut Doc) {
        self.settings().check(doc)
    }
}

impl manifest::Spec for ResourceSpec {
    fn kind(&self) -> Kind {
        self.spec().kind()
    }

    fn target(&self) -> &str {
        self.spec().target()
    }

    fn remote_name(&self) -> Option<&str> {
        self.spec().remote_name()
    }

    fn remote_key<'a>(&'a self, name: &'a str) -> &'a str {
        self.spec().remote_key(name)
    }

    fn check(&mut self, doc: &mut Doc, repository: &Path) {
        self.spec_mut().check(doc, repository)
    }

    fn canonical(&self) -> serde_json::Value {
        self.spec().canonical()
    }

    fn key_sink_mut(&mut self) -> Option<&mut KeySinkSpec> {
        self.spec_mut().key_sink_mut()
    }

    fn set_remote_name(&mut self, name: Option<String>) {
        self.spec_mut().set_remote_name(name)
    }
}

impl ResourceSpec {
    pub(crate) fn kind(&self) -> Kind {
        self.spec().kind()
    }

    pub(crate) fn target(&self) -> &str {
        self.spec().target()
    }

    /// The key sink, for a kind that has one (the demo redirects them into its scratch
    /// directory).
    pub(crate) fn key_sink_mut(&mut self) -> Option<&mut KeySinkSpec> {
        self.spec_mut().key_sink_mut()
    }
}

/// The manifests, with the platforms' settings and specs.
pub type Manifests = manifest::Manifests<TargetPlatform, ResourceSpec>;
/// A validated Target document.
pub type Target = manifest::Target<TargetPlatform>;
/// A validated resource document.
pub type Resource = manifest::Resource<ResourceSpec>;

impl Manifests {
    /// Loads and validates the manifests in `paths` (files or directories) under the
    /// repository root (`crate::manifest::repository_root`). Returns every diagnostic, sorted
    /// by file, line and column, when anything is wrong.
    pub fn load(paths: &[PathBuf]) -> Result<Manifests, Vec<Diagnostic>> {
        manifest::load(paths, &dialects())
    }

    /// [`Manifests::load`] under an explicit repository root.
    pub fn load_under(paths: &[PathBuf], root: &Path) -> Result<Manifests, Vec<Diagnostic>> {
        manifest::load_under(paths, root, &dialects())
    }

    /// Manifests from text, as if read from `file` under the repository root: what `load`
    /// does per file, for tests and for callers that hold the text already.
    pub fn parse(file: &Path, text: &str) -> Result<Manifests, Vec<Diagnostic>> {
        manifest::load_str(file, text, &dialects())
    }
}

impl Resource {
    pub fn kind(&self) -> Kind {
        self.spec.kind()
    }

    pub(crate) fn target(&self) -> &str {
        self.spec.target()
    }

    /// The remote key: connection qualifiedName, identity name, token name.
    pub fn remote_key(&self) -> &str {
        manifest::Spec::remote_key(&self.spec, &self.name)
    }

    pub fn address(&self) -> crate::model::Address {
        crate::model::Address {
            kind: self.kind(),
            name: self.name.clone(),
            target: self.target().to_string(),
            remote_key: self.remote_key().to_string(),
        }
    }
}

/// The JSON Schemas of the manifest documents: one per kind and `warrant.schema.json` for a
/// document of any kind, by file name.
pub(crate) fn manifest_schemas() -> Vec<(String, serde_json::Value)> {
    manifest::documents_schemas(&dialects())
}

// ------------------------------------------------------------------ a live target

/// The live states of a read, one per object asked about, and the names of the other live
/// objects of the target it saw (when asked to note them).
pub type Noted = (Vec<LiveState>, Vec<String>);

/// One target's live system: what the planner and the applier need from it. Each platform's
/// client implements it; tests implement it in memory. One result per object or op, in
/// order, from every call.
pub trait LiveTarget: Send + Sync + std::fmt::Debug {
    /// Resolves the names in these resources (all of this target) to ids: one desired object
    /// per resource, same order.
    fn resolve<'a>(
        &'a self,
        resources: &'a [&'a Resource],
    ) -> BoxFuture<'a, Result<Vec<DesiredObject>, PlatformError>>;

    /// The live state of these objects, batched; one per object, same order. A failed read is
    /// an error, never "absent". With `note_others`, also the names of the target's live
    /// objects the read saw but was not asked about (the planner's look-alike warnings); a
    /// target that cannot tell, or whose objects are never created, names none.
    fn read_noting<'a>(
        &'a self,
        objects: &'a [DesiredObject],
        note_others: bool,
    ) -> BoxFuture<'a, Result<Noted, PlatformError>>;

    /// [`read_noting`](LiveTarget::read_noting) the states only: the applier's read, and the
    /// independent read that confirms every write.
    fn read<'a>(
        &'a self,
        objects: &'a [DesiredObject],
    ) -> BoxFuture<'a, Result<Vec<LiveState>, PlatformError>> {
        Box::pin(async move { Ok(self.read_noting(objects, false).await?.0) })
    }

    /// Performs these writes (batched where the API allows; failures isolated per op).
    fn write(&self, ops: Vec<WriteOp>) -> BoxFuture<'_, Vec<Result<WriteOutcome, PlatformError>>>;

    /// Every live object of the target as a manifest spec (`warrant export`). Reads the
    /// complete lists; a failed page fails the export.
    fn export(&self) -> BoxFuture<'_, Result<Export, PlatformError>>;

    /// How many objects one write request can carry; the applier sizes its batches in
    /// multiples of it, so no request goes out half empty.
    fn objects_per_write(&self) -> usize {
        1
    }

    /// Requests made so far, per endpoint.
    fn request_counts(&self) -> RequestCounts;
}

// ------------------------------------------------------------------ shared by every client

/// Settings shared by every client, among them the bounds of every read: no response, page
/// run or retry loop can hold warrant longer or make it allocate more than these say, whatever
/// a server sends. The defaults suit real tenants; `plan`, `apply` and `export` can raise them.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Requests in flight at once per target.
    pub parallelism: usize,
    pub connect_timeout: Duration,
    /// One attempt of a request, from sending it to the last byte of the answer.
    pub request_timeout: Duration,
    /// An attempt fails when no byte of the answer arrives for this long.
    pub idle_timeout: Duration,
    /// What one request may spend on failed attempts and the waits between them. A retry is
    /// made only when it would still end inside the budget if it took as long as the failed
    /// attempt; a `Retry-After` that does not fit fails at once, naming the wait.
    pub retry_budget: Duration,
    /// Base delay of exponential backoff (full jitter).
    pub backoff_base: Duration,
    /// Ceiling of one backoff delay.
    pub backoff_cap: Duration,
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// The largest response body read, in bytes: the body is streamed and counted, and a
    /// larger one fails without being buffered beyond this.
    pub max_body_bytes: u64,
    /// The most pages one listing reads. A listing whose server states a total must also
    /// fit that total in this many pages of the size asked for, or fails at once.
    pub max_pages: u32,
    /// The longest wait for one write made by a workflow run (Atlan's package workflow), from
    /// its submission to its final phase; the run keeps going in the platform after it.
    pub workflow_timeout: Duration,
    /// Whether the credential in use is the one apply writes with, so that its own
    /// permissions (Atlan connection admin, CONNECT roles held, Mist write privilege) predict
    /// what apply may do. False when a plan reads with a Target's separate `read:`
    /// credentials: what a read-only credential may do says nothing about the writer, so
    /// nothing is predicted and apply, with the write credential, meets the server's answer.
    pub predicts_writes: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            parallelism: 8,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(10),
            retry_budget: Duration::from_secs(30),
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(30),
            max_attempts: 6,
            max_body_bytes: 64 * 1024 * 1024,
            max_pages: 100,
            workflow_timeout: Duration::from_secs(600),
            predicts_writes: true,
        }
    }
}

/// What went wrong talking to a platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// A credential is missing or was refused (401, invalid_client).
    Credentials,
    /// The credential is not allowed to do this (403).
    Forbidden,
    NotFound,
    /// The request was refused as invalid or conflicting (400, 409).
    Rejected,
    /// Rate limited and told to wait longer than the retry budget allows.
    RateLimited,
    /// Retries exhausted on 5xx/408/429 or connection errors.
    Unavailable,
    /// The response could not be understood.
    Malformed,
    /// A listing could not be proven complete: a short, empty or repeated page, or a count
    /// that does not match what the server stated.
    Incomplete,
    /// A response or listing exceeded a bound of [`ClientOptions`] (body size, page count).
    TooLarge,
    /// Anything else (unexpected status, unexpected mutation such as a CREATE).
    Other,
}

/// One error type for every platform: status, the platform's own code and text, and a hint.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", self.render())]
pub struct PlatformError {
    pub target: String,
    pub kind: ErrorKind,
    /// HTTP status, when there was a response.
    pub status: Option<u16>,
    /// The platform's own code (Atlas `errorCode`, CONNECT `OperationId`, OAuth `error`).
    pub code: Option<String>,
    pub message: String,
    pub hint: Option<String>,
    /// The typed reason behind a refusal, when the client knows it (an Atlan 403
    /// `ATLAS-403-00-001` on a connection is [`Reason::NotConnectionAdmin`]).
    /// Boxed: errors travel in every `Result`, and a reason is large.
    pub reason: Option<Box<crate::model::Reason>>,
}

/// Every text an error keeps passes `crate::secret::redact` as it is stored: server text
/// (error bodies, echoed requests, names and ids in responses) reaches an error only through
/// these constructors, so no credential in use can be stored in one, whoever prints it later.
impl PlatformError {
    pub fn new(target: &str, kind: ErrorKind, message: impl Into<String>) -> PlatformError {
        PlatformError {
            target: target.to_string(),
            kind,
            status: None,
            code: None,
            message: masked(message.into()),
            hint: None,
            reason: None,
        }
    }

    /// Prefixes the message with what was being done (`updating API token X: …`).
    pub(crate) fn context(mut self, doing: impl std::fmt::Display) -> PlatformError {
        self.message = masked(format!("{doing}: {}", self.message));
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> PlatformError {
        self.hint = Some(masked(hint.into()));
        self
    }

    pub fn with_status(mut self, status: u16) -> PlatformError {
        self.status = Some(status);
        self
    }

    pub(crate) fn with_reason(mut self, reason: crate::model::Reason) -> PlatformError {
        self.reason = Some(Box::new(reason));
        self
    }

    pub fn with_code(mut self, code: impl Into<String>) -> PlatformError {
        self.code = Some(masked(code.into()));
        self
    }

    /// The fields are public, so the rendering is redacted once more: a message a caller
    /// rewrote in place still cannot show a secret.
    /// Secrets are masked first, on the raw text, then hidden characters are escaped
    /// (`crate::text`): messages quote what servers said and named, and are shown on one line
    /// wherever the error is printed, logged or reported.
    fn render(&self) -> String {
        crate::text::escape(&masked(self.render_fields())).into_owned()
    }

    fn render_fields(&self) -> String {
        let mut s = format!("target {}: {}", self.target, self.message);
        match (self.status, &self.code) {
            (Some(st), Some(c)) => s.push_str(&format!(" (HTTP {st}, {c})")),
            (Some(st), None) => s.push_str(&format!(" (HTTP {st})")),
            (None, Some(c)) => s.push_str(&format!(" ({c})")),
            (None, None) => {}
        }
        if let Some(h) = &self.hint {
            s.push_str(&format!("; {h}"));
        }
        s
    }
}

fn masked(text: String) -> String {
    match crate::secret::redact(&text) {
        std::borrow::Cow::Borrowed(_) => text,
        std::borrow::Cow::Owned(clean) => clean,
    }
}

/// One live object written as the manifest spec that would declare it (`warrant export`).
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedObject {
    /// The remote name (connection name, identity name, token name): where `metadata.name`
    /// is derived from, and for identities and tokens the exact remote key.
    pub remote_name: String,
    /// The platform's id, which orders objects that share a remote name.
    pub id: String,
    /// The spec with `name` unset; for tokens the `keySink` is a placeholder the writer of the
    /// manifest replaces.
    pub spec: ResourceSpec,
    /// Lines for a comment above the document: who else has access, what a manifest cannot say.
    pub comments: Vec<String>,
}

/// Everything an export read from one target.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Export {
    pub objects: Vec<ExportedObject>,
    /// Lines for the header comment: live objects left out, and why.
    pub notes: Vec<String>,
}

impl Export {
    /// The live object of a state an export read, or `None` after noting why `what` was left
    /// out: a list of it is unreadable, and a manifest cannot be written from an unknown.
    pub(crate) fn present(&mut self, state: LiveState, what: &str) -> Option<LiveObject> {
        match state {
            LiveState::Present { object } => Some(object),
            LiveState::Unreadable { reasons, .. } => {
                let reasons: Vec<String> = reasons.iter().map(ToString::to_string).collect();
                self.notes
                    .push(format!("{what} was left out: {}", reasons.join("; ")));
                None
            }
            LiveState::Absent | LiveState::Ambiguous { .. } => None,
        }
    }
}
