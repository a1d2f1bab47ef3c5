//! Contract tests of the Juniper Mist simulator over real HTTP (contracts/mist.md).

use crate::support::{MIST_KEY as ADMIN_KEY, MIST_READ_KEY as READ_KEY, MIST_SITE_KEY as SITE_KEY};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use warrant::sandbox::{self, Faults, SandboxHandle, Seed};

const ORG: &str = "a40f5d1f-d889-42e9-94ea-b9b33585fc6b";
const HQ: &str = "d96e3952-53e8-4266-959a-45acd55f5114";
const SITEGROUP: &str = "581328b6-e382-f54e-c9dc-999983183a34";
const MONITORING_RO: &str = "497f6eca-6276-4993-bfeb-53efbbba6f08";
const OLD_SCRIPT: &str = "2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f";

struct Call {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
    raw: String,
}

async fn call(method: Method, url: String, key: Option<&str>, body: Option<Value>) -> Call {
    let mut req = reqwest::Client::new().request(method, url);
    if let Some(k) = key {
        req = req.header("Authorization", format!("Token {k}"));
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    let raw = r.text().await.unwrap();
    Call {
        status,
        headers,
        body: serde_json::from_str(&raw).unwrap_or(Value::Null),
        raw,
    }
}

fn tokens(sb: &SandboxHandle) -> String {
    format!("{}/api/v1/orgs/{ORG}/apitokens", sb.mist)
}

fn assert_detail(c: &Call, status: StatusCode) {
    assert_eq!(c.status, status, "{}", c.raw);
    assert!(c.body["detail"].is_string(), "no detail: {}", c.raw);
}

#[tokio::test]
async fn list_masks_keys_and_fills_org_id() {
    let sb = sandbox::start(Seed::example(), Faults::default())
        .await
        .unwrap();
    let c = call(Method::GET, tokens(&sb), Some(READ_KEY), None).await;
    assert_eq!(c.status, StatusCode::OK);
    let list = c.body.as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list[1]["name"], "monitoring-ro");
    assert_eq!(list[1]["key"], "SbxM...0002");
    assert_eq!(
        list[1]["privileges"],
        json!([{"scope": "org", "role": "read", "org_id": ORG}])
    );
    assert_eq!(list[2]["src_ips"], json!(["198.51.100.7"]));
    assert!(!c.raw.contains(ADMIN_KEY) && !c.raw.contains(READ_KEY));
    assert!(!c.headers.contains_key("x-page-total"));

    let c = call(
        Method::GET,
        format!("{}/{MONITORING_RO}", tokens(&sb)),
        Some(READ_KEY),
        None,
    )
    .await;
    assert_eq!(c.body["key"], "SbxM...0002");
    let c = call(
        Method::GET,
        format!("{}/00000000-0000-4000-8000-000000000000", tokens(&sb)),
        Some(READ_KEY),
        None,
    )
    .await;
    assert_detail(&c, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn list_pages_with_x_page_headers_when_asked() {
    let sb = sandbox::start(Seed::example(), Faults::default())
        .await
        .unwrap();
    let r = reqwest::Client::new()
        .get(tokens(&sb))
        .header("Authorization", format!("Token {READ_KEY}"))
        .header("X-Page-Limit", "2")
        .header("X-Page-Page", "2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-page-total"], "3");
    assert_eq!(r.headers()["x-page-limit"], "2");
    assert_eq!(r.headers()["x-page-page"], "2");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body.as_array().unwrap().len(), 1);
    let c = call(
        Method::GET,
        format!("{}?limit=2&page=1", tokens(&sb)),
        Some(READ_KEY),
        None,
    )
    .await;
    assert_eq!(c.body.as_array().unwrap().len(), 2);
    let c = call(
        Method::GET,
        format!("{}?limit=0", tokens(&sb)),
        Some(READ_KEY),
        None,
    )
    .await;
    assert_detail(&c, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn create_returns_the_full_key_once() {
    let sb = sandbox::start(Seed::example(), Faults::default())
        .await
        .unwrap();
    let body = json!({
        "name": "noc-automation",
        "privileges": [
            {"role": "write", "scope": "site", "site_id": HQ},
            {"role": "read", "scope": "sitegroup", "sitegroup_id": SITEGROUP}
        ],
        "src_ips": ["63.3.56.0/24", "63.3.55.4"]
    });
    let c = call(Method::POST, tokens(&sb), Some(ADMIN_KEY), Some(body)).await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.raw);
    let key = c.body["key"].as_str().unwrap().to_string();
    assert!(key.len() >= 32 && !key.contains("..."));
    assert_eq!(c.body["org_id"], ORG);
    assert_eq!(c.body["src_ips"], json!(["63.3.56.0/24", "63.3.55.4"]));
    assert_eq!(c.body["privileges"][0]["site_id"], HQ);
    assert!(c.body["last_used"].is_null());
    let id = c.body["id"].as_str().unwrap().to_string();

    let c = call(
        Method::GET,
        format!("{}/{id}", tokens(&sb)),
        Some(ADMIN_KEY),
        None,
    )
    .await;
    assert_eq!(
        c.body["key"],
        format!("{}...{}", &key[..4], &key[key.len() - 4..])
    );
    // The new key authenticates (it has no org privilege, so the org routes are 403).
    let c = call(
        Method::GET,
        format!("{}/api/v1/self", sb.mist),
        Some(&key),
        None,
    )
    .await;
    assert_eq!(c.body["name"], "noc-automation");
    let c = call(Method::GET, tokens(&sb), Some(&key), None).await;
    assert_detail(&c, StatusCode::FORBIDDEN);
    // The state never shows a full key.
    assert!(!sb.state().to_string().contains(&key));
}

#[tokio::test]
async fn create_may_omit_privileges_when_the_seed_says_so() {
    let mut seed = Seed::example();
    seed.mist.omit_privileges_on_create = true;
    let sb = sandbox::start(seed, Faults::default()).await.unwrap();
    let c = call(
        Method::POST,
        tokens(&sb),
        Some(ADMIN_KEY),
        Some(json!({"name": "installer-app", "privileges": [{"role": "installer", "scope": "orgsites"}]})),
    )
    .await;
    assert_eq!(c.status, StatusCode::OK);
    assert!(c.body.get("privileges").is_none());
    let id = c.body["id"].as_str().unwrap();
    let c = call(
        Method::GET,
        format!("{}/{id}", tokens(&sb)),
        Some(ADMIN_KEY),
        None,
    )
    .await;
    assert_eq!(
        c.body["privileges"],
        json!([{"scope": "orgsites", "role": "installer"}])
    );
}

#[tokio::test]
async fn create_validation() {
    let sb = sandbox::start(Seed::example(), Faults::default())
        .await
        .unwrap();
    let eleven: Vec<Value> = (0..11)
        .map(|i| json!({"role": "read", "scope": "org", "views": if i % 2 == 0 { json!(["reporting"]) } else { json!(null) }}))
        .collect();
    let ok = json!({"role": "read", "scope": "org"});
    for bad in [
        json!({"privileges": [ok]}),
        json!({"name": "", "privileges": [ok]}),
        json!({"name": "x"}),
        json!({"name": "x", "privileges": []}),
        json!({"name": "x", "privileges": eleven}),
        json!({"name": "x", "privileges": [{"role": "root", "scope": "org"}]}),
        json!({"name": "x", "privileges": [{"role": "read", "scope": "planet"}]}),
        json!({"name": "x", "privileges": [{"role": "read", "scope": "site"}]}),
        json!({"name": "x", "privileges": [{"role": "read", "scope": "site", "site_id": "00000000-0000-4000-8000-000000000000"}]}),
        json!({"name": "x", "privileges": [{"role": "read", "scope": "org", "site_id": HQ}]}),
        json!({"name": "x", "privileges": [{"role": "read", "scope": "sitegroup"}]}),
        json!({"name": "x", "privileges": [{"role": "read", "scope": "org", "views": ["nope"]}]}),
        json!({"name": "x", "privileges": [ok, ok]}),
        json!({"name": "x", "privileges": [{"role": "read", "scope": "org", "org_id": "00000000-0000-4000-8000-000000000000"}]}),
        json!({"name": "x", "privileges": [ok], "src_ips": ["10.0.0.1/24"]}),
        json!({"name": "x", "privileges": [ok], "src_ips": ["not-an-ip"]}),
        json!({"name": "x", "privileges": [ok], "src_ips": (0..11).map(|i| format!("10.0.0.{i}")).collect::<Vec<_>>()}),
        json!([1, 2]),
    ] {
        let c = call(
            Method::POST,
            tokens(&sb),
            Some(ADMIN_KEY),
            Some(bad.clone()),
        )
        .await;
        assert_detail(&c, StatusCode::BAD_REQUEST);
    }
    let r = reqwest::Client::new()
        .post(tokens(&sb))
        .header("Authorization", format!("Token {ADMIN_KEY}"))
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("JSON parse error")
    );
    // A spec-style body that echoes org_id is accepted.
    let c = call(
        Method::POST,
        tokens(&sb),
        Some(ADMIN_KEY),
        Some(json!({"name": "x", "privileges": [{"role": "admin", "scope": "org", "org_id": ORG}], "src_ips": ["10.0.0.0/24"]})),
    )
    .await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.raw);
}

#[tokio::test]
async fn update_replaces_name_and_privileges_and_refuses_src_ips_changes() {
    let sb = sandbox::start(Seed::example(), Faults::default())
        .await
        .unwrap();
    let one = format!("{}/{OLD_SCRIPT}", tokens(&sb));
    let c = call(
        Method::PUT,
        one.clone(),
        Some(ADMIN_KEY),
        Some(json!({"name": "old-script-2", "privileges": [{"role": "write", "scope": "site", "site_id": HQ}, {"role": "read", "scope": "org"}], "src_ips": ["198.51.100.7"]})),
    )
    .await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.raw);
    assert_eq!(c.body["name"], "old-script-2");
    assert_eq!(c.body["privileges"].as_array().unwrap().len(), 2);
    assert_eq!(c.body["key"], "SbxM...0003");

    let c = call(
        Method::PUT,
        one.clone(),
        Some(ADMIN_KEY),
        Some(json!({"src_ips": ["198.51.100.8"]})),
    )
    .await;
    assert_detail(&c, StatusCode::BAD_REQUEST);
    let c = call(
        Method::PUT,
        one.clone(),
        Some(ADMIN_KEY),
        Some(json!({"privileges": []})),
    )
    .await;
    assert_detail(&c, StatusCode::BAD_REQUEST);
    let c = call(Method::GET, one.clone(), Some(ADMIN_KEY), None).await;
    assert_eq!(c.body["src_ips"], json!(["198.51.100.7"]));
    assert_eq!(c.body["privileges"].as_array().unwrap().len(), 2);

    let c = call(
        Method::PUT,
        one.clone(),
        Some(READ_KEY),
        Some(json!({"name": "x"})),
    )
    .await;
    assert_detail(&c, StatusCode::FORBIDDEN);
    let c = call(
        Method::PUT,
        format!("{}/00000000-0000-4000-8000-000000000000", tokens(&sb)),
        Some(ADMIN_KEY),
        Some(json!({"name": "x"})),
    )
    .await;
    assert_detail(&c, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn delete_and_permissions() {
    let sb = sandbox::start(Seed::example(), Faults::default())
        .await
        .unwrap();
    // A site-scoped token cannot read the org's tokens.
    let c = call(Method::GET, tokens(&sb), Some(SITE_KEY), None).await;
    assert_detail(&c, StatusCode::FORBIDDEN);
    let one = format!("{}/{OLD_SCRIPT}", tokens(&sb));
    let c = call(Method::DELETE, one.clone(), Some(READ_KEY), None).await;
    assert_detail(&c, StatusCode::FORBIDDEN);
    let c = call(Method::DELETE, one.clone(), Some(ADMIN_KEY), None).await;
    assert_eq!(c.status, StatusCode::OK);
    let c = call(Method::DELETE, one.clone(), Some(ADMIN_KEY), None).await;
    assert_detail(&c, StatusCode::NOT_FOUND);

    let c = call(
        Method::POST,
        tokens(&sb),
        Some(READ_KEY),
        Some(json!({"name": "x", "privileges": [{"role": "read", "scope": "org"}]})),
    )
    .await;
    assert_detail(&c, StatusCode::FORBIDDEN);
    // No token can touch another org.
    let c = call(
        Method::GET,
        format!(
            "{}/api/v1/orgs/00000000-0000-4000-8000-000000000000/apitokens",
            sb.mist
        ),
        Some(ADMIN_KEY),
        None,
    )
    .await;
    assert_detail(&c, StatusCode::FORBIDDEN);
    let c = call(Method::GET, tokens(&sb), None, None).await;
    assert_detail(&c, StatusCode::UNAUTHORIZED);
    assert_eq!(
        c.body["detail"],
        "Authentication credentials were not provided."
    );
    let c = call(Method::GET, tokens(&sb), Some("wrong"), None).await;
    assert_detail(&c, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn self_and_usage() {
    let sb = sandbox::start(Seed::example(), Faults::default())
        .await
        .unwrap();
    let c = call(
        Method::GET,
        format!("{}/api/v1/self", sb.mist),
        Some(ADMIN_KEY),
        None,
    )
    .await;
    assert_eq!(c.status, StatusCode::OK);
    assert_eq!(c.body["name"], "warrant");
    assert!(c.body.get("email").is_none());
    assert_eq!(c.body["privileges"][0]["scope"], "org");
    assert_eq!(c.body["privileges"][0]["role"], "admin");
    assert_eq!(c.body["privileges"][0]["org_id"], ORG);
    let c = call(
        Method::GET,
        format!("{}/api/v1/self/usage", sb.mist),
        Some(ADMIN_KEY),
        None,
    )
    .await;
    assert_eq!(c.body["requests"], 2);
    assert_eq!(c.body["request_limit"], 5000);
    assert!(c.body["seconds"].as_i64().unwrap() > 0);
}

#[tokio::test]
async fn hourly_limit_per_token() {
    let mut seed = Seed::example();
    seed.mist.requests_per_hour = 3;
    let sb = sandbox::start(seed, Faults::default()).await.unwrap();
    for _ in 0..3 {
        let c = call(Method::GET, tokens(&sb), Some(READ_KEY), None).await;
        assert_eq!(c.status, StatusCode::OK);
    }
    let c = call(Method::GET, tokens(&sb), Some(READ_KEY), None).await;
    assert_detail(&c, StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = c.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=3600).contains(&wait));
    // Another token has its own budget.
    let c = call(Method::GET, tokens(&sb), Some(ADMIN_KEY), None).await;
    assert_eq!(c.status, StatusCode::OK);
}

#[tokio::test]
async fn a_seeded_page_limit_pages_the_list_unasked() {
    let mut seed = Seed::example();
    seed.mist.page_limit = Some(2);
    let sb = sandbox::start(seed, Faults::default()).await.unwrap();
    let c = call(Method::GET, tokens(&sb), Some(READ_KEY), None).await;
    assert_eq!(c.status, StatusCode::OK);
    assert_eq!(c.body.as_array().unwrap().len(), 2);
    assert_eq!(c.headers["x-page-total"], "3");
    assert_eq!(c.headers["x-page-limit"], "2");
    assert_eq!(c.headers["x-page-page"], "1");
    let c = call(
        Method::GET,
        format!("{}?limit=2&page=2", tokens(&sb)),
        Some(READ_KEY),
        None,
    )
    .await;
    let last = c.body.as_array().unwrap();
    assert_eq!(last.len(), 1);
    assert_eq!(last[0]["src_ips"], json!(["198.51.100.7"]));
    // A limit asked for wins over the seeded one.
    let c = call(
        Method::GET,
        format!("{}?limit=10", tokens(&sb)),
        Some(READ_KEY),
        None,
    )
    .await;
    assert_eq!(c.body.as_array().unwrap().len(), 3);
    assert_eq!(c.headers["x-page-limit"], "10");
    assert_eq!(sb.state()["mist"]["pageLimit"], 2);
}
