//! Platform clients: translate each API into the object model of `crate::model`.
//!
//! One [`Client`] per Target. Each platform's knowledge lives in its own file (`atlan.rs`,
//! `connect.rs`, `mist.rs`; wire types stay private there), all of them on top of the one
//! HTTP layer in `http.rs` (retry, backoff, rate limit, concurrency bound, bounds on size and
//! time, redaction, request counting) and the one completeness checker of paged reads in
//! `listing.rs`. A list field a read shows missing, null or malformed is never taken as empty
//! ([`crate::model::KnownList`]). The planner and the applier only see this module's interface:
//!
//! - [`Client::resolve`] (plan time): resolve names in declared resources to ids, producing
//!   [`DesiredObject`]s (with `problems` for what could not be resolved);
//! - [`Client::read`]: read the live state of many objects in as few requests as the API
//!   allows; any failed page fails the whole read, never "absent";
//! - [`Client::write`]: perform append-only writes, each built by the applier from a fresh read;
//! - [`Client::export`] (`warrant export`): list every live object of the target as the
//!   manifest spec that would declare it, for adopting warrant on an existing tenant.

pub mod atlan;
pub mod connect;
pub mod http;
mod listing;
pub mod mist;

use std::time::Duration;

use crate::manifest::{Resource, ResourceSpec, Target, TargetPlatform};
use crate::model::{DesiredObject, LiveObject, LiveState, WriteOp, WriteOutcome};
use crate::secret::Secret;

pub use http::RequestCounts;

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
        }
    }
}

/// The credentials of one target. Built from environment variables by [`Credentials::from_env`],
/// or passed explicitly by tests.
#[derive(Debug, Clone)]
pub enum Credentials {
    Atlan {
        api_key: Secret,
    },
    Connect {
        client_id: String,
        client_secret: Secret,
    },
    Mist {
        api_token: Secret,
    },
}

impl Credentials {
    /// Reads the variables the Target names; a missing or empty variable is an error naming
    /// the variable and the target, reported before any request.
    pub fn from_env(target: &Target) -> Result<Credentials, PlatformError> {
        let var = |name: &str| -> Result<String, PlatformError> {
            match std::env::var(name) {
                Ok(v) if !v.is_empty() => Ok(v),
                _ => Err(PlatformError::new(
                    &target.name,
                    ErrorKind::Credentials,
                    format!("environment variable {name} is not set"),
                )
                .with_hint(format!(
                    "export {name} with the credential for target {}",
                    target.name
                ))),
            }
        };
        Ok(match &target.platform {
            TargetPlatform::Atlan(a) => Credentials::Atlan {
                api_key: Secret::in_use(var(&a.api_key_env)?),
            },
            TargetPlatform::Connect(c) => Credentials::Connect {
                client_id: var(&c.client_id_env)?,
                client_secret: Secret::in_use(var(&c.client_secret_env)?),
            },
            TargetPlatform::Mist(m) => Credentials::Mist {
                api_token: Secret::in_use(var(&m.api_token_env)?),
            },
        })
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
}

/// Every text an error keeps passes [`crate::secret::redact`] as it is stored: server text
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
        }
    }

    /// Prefixes the message with what was being done (`updating API token X: …`).
    pub fn context(mut self, doing: impl std::fmt::Display) -> PlatformError {
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
    fn present(&mut self, state: LiveState, what: &str) -> Option<LiveObject> {
        match state {
            LiveState::Present { object } => Some(object),
            LiveState::Unreadable { reasons, .. } => {
                self.notes
                    .push(format!("{what} was left out: {}", reasons.join("; ")));
                None
            }
            LiveState::Absent | LiveState::Ambiguous { .. } => None,
        }
    }
}

/// A client for one Target. Its `Debug` shows the target and base URL, never a credential.
#[derive(Debug)]
pub struct Client {
    target: String,
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Atlan(atlan::AtlanClient),
    Connect(connect::ConnectClient),
    Mist(mist::MistClient),
}

impl Client {
    /// `base_url` overrides the Target's (the `--endpoint TARGET=URL` mechanism).
    pub fn new(
        target: &Target,
        base_url: Option<&str>,
        credentials: Credentials,
        options: &ClientOptions,
    ) -> Result<Client, PlatformError> {
        // Credentials given directly (tests, the demo) are masked like those from the
        // environment.
        match &credentials {
            Credentials::Atlan { api_key } => api_key.mask(),
            Credentials::Connect { client_secret, .. } => client_secret.mask(),
            Credentials::Mist { api_token } => api_token.mask(),
        }
        let inner = match (&target.platform, credentials) {
            (TargetPlatform::Atlan(t), Credentials::Atlan { api_key }) => Inner::Atlan(
                atlan::AtlanClient::new(&target.name, t, base_url, api_key, options)?,
            ),
            (
                TargetPlatform::Connect(t),
                Credentials::Connect {
                    client_id,
                    client_secret,
                },
            ) => Inner::Connect(connect::ConnectClient::new(
                &target.name,
                t,
                base_url,
                client_id,
                client_secret,
                options,
            )?),
            (TargetPlatform::Mist(t), Credentials::Mist { api_token }) => Inner::Mist(
                mist::MistClient::new(&target.name, t, base_url, api_token, options)?,
            ),
            _ => {
                return Err(PlatformError::new(
                    &target.name,
                    ErrorKind::Credentials,
                    "credentials are for a different platform than the target",
                ));
            }
        };
        Ok(Client {
            target: target.name.clone(),
            inner,
        })
    }

    pub fn target(&self) -> &str {
        &self.target
    }

    /// Plan time: resolve the names in these resources (all of this client's target) to ids.
    /// Returns one [`DesiredObject`] per resource, in the same order.
    pub async fn resolve(
        &self,
        resources: &[&Resource],
    ) -> Result<Vec<DesiredObject>, PlatformError> {
        match &self.inner {
            Inner::Atlan(c) => c.resolve(resources).await,
            Inner::Connect(c) => c.resolve(resources).await,
            Inner::Mist(c) => c.resolve(resources).await,
        }
    }

    /// Read the live state of these objects, batched. One [`LiveState`] per object, same order.
    pub async fn read(&self, objects: &[DesiredObject]) -> Result<Vec<LiveState>, PlatformError> {
        match &self.inner {
            Inner::Atlan(c) => c.read(objects).await,
            Inner::Connect(c) => c.read(objects).await,
            Inner::Mist(c) => c.read(objects).await,
        }
    }

    /// [`read`](Self::read), and the names of the target's live objects that are not among
    /// `objects` (the planner's look-alike warnings). Atlan connections are never created, so
    /// none are listed for them.
    pub async fn read_noting_others(
        &self,
        objects: &[DesiredObject],
    ) -> Result<(Vec<LiveState>, Vec<String>), PlatformError> {
        match &self.inner {
            Inner::Atlan(c) => Ok((c.read(objects).await?, Vec::new())),
            Inner::Connect(c) => c.read_noting_others(objects).await,
            Inner::Mist(c) => c.read_noting_others(objects).await,
        }
    }

    /// How many objects one write request can carry (Atlan's bulk endpoint takes several
    /// connections; the others write one object per request). The applier sizes its batches
    /// in multiples of it, so no request goes out half empty.
    pub fn objects_per_write(&self) -> usize {
        match &self.inner {
            Inner::Atlan(_) => atlan::WRITE_BATCH,
            Inner::Connect(_) | Inner::Mist(_) => 1,
        }
    }

    /// Perform these writes (batched where the API allows; failures isolated per object).
    /// One result per op, same order.
    pub async fn write(&self, ops: Vec<WriteOp>) -> Vec<Result<WriteOutcome, PlatformError>> {
        match &self.inner {
            Inner::Atlan(c) => c.write(ops).await,
            Inner::Connect(c) => c.write(ops).await,
            Inner::Mist(c) => c.write(ops).await,
        }
    }

    /// Every live object of the target as a manifest spec (`warrant export`). Reads the
    /// complete lists; a failed page fails the export.
    pub async fn export(&self) -> Result<Export, PlatformError> {
        match &self.inner {
            Inner::Atlan(c) => c.export().await,
            Inner::Connect(c) => c.export().await,
            Inner::Mist(c) => c.export().await,
        }
    }

    /// Requests made so far, per endpoint.
    pub fn request_counts(&self) -> RequestCounts {
        match &self.inner {
            Inner::Atlan(c) => c.request_counts(),
            Inner::Connect(c) => c.request_counts(),
            Inner::Mist(c) => c.request_counts(),
        }
    }
}
