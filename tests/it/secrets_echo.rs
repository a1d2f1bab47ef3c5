//! Servers that echo the request back in their error bodies (gateways and identity providers
//! do) cannot carry a credential into any output. A loopback proxy in front of each sandbox
//! platform answers every other request with a 503 whose body echoes the Authorization
//! header and the request body (the posted OAuth form included) raw, URL-encoded and base64,
//! refuses every write with a 400 echoing the same, and after a Mist token is created echoes
//! the new key in the next error. `warrant plan` and `warrant apply` run through it under
//! `WARRANT_LOG=trace`; no credential in use — the Atlan key, the CONNECT client secret and
//! the OAuth access token bought with it, the Mist token, the new Mist keys — appears in
//! stdout, stderr, the plan file or the report, in any of those encodings.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use base64::Engine as _;

use crate::support::{ATLAN_KEY, CONNECT_SECRET, MIST_KEY, Output, World, run};

/// One platform's echoing proxy in front of the sandbox.
struct Echo {
    platform: &'static str,
    upstream: String,
    client: reqwest::Client,
    /// Requests seen per `METHOD path`: every other one is answered with an echo.
    seen: Mutex<BTreeMap<String, u32>>,
    /// What the echo also carries: new Mist keys and OAuth access tokens the sandbox issued.
    issued: Mutex<Vec<String>>,
    /// A Mist key was issued since the last echo: the next request gets a 400 carrying it.
    echo_issued_next: Mutex<bool>,
}

impl Echo {
    async fn start(platform: &'static str, upstream: &str) -> (String, Arc<Echo>) {
        let echo = Arc::new(Echo {
            platform,
            upstream: upstream.to_string(),
            client: reqwest::Client::new(),
            seen: Mutex::new(BTreeMap::new()),
            issued: Mutex::new(Vec::new()),
            echo_issued_next: Mutex::new(false),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(echo.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (url, echo)
    }

    /// The error body of this platform, with `text` where its message goes.
    fn error_body(&self, status: u16, text: &str) -> String {
        let body = match self.platform {
            "atlan" => serde_json::json!({
                "errorCode": format!("ATLAS-{status}-00-001"),
                "errorMessage": text,
            }),
            "connect" => serde_json::json!({
                "OperationId": "echo",
                "Error": "echo",
                "Reason": text,
            }),
            _ => serde_json::json!({ "detail": text }),
        };
        body.to_string()
    }
}

/// The request as a careless server quotes it back.
fn echo_of(headers: &HeaderMap, body: &[u8], issued: &[String]) -> String {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let body = String::from_utf8_lossy(body);
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let url = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let mut text = format!(
        "request was: Authorization: {auth} | body: {body} | encoded: {} {} | base64: {} {}",
        url(auth),
        url(&body),
        b64(auth),
        b64(&body)
    );
    for secret in issued {
        text.push_str(&format!(
            " | issued: {secret} {} {}",
            url(secret),
            b64(&format!("k:{secret}"))
        ));
    }
    text
}

async fn handle(State(echo): State<Arc<Echo>>, request: Request) -> Response {
    let method = request.method().clone();
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let path = request.uri().path().to_string();
    let headers = request.headers().clone();
    let body = axum::body::to_bytes(request.into_body(), 4 << 20)
        .await
        .unwrap_or_default();

    let is_write = match (&method, echo.platform) {
        (&Method::POST, "atlan") => path.ends_with("/entity/bulk") || path.ends_with("/bulk/"),
        (&Method::POST | &Method::PUT, "connect") => path.contains("/AutomationIdentities"),
        _ => false,
    };
    let issued = echo.issued.lock().unwrap().clone();
    let echo_issued = std::mem::take(&mut *echo.echo_issued_next.lock().unwrap());
    let count = {
        let mut seen = echo.seen.lock().unwrap();
        let n = seen.entry(format!("{method} {path}")).or_insert(0);
        *n += 1;
        *n
    };
    let text = echo_of(&headers, &body, &issued);
    if is_write || echo_issued {
        return reply(StatusCode::BAD_REQUEST, echo.error_body(400, &text), false);
    }
    if count % 2 == 1 {
        return reply(
            StatusCode::SERVICE_UNAVAILABLE,
            echo.error_body(503, &text),
            true,
        );
    }

    // Forwarded as is; what the sandbox issues (OAuth tokens, new Mist keys) is remembered.
    let mut forward = echo
        .client
        .request(method.clone(), format!("{}{path_and_query}", echo.upstream))
        .body(body.to_vec());
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            forward = forward.header(name, value);
        }
    }
    let upstream = forward.send().await.unwrap();
    let status = upstream.status();
    let upstream_headers = upstream.headers().clone();
    let bytes = upstream.bytes().await.unwrap_or_default();
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(&bytes) {
        for key in ["access_token", "key"] {
            if let Some(serde_json::Value::String(secret)) = map.get(key) {
                echo.issued.lock().unwrap().push(secret.clone());
                if key == "key" && method == Method::POST {
                    *echo.echo_issued_next.lock().unwrap() = true;
                }
            }
        }
    }
    let mut response = Response::builder().status(status.as_u16());
    for (name, value) in &upstream_headers {
        if name != "content-length" && name != "transfer-encoding" {
            response = response.header(name, value);
        }
    }
    response.body(Body::from(bytes)).unwrap()
}

fn reply(status: StatusCode, body: String, retry_now: bool) -> Response {
    let mut response = Response::builder()
        .status(status)
        .header("content-type", "application/json");
    if retry_now {
        response = response.header("retry-after", "0");
    }
    response.body(Body::from(body)).unwrap()
}

/// Every form in which `secret` may not appear: raw, URL-encoded (upper and lower-case hex,
/// `+` or `%20` for spaces), JSON-escaped, and base64 (standard or URL-safe) at each of the
/// three alignments it can have inside a longer encoded text — as the characters that encode
/// only the secret's own bytes.
fn forbidden_forms(secret: &str) -> Vec<String> {
    let mut forms = vec![secret.to_string()];
    let encoded: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    forms.push(encoded.clone());
    forms.push(encoded.replace('+', "%20"));
    forms.push(
        encoded
            .split('%')
            .enumerate()
            .map(|(i, part)| {
                if i == 0 || part.len() < 2 {
                    part.to_string()
                } else {
                    format!("{}{}", part[..2].to_lowercase(), &part[2..])
                }
            })
            .collect::<Vec<_>>()
            .join("%"),
    );
    forms.push(
        serde_json::to_string(secret)
            .unwrap()
            .trim_matches('"')
            .to_string(),
    );
    for engine in [
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::URL_SAFE,
    ] {
        for pad in ["", "a", "ab"] {
            let whole = engine.encode(format!("{pad}{secret}"));
            let skip = (pad.len() * 8).div_ceil(6);
            let keep = ((pad.len() + secret.len()) * 8) / 6;
            forms.push(whole[skip..keep].to_string());
        }
    }
    forms.sort();
    forms.dedup();
    forms
}

fn warrant(world: &World, endpoints: &[String], args: &[&str]) -> Output {
    let mut command = world.command(ATLAN_KEY);
    command
        .args(args)
        .args(endpoints)
        .env("WARRANT_LOG", "trace");
    run(command)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_echoing_credentials_never_get_one_into_any_output() {
    let world = World::example().await;
    let mut endpoints = Vec::new();
    let mut echoes = Vec::new();
    for (target, platform, upstream) in [
        ("atlan-prod", "atlan", &world.sandbox.atlan),
        ("connect-prod", "connect", &world.sandbox.connect),
        ("mist-prod", "mist", &world.sandbox.mist),
    ] {
        let (url, echo) = Echo::start(platform, upstream).await;
        endpoints.push("--endpoint".to_string());
        endpoints.push(format!("{target}={url}"));
        echoes.push(echo);
    }

    // What each run was issued is echoed only to that run: a process can mask only the
    // secrets it holds.
    let take_issued = || -> Vec<String> {
        echoes
            .iter()
            .flat_map(|e| std::mem::take(&mut *e.issued.lock().unwrap()))
            .collect()
    };
    let plan = warrant(
        &world,
        &endpoints,
        &["plan", "manifests", "--out", "plan.json"],
    );
    assert_eq!(plan.code, 0, "{plan:#?}");
    let issued_to_plan = take_issued();
    let apply = warrant(
        &world,
        &endpoints,
        &[
            "apply",
            "plan.json",
            "--manifests",
            "manifests",
            "--report",
            "report.json",
        ],
    );
    assert_eq!(apply.code, 1, "{apply:#?}");
    let issued_to_apply = take_issued();

    // The servers did echo, and what they echoed reached the outputs — redacted.
    assert!(plan.stderr.contains("retrying"), "{}", plan.stderr);
    assert!(
        plan.stderr
            .contains("request was: Authorization: Bearer <redacted>"),
        "{}",
        plan.stderr
    );
    assert!(
        plan.stderr.contains("client_secret=<redacted>"),
        "{}",
        plan.stderr
    );
    let report = std::fs::read_to_string(world.dir().join("report.json")).unwrap();
    assert!(
        report.contains("request was: Authorization: Bearer <redacted>"),
        "{report}"
    );
    assert!(
        apply
            .stdout
            .contains("request was: Authorization: Bearer <redacted>"),
        "{}",
        apply.stdout
    );
    for issued in [&issued_to_plan, &issued_to_apply] {
        assert!(
            issued.iter().any(|s| s.starts_with("sbx.")),
            "no OAuth token was issued: {issued:?}"
        );
    }
    assert!(
        issued_to_apply.iter().any(|s| !s.starts_with("sbx.")),
        "no Mist key was created: {issued_to_apply:?}"
    );
    assert!(report.contains("issued: <redacted>"), "{report}");

    let plan_file = std::fs::read_to_string(world.dir().join("plan.json")).unwrap();
    let credentials = [ATLAN_KEY, CONNECT_SECRET, MIST_KEY].map(str::to_string);
    let runs = [
        (
            issued_to_plan,
            vec![
                ("plan stdout", &plan.stdout),
                ("plan stderr", &plan.stderr),
                ("plan file", &plan_file),
            ],
        ),
        (
            issued_to_apply,
            vec![
                ("apply stdout", &apply.stdout),
                ("apply stderr", &apply.stderr),
                ("report", &report),
            ],
        ),
    ];
    for (issued, outputs) in &runs {
        for secret in credentials.iter().chain(issued.iter()) {
            for form in forbidden_forms(secret) {
                for (what, text) in outputs {
                    assert!(
                        !text.contains(&form),
                        "{what} holds a credential in the form {form:?}:\n{text}"
                    );
                }
            }
        }
    }
}

/// A server that puts a credential into live data — an admin group, a tag, a token name — gets
/// it masked in every output too: the plan in each format, the plan file, drift and the apply
/// report. Redaction is for output only: apply still writes the live values back unchanged
/// (nothing live is lost).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_planted_in_live_data_are_masked_in_every_output() {
    let mut seed = warrant::sandbox::Seed::example();
    for connection in &mut seed.atlan.connections {
        connection.admin_groups.push(ATLAN_KEY.to_string());
    }
    for tenant in &mut seed.connect.tenants {
        for identity in &mut tenant.automation_identities {
            identity.tags.push(CONNECT_SECRET.to_string());
        }
    }
    let token = seed.mist.orgs[0]
        .api_tokens
        .first_mut()
        .expect("the example seeds Mist tokens");
    token.name = format!("{MIST_KEY}-leaked");
    let world = World::start(seed, &crate::support::example_manifests()).await;
    let before = world.sandbox.state();

    let mut outputs = Vec::new();
    for format in ["text", "markdown", "json"] {
        let plan = world.warrant_live(&["plan", "manifests", "--format", format]);
        assert_eq!(plan.code, 0, "{plan:#?}");
        outputs.push((
            format!("plan --format {format}"),
            plan.stdout + &plan.stderr,
        ));
    }
    let saved = world.warrant_live(&["plan", "manifests", "--out", "plan.json"]);
    assert_eq!(saved.code, 0, "{saved:#?}");
    let drift = world.warrant_live(&["drift", "manifests", "--format", "json"]);
    outputs.push(("drift".into(), drift.stdout + &drift.stderr));
    let apply = world.warrant_live(&[
        "apply",
        "plan.json",
        "--manifests",
        "manifests",
        "--report",
        "report.json",
    ]);
    assert!(
        world.dir().join("report.json").exists(),
        "apply wrote no report: {apply:#?}"
    );
    outputs.push(("apply".into(), apply.stdout + &apply.stderr));
    for file in ["plan.json", "report.json"] {
        let text = std::fs::read_to_string(world.dir().join(file)).unwrap();
        outputs.push((file.to_string(), text));
    }

    let plan_json = &outputs[2].1;
    assert!(
        plan_json.contains("<redacted>"),
        "the planted values are shown, masked: {plan_json}"
    );
    for (what, text) in &outputs {
        for secret in [ATLAN_KEY, CONNECT_SECRET, MIST_KEY] {
            for form in forbidden_forms(secret) {
                assert!(!text.contains(&form), "{what} shows {form:?}:\n{text}");
            }
        }
    }
    // The real values stayed live: masking never reached what apply writes back.
    crate::support::assert_nothing_lost(&before, &world.sandbox.state());
}
