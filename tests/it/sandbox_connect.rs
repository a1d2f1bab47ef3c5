//! Contract tests of the AVEVA CONNECT simulator over real HTTP (contracts/connect.md).

use crate::support::{
    CONNECT_ID as ADMIN_ID, CONNECT_MEMBER_ID as MEMBER_ID, CONNECT_MEMBER_SECRET as MEMBER_SECRET,
    CONNECT_SECRET as ADMIN_SECRET,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use warrant::sandbox::{self, Faults, SandboxHandle, Seed};

const TENANT: &str = "7fc97c8b-8f60-4f29-af71-3178c414e7a0";
const TENANT_MEMBER: &str = "9b1e2c3d-4f5a-4b6c-8d7e-0f1a2b3c4d04";
const DATA_INGRESS: &str = "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c02";
const REPORT_PUBLISHER: &str = "3f1e6c2a-9b8d-4e7f-a1c2-d3e4f5a6b7c8";
const ASSET_RULE_RUNNER_ID: &str = "c0a8e1f2-3b4c-4d5e-9f6a-7b8c9d0e1f01";

async fn token(sb: &SandboxHandle, id: &str, secret: &str) -> String {
    let r = reqwest::Client::new()
        .post(format!("{}/identity/connect/token", sb.connect))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

struct Call {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
    raw: String,
}

async fn call(method: Method, url: String, token: &str, body: Option<Value>) -> Call {
    let mut req = reqwest::Client::new()
        .request(method, url)
        .bearer_auth(token);
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

fn identities(sb: &SandboxHandle) -> String {
    format!(
        "{}/api/v1/Tenants/{TENANT}/AutomationIdentities",
        sb.connect
    )
}

fn assert_error_body(c: &Call) {
    for key in ["OperationId", "Error", "Reason", "Resolution"] {
        assert!(c.body[key].is_string(), "{key} missing in {}", c.raw);
    }
    assert!(c.body.get("DynamicProperties").is_some(), "{}", c.raw);
    assert_eq!(
        c.headers["operation-id"].to_str().unwrap(),
        c.body["OperationId"].as_str().unwrap()
    );
}

#[tokio::test]
async fn discovery_and_token_endpoint() {
    let sb = sandbox::start(Seed::example(), Faults::default())
        .await
        .unwrap();
    let d: Value = reqwest::get(format!(
        "{}/identity/.well-known/openid-configuration",
        sb.connect
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        d["token_endpoint"],
        format!("{}/identity/connect/token", sb.connect)
    );
    let r = reqwest::Client::new()
        .post(d["token_endpoint"].as_str().unwrap())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", ADMIN_ID),
            ("client_secret", ADMIN_SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().contains_key("operation-id"));
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["expires_in"], 3600);
    assert_eq!(t["token_type"], "Bearer");
    assert!(t["access_token"].as_str().unwrap().len() > 20);

    for (form, error) in [
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", ADMIN_ID),
                ("client_secret", "wrong"),
            ],
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", "nobody"),
                ("client_secret", ADMIN_SECRET),
            ],
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "password"),
                ("client_id", ADMIN_ID),
                ("client_secret", ADMIN_SECRET),
            ],
            "unsupported_grant_type",
        ),
    ] {
        let r = reqwest::Client::new()
            .post(format!("{}/identity/connect/token", sb.connect))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body, json!({"error": error}));
    }
}

#[tokio::test]
async fn tokens_expire_after_the_client_lifetime() {
    let mut seed = Seed::example();
    seed.connect.tenants[0].clients[0].token_lifetime_seconds = 1;
    let sb = sandbox::start(seed, Faults::default()).await.unwrap();
    let t = token(&sb, ADMIN_ID, ADMIN_SECRET).await;
    let c = call(Method::GET, identities(&sb), &t, None).await;
    assert_eq!(c.status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let c = call(Method::GET, identities(&sb), &t, None).await;
    assert_eq!(c.status, StatusCode::UNAUTHORIZED);
    assert!(c.raw.is_empty(), "401 has no body: {}", c.raw);
    assert!(c.headers.contains_key("operation-id"));
}

#[tokio::test]
async fn roles_paging_head_and_case_insensitive_paths() {
    let sb = sandbox::start(Seed::example(), Faults::default())
        .await
        .unwrap();
    let t = token(&sb, ADMIN_ID, ADMIN_SECRET).await;
    let roles = format!("{}/api/v1/Tenants/{TENANT}/Roles", sb.connect);
    let c = call(Method::GET, roles.clone(), &t, None).await;
    assert_eq!(c.status, StatusCode::OK);
    let all = c.body.as_array().unwrap();
    assert_eq!(all.len(), 8);
    assert_eq!(all[0]["Name"], "Tenant Administrator");
    assert_eq!(all[0]["RoleTypeId"], "2dc742ab-39ea-4fc0-a39e-2bcb71c26a5f");
    // Non-verbose: a custom role's null RoleTypeId is left out.
    let publisher = all.iter().find(|r| r["Id"] == REPORT_PUBLISHER).unwrap();
    assert!(publisher.get("RoleTypeId").is_none());

    let c = call(Method::GET, format!("{roles}?skip=6&count=5"), &t, None).await;
    assert_eq!(c.body.as_array().unwrap().len(), 2);
    let c = call(Method::HEAD, roles.clone(), &t, None).await;
    assert_eq!(c.status, StatusCode::OK);
    assert_eq!(c.headers["total-count"], "8");
    for bad in ["count=1001", "count=0", "skip=-1", "count=many"] {
        let c = call(Method::GET, format!("{roles}?{bad}"), &t, None).await;
        assert_eq!(c.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_error_body(&c);
    }
    let lower = format!(
        "{}/API/v1/tenants/{TENANT}/roles/{REPORT_PUBLISHER}",
        sb.connect
    );
    let c = call(Method::GET, lower, &t, None).await;
    assert_eq!(c.status, StatusCode::OK);
    assert_eq!(c.body["Name"], "Report Publisher");
    let c = call(
        Method::GET,
        format!("{roles}/00000000-0000-4000-8000-000000000000"),
        &t,
        None,
    )
    .await;
    assert_eq!(c.status, StatusCode::NOT_FOUND);
    assert_error_body(&c);
    // Unknown tenant.
    let c = call(
        Method::GET,
        format!(
            "{}/api/v1/Tenants/00000000-0000-4000-8000-000000000000/Roles",
            sb.connect
        ),
        &t,
        None,
    )
    .await;
    assert_eq!(c.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn identities_list_filters_by_tag_with_or_and_pages() {
    let sb = sandbox::start(Seed::example(), Faults::default())
        .await
        .unwrap();
    let t = token(&sb, ADMIN_ID, ADMIN_SECRET).await;
    let url = identities(&sb);
    let c = call(Method::GET, url.clone(), &t, None).await;
    let names: Vec<&str> = c
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["asset-rule-runner", "legacy-ingest"]);
    assert_eq!(c.body[0]["TenantId"], TENANT);
    assert_eq!(
        c.body[0]["RoleTypeIds"],
        json!(["7ad2b9ef-5386-4ead-ac9f-ad99c5c5b977"])
    );
    let c = call(
        Method::GET,
        format!("{url}?tag=managed-by:warrant"),
        &t,
        None,
    )
    .await;
    assert_eq!(c.body.as_array().unwrap().len(), 1);
    let c = call(
        Method::GET,
        format!("{url}?tag=managed-by:warrant&tag=team:legacy"),
        &t,
        None,
    )
    .await;
    assert_eq!(c.body.as_array().unwrap().len(), 2);
    let c = call(Method::GET, format!("{url}?tag=nothing"), &t, None).await;
    assert_eq!(c.body, json!([]));
    let c = call(Method::GET, format!("{url}?skip=1&count=1"), &t, None).await;
    assert_eq!(c.body[0]["Name"], "legacy-ingest");
    let c = call(Method::HEAD, format!("{url}?tag=team:legacy"), &t, None).await;
    assert_eq!(c.headers["total-count"], "1");
    let c = call(Method::GET, format!("{url}?count=1001"), &t, None).await;
    assert_eq!(c.status, StatusCode::BAD_REQUEST);
    assert_error_body(&c);
    let c = call(Method::GET, url.clone(), "not-a-token", None).await;
    assert_eq!(c.status, StatusCode::UNAUTHORIZED);
    assert!(c.raw.is_empty());
}

#[tokio::test]
async fn create_identity_and_its_errors() {
    let sb = sandbox::start(Seed::example(), Faults::default())
        .await
        .unwrap();
    let admin = token(&sb, ADMIN_ID, ADMIN_SECRET).await;
    let url = identities(&sb);
    let body = json!({"Name": "ingress-pipeline", "RoleIds": [TENANT_MEMBER, DATA_INGRESS], "Tags": ["managed-by:warrant"]});
    let c = call(Method::POST, url.clone(), &admin, Some(body)).await;
    assert_eq!(c.status, StatusCode::CREATED, "{}", c.raw);
    assert_eq!(c.body["Name"], "ingress-pipeline");
    assert_eq!(c.body["RoleIds"], json!([TENANT_MEMBER, DATA_INGRESS]));
    let id = c.body["Id"].as_str().unwrap().to_string();
    let c = call(Method::GET, format!("{url}/{id}"), &admin, None).await;
    assert_eq!(c.body["Tags"], json!(["managed-by:warrant"]));

    // Names are unique in this tenant, case-insensitively.
    let c = call(
        Method::POST,
        url.clone(),
        &admin,
        Some(json!({"Name": "INGRESS-pipeline", "RoleIds": [TENANT_MEMBER]})),
    )
    .await;
    assert_eq!(c.status, StatusCode::CONFLICT);
    assert_error_body(&c);

    for bad in [
        json!({"RoleIds": [TENANT_MEMBER]}),
        json!({"Name": "", "RoleIds": [TENANT_MEMBER]}),
        json!({"Name": "x"}),
        json!({"Name": "x", "RoleIds": ["00000000-0000-4000-8000-000000000000"]}),
        json!({"Name": "x", "RoleIds": ["not-a-guid"]}),
        json!({"Name": "x", "RoleIds": [TENANT_MEMBER], "Tags": "one"}),
        json!(["array"]),
    ] {
        let c = call(Method::POST, url.clone(), &admin, Some(bad.clone())).await;
        assert_eq!(c.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_error_body(&c);
    }
    let r = reqwest::Client::new()
        .post(&url)
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{\"Name\":")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // A member may only assign roles it holds itself.
    let member = token(&sb, MEMBER_ID, MEMBER_SECRET).await;
    let c = call(
        Method::POST,
        url.clone(),
        &member,
        Some(json!({"Name": "m1", "RoleIds": [TENANT_MEMBER, DATA_INGRESS]})),
    )
    .await;
    assert_eq!(c.status, StatusCode::FORBIDDEN);
    assert_error_body(&c);
    assert_eq!(
        c.body["DynamicProperties"]["MissingRoleIds"],
        json!([DATA_INGRESS])
    );
    let c = call(
        Method::POST,
        url.clone(),
        &member,
        Some(json!({"Name": "m1", "RoleIds": [TENANT_MEMBER]})),
    )
    .await;
    assert_eq!(c.status, StatusCode::CREATED);

    // Stable creation order.
    let c = call(Method::GET, url.clone(), &admin, None).await;
    let names: Vec<&str> = c
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["Name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "asset-rule-runner",
            "legacy-ingest",
            "ingress-pipeline",
            "m1"
        ]
    );
}

#[tokio::test]
async fn duplicate_names_are_allowed_when_the_seed_says_so() {
    let mut seed = Seed::example();
    seed.connect.tenants[0].unique_identity_names = false;
    let sb = sandbox::start(seed, Faults::default()).await.unwrap();
    let t = token(&sb, ADMIN_ID, ADMIN_SECRET).await;
    let c = call(
        Method::POST,
        identities(&sb),
        &t,
        Some(json!({"Name": "asset-rule-runner", "RoleIds": [TENANT_MEMBER]})),
    )
    .await;
    assert_eq!(c.status, StatusCode::CREATED);
}

#[tokio::test]
async fn update_keeps_absent_fields_replaces_arrays_and_checks_roles() {
    let sb = sandbox::start(Seed::example(), Faults::default())
        .await
        .unwrap();
    let admin = token(&sb, ADMIN_ID, ADMIN_SECRET).await;
    let one = format!("{}/{ASSET_RULE_RUNNER_ID}", identities(&sb));
    let c = call(
        Method::PUT,
        one.clone(),
        &admin,
        Some(json!({"Tags": ["managed-by:warrant", "env:prod"], "Name": null})),
    )
    .await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.raw);
    assert_eq!(c.body["Name"], "asset-rule-runner");
    assert_eq!(c.body["RoleIds"], json!([TENANT_MEMBER]));
    assert_eq!(c.body["Tags"], json!(["managed-by:warrant", "env:prod"]));

    let c = call(
        Method::PUT,
        one.clone(),
        &admin,
        Some(json!({"RoleIds": [TENANT_MEMBER, REPORT_PUBLISHER]})),
    )
    .await;
    assert_eq!(c.body["RoleIds"], json!([TENANT_MEMBER, REPORT_PUBLISHER]));
    assert_eq!(c.body["Tags"], json!(["managed-by:warrant", "env:prod"]));

    // The member now lacks Report Publisher, an existing role: 403, nothing changes.
    let member = token(&sb, MEMBER_ID, MEMBER_SECRET).await;
    let c = call(
        Method::PUT,
        one.clone(),
        &member,
        Some(json!({"Tags": ["x"]})),
    )
    .await;
    assert_eq!(c.status, StatusCode::FORBIDDEN);
    assert_error_body(&c);
    let c = call(Method::DELETE, one.clone(), &member, None).await;
    assert_eq!(c.status, StatusCode::FORBIDDEN);

    let c = call(
        Method::PUT,
        one.clone(),
        &admin,
        Some(json!({"RoleIds": ["nope"]})),
    )
    .await;
    assert_eq!(c.status, StatusCode::BAD_REQUEST);
    let c = call(Method::PUT, one.clone(), &admin, Some(json!({"Name": 5}))).await;
    assert_eq!(c.status, StatusCode::BAD_REQUEST);
    let c = call(Method::GET, one.clone(), &admin, None).await;
    assert_eq!(c.body["Tags"], json!(["managed-by:warrant", "env:prod"]));

    let missing = format!("{}/00000000-0000-4000-8000-000000000000", identities(&sb));
    let c = call(
        Method::PUT,
        missing.clone(),
        &admin,
        Some(json!({"Tags": []})),
    )
    .await;
    assert_eq!(c.status, StatusCode::NOT_FOUND);
    assert_error_body(&c);
}

#[tokio::test]
async fn get_head_delete_one_identity() {
    let sb = sandbox::start(Seed::example(), Faults::default())
        .await
        .unwrap();
    let admin = token(&sb, ADMIN_ID, ADMIN_SECRET).await;
    let one = format!("{}/{ASSET_RULE_RUNNER_ID}", identities(&sb));
    let c = call(Method::HEAD, one.clone(), &admin, None).await;
    assert_eq!(c.status, StatusCode::OK);
    let c = call(Method::DELETE, one.clone(), &admin, None).await;
    assert_eq!(c.status, StatusCode::NO_CONTENT);
    assert!(c.headers.contains_key("operation-id"));
    let c = call(Method::GET, one.clone(), &admin, None).await;
    assert_eq!(c.status, StatusCode::NOT_FOUND);
    assert_error_body(&c);
    let c = call(Method::HEAD, one.clone(), &admin, None).await;
    assert_eq!(c.status, StatusCode::NOT_FOUND);
    let c = call(Method::DELETE, one.clone(), &admin, None).await;
    assert_eq!(c.status, StatusCode::NOT_FOUND);
    let c = call(
        Method::GET,
        format!("{}/not-a-guid", identities(&sb)),
        &admin,
        None,
    )
    .await;
    assert_eq!(c.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn head_of_one_role_says_whether_it_exists() {
    let sb = sandbox::start(Seed::example(), Faults::default())
        .await
        .unwrap();
    let t = token(&sb, ADMIN_ID, ADMIN_SECRET).await;
    let roles = format!("{}/api/v1/Tenants/{TENANT}/Roles", sb.connect);
    let c = call(
        Method::HEAD,
        format!("{roles}/{REPORT_PUBLISHER}"),
        &t,
        None,
    )
    .await;
    assert_eq!(c.status, StatusCode::OK);
    assert!(c.raw.is_empty());
    assert!(c.headers.contains_key("operation-id"));
    // Ids match case-insensitively, as on GET.
    let upper = REPORT_PUBLISHER.to_uppercase();
    let c = call(Method::HEAD, format!("{roles}/{upper}"), &t, None).await;
    assert_eq!(c.status, StatusCode::OK);
    let c = call(
        Method::HEAD,
        format!("{roles}/00000000-0000-4000-8000-000000000000"),
        &t,
        None,
    )
    .await;
    assert_eq!(c.status, StatusCode::NOT_FOUND);
    assert!(c.headers.contains_key("operation-id"));
    let c = call(
        Method::HEAD,
        format!("{roles}/{REPORT_PUBLISHER}"),
        "bogus",
        None,
    )
    .await;
    assert_eq!(c.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        sb.request_counts()["connect HEAD /api/v1/Tenants/{tenant_id}/Roles/{role_id}"],
        4
    );
}
