//! A scriptable fake server for hostile-server tests: a proxy on 127.0.0.1 (OS-chosen port) in
//! front of one sandbox simulator, whose answers per route the test scripts.
//!
//! Each request is matched against the test's rules (method and a path pattern in which `*`
//! stands for one segment); the first rule that matches answers it, and anything unmatched is
//! forwarded unchanged. A rule can forward and rewrite what the sandbox answered (drop a
//! list, cut a page, lie about a total), forward a changed request (ignore `skip`, cap the
//! page size), answer on its own without forwarding (a 429, an echo of a write that is never
//! stored), or stream a body that never ends or drips. The sandbox behind the proxy keeps the
//! real state, so a test asserts on what was really stored: nothing removed, nothing
//! duplicated.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use futures::future::BoxFuture;
use serde_json::Value;

/// One request as the fake received it, and the way to its upstream.
#[derive(Clone)]
pub struct Exchange {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
    upstream: String,
    client: reqwest::Client,
}

/// What the upstream answered, for a rule to change before it is sent on.
pub struct Upstream {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Upstream {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn set_json(&mut self, value: &Value) {
        self.body = Bytes::from(serde_json::to_vec(value).unwrap());
    }

    pub fn set_header(&mut self, name: &str, value: impl ToString) {
        self.headers.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(&value.to_string()).unwrap(),
        );
    }

    pub fn remove_header(&mut self, name: &str) {
        self.headers.remove(name);
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

impl IntoResponse for Upstream {
    fn into_response(self) -> Response {
        let mut response = Response::new(Body::from(self.body));
        *response.status_mut() = self.status;
        for (name, value) in &self.headers {
            if !matches!(
                name.as_str(),
                "content-length" | "transfer-encoding" | "connection"
            ) {
                response.headers_mut().insert(name.clone(), value.clone());
            }
        }
        response
    }
}

impl Exchange {
    pub fn query_value(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The request body as JSON (`null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// Sets a query parameter (replacing it when present).
    pub fn set_query(&mut self, key: &str, value: impl ToString) {
        self.query.retain(|(k, _)| k != key);
        self.query.push((key.to_string(), value.to_string()));
    }

    /// Replaces the request body with this JSON.
    pub fn set_json(&mut self, value: &Value) {
        self.body = Bytes::from(serde_json::to_vec(value).unwrap());
    }

    /// Sends the request on (as a rule may have changed it).
    pub async fn forward(&self) -> Upstream {
        let mut builder = self
            .client
            .request(
                self.method.clone(),
                format!("{}{}", self.upstream, self.path),
            )
            .query(&self.query)
            .body(self.body.clone());
        for (name, value) in &self.headers {
            if !matches!(
                name.as_str(),
                "host" | "content-length" | "connection" | "transfer-encoding"
            ) {
                builder = builder.header(name, value);
            }
        }
        let response = builder.send().await.expect("the sandbox answers");
        Upstream {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.bytes().await.expect("the sandbox's body"),
        }
    }

    /// A request of the fake's own to the upstream, with this request's credentials: what
    /// "someone else" does while the client under test is between two requests.
    pub async fn upstream_request(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Upstream {
        let mut builder = self
            .client
            .request(method, format!("{}{path}", self.upstream));
        if let Some(auth) = self.headers.get("authorization") {
            builder = builder.header("authorization", auth);
        }
        if let Some(body) = body {
            builder = builder.json(&body);
        }
        let response = builder.send().await.expect("the sandbox answers");
        Upstream {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.bytes().await.expect("the sandbox's body"),
        }
    }
}

/// How a rule answers.
pub type Handler = Arc<dyn Fn(Exchange) -> BoxFuture<'static, Response> + Send + Sync>;

struct Rule {
    method: Method,
    pattern: String,
    /// Requests this rule still answers; `None`: all of them.
    remaining: Option<usize>,
    handler: Handler,
}

struct Inner {
    upstream: String,
    client: reqwest::Client,
    rules: Mutex<Vec<Rule>>,
    /// `METHOD path?query` of every request, and whether a rule answered it.
    seen: Mutex<Vec<(String, bool)>>,
}

/// The proxy. Dropping it stops it.
pub struct FakeServer {
    pub url: String,
    inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeServer {
    /// A proxy in front of `upstream` (a sandbox simulator's base URL).
    pub async fn start(upstream: &str) -> FakeServer {
        let inner = Arc::new(Inner {
            upstream: upstream.trim_end_matches('/').to_string(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            rules: Mutex::new(Vec::new()),
            seen: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeServer { url, inner, task }
    }

    /// Answers every `method` request whose path matches `pattern` with `handler`.
    pub fn on(&self, method: Method, pattern: &str, handler: Handler) {
        self.add(method, pattern, None, handler);
    }

    /// Answers the next `times` matching requests with `handler`; later ones go on.
    pub fn on_times(&self, times: usize, method: Method, pattern: &str, handler: Handler) {
        self.add(method, pattern, Some(times), handler);
    }

    fn add(&self, method: Method, pattern: &str, remaining: Option<usize>, handler: Handler) {
        self.inner.rules.lock().unwrap().push(Rule {
            method,
            pattern: pattern.to_string(),
            remaining,
            handler,
        });
    }

    /// Removes every rule: from now on everything is forwarded unchanged.
    pub fn clear(&self) {
        self.inner.rules.lock().unwrap().clear();
    }

    /// `METHOD path?query` of every request so far.
    pub fn seen(&self) -> Vec<String> {
        self.inner
            .seen
            .lock()
            .unwrap()
            .iter()
            .map(|(r, _)| r.clone())
            .collect()
    }

    /// How many requests a rule answered.
    pub fn scripted(&self) -> usize {
        self.inner
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, by_rule)| *by_rule)
            .count()
    }
}

fn matches(pattern: &str, path: &str) -> bool {
    let (p, q): (Vec<&str>, Vec<&str>) = (
        pattern.trim_end_matches('/').split('/').collect(),
        path.trim_end_matches('/').split('/').collect(),
    );
    p.len() == q.len() && p.iter().zip(&q).all(|(a, b)| *a == "*" || a == b)
}

async fn handle(State(inner): State<Arc<Inner>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let query: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let exchange = Exchange {
        method: parts.method.clone(),
        path: parts.uri.path().to_string(),
        query,
        headers: parts.headers.clone(),
        body,
        upstream: inner.upstream.clone(),
        client: inner.client.clone(),
    };
    let handler = {
        let mut rules = inner.rules.lock().unwrap();
        rules
            .iter_mut()
            .find(|r| {
                r.method == exchange.method
                    && matches(&r.pattern, &exchange.path)
                    && r.remaining != Some(0)
            })
            .map(|r| {
                if let Some(n) = r.remaining.as_mut() {
                    *n -= 1;
                }
                r.handler.clone()
            })
    };
    inner.seen.lock().unwrap().push((
        format!(
            "{} {}{}",
            exchange.method,
            exchange.path,
            parts
                .uri
                .query()
                .map(|q| format!("?{q}"))
                .unwrap_or_default()
        ),
        handler.is_some(),
    ));
    match handler {
        Some(h) => h(exchange).await,
        None => exchange.forward().await.into_response(),
    }
}

// ------------------------------------------------------------------------------ handlers

/// Forwards, then lets `f` change the upstream answer.
pub fn rewrite(f: impl Fn(&Exchange, &mut Upstream) + Send + Sync + 'static) -> Handler {
    let f = Arc::new(f);
    Arc::new(move |exchange| {
        let f = f.clone();
        Box::pin(async move {
            let mut upstream = exchange.forward().await;
            f(&exchange, &mut upstream);
            upstream.into_response()
        })
    })
}

/// Forwards the request as `prepare` changes it (its query, its body), then lets `f` change
/// the answer.
pub fn rewrite_forward(
    prepare: impl Fn(&mut Exchange) + Send + Sync + 'static,
    f: impl Fn(&Exchange, &mut Upstream) + Send + Sync + 'static,
) -> Handler {
    let (prepare, f) = (Arc::new(prepare), Arc::new(f));
    Arc::new(move |mut exchange| {
        let (prepare, f) = (prepare.clone(), f.clone());
        Box::pin(async move {
            prepare(&mut exchange);
            let mut upstream = exchange.forward().await;
            f(&exchange, &mut upstream);
            upstream.into_response()
        })
    })
}

/// Forwards, and before answering lets `then` act on the upstream as someone else would (the
/// answer is what the upstream said before that).
pub fn forward_then(
    then: impl Fn(Exchange) -> BoxFuture<'static, ()> + Send + Sync + 'static,
) -> Handler {
    let then = Arc::new(then);
    Arc::new(move |exchange| {
        let then = then.clone();
        Box::pin(async move {
            let upstream = exchange.forward().await;
            then(exchange).await;
            upstream.into_response()
        })
    })
}

/// Rewrites the JSON body of the upstream answer.
pub fn rewrite_json(f: impl Fn(&Exchange, &mut Value) + Send + Sync + 'static) -> Handler {
    rewrite(move |exchange, upstream| {
        let mut body = upstream.json();
        f(exchange, &mut body);
        upstream.set_json(&body);
    })
}

/// Answers without forwarding: a status, headers and a body.
pub fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> Handler {
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let body = Bytes::from(body.to_string());
    Arc::new(move |_| {
        let mut response = Response::new(Body::from(body.clone()));
        *response.status_mut() = StatusCode::from_u16(status).unwrap();
        for (k, v) in &headers {
            response.headers_mut().insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        Box::pin(async move { response })
    })
}

/// Answers 200 with the JSON `f` builds from the request, without forwarding: a write that is
/// echoed and never stored.
pub fn answer_json(f: impl Fn(&Exchange) -> Value + Send + Sync + 'static) -> Handler {
    let f = Arc::new(f);
    Arc::new(move |exchange| {
        let body = f(&exchange);
        Box::pin(async move { axum::Json(body).into_response() })
    })
}

/// A 200 whose body never ends: `[` and then spaces, 64 KiB at a time.
pub fn endless_body() -> Handler {
    Arc::new(|_| {
        let chunk = Bytes::from(vec![b' '; 64 * 1024]);
        let stream = futures::stream::once(async { Ok::<_, std::io::Error>(Bytes::from("[")) })
            .chain(futures::stream::repeat(chunk).map(Ok::<_, std::io::Error>));
        Box::pin(async move { json_stream(Body::from_stream(stream)) })
    })
}

/// A 200 whose body arrives one byte every `every`, and never ends.
pub fn drip(every: Duration) -> Handler {
    Arc::new(move |_| {
        let stream = futures::stream::unfold(0u64, move |n| async move {
            if n > 0 {
                tokio::time::sleep(every).await;
            }
            let byte = if n == 0 { "[" } else { " " };
            Some((Ok::<_, std::io::Error>(Bytes::from(byte)), n + 1))
        });
        Box::pin(async move { json_stream(Body::from_stream(stream)) })
    })
}

fn json_stream(body: Body) -> Response {
    let mut response = Response::new(body);
    response.headers_mut().insert(
        HeaderName::from_static("content-type"),
        HeaderValue::from_static("application/json"),
    );
    response
}
