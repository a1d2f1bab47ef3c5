//! Local simulators of the Atlan, CONNECT and Mist APIs (axum), seeded from YAML, with fault
//! injection and request counting. Used by `warrant sandbox`, `warrant demo`, every
//! integration test and the benchmarks.
//!
//! Layout: [`seed`] holds the seed types (which are also the simulators' state), [`faults`] the
//! fault spec and its seeded roller, and `atlan.rs`, `connect.rs`, `mist.rs` one simulator each,
//! following `contracts/{atlan,connect,mist}.md` (Atlan's hosts `atlan_query.rs`, its search
//! DSL, and `atlan_workflows.rs`, the package workflow engine of `contracts/atlan-workflows.md`).
//! This file is the shared machinery: one
//! listener per platform, served by hyper directly so that an injected "drop" can close the
//! connection without any response; a route layer that counts requests and applies faults;
//! and the `/_sandbox/*` introspection routes present on every listener.

// Handlers return the platform's error `Response` as the `Err` of small helpers; it is large
// but built once per failed request, so boxing it would only add noise.
#[allow(clippy::result_large_err)]
mod atlan;
#[allow(clippy::result_large_err)]
mod connect;
pub mod faults;
#[allow(clippy::result_large_err)]
mod mist;
pub mod seed;

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use hyper_util::rt::TokioIo;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower::ServiceExt;

pub use faults::{FaultSpec, Faults};
pub use seed::Seed;

use faults::{Outcome, Roller};

/// What can go wrong starting or configuring the sandbox.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("invalid sandbox seed: {0}")]
    Seed(String),
    #[error("invalid fault spec: {0}")]
    Faults(String),
    #[error("cannot listen on {addr} for {platform}: {source}")]
    Bind {
        platform: &'static str,
        addr: String,
        source: std::io::Error,
    },
}

/// Where the listeners bind.
#[derive(Debug, Clone)]
pub struct StartOptions {
    pub host: String,
    /// `None` lets the OS choose.
    pub atlan_port: Option<u16>,
    pub connect_port: Option<u16>,
    pub mist_port: Option<u16>,
}

impl Default for StartOptions {
    fn default() -> Self {
        StartOptions {
            host: "127.0.0.1".to_string(),
            atlan_port: None,
            connect_port: None,
            mist_port: None,
        }
    }
}

/// A running sandbox: three base URLs and control over state, faults and counters.
/// Dropping the handle stops the listeners as well.
pub struct SandboxHandle {
    /// Base URL of the Atlan simulator, like `http://127.0.0.1:PORT`.
    pub atlan: String,
    pub connect: String,
    pub mist: String,
    control: Arc<Control>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for SandboxHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxHandle")
            .field("atlan", &self.atlan)
            .field("connect", &self.connect)
            .field("mist", &self.mist)
            .finish_non_exhaustive()
    }
}

impl SandboxHandle {
    /// The whole state as JSON, the same as `GET /_sandbox/state`.
    pub fn state(&self) -> Value {
        self.control.state()
    }

    /// Requests per `"<platform> METHOD route"`, e.g. `"atlan GET /api/service/apikeys"`.
    pub fn request_counts(&self) -> BTreeMap<String, u64> {
        lock(&self.control.log).counts.clone()
    }

    pub fn set_faults(&self, faults: Faults) {
        self.control.set_faults(faults);
    }

    /// Back to the seed; request counters and the log cleared, fault RNGs re-seeded.
    pub fn reset(&self) {
        self.control.reset();
    }

    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Starts the three simulators on 127.0.0.1 with OS-chosen ports.
pub async fn start(seed: Seed, faults: Faults) -> Result<SandboxHandle, SandboxError> {
    start_with(seed, faults, StartOptions::default()).await
}

/// Starts the three simulators on the given host and ports.
pub async fn start_with(
    seed: Seed,
    faults: Faults,
    options: StartOptions,
) -> Result<SandboxHandle, SandboxError> {
    let log = Arc::new(Mutex::new(RequestLog::default()));
    let atlan = Sim::<atlan::Atlan>::new(seed.atlan, faults.atlan.clone(), log.clone());
    let connect = Sim::<connect::Connect>::new(seed.connect, faults.connect.clone(), log.clone());
    let mist = Sim::<mist::Mist>::new(seed.mist, faults.mist.clone(), log.clone());
    let control = Arc::new(Control {
        atlan: atlan.clone(),
        connect: connect.clone(),
        mist: mist.clone(),
        log,
        faults: Mutex::new(faults),
    });
    let (stop, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let mut urls = Vec::new();
    for (name, port, app, canonical) in [
        (
            "atlan",
            options.atlan_port,
            app(atlan, &control),
            atlan::Atlan::canonical_path as PathCanon,
        ),
        (
            "connect",
            options.connect_port,
            app(connect, &control),
            connect::Connect::canonical_path,
        ),
        (
            "mist",
            options.mist_port,
            app(mist, &control),
            mist::Mist::canonical_path,
        ),
    ] {
        let addr = format!("{}:{}", options.host, port.unwrap_or(0));
        let listener = TcpListener::bind(&addr)
            .await
            .map_err(|source| SandboxError::Bind {
                platform: name,
                addr: addr.clone(),
                source,
            })?;
        let local = listener.local_addr().map_err(|source| SandboxError::Bind {
            platform: name,
            addr,
            source,
        })?;
        urls.push(format!("http://{local}"));
        tasks.push(tokio::spawn(serve(
            listener,
            app,
            canonical,
            stop_rx.clone(),
        )));
    }
    let mist_url = urls.pop().unwrap_or_default();
    let connect_url = urls.pop().unwrap_or_default();
    let atlan_url = urls.pop().unwrap_or_default();
    Ok(SandboxHandle {
        atlan: atlan_url,
        connect: connect_url,
        mist: mist_url,
        control,
        stop,
        tasks,
    })
}

// ---------------------------------------------------------------------------------------------
// One simulator

/// Rewrites a request path before routing (CONNECT matches paths case-insensitively).
type PathCanon = fn(&str) -> Option<String>;

/// What each platform simulator provides to the shared machinery.
pub(crate) trait Platform: Sized + Send + 'static {
    const NAME: &'static str;
    type Seed: Clone + Send + Sync + 'static;

    fn from_seed(seed: &Self::Seed) -> Self;
    /// The state as JSON, credentials left out.
    fn snapshot(&self) -> Value;
    /// A foreign writer adds something to a random live object.
    fn foreign_write(&mut self, rng: &mut StdRng);
    /// Brings state that changes with time up to date (Atlan's workflow runs finish on a
    /// clock). Called before each request is served and before the state is shown, so no
    /// observer can tell it from a background process.
    fn advance(&mut self) {}
    /// The platform's own response for an injected error status.
    fn fault_response(status: StatusCode, retry_after: Option<u64>) -> Response;
    /// The platform's own 404 for a path it does not serve.
    fn not_found() -> Response;
    /// The platform's own error body for a status the HTTP layer decided (a method the route
    /// does not have, a body over the size limit).
    fn error(status: StatusCode, message: &str) -> Response;
    fn routes() -> Router<Arc<Sim<Self>>>;
    fn canonical_path(_path: &str) -> Option<String> {
        None
    }
    /// Whether a request to `route` (the matched route pattern) changes state, for the
    /// `lostResponse` fault: by default every method but GET and HEAD.
    fn is_write(method: &Method, _route: &str) -> bool {
        !matches!(*method, Method::GET | Method::HEAD)
    }
    /// A last layer over the whole router (CONNECT adds `Operation-Id`).
    fn finish(router: Router) -> Router {
        router
    }
}

/// One platform's simulator: its state, its seed (for reset) and its fault roller.
pub(crate) struct Sim<P: Platform> {
    pub(crate) state: Mutex<P>,
    seed: P::Seed,
    roller: Mutex<Roller>,
    log: Arc<Mutex<RequestLog>>,
}

impl<P: Platform> Sim<P> {
    fn new(seed: P::Seed, faults: FaultSpec, log: Arc<Mutex<RequestLog>>) -> Arc<Sim<P>> {
        Arc::new(Sim {
            state: Mutex::new(P::from_seed(&seed)),
            seed,
            roller: Mutex::new(Roller::new(faults)),
            log,
        })
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, P> {
        lock(&self.state)
    }

    fn observed_snapshot(&self) -> Value {
        let mut state = self.state();
        state.advance();
        state.snapshot()
    }

    fn reset(&self) {
        *lock(&self.state) = P::from_seed(&self.seed);
        let spec = lock(&self.roller).spec().clone();
        *lock(&self.roller) = Roller::new(spec);
    }
}

/// A poisoned lock only means a handler panicked mid-way; the state is still the best we have.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn app<P: Platform>(sim: Arc<Sim<P>>, control: &Arc<Control>) -> Router {
    let platform = P::routes()
        .route_layer(middleware::from_fn_with_state(
            sim.clone(),
            fault_layer::<P>,
        ))
        .fallback(unmatched::<P>)
        .with_state(sim);
    P::finish(platform.merge(control_routes(control.clone())))
}

/// Marks a response that must not be sent: the connection is closed instead.
#[derive(Clone, Copy)]
struct DropConnection;

#[derive(Debug, thiserror::Error)]
#[error("connection dropped by an injected fault")]
struct Dropped;

/// Counts the request, then applies this platform's faults (never to `/_sandbox` routes, which
/// are outside this layer).
async fn fault_layer<P: Platform>(
    State(sim): State<Arc<Sim<P>>>,
    req: Request,
    next: Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| req.uri().path().to_string());
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let decision = lock(&sim.roller).roll();
    if !decision.delay.is_zero() {
        tokio::time::sleep(decision.delay).await;
    }
    if let Some(seed) = decision.foreign {
        sim.state().foreign_write(&mut StdRng::seed_from_u64(seed));
        lock(&sim.log).foreign_writes += 1;
    }
    let (response, fault) = match decision.outcome {
        Outcome::Drop => {
            let mut r = StatusCode::INTERNAL_SERVER_ERROR.into_response();
            r.extensions_mut().insert(DropConnection);
            (r, Some("drop".to_string()))
        }
        Outcome::LoseResponse if P::is_write(&method, &route) => {
            sim.state().advance();
            // The write is applied; only its answer is lost on the way back.
            let mut r = in_platform_shape::<P>(&method, next.run(req).await).await;
            r.extensions_mut().insert(DropConnection);
            (r, Some("lostResponse".to_string()))
        }
        Outcome::Serve | Outcome::LoseResponse => {
            sim.state().advance();
            (
                in_platform_shape::<P>(&method, next.run(req).await).await,
                None,
            )
        }
        Outcome::Status {
            status,
            retry_after,
        } => {
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (
                P::fault_response(code, retry_after),
                Some(format!("status {status}")),
            )
        }
    };
    lock(&sim.log).record(
        format!("{} {method} {route}", P::NAME),
        P::NAME,
        &method,
        path,
        response.status().as_u16(),
        fault,
    );
    response
}

/// The largest request body a simulator reads (axum's default); a larger one is 413.
const BODY_LIMIT: &str = "2 MB";

/// axum answers a method the route lacks with an empty 405, a body over the limit with a
/// plain-text 413, and a path it cannot decode with a plain-text 400; a real API answers in
/// its own error shape, which clients parse. Handlers only ever answer JSON (or nothing), so
/// an empty 405 and any plain-text error come from axum.
async fn in_platform_shape<P: Platform>(method: &Method, response: Response) -> Response {
    let status = response.status();
    let content_type = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let plain_text = content_type.is_some_and(|v| v.starts_with("text/plain"));
    // A handler's own JSON error is already in the platform's shape.
    if content_type.is_some_and(|v| v.contains("json")) {
        return response;
    }
    let message = match status {
        StatusCode::METHOD_NOT_ALLOWED => format!("Method \"{method}\" not allowed."),
        StatusCode::PAYLOAD_TOO_LARGE => {
            format!("Request body too large (the limit is {BODY_LIMIT}).")
        }
        s if s.is_client_error() && plain_text => {
            let (_, body) = response.into_parts();
            let text = axum::body::to_bytes(body, 64 * 1024)
                .await
                .map(|b| String::from_utf8_lossy(&b).trim().to_string())
                .unwrap_or_default();
            return P::error(status, &text);
        }
        _ => return response,
    };
    let mut shaped = P::error(status, &message);
    if let Some(allow) = response.headers().get(axum::http::header::ALLOW) {
        shaped
            .headers_mut()
            .insert(axum::http::header::ALLOW, allow.clone());
    }
    shaped
}

async fn unmatched<P: Platform>(State(sim): State<Arc<Sim<P>>>, req: Request) -> Response {
    let method = req.method().clone();
    let response = P::not_found();
    lock(&sim.log).record(
        format!("{} {method} (unmatched)", P::NAME),
        P::NAME,
        &method,
        req.uri().path().to_string(),
        response.status().as_u16(),
        None,
    );
    response
}

/// Serves one listener until `stop` flips or its sender is dropped.
async fn serve(
    listener: TcpListener,
    app: Router,
    canonical: PathCanon,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors and the like: keep serving the connections we have.
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
                let app = app.clone();
                async move {
                    if let Some(path) = canonical(req.uri().path()) {
                        let rebuilt = match req.uri().query() {
                            Some(q) => format!("{path}?{q}"),
                            None => path,
                        };
                        if let Ok(uri) = rebuilt.parse::<Uri>() {
                            *req.uri_mut() = uri;
                        }
                    }
                    let response = app
                        .oneshot(req.map(Body::new))
                        .await
                        .unwrap_or_else(|e: Infallible| match e {});
                    if response.extensions().get::<DropConnection>().is_some() {
                        // An error from the service makes hyper close the connection without
                        // writing a response.
                        return Err(Dropped);
                    }
                    Ok(response)
                }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                _ = stop.changed() => {}
            }
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Introspection shared by the three listeners

#[derive(Default)]
struct RequestLog {
    counts: BTreeMap<String, u64>,
    entries: VecDeque<Value>,
    seq: u64,
    foreign_writes: u64,
}

/// The log keeps the most recent entries only, so long benchmarks stay small.
const LOG_CAPACITY: usize = 10_000;

impl RequestLog {
    fn record(
        &mut self,
        key: String,
        platform: &str,
        method: &Method,
        path: String,
        status: u16,
        fault: Option<String>,
    ) {
        *self.counts.entry(key).or_insert(0) += 1;
        self.seq += 1;
        if self.entries.len() == LOG_CAPACITY {
            self.entries.pop_front();
        }
        self.entries.push_back(json!({
            "seq": self.seq,
            "platform": platform,
            "method": method.as_str(),
            "path": path,
            "status": status,
            "fault": fault,
        }));
    }
}

struct Control {
    atlan: Arc<Sim<atlan::Atlan>>,
    connect: Arc<Sim<connect::Connect>>,
    mist: Arc<Sim<mist::Mist>>,
    log: Arc<Mutex<RequestLog>>,
    faults: Mutex<Faults>,
}

impl Control {
    fn state(&self) -> Value {
        let faults = lock(&self.faults).clone();
        json!({
            "atlan": self.atlan.observed_snapshot(),
            "connect": self.connect.observed_snapshot(),
            "mist": self.mist.observed_snapshot(),
            "faults": {
                "atlan": faults.atlan.to_string(),
                "connect": faults.connect.to_string(),
                "mist": faults.mist.to_string(),
            },
            "foreignWrites": lock(&self.log).foreign_writes,
        })
    }

    fn reset(&self) {
        self.atlan.reset();
        self.connect.reset();
        self.mist.reset();
        *lock(&self.log) = RequestLog::default();
    }

    fn set_faults(&self, faults: Faults) {
        *lock(&self.atlan.roller) = Roller::new(faults.atlan.clone());
        *lock(&self.connect.roller) = Roller::new(faults.connect.clone());
        *lock(&self.mist.roller) = Roller::new(faults.mist.clone());
        *lock(&self.faults) = faults;
    }
}

fn control_routes(control: Arc<Control>) -> Router {
    Router::new()
        .route("/_sandbox/state", get(sandbox_state))
        .route("/_sandbox/requests", get(sandbox_requests))
        .route("/_sandbox/reset", post(sandbox_reset))
        .route("/_sandbox/faults", put(sandbox_faults))
        .with_state(control)
}

async fn sandbox_state(State(control): State<Arc<Control>>) -> Response {
    axum::Json(control.state()).into_response()
}

async fn sandbox_requests(State(control): State<Arc<Control>>) -> Response {
    let log = lock(&control.log);
    axum::Json(json!({
        "counts": log.counts,
        "log": log.entries,
    }))
    .into_response()
}

async fn sandbox_reset(State(control): State<Arc<Control>>) -> Response {
    control.reset();
    StatusCode::NO_CONTENT.into_response()
}

/// Body: a spec string (`p500=0.1,seed=7`), as plain text or as a JSON string, or a JSON object
/// of key → value. An empty body clears all faults.
async fn sandbox_faults(State(control): State<Arc<Control>>, body: Bytes) -> Response {
    let text = String::from_utf8_lossy(&body);
    let parsed = match serde_json::from_str::<Value>(&text) {
        Ok(v) => Faults::from_json(&v),
        Err(_) => text.parse::<Faults>(),
    };
    match parsed {
        Ok(faults) => {
            control.set_faults(faults);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}

// ---------------------------------------------------------------------------------------------
// Small helpers shared by the simulators

/// Decoded query pairs in order (repeated keys kept, `+` as space).
pub(crate) fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub(crate) fn query_value<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The credential after `scheme` in the Authorization header (`Bearer`, `Token`).
pub(crate) fn auth_credential<'a>(headers: &'a HeaderMap, scheme: &str) -> Option<&'a str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (given, rest) = value.split_once(' ')?;
    given
        .eq_ignore_ascii_case(scheme)
        .then(|| rest.trim())
        .filter(|s| !s.is_empty())
}

pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A JSON response with the given status.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// A random alphanumeric string (keys, access tokens).
pub(crate) fn random_alnum(len: usize) -> String {
    use rand::Rng;
    use rand::distr::Alphanumeric;
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}
