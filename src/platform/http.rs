//! The one HTTP layer under every platform client: retries with backoff and `Retry-After`,
//! a client-side rate limiter and concurrency bound per target, authentication (a fixed
//! header or a cached OAuth client-credentials token), redacted debug logging and request
//! counting.
//!
//! It is also the one place that bounds what a server can do to warrant (the limits live in
//! [`ClientOptions`]): a body is streamed and counted, and fails as soon as it passes
//! `max_body_bytes`, never buffered beyond it; an attempt fails when no byte arrives for
//! `idle_timeout` or the answer is not complete after `request_timeout`; and the retries of
//! one request, waits and `Retry-After` included, stay inside `retry_budget`. Listings add
//! their page bound and completeness proof on top (`super::listing`).
//!
//! The layer separates *one attempt* (`Http::send`) from *the retry decision*
//! (`Backoff::wait`), because the clients need different things between attempts: a read
//! is simply sent again ([`Http::call`]); an update re-reads the object and rebuilds its body
//! (a body computed before a failure is never re-sent); a create first checks whether the
//! object now exists. All three drive the same `Backoff`, so there is one retry policy.
//!
//! Nothing secret is logged: the log line of a request carries method, URL, status and time;
//! credentials only ever live in [`Secret`]s and are exposed when a header is built. Credentials
//! go only to the base URL the client was made with (a Target's, or an `--endpoint`), which
//! must be https or loopback http (`crate::manifest::base_url_problems`); redirects are
//! never followed. Whatever a server sends back reaches errors and log lines only through
//! `crate::secret::redact`: [`PlatformError`]'s constructors apply it, and so does every log
//! line here, so an error body echoing the request (a gateway, an identity provider) cannot
//! carry a credential or the OAuth token fetched here into output.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use rand::Rng;
use reqwest::header::{AUTHORIZATION, HeaderMap};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::model::UnreadableField;
use crate::platform::{ClientOptions, ErrorKind, PlatformError};
use crate::secret::{Secret, redact};

pub(crate) use reqwest::Method;

/// Requests made, per `METHOD route` (ids in paths replaced by placeholders).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RequestCounts {
    pub total: u64,
    pub by_endpoint: BTreeMap<String, u64>,
}

/// A client-side request budget: at most `requests` per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: u32,
    pub per: Duration,
}

impl RateLimit {
    pub fn per_minute(requests: u32) -> RateLimit {
        RateLimit {
            requests,
            per: Duration::from_secs(60),
        }
    }

    pub(crate) fn per_hour(requests: u32) -> RateLimit {
        RateLimit {
            requests,
            per: Duration::from_secs(3600),
        }
    }
}

/// How requests are authenticated.
pub enum Auth {
    /// A fixed `Authorization` header value (`Bearer …`, `Token …`).
    Header(Secret),
    /// OAuth2 client-credentials grant at `token_path`; the token is cached, refreshed 5
    /// minutes before it expires (or at half its lifetime when that is shorter) and fetched
    /// again once when a request gets a 401.
    ClientCredentials {
        token_path: String,
        client_id: String,
        client_secret: Secret,
    },
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Header(_) => f.write_str("Auth::Header(<redacted>)"),
            Auth::ClientCredentials {
                token_path,
                client_id,
                ..
            } => f
                .debug_struct("Auth::ClientCredentials")
                .field("token_path", token_path)
                .field("client_id", client_id)
                .finish_non_exhaustive(),
        }
    }
}

/// The platform's own code and text, parsed from an error response body.
#[derive(Debug, Clone, Default)]
pub struct ApiError {
    pub code: Option<String>,
    pub message: Option<String>,
}

/// Turns an error response body into the platform's code and text (one per platform).
pub(crate) type ErrorParser = fn(status: u16, body: &[u8]) -> ApiError;

/// One request, described independently of any attempt so it can be sent again.
#[derive(Clone)]
pub struct Request {
    pub method: Method,
    /// The path with ids replaced by placeholders, for counting (`/api/v1/orgs/{org_id}/apitokens`).
    pub route: &'static str,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub json: Option<serde_json::Value>,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

impl Request {
    pub(crate) fn new(method: Method, route: &'static str, path: impl Into<String>) -> Request {
        Request {
            method,
            route,
            path: path.into(),
            query: Vec::new(),
            json: None,
        }
    }

    pub fn get(route: &'static str, path: impl Into<String>) -> Request {
        Request::new(Method::GET, route, path)
    }

    pub(crate) fn query(mut self, key: &str, value: impl Into<String>) -> Request {
        self.query.push((key.to_string(), value.into()));
        self
    }

    pub(crate) fn json(mut self, body: serde_json::Value) -> Request {
        self.json = Some(body);
        self
    }

    fn counted_as(&self) -> String {
        format!("{} {}", self.method, self.route)
    }
}

/// A successful (2xx) response.
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    target: String,
    what: String,
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Response({} {}, {} bytes)",
            self.what,
            self.status,
            self.body.len()
        )
    }
}

impl Response {
    /// Decodes the body; a body that does not match is a `Malformed` error naming the request.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, PlatformError> {
        let body: &[u8] = if self.body.iter().all(u8::is_ascii_whitespace) {
            b"null"
        } else {
            &self.body
        };
        serde_json::from_slice(body).map_err(|e| {
            PlatformError::new(
                &self.target,
                ErrorKind::Malformed,
                format!("unexpected response to {}: {e}", self.what),
            )
            .with_status(self.status)
        })
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// An error about this response's content, for the client's own checks.
    pub(crate) fn malformed(&self, what: impl fmt::Display) -> PlatformError {
        PlatformError::new(
            &self.target,
            ErrorKind::Malformed,
            format!("unexpected response to {}: {what}", self.what),
        )
        .with_status(self.status)
    }
}

/// One failed attempt and whether it may be retried.
#[derive(Debug)]
pub(crate) struct Failure {
    pub error: PlatformError,
    /// The platform's own code and text, when the failure was an error response.
    pub api: ApiError,
    pub transient: Transient,
    /// How long the attempt took, from sending it (queueing for a request slot excluded).
    pub elapsed: Duration,
}

/// Whether a failed attempt is worth repeating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transient {
    /// A definite answer (4xx other than 408/429): repeating changes nothing.
    No,
    /// 408, 429, 5xx or a connection error. `maybe_applied` is false only when the server
    /// certainly did not act (429, or the connection could not be opened): a create must
    /// check whether its object now exists before sending again otherwise.
    Yes {
        after: Option<Duration>,
        maybe_applied: bool,
    },
}

impl Failure {
    /// True when a write may have taken effect although no success was seen.
    pub(crate) fn maybe_applied(&self) -> bool {
        matches!(
            self.transient,
            Transient::Yes {
                maybe_applied: true,
                ..
            }
        )
    }
}

impl From<PlatformError> for Failure {
    fn from(error: PlatformError) -> Failure {
        Failure {
            error,
            api: ApiError::default(),
            transient: Transient::No,
            elapsed: Duration::ZERO,
        }
    }
}

struct CachedToken {
    header: Secret,
    refresh_at: Instant,
}

/// The HTTP layer of one target.
pub struct Http {
    target: String,
    base_url: String,
    client: reqwest::Client,
    auth: Auth,
    token: tokio::sync::Mutex<Option<CachedToken>>,
    options: ClientOptions,
    limiter: Option<TokenBucket>,
    permits: Semaphore,
    counts: Mutex<RequestCounts>,
    parse_error: ErrorParser,
}

impl fmt::Debug for Http {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http")
            .field("target", &self.target)
            .field("base_url", &self.base_url)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl Http {
    pub fn new(
        target: &str,
        base_url: &str,
        auth: Auth,
        rate_limit: Option<RateLimit>,
        options: &ClientOptions,
        parse_error: ErrorParser,
    ) -> Result<Http, PlatformError> {
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout)
            .read_timeout(options.idle_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("warrant/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                PlatformError::new(
                    target,
                    ErrorKind::Other,
                    format!("cannot build HTTP client: {e}"),
                )
            })?;
        let base_url = base_url.trim_end_matches('/').to_string();
        if let Some(problem) = crate::manifest::base_url_problems(&base_url).first() {
            // A URL with a user part is not quoted: that part is a secret.
            let shown = match problem {
                crate::manifest::BaseUrlProblem::UserInfo => "the base URL".to_string(),
                _ => format!("base URL {base_url:?}"),
            };
            return Err(PlatformError::new(
                target,
                ErrorKind::Other,
                format!("{shown} {problem}; no credential is sent to it"),
            )
            .with_hint(problem.hint()));
        }
        Ok(Http {
            target: target.to_string(),
            base_url,
            client,
            auth,
            token: tokio::sync::Mutex::new(None),
            options: options.clone(),
            limiter: rate_limit.map(TokenBucket::new),
            permits: Semaphore::new(options.parallelism.max(1)),
            counts: Mutex::new(RequestCounts::default()),
            parse_error,
        })
    }

    pub(crate) fn target(&self) -> &str {
        &self.target
    }

    pub(crate) fn options(&self) -> &ClientOptions {
        &self.options
    }

    pub fn request_counts(&self) -> RequestCounts {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// An error of this target.
    pub(crate) fn error(&self, kind: ErrorKind, message: impl Into<String>) -> PlatformError {
        PlatformError::new(&self.target, kind, message)
    }

    /// The error of a write not made because the fresh read before it shows a list it would
    /// send as unknown: writing the additions alone would replace what is live.
    pub(crate) fn unreadable(&self, field: &UnreadableField, read_with: &str) -> PlatformError {
        self.error(
            ErrorKind::Malformed,
            format!("{}; nothing was written", field.reason(read_with)),
        )
    }

    /// A fresh retry budget for one logical operation.
    pub(crate) fn backoff(&self) -> Backoff<'_> {
        Backoff {
            http: self,
            attempt: 1,
            spent: Duration::ZERO,
        }
    }

    /// Sends a request that may be repeated as it is (a read), retrying transient failures.
    pub async fn call(&self, request: &Request) -> Result<Response, PlatformError> {
        let mut backoff = self.backoff();
        loop {
            match self.send(request).await {
                Ok(r) => return Ok(r),
                Err(f) => backoff.wait(f).await?,
            }
        }
    }

    /// One attempt (with a single token re-fetch on 401 for client-credentials auth).
    /// Any non-2xx status is a [`Failure`].
    pub(crate) async fn send(&self, request: &Request) -> Result<Response, Failure> {
        let header = self.authorization(false).await?;
        let first = self.attempt(request, header.as_ref()).await;
        match first {
            Err(f)
                if f.error.status == Some(401)
                    && matches!(self.auth, Auth::ClientCredentials { .. }) =>
            {
                let header = self.authorization(true).await?;
                self.attempt(request, header.as_ref()).await
            }
            other => other,
        }
    }

    async fn attempt(
        &self,
        request: &Request,
        authorization: Option<&Secret>,
    ) -> Result<Response, Failure> {
        let url = format!("{}{}", self.base_url, request.path);
        let mut builder = self
            .client
            .request(request.method.clone(), &url)
            .header(reqwest::header::ACCEPT, "application/json");
        if !request.query.is_empty() {
            builder = builder.query(&request.query);
        }
        if let Some(body) = &request.json {
            builder = builder.json(body);
        }
        if let Some(h) = authorization {
            builder = builder.header(AUTHORIZATION, h.expose());
        }
        let built = builder.build().map_err(|e| {
            Failure::from(self.error(
                ErrorKind::Other,
                format!("cannot build request {} {url}: {e}", request.method),
            ))
        })?;
        let shown = redact(&format!("{} {}", request.method, built.url())).into_owned();
        self.execute(built, request.counted_as(), shown).await
    }

    /// Sends a built request under the concurrency bound and rate limit, counts and logs it,
    /// and classifies the outcome.
    async fn execute(
        &self,
        built: reqwest::Request,
        counted_as: String,
        shown: String,
    ) -> Result<Response, Failure> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Failure::from(self.error(ErrorKind::Other, "request queue closed")))?;
        if let Some(limiter) = &self.limiter {
            limiter.acquire(&self.target).await;
        }
        if let Ok(mut c) = self.counts.lock() {
            c.total += 1;
            *c.by_endpoint.entry(counted_as).or_default() += 1;
        }
        let started = Instant::now();
        let result = self.client.execute(built).await;
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(target = %self.target, request = %shown,
                    error = %redact(&e.to_string()),
                    elapsed_ms = started.elapsed().as_millis() as u64, "http error");
                return Err(self.transport_failure(&shown, e, started.elapsed()));
            }
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = match self.read_body(response, &shown, started).await {
            Ok(b) => b,
            Err(f) => {
                tracing::debug!(target = %self.target, request = %shown, status, error = %f.error,
                    elapsed_ms = started.elapsed().as_millis() as u64, "http body error");
                return Err(f);
            }
        };
        tracing::debug!(target = %self.target, request = %shown, status,
            elapsed_ms = started.elapsed().as_millis() as u64, "http");
        let response = Response {
            status,
            headers,
            body,
            target: self.target.clone(),
            what: shown,
        };
        if (200..300).contains(&status) {
            Ok(response)
        } else {
            let mut failure = self.status_failure(&response);
            failure.elapsed = started.elapsed();
            Err(failure)
        }
    }

    /// Reads a body chunk by chunk, counting: more than `max_body_bytes` fails at once
    /// (whatever `Content-Length` says), and the buffer only ever holds what arrived. Time
    /// bounds come from the client (`idle_timeout` per read, `request_timeout` overall).
    async fn read_body(
        &self,
        mut response: reqwest::Response,
        shown: &str,
        started: Instant,
    ) -> Result<Vec<u8>, Failure> {
        let max = self.options.max_body_bytes;
        let too_large = || Failure {
            error: self
                .error(
                    ErrorKind::TooLarge,
                    format!(
                        "{shown}: the response is larger than {}; it was not read further",
                        bytes_text(max)
                    ),
                )
                .with_hint("raise --max-response-mib if the platform really answers this much"),
            api: ApiError::default(),
            // A body this large would be as large again.
            transient: Transient::No,
            elapsed: started.elapsed(),
        };
        if response.content_length().is_some_and(|n| n > max) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if (body.len() as u64).saturating_add(chunk.len() as u64) > max {
                        return Err(too_large());
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => return Ok(body),
                Err(e) => return Err(self.transport_failure(shown, e, started.elapsed())),
            }
        }
    }

    fn transport_failure(&self, shown: &str, e: reqwest::Error, elapsed: Duration) -> Failure {
        let maybe_applied = !e.is_connect();
        // reqwest's Display of a request error names the URL, which holds no secret.
        let mut cause = String::new();
        let mut source: Option<&dyn std::error::Error> = std::error::Error::source(&e);
        while let Some(s) = source {
            cause = format!(": {s}");
            source = s.source();
        }
        let what = if e.is_timeout() {
            if elapsed >= self.options.request_timeout {
                format!(
                    "no complete answer within {} (request timeout)",
                    seconds_text(self.options.request_timeout)
                )
            } else {
                format!(
                    "timed out: no data for {} (idle timeout)",
                    seconds_text(self.options.idle_timeout)
                )
            }
        } else if e.is_connect() {
            "could not connect".to_string()
        } else {
            "connection failed".to_string()
        };
        Failure {
            error: self.error(ErrorKind::Unavailable, format!("{shown}: {what}{cause}")),
            api: ApiError::default(),
            transient: Transient::Yes {
                after: None,
                maybe_applied,
            },
            elapsed,
        }
    }

    fn status_failure(&self, response: &Response) -> Failure {
        let status = response.status;
        // Redacted before the platform's parser sees it: a parser may cut the text short,
        // and a secret cut in half would no longer be recognised.
        let body = redact(&String::from_utf8_lossy(&response.body)).into_owned();
        let api = (self.parse_error)(status, body.as_bytes());
        let kind = match status {
            400 | 409 | 422 => ErrorKind::Rejected,
            401 => ErrorKind::Credentials,
            403 => ErrorKind::Forbidden,
            404 => ErrorKind::NotFound,
            429 => ErrorKind::RateLimited,
            408 | 500..=599 => ErrorKind::Unavailable,
            _ => ErrorKind::Other,
        };
        let text = api.message.clone().unwrap_or_else(|| {
            response
                .status_text()
                .map(str::to_string)
                .unwrap_or_else(|| "no details".into())
        });
        let mut error = self
            .error(kind, format!("{} failed: {text}", response.what))
            .with_status(status);
        if let Some(code) = &api.code {
            error = error.with_code(code.clone());
        }
        if status == 401 {
            error =
                error.with_hint("the credential was refused; check that it is valid and current");
        }
        let transient = match status {
            429 => Transient::Yes {
                after: retry_after(&response.headers),
                maybe_applied: false,
            },
            408 | 500 | 502 | 503 | 504 => Transient::Yes {
                after: retry_after(&response.headers),
                maybe_applied: true,
            },
            _ => Transient::No,
        };
        Failure {
            error,
            api,
            transient,
            elapsed: Duration::ZERO,
        }
    }

    /// The `Authorization` header value; `refetch` discards a cached OAuth token.
    async fn authorization(&self, refetch: bool) -> Result<Option<Secret>, Failure> {
        let (token_path, client_id, client_secret) = match &self.auth {
            Auth::Header(h) => return Ok(Some(h.clone())),
            Auth::ClientCredentials {
                token_path,
                client_id,
                client_secret,
            } => (token_path, client_id, client_secret),
        };
        let mut cached = self.token.lock().await;
        if !refetch
            && let Some(t) = cached.as_ref()
            && Instant::now() < t.refresh_at
        {
            return Ok(Some(t.header.clone()));
        }
        let fetched = self
            .fetch_token(token_path, client_id, client_secret)
            .await
            .map_err(Failure::from)?;
        let header = fetched.header.clone();
        *cached = Some(fetched);
        Ok(Some(header))
    }

    async fn fetch_token(
        &self,
        token_path: &str,
        client_id: &str,
        client_secret: &Secret,
    ) -> Result<CachedToken, PlatformError> {
        #[derive(Deserialize)]
        struct TokenResponse {
            access_token: Option<String>,
            expires_in: Option<f64>,
        }
        let url = format!("{}{}", self.base_url, token_path);
        let mut backoff = self.backoff();
        let response = loop {
            let built = self
                .client
                .post(&url)
                .header(reqwest::header::ACCEPT, "application/json")
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id),
                    ("client_secret", client_secret.expose()),
                ])
                .build()
                .map_err(|e| {
                    self.error(ErrorKind::Other, format!("cannot build token request: {e}"))
                })?;
            let shown = redact(&format!("POST {}", built.url())).into_owned();
            match self
                .execute(built, format!("POST {token_path}"), shown)
                .await
            {
                Ok(r) => break r,
                Err(mut f) => {
                    if matches!(f.error.status, Some(400 | 401)) {
                        f.error.kind = ErrorKind::Credentials;
                        f.error.hint = Some(format!(
                            "the client id {client_id} or its secret was refused by {token_path}"
                        ));
                    }
                    backoff.wait(f).await?
                }
            }
        };
        let parsed: TokenResponse = response.json()?;
        let (Some(token), Some(lifetime)) = (parsed.access_token, parsed.expires_in) else {
            return Err(response.malformed("no access_token or expires_in"));
        };
        if !lifetime.is_finite() || lifetime <= 0.0 {
            return Err(response.malformed("expires_in is not a positive number"));
        }
        let lifetime = Duration::from_secs_f64(lifetime.min(1e9));
        let margin = Duration::from_secs(300).min(lifetime / 2);
        // Masked from now on, like the client secret it was bought with.
        Secret::in_use(token.as_str());
        Ok(CachedToken {
            header: Secret::new(format!("Bearer {token}")),
            refresh_at: Instant::now() + lifetime - margin,
        })
    }
}

impl Response {
    fn status_text(&self) -> Option<&'static str> {
        reqwest::StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
    }
}

/// The `Retry-After` header as a delay: seconds, or an HTTP date. A number of seconds too
/// large for any clock saturates (it is refused as too long anyway), never overflows.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(
            value.parse::<u64>().unwrap_or(u64::MAX),
        ));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// `12 s`, `1.5 s`, `250 ms`.
fn seconds_text(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// `64 MiB`, `3000 bytes`.
fn bytes_text(n: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else {
        format!("{n} bytes")
    }
}

/// The retry budget of one logical operation: exponential backoff with full jitter, or the
/// server's `Retry-After` when it sends one, within `max_attempts` and `retry_budget`.
pub(crate) struct Backoff<'a> {
    http: &'a Http,
    attempt: u32,
    /// Time spent on failed attempts and waits so far.
    spent: Duration,
}

impl Backoff<'_> {
    /// Waits before the next attempt, or returns the error when `failure` is final: not
    /// transient, attempts exhausted, a `Retry-After` the budget cannot hold, or a retry that
    /// would end after the budget if it took as long as this failed attempt.
    pub(crate) async fn wait(&mut self, failure: Failure) -> Result<(), PlatformError> {
        let options = &self.http.options;
        let Transient::Yes { after, .. } = failure.transient else {
            return Err(failure.error);
        };
        self.spent = self.spent.saturating_add(failure.elapsed);
        let budget = options.retry_budget;
        let fits = |wait: Duration| {
            self.spent
                .saturating_add(wait)
                .saturating_add(failure.elapsed)
                <= budget
        };
        if let Some(after) = after
            && !fits(after)
        {
            let mut error = failure.error;
            error.kind = ErrorKind::RateLimited;
            let when = SystemTime::now()
                .checked_add(after)
                .map(|t| format!("; retry after {}", httpdate::fmt_http_date(t)))
                .unwrap_or_default();
            error.hint = Some(format!(
                "the server asks to wait {} s, more than the {} retry budget allows{when}",
                after.as_secs(),
                seconds_text(budget)
            ));
            return Err(error);
        }
        if self.attempt >= options.max_attempts {
            let mut error = failure.error;
            error.message = format!(
                "{} (gave up after {} attempts)",
                error.message, self.attempt
            );
            return Err(error);
        }
        let delay = after.unwrap_or_else(|| {
            let exp = options
                .backoff_base
                .saturating_mul(2u32.saturating_pow(self.attempt - 1));
            let ceiling = exp.min(options.backoff_cap);
            ceiling.mul_f64(rand::rng().random_range(0.0..=1.0))
        });
        if !fits(delay) {
            let mut error = failure.error;
            error.message = format!(
                "{} (gave up after {} attempts in {}: another would not end within the {} retry budget)",
                error.message,
                self.attempt,
                seconds_text(self.spent),
                seconds_text(budget)
            );
            return Err(error);
        }
        tracing::debug!(target = %self.http.target, attempt = self.attempt,
            delay_ms = delay.as_millis() as u64, error = %failure.error, "retrying");
        self.attempt += 1;
        self.spent = self.spent.saturating_add(delay);
        let reason = match after {
            Some(_) => super::wait::WaitReason::RetryAfter,
            None => super::wait::WaitReason::Backoff {
                attempt: self.attempt,
            },
        };
        let _told = super::wait::announce(&self.http.target, reason, Some(delay));
        tokio::time::sleep(delay).await;
        Ok(())
    }
}

/// A token bucket: refills at `requests / per`, holds at most a sixtieth of the window (at
/// least one), so short bursts stay well inside the platform's own window. Callers reserve
/// a token and wait for their turn, which keeps the order fair.
struct TokenBucket {
    /// The window of the platform's limit, to say which limit a wait is for.
    per: Duration,
    rate_per_sec: f64,
    capacity: f64,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    fn new(limit: RateLimit) -> TokenBucket {
        let requests = f64::from(limit.requests.max(1));
        let capacity = (requests / 60.0).floor().max(1.0);
        TokenBucket {
            per: limit.per,
            rate_per_sec: requests / limit.per.as_secs_f64().max(0.001),
            capacity,
            state: Mutex::new((capacity, Instant::now())),
        }
    }

    async fn acquire(&self, target: &str) {
        let wait = {
            let Ok(mut state) = self.state.lock() else {
                return;
            };
            let now = Instant::now();
            let (tokens, last) = *state;
            let refilled = (tokens + now.duration_since(last).as_secs_f64() * self.rate_per_sec)
                .min(self.capacity);
            let left = refilled - 1.0;
            *state = (left, now);
            if left >= 0.0 {
                None
            } else {
                Some(Duration::from_secs_f64(-left / self.rate_per_sec))
            }
        };
        if let Some(wait) = wait {
            let _told = super::wait::announce(
                target,
                super::wait::WaitReason::RateLimit { per: self.per },
                Some(wait),
            );
            tokio::time::sleep(wait).await;
        }
    }
}

/// Error text of a body that is not JSON: its first line, shortened.
pub fn plain_text(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    Some(line.chars().take(300).collect())
}
