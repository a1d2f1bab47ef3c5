//! The shared HTTP layer against a scripted server on 127.0.0.1: retries, `Retry-After`,
//! the cap, dropped connections, the rate limiter, the OAuth token cache and redaction.
//!
//! The server is a few lines of raw TCP so a test can also drop a connection mid-request.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use warrant::platform::http::{Auth, Http, RateLimit, Request};
use warrant::platform::{ClientOptions, ErrorKind};
use warrant::secret::Secret;

/// What the server saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    authorization: Option<String>,
    at: Instant,
}

/// What the server does with one request.
enum Reply {
    Status(u16, Vec<(String, String)>, String),
    /// 200 after a pause (to observe concurrency).
    Slow(Duration),
    Drop,
}

fn ok(body: &str) -> Reply {
    Reply::Status(200, vec![], body.to_string())
}

type Handler = Box<dyn Fn(usize, &Seen) -> Reply + Send + Sync>;

struct Server {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// (requests being answered now, the most ever at once)
    in_flight: Arc<Mutex<(usize, usize)>>,
}

impl Server {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn serve(handler: impl Fn(usize, &Seen) -> Reply + Send + Sync + 'static) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let in_flight = Arc::new(Mutex::new((0usize, 0usize)));
    let handler: Arc<Handler> = Arc::new(Box::new(handler));
    let log = seen.clone();
    let flight = in_flight.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let log = log.clone();
            let handler = handler.clone();
            let flight = flight.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    let Ok(n) = socket.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break p + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let header = |name: &str| {
                    head.lines().find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
                    })
                };
                let length: usize = header("content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                while buf.len() < head_end + length {
                    let Ok(n) = socket.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let path = head
                    .lines()
                    .next()
                    .and_then(|l| l.split(' ').nth(1))
                    .unwrap_or("")
                    .to_string();
                let request = Seen {
                    path,
                    authorization: header("authorization"),
                    at: Instant::now(),
                };
                let index = {
                    let mut log = log.lock().unwrap();
                    log.push(request.clone());
                    log.len() - 1
                };
                let mut reply = handler(index, &request);
                if let Reply::Slow(pause) = reply {
                    {
                        let mut f = flight.lock().unwrap();
                        f.0 += 1;
                        f.1 = f.1.max(f.0);
                    }
                    tokio::time::sleep(pause).await;
                    flight.lock().unwrap().0 -= 1;
                    reply = ok("{}");
                }
                match reply {
                    Reply::Drop | Reply::Slow(_) => drop(socket),
                    Reply::Status(status, headers, body) => {
                        let mut out = format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                            body.len()
                        );
                        for (k, v) in headers {
                            out.push_str(&format!("{k}: {v}\r\n"));
                        }
                        out.push_str("\r\n");
                        out.push_str(&body);
                        let _ = socket.write_all(out.as_bytes()).await;
                        let _ = socket.shutdown().await;
                    }
                }
            });
        }
    });
    Server {
        url,
        seen,
        in_flight,
    }
}

fn fast() -> ClientOptions {
    ClientOptions {
        backoff_base: Duration::from_millis(1),
        backoff_cap: Duration::from_millis(5),
        retry_budget: Duration::from_secs(5),
        ..ClientOptions::default()
    }
}

fn http(server: &Server, auth: Auth, limit: Option<RateLimit>, options: &ClientOptions) -> Http {
    Http::new("t1", &server.url, auth, limit, options, |_, body| {
        warrant::platform::http::ApiError {
            code: None,
            message: warrant::platform::http::plain_text(body),
        }
    })
    .unwrap()
}

fn header_auth() -> Auth {
    Auth::Header(Secret::new("Bearer s3cr3t-header"))
}

fn get() -> Request {
    Request::get("/things/{id}", "/things/42")
}

#[tokio::test]
async fn server_errors_and_timeouts_are_retried_until_success() {
    let server = serve(|i, _| match i {
        0 => Reply::Status(503, vec![], "busy".into()),
        1 => Reply::Status(408, vec![], "slow".into()),
        2 => Reply::Status(500, vec![], "oops".into()),
        3 => Reply::Drop,
        _ => ok(r#"{"v":1}"#),
    })
    .await;
    let h = http(&server, header_auth(), None, &fast());
    let response = h.call(&get()).await.expect("retried to success");
    let v: serde_json::Value = response.json().unwrap();
    assert_eq!(v["v"], 1);
    assert_eq!(server.seen().len(), 5);
    let counts = h.request_counts();
    assert_eq!(counts.total, 5);
    assert_eq!(counts.by_endpoint.get("GET /things/{id}"), Some(&5));
    assert!(
        server
            .seen()
            .iter()
            .all(|s| s.authorization.as_deref() == Some("Bearer s3cr3t-header"))
    );
}

#[tokio::test]
async fn attempts_are_bounded() {
    let server = serve(|_, _| Reply::Status(502, vec![], "bad gateway".into())).await;
    let options = ClientOptions {
        max_attempts: 4,
        ..fast()
    };
    let h = http(&server, header_auth(), None, &options);
    let error = h.call(&get()).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Unavailable);
    assert_eq!(error.status, Some(502));
    assert!(
        error.message.contains("gave up after 4 attempts"),
        "{error}"
    );
    assert_eq!(server.seen().len(), 4);
}

#[tokio::test]
async fn definite_answers_are_not_retried() {
    let server = serve(|_, _| Reply::Status(404, vec![], "no such thing".into())).await;
    let h = http(&server, header_auth(), None, &fast());
    let error = h.call(&get()).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::NotFound);
    assert!(error.message.contains("no such thing"), "{error}");
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn retry_after_in_seconds_is_honoured() {
    let server = serve(|i, _| match i {
        0 => Reply::Status(429, vec![("Retry-After".into(), "1".into())], "".into()),
        _ => ok("{}"),
    })
    .await;
    let h = http(&server, header_auth(), None, &fast());
    h.call(&get()).await.expect("retried after the wait");
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    let waited = seen[1].at.duration_since(seen[0].at);
    assert!(
        waited >= Duration::from_millis(950),
        "waited only {waited:?}"
    );
}

#[tokio::test]
async fn retry_after_as_http_date_is_honoured() {
    let server = serve(|i, _| match i {
        0 => {
            let when =
                httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(2));
            Reply::Status(503, vec![("Retry-After".into(), when)], "".into())
        }
        _ => ok("{}"),
    })
    .await;
    let h = http(&server, header_auth(), None, &fast());
    h.call(&get()).await.expect("retried after the date");
    let seen = server.seen();
    // HTTP dates have one-second resolution.
    let waited = seen[1].at.duration_since(seen[0].at);
    assert!(
        waited >= Duration::from_millis(900),
        "waited only {waited:?}"
    );
}

#[tokio::test]
async fn retry_after_beyond_the_cap_fails_at_once_saying_when() {
    let server = serve(|_, _| {
        Reply::Status(
            429,
            vec![("Retry-After".into(), "798".into())],
            "Too Many Requests".into(),
        )
    })
    .await;
    let h = http(&server, header_auth(), None, &fast());
    let started = Instant::now();
    let error = h.call(&get()).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(error.kind, ErrorKind::RateLimited);
    assert_eq!(server.seen().len(), 1);
    let text = error.to_string();
    assert!(
        text.contains("798 s") && text.contains("retry after"),
        "{text}"
    );
}

#[tokio::test]
async fn the_rate_limiter_holds_the_configured_rate() {
    let server = serve(|_, _| ok("{}")).await;
    // 600 per minute: 10 per second, bursts of at most 10.
    let h = Arc::new(http(
        &server,
        header_auth(),
        Some(RateLimit::per_minute(600)),
        &fast(),
    ));
    let started = Instant::now();
    let calls: Vec<_> = (0..30)
        .map(|_| {
            let h = h.clone();
            tokio::spawn(async move { h.call(&get()).await.map(|_| ()) })
        })
        .collect();
    for c in calls {
        c.await.unwrap().unwrap();
    }
    let mut times: Vec<f64> = server
        .seen()
        .iter()
        .map(|s| s.at.duration_since(started).as_secs_f64())
        .collect();
    times.sort_by(f64::total_cmp);
    assert_eq!(times.len(), 30);
    // In every window [0, t], at most burst + rate·t requests (+1 for clock granularity).
    for (i, t) in times.iter().enumerate() {
        let allowed = 10.0 + 10.0 * t + 1.0;
        assert!(
            (i + 1) as f64 <= allowed,
            "{} requests by {t:.3}s, more than {allowed:.1}",
            i + 1
        );
    }
}

#[tokio::test]
async fn concurrency_is_bounded_by_parallelism() {
    let server = serve(|_, _| Reply::Slow(Duration::from_millis(30))).await;
    let options = ClientOptions {
        parallelism: 3,
        ..fast()
    };
    let h = Arc::new(http(&server, header_auth(), None, &options));
    let calls: Vec<_> = (0..12)
        .map(|_| {
            let h = h.clone();
            tokio::spawn(async move { h.call(&get()).await.map(|_| ()) })
        })
        .collect();
    for c in calls {
        c.await.unwrap().unwrap();
    }
    let max = server.in_flight.lock().unwrap().1;
    assert!(max <= 3, "{max} requests in flight at once");
    assert!(max >= 2, "requests never overlapped ({max})");
}

fn oauth() -> Auth {
    Auth::ClientCredentials {
        token_path: "/identity/connect/token".into(),
        client_id: "client-1".into(),
        client_secret: Secret::new("cl1ent-s3cret"),
    }
}

#[tokio::test]
async fn oauth_tokens_are_cached_and_refreshed_at_half_a_short_lifetime() {
    let issued = Arc::new(Mutex::new(0u32));
    let counter = issued.clone();
    let server = serve(move |_, seen| {
        if seen.path.starts_with("/identity/connect/token") {
            let mut n = counter.lock().unwrap();
            *n += 1;
            ok(&format!(
                r#"{{"access_token":"tok-{n}","expires_in":2,"token_type":"Bearer"}}"#
            ))
        } else {
            ok("{}")
        }
    })
    .await;
    let h = http(&server, oauth(), None, &fast());
    h.call(&get()).await.unwrap();
    h.call(&get()).await.unwrap();
    assert_eq!(*issued.lock().unwrap(), 1, "the token is reused");
    // A 2 s lifetime is refreshed after half of it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    h.call(&get()).await.unwrap();
    assert_eq!(*issued.lock().unwrap(), 2);
    let auths: Vec<Option<String>> = server
        .seen()
        .iter()
        .filter(|s| s.path.starts_with("/things"))
        .map(|s| s.authorization.clone())
        .collect();
    assert_eq!(
        auths,
        vec![
            Some("Bearer tok-1".into()),
            Some("Bearer tok-1".into()),
            Some("Bearer tok-2".into())
        ]
    );
}

#[tokio::test]
async fn a_401_fetches_the_token_again_once() {
    let issued = Arc::new(Mutex::new(0u32));
    let counter = issued.clone();
    let server = serve(move |_, seen| {
        if seen.path.starts_with("/identity/connect/token") {
            let mut n = counter.lock().unwrap();
            *n += 1;
            ok(&format!(
                r#"{{"access_token":"tok-{n}","expires_in":3600}}"#
            ))
        } else if seen.authorization.as_deref() == Some("Bearer tok-1") {
            Reply::Status(401, vec![], "".into())
        } else {
            ok("{}")
        }
    })
    .await;
    let h = http(&server, oauth(), None, &fast());
    h.call(&get()).await.expect("second token accepted");
    assert_eq!(*issued.lock().unwrap(), 2);

    // A credential that is always refused is re-fetched once, then reported.
    let always = serve(|_, seen| {
        if seen.path.starts_with("/identity/connect/token") {
            ok(r#"{"access_token":"tok","expires_in":3600}"#)
        } else {
            Reply::Status(401, vec![], "".into())
        }
    })
    .await;
    let h = http(&always, oauth(), None, &fast());
    let error = h.call(&get()).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Credentials);
    let token_requests = always
        .seen()
        .iter()
        .filter(|s| s.path.starts_with("/identity"))
        .count();
    assert_eq!(token_requests, 2);
}

#[tokio::test]
async fn a_refused_client_secret_is_a_credentials_error_without_the_secret() {
    let server = serve(|_, _| {
        Reply::Status(
            400,
            vec![],
            r#"{"error":"invalid_client","error_description":"bad client"}"#.into(),
        )
    })
    .await;
    let h = http(&server, oauth(), None, &fast());
    let error = h.call(&get()).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Credentials);
    let shown = format!("{error} {error:?} {h:?}");
    assert!(shown.contains("client-1"), "{shown}");
    assert!(!shown.contains("cl1ent-s3cret"), "{shown}");
    assert_eq!(server.seen().len(), 1, "a refused secret is not retried");
}

#[tokio::test]
async fn nothing_secret_is_printed() {
    let server = serve(|_, _| Reply::Status(403, vec![], "nope".into())).await;
    let h = http(&server, header_auth(), None, &fast());
    let error = h.call(&get()).await.unwrap_err();
    let shown = format!("{error} {error:?} {h:?} {:?}", get());
    assert!(!shown.contains("s3cr3t-header"), "{shown}");
}

#[tokio::test]
async fn malformed_bodies_are_errors_not_panics() {
    let server = serve(|_, _| ok("{not json")).await;
    let h = http(&server, header_auth(), None, &fast());
    let response = h.call(&get()).await.unwrap();
    let error = response.json::<Vec<u32>>().unwrap_err();
    assert_eq!(error.kind, ErrorKind::Malformed);
    assert!(error.message.contains("/things/42"), "{error}");
}
