//! The sandbox machinery over real HTTP: fault injection (statuses, Retry-After, drops, foreign
//! writers, determinism), the `/_sandbox` routes, concurrency, and the `warrant sandbox` command.

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use crate::support::{
    ATLAN_KEY, CONNECT_ID as CLIENT_ID, CONNECT_SECRET as CLIENT_SECRET, MIST_KEY,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use warrant::sandbox::{self, Faults, SandboxHandle, Seed};

const ORG: &str = "a40f5d1f-d889-42e9-94ea-b9b33585fc6b";
const TENANT: &str = "7fc97c8b-8f60-4f29-af71-3178c414e7a0";
const TENANT_MEMBER: &str = "9b1e2c3d-4f5a-4b6c-8d7e-0f1a2b3c4d04";

fn atlan_whoami(sb: &SandboxHandle) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .get(format!("{}/api/service/whoami", sb.atlan))
        .bearer_auth(ATLAN_KEY)
}

fn mist_list(sb: &SandboxHandle) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .get(format!("{}/api/v1/orgs/{ORG}/apitokens", sb.mist))
        .header("Authorization", format!("Token {MIST_KEY}"))
}

fn connect_token_request(sb: &SandboxHandle) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(format!("{}/identity/connect/token", sb.connect))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ])
}

async fn connect_token(sb: &SandboxHandle) -> String {
    let body: Value = connect_token_request(sb)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn each_injected_status_in_each_platforms_shape() {
    let sb = sandbox::start(Seed::example(), Faults::default())
        .await
        .unwrap();
    for status in [500u16, 502, 503, 408, 429] {
        sb.set_faults(format!("p{status}=1,retry_after=7").parse().unwrap());
        for (platform, req) in [
            ("atlan", atlan_whoami(&sb)),
            ("connect", connect_token_request(&sb)),
            ("mist", mist_list(&sb)),
        ] {
            let r = req.send().await.unwrap();
            assert_eq!(r.status().as_u16(), status, "{platform}");
            let retry_after = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            if status == 429 {
                assert_eq!(retry_after.as_deref(), Some("7"), "{platform}");
            } else {
                assert_eq!(retry_after, None, "{platform}");
            }
            let has_operation_id = r.headers().contains_key("operation-id");
            let text = r.text().await.unwrap();
            let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            match platform {
                "mist" => assert!(body["detail"].is_string(), "{text}"),
                "connect" => {
                    assert!(body["OperationId"].is_string(), "{text}");
                    assert!(has_operation_id);
                }
                _ if status == 500 => assert_eq!(body["errorCode"], "ATLAS-500-00-001"),
                _ => assert!(!text.is_empty()),
            }
        }
    }
    // Nothing was served, so nothing changed; and the /_sandbox routes are never faulted.
    let r = reqwest::get(format!("{}/_sandbox/state", sb.mist))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn platform_prefixed_faults_hit_only_that_platform() {
    let sb = sandbox::start(Seed::example(), "mist.p503=1".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(mist_list(&sb).send().await.unwrap().status(), 503);
    assert_eq!(atlan_whoami(&sb).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn dropped_connections_get_no_response() {
    let sb = sandbox::start(Seed::example(), "atlan.drop=1".parse().unwrap())
        .await
        .unwrap();
    let err = atlan_whoami(&sb).send().await.unwrap_err();
    assert!(err.status().is_none(), "{err}");
    assert!(
        err.is_request() || err.is_connect() || err.is_body(),
        "{err:?}"
    );
    let r = reqwest::get(format!("{}/_sandbox/requests", sb.atlan))
        .await
        .unwrap();
    let log: Value = r.json().await.unwrap();
    assert_eq!(log["log"][0]["fault"], "drop");
    // The other platforms still answer.
    assert_eq!(mist_list(&sb).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn foreign_writers_add_to_live_objects() {
    let sb = sandbox::start(Seed::example(), "foreign=1,seed=3".parse().unwrap())
        .await
        .unwrap();
    let before = sb.state();
    atlan_whoami(&sb).send().await.unwrap();
    mist_list(&sb).send().await.unwrap();
    let token = connect_token(&sb).await;
    let after = sb.state();
    assert_eq!(after["foreignWrites"], 3);
    let admins: Vec<String> = after["atlan"]["connections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["adminUsers"].as_array().unwrap().iter())
        .map(|u| u.as_str().unwrap().to_string())
        .collect();
    assert!(
        admins.iter().any(|u| u.starts_with("foreign-admin-")),
        "{admins:?}"
    );
    assert_ne!(after["connect"], before["connect"]);
    let privileges = |s: &Value| -> usize {
        s["mist"]["orgs"][0]["apiTokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["privileges"].as_array().unwrap().len())
            .sum()
    };
    assert!(privileges(&after) > privileges(&before));
    // Foreign writes only ever add: what the seed had is still there.
    for (b, a) in before["atlan"]["connections"]
        .as_array()
        .unwrap()
        .iter()
        .zip(after["atlan"]["connections"].as_array().unwrap())
    {
        for user in b["adminUsers"].as_array().unwrap() {
            assert!(a["adminUsers"].as_array().unwrap().contains(user));
        }
    }
    // The API sees it too.
    let r = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/Tenants/{TENANT}/AutomationIdentities",
            sb.connect
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

async fn status_sequence(sb: &SandboxHandle, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(match mist_list(sb).send().await {
            Ok(r) => r.status().as_u16(),
            Err(_) => 0,
        });
    }
    out
}

#[tokio::test]
async fn faults_are_deterministic_under_a_seed() {
    let spec = "p500=0.2,p503=0.2,drop=0.1,seed=11";
    let a = sandbox::start(Seed::example(), spec.parse().unwrap())
        .await
        .unwrap();
    let b = sandbox::start(Seed::example(), spec.parse().unwrap())
        .await
        .unwrap();
    let first = status_sequence(&a, 40).await;
    assert_eq!(first, status_sequence(&b, 40).await);
    assert!(
        first.contains(&200) && first.contains(&500) && first.contains(&503) && first.contains(&0),
        "{first:?}"
    );
    a.reset();
    assert_eq!(first, status_sequence(&a, 40).await);
    let other = sandbox::start(
        Seed::example(),
        "p500=0.2,p503=0.2,drop=0.1,seed=12".parse().unwrap(),
    )
    .await
    .unwrap();
    assert_ne!(first, status_sequence(&other, 40).await);
}

#[tokio::test]
async fn latency_is_added() {
    let sb = sandbox::start(Seed::example(), "latency=60ms".parse().unwrap())
        .await
        .unwrap();
    let started = Instant::now();
    assert_eq!(mist_list(&sb).send().await.unwrap().status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(60));
}

#[tokio::test]
async fn introspection_routes_state_requests_reset_faults() {
    let sb = sandbox::start(Seed::example(), Faults::default())
        .await
        .unwrap();
    let token = connect_token(&sb).await;
    let created = reqwest::Client::new()
        .post(format!(
            "{}/api/v1/tenants/{TENANT}/automationidentities",
            sb.connect
        ))
        .bearer_auth(&token)
        .json(&json!({"Name": "new-one", "RoleIds": [TENANT_MEMBER]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    mist_list(&sb).send().await.unwrap();
    reqwest::get(format!("{}/no/such/route", sb.atlan))
        .await
        .unwrap();

    let counts = sb.request_counts();
    assert_eq!(counts["connect POST /identity/connect/token"], 1);
    assert_eq!(
        counts["connect POST /api/v1/Tenants/{tenant_id}/AutomationIdentities"],
        1
    );
    assert_eq!(counts["mist GET /api/v1/orgs/{org_id}/apitokens"], 1);
    assert_eq!(counts["atlan GET (unmatched)"], 1);
    let over_http: Value = reqwest::get(format!("{}/_sandbox/requests", sb.atlan))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(over_http["counts"], serde_json::to_value(&counts).unwrap());
    assert_eq!(over_http["log"].as_array().unwrap().len(), 4);

    let state: Value = reqwest::get(format!("{}/_sandbox/state", sb.mist))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state, sb.state());
    assert_eq!(
        state["connect"]["tenants"][0]["automationIdentities"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // No credential appears in the state.
    let text = state.to_string();
    for secret in [ATLAN_KEY, MIST_KEY, CLIENT_SECRET] {
        assert!(!text.contains(secret), "{secret} leaked into the state");
    }

    // Faults over HTTP, as a spec string and as JSON.
    let client = reqwest::Client::new();
    let r = client
        .put(format!("{}/_sandbox/faults", sb.connect))
        .body("mist.p503=1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(mist_list(&sb).send().await.unwrap().status(), 503);
    let r = client
        .put(format!("{}/_sandbox/faults", sb.connect))
        .json(&json!({"mist.p408": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(mist_list(&sb).send().await.unwrap().status(), 408);
    let r = client
        .put(format!("{}/_sandbox/faults", sb.connect))
        .body("p999=1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    client
        .put(format!("{}/_sandbox/faults", sb.connect))
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(mist_list(&sb).send().await.unwrap().status(), 200);

    // Reset over HTTP: back to the seed, counters cleared.
    let r = client
        .post(format!("{}/_sandbox/reset", sb.atlan))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(sb.request_counts().is_empty());
    assert_eq!(
        sb.state()["connect"]["tenants"][0]["automationIdentities"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Issued tokens are forgotten too.
    let r = reqwest::Client::new()
        .get(format!("{}/api/v1/Tenants/{TENANT}/Roles", sb.connect))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_connections_and_consistent_writes() {
    let sb = sandbox::start(Seed::example(), "latency=50ms".parse().unwrap())
        .await
        .unwrap();
    let token = connect_token(&sb).await;
    let url = format!(
        "{}/api/v1/Tenants/{TENANT}/AutomationIdentities",
        sb.connect
    );
    // One client per task: 200 separate connections, all open while the latency holds them.
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let (url, token) = (url.clone(), token.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let r = if i % 2 == 0 {
                    client
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&json!({"Name": format!("bot-{i}"), "RoleIds": [TENANT_MEMBER]}))
                        .send()
                        .await
                } else {
                    client.get(&url).bearer_auth(&token).send().await
                };
                r.map(|r| r.status().as_u16()).unwrap_or(0)
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|&&s| s == 201).count(),
        100,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 200).count(),
        100,
        "{statuses:?}"
    );
    let state = sb.state();
    let identities = state["connect"]["tenants"][0]["automationIdentities"]
        .as_array()
        .unwrap();
    assert_eq!(identities.len(), 102);
    let ids: std::collections::BTreeSet<&str> = identities
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 102);
    assert_eq!(
        sb.request_counts()["connect POST /api/v1/Tenants/{tenant_id}/AutomationIdentities"],
        100
    );
}

#[test]
fn warrant_sandbox_prints_one_line_of_urls_and_stops_on_sigterm() {
    let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/sandbox/seed.yaml");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_warrant"))
        .args(["sandbox", "--seed", seed, "--faults", "latency=1ms"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let urls: Value = serde_json::from_str(&line).unwrap();
    for platform in ["atlan", "connect", "mist"] {
        assert!(
            urls[platform]
                .as_str()
                .unwrap()
                .starts_with("http://127.0.0.1:"),
            "{line}"
        );
    }
    let state = get_state_blocking(urls["atlan"].as_str().unwrap());
    assert_eq!(
        state["atlan"]["connections"].as_array().unwrap().len(),
        warrant::sandbox::Seed::example().atlan.connections.len()
    );
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

/// reqwest is built without its blocking feature; a small runtime makes the one call.
fn get_state_blocking(base: &str) -> Value {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        reqwest::get(format!("{base}/_sandbox/state"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    })
}

/// Each platform's error body: Atlas `{errorCode, errorMessage}`, CONNECT ErrorResponse with
/// `Operation-Id`, Mist `{detail}`.
fn assert_platform_shape(
    platform: &str,
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: &Value,
) {
    match platform {
        "atlan" => {
            assert_eq!(
                body["errorCode"],
                format!("ATLAS-{status}-00-001"),
                "{body}"
            );
            assert!(
                body["errorMessage"].as_str().is_some_and(|m| !m.is_empty()),
                "{body}"
            );
        }
        "connect" => {
            for key in ["OperationId", "Error", "Reason", "Resolution"] {
                assert!(body[key].is_string(), "{key} missing: {body}");
            }
            assert_eq!(
                headers["operation-id"].to_str().unwrap(),
                body["OperationId"].as_str().unwrap()
            );
        }
        _ => assert!(
            body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{body}"
        ),
    }
}

#[tokio::test]
async fn a_wrong_method_is_405_in_each_platforms_shape_and_counted() {
    let sb = sandbox::start(Seed::example(), Faults::default())
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let cases = [
        (
            "atlan",
            reqwest::Method::PUT,
            format!("{}/api/service/whoami", sb.atlan),
            "atlan PUT /api/service/whoami",
            "GET",
        ),
        (
            "connect",
            reqwest::Method::DELETE,
            format!(
                "{}/api/v1/Tenants/{TENANT}/Roles/{TENANT_MEMBER}",
                sb.connect
            ),
            "connect DELETE /api/v1/Tenants/{tenant_id}/Roles/{role_id}",
            "GET",
        ),
        (
            "mist",
            reqwest::Method::PATCH,
            format!("{}/api/v1/orgs/{ORG}/apitokens", sb.mist),
            "mist PATCH /api/v1/orgs/{org_id}/apitokens",
            "POST",
        ),
    ];
    for (platform, method, url, route, allowed) in cases {
        let r = client
            .request(method.clone(), url)
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405, "{platform}");
        let headers = r.headers().clone();
        assert!(
            headers["allow"].to_str().unwrap().contains(allowed),
            "{platform}: {headers:?}"
        );
        let body: Value = r.json().await.expect("a JSON error body");
        assert_platform_shape(platform, 405, &headers, &body);
        assert!(body.to_string().contains(method.as_str()), "{body}");
        assert_eq!(sb.request_counts().get(route), Some(&1), "{platform}");
    }
    let log: Value = client
        .get(format!("{}/_sandbox/requests", sb.mist))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let statuses: Vec<&Value> = log["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["status"])
        .collect();
    assert_eq!(statuses, [&json!(405), &json!(405), &json!(405)]);
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_in_each_platforms_shape_and_counted() {
    let sb = sandbox::start(Seed::example(), Faults::default())
        .await
        .unwrap();
    let token = connect_token(&sb).await;
    let client = reqwest::Client::new();
    // A valid JSON document of 3 MB, over the 2 MB limit.
    let big = json!({"padding": "x".repeat(3 << 20)}).to_string();
    let cases = [
        (
            "atlan",
            client
                .post(format!("{}/api/meta/search/indexsearch", sb.atlan))
                .bearer_auth(ATLAN_KEY),
            "atlan POST /api/meta/search/indexsearch",
        ),
        (
            "connect",
            client
                .post(format!(
                    "{}/api/v1/Tenants/{TENANT}/AutomationIdentities",
                    sb.connect
                ))
                .bearer_auth(&token),
            "connect POST /api/v1/Tenants/{tenant_id}/AutomationIdentities",
        ),
        (
            "mist",
            client
                .post(format!("{}/api/v1/orgs/{ORG}/apitokens", sb.mist))
                .header("Authorization", format!("Token {MIST_KEY}")),
            "mist POST /api/v1/orgs/{org_id}/apitokens",
        ),
    ];
    for (platform, request, route) in cases {
        let r = request
            .header("Content-Type", "application/json")
            .body(big.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 413, "{platform}");
        let headers = r.headers().clone();
        let body: Value = r.json().await.expect("a JSON error body");
        assert_platform_shape(platform, 413, &headers, &body);
        assert!(body.to_string().contains("too large"), "{body}");
        assert_eq!(sb.request_counts().get(route), Some(&1), "{platform}");
    }
}

/// Ports the OS calls free now: bound to port 0, then released for the sandbox to take.
fn free_ports(host: &str, n: usize) -> Vec<u16> {
    let listeners: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind((host, 0)).unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

#[test]
fn warrant_sandbox_listens_on_the_given_host_and_ports_and_stops_on_sigint() {
    // Any 127.x address is loopback on Linux; 127.0.0.2 tells --host apart from the default.
    let host = "127.0.0.2";
    let ports = free_ports(host, 3);
    let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/sandbox/seed.yaml");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_warrant"))
        .args(["sandbox", "--seed", seed, "--host", host])
        .args(["--atlan-port", &ports[0].to_string()])
        .args(["--connect-port", &ports[1].to_string()])
        .args(["--mist-port", &ports[2].to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let urls: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        urls,
        json!({
            "atlan": format!("http://{host}:{}", ports[0]),
            "connect": format!("http://{host}:{}", ports[1]),
            "mist": format!("http://{host}:{}", ports[2]),
        })
    );
    for platform in ["atlan", "connect", "mist"] {
        let state = get_state_blocking(urls[platform].as_str().unwrap());
        assert!(state["mist"]["orgs"].is_array(), "{platform}");
    }
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    // Nothing but the one line was ever printed.
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert_eq!(rest, "", "stdout after the first line");
}

#[test]
fn warrant_sandbox_reports_a_port_in_use() {
    let taken = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/sandbox/seed.yaml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_warrant"))
        .args(["sandbox", "--seed", seed, "--mist-port", &port])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "no URL line when it cannot listen");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("mist") && stderr.contains(&port),
        "{stderr}"
    );
}

#[tokio::test]
async fn an_undecodable_path_is_400_in_each_platforms_shape() {
    let sb = sandbox::start(Seed::example(), Faults::default())
        .await
        .unwrap();
    let token = connect_token(&sb).await;
    let client = reqwest::Client::new();
    // %FF is not UTF-8, so the path parameter cannot be read as text.
    let cases = [
        (
            "atlan",
            client
                .get(format!("{}/api/meta/entity/guid/%FF", sb.atlan))
                .bearer_auth(ATLAN_KEY),
        ),
        (
            "connect",
            client
                .get(format!("{}/api/v1/Tenants/%FF/Roles", sb.connect))
                .bearer_auth(&token),
        ),
        (
            "mist",
            client
                .get(format!("{}/api/v1/orgs/%FF/apitokens", sb.mist))
                .header("Authorization", format!("Token {MIST_KEY}")),
        ),
    ];
    for (platform, request) in cases {
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 400, "{platform}");
        let headers = r.headers().clone();
        let body: Value = r.json().await.expect("a JSON error body");
        assert_platform_shape(platform, 400, &headers, &body);
    }
}
