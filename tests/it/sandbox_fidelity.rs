//! Real-API semantics of the CONNECT and Mist simulators, and the `lostResponse` fault of all
//! three (issue 15), over real HTTP: CONNECT's page-size clamp, a client reading its own
//! roles, the role-subset rule with `MissingRoleIds`, case-sensitive tags; Mist's PUT that may
//! clear `src_ips` and `GET /api/v1/self`; and writes applied whose answer is lost.

use std::collections::BTreeSet;

use crate::support::{
    ATLAN_KEY, CONNECT_ID as ADMIN_ID, CONNECT_MEMBER_ID as MEMBER_ID,
    CONNECT_MEMBER_SECRET as MEMBER_SECRET, CONNECT_SECRET as ADMIN_SECRET,
    MIST_KEY as MIST_ADMIN_KEY, MIST_READ_KEY,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use warrant::sandbox::{self, Faults, SandboxHandle, Seed};

const TENANT: &str = "7fc97c8b-8f60-4f29-af71-3178c414e7a0";
const TENANT_ADMINISTRATOR: &str = "9b1e2c3d-4f5a-4b6c-8d7e-0f1a2b3c4d01";
const TENANT_MEMBER: &str = "9b1e2c3d-4f5a-4b6c-8d7e-0f1a2b3c4d04";
const DATA_INGRESS: &str = "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c02";
const REPORT_PUBLISHER: &str = "3f1e6c2a-9b8d-4e7f-a1c2-d3e4f5a6b7c8";

const ORG: &str = "a40f5d1f-d889-42e9-94ea-b9b33585fc6b";
const OLD_SCRIPT: &str = "2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f";
const HQ: &str = "d96e3952-53e8-4266-959a-45acd55f5114";

const SNOWFLAKE: &str = "default/snowflake/1700000001";

struct Call {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
    raw: String,
}

/// One request; `auth` is the whole Authorization header value.
async fn call(method: Method, url: String, auth: &str, body: Option<Value>) -> Call {
    let mut req = reqwest::Client::new()
        .request(method, url)
        .header("Authorization", auth);
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

/// `Bearer <access token>` of a CONNECT client.
async fn bearer(sb: &SandboxHandle, id: &str, secret: &str) -> String {
    let body: Value = reqwest::Client::new()
        .post(format!("{}/identity/connect/token", sb.connect))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    format!("Bearer {}", body["access_token"].as_str().unwrap())
}

fn tenant_url(sb: &SandboxHandle, rest: &str) -> String {
    format!("{}/api/v1/Tenants/{TENANT}/{rest}", sb.connect)
}

fn total_count(c: &Call) -> usize {
    c.headers["total-count"].to_str().unwrap().parse().unwrap()
}

fn ids(c: &Call) -> Vec<String> {
    c.body
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["Id"].as_str().unwrap().to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// CONNECT

#[tokio::test]
async fn connect_pages_are_clamped_to_the_seeded_maximum() {
    let mut seed = Seed::example();
    seed.connect.max_page_size = Some(3);
    let sb = sandbox::start(seed, Faults::default()).await.unwrap();
    let admin = bearer(&sb, ADMIN_ID, ADMIN_SECRET).await;
    // Roles: 8 in the tenant, asked 100 at a time, served 3 at a time.
    let mut seen = Vec::new();
    let mut skip = 0;
    loop {
        let c = call(
            Method::GET,
            tenant_url(&sb, &format!("Roles?skip={skip}&count=100")),
            &admin,
            None,
        )
        .await;
        assert_eq!(c.status, StatusCode::OK, "{}", c.raw);
        assert_eq!(total_count(&c), 8);
        let page = ids(&c);
        assert!(page.len() <= 3, "{}", c.raw);
        if page.is_empty() {
            break;
        }
        skip += page.len();
        seen.extend(page);
    }
    assert_eq!(seen.len(), 8);
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 8);
    // A smaller count than the clamp is honoured as asked.
    let c = call(Method::GET, tenant_url(&sb, "Roles?count=2"), &admin, None).await;
    assert_eq!(ids(&c).len(), 2);
    // Identities too: 2 seeded, 3 more created, 5 in pages of 3.
    for i in 0..3 {
        let c = call(
            Method::POST,
            tenant_url(&sb, "AutomationIdentities"),
            &admin,
            Some(json!({"Name": format!("clamped-{i}"), "RoleIds": [TENANT_MEMBER]})),
        )
        .await;
        assert_eq!(c.status, StatusCode::CREATED);
    }
    let c = call(
        Method::GET,
        tenant_url(&sb, "AutomationIdentities?count=1000"),
        &admin,
        None,
    )
    .await;
    assert_eq!(ids(&c).len(), 3);
    assert_eq!(total_count(&c), 5);
    let c = call(
        Method::GET,
        tenant_url(&sb, "AutomationIdentities?skip=3&count=1000"),
        &admin,
        None,
    )
    .await;
    assert_eq!(ids(&c).len(), 2);
    // Bad paging is still 400 before any clamp.
    let c = call(Method::GET, tenant_url(&sb, "Roles?count=0"), &admin, None).await;
    assert_eq!(c.status, StatusCode::BAD_REQUEST);
    assert_eq!(sb.state()["connect"]["maxPageSize"], 3);
}

#[tokio::test]
async fn a_client_reads_its_own_roles() {
    let sb = sandbox::start(Seed::example(), Faults::default())
        .await
        .unwrap();
    let member = bearer(&sb, MEMBER_ID, MEMBER_SECRET).await;
    let admin = bearer(&sb, ADMIN_ID, ADMIN_SECRET).await;
    // "Self": the member client reads its own roles (the path in any case, as ASP.NET).
    for path in [
        format!("ClientCredentialClients/{MEMBER_ID}/Roles"),
        format!("clientcredentialclients/{MEMBER_ID}/roles"),
    ] {
        let c = call(Method::GET, tenant_url(&sb, &path), &member, None).await;
        assert_eq!(c.status, StatusCode::OK, "{}", c.raw);
        assert_eq!(ids(&c), [TENANT_MEMBER]);
        assert_eq!(c.body[0]["Name"], "Tenant Member");
        assert_eq!(
            c.body[0]["RoleTypeId"],
            "7ad2b9ef-5386-4ead-ac9f-ad99c5c5b977"
        );
        assert_eq!(total_count(&c), 1);
    }
    let c = call(
        Method::HEAD,
        tenant_url(&sb, &format!("ClientCredentialClients/{MEMBER_ID}/Roles")),
        &member,
        None,
    )
    .await;
    assert_eq!(c.status, StatusCode::OK);
    assert_eq!(total_count(&c), 1);
    // Another client's roles: only for a Tenant Administrator.
    let c = call(
        Method::GET,
        tenant_url(&sb, &format!("ClientCredentialClients/{ADMIN_ID}/Roles")),
        &member,
        None,
    )
    .await;
    assert_eq!(c.status, StatusCode::FORBIDDEN, "{}", c.raw);
    assert_eq!(c.body["Error"], "Forbidden.");
    let c = call(
        Method::GET,
        tenant_url(&sb, &format!("ClientCredentialClients/{MEMBER_ID}/Roles")),
        &admin,
        None,
    )
    .await;
    assert_eq!(ids(&c), [TENANT_MEMBER]);
    let c = call(
        Method::GET,
        tenant_url(
            &sb,
            &format!("ClientCredentialClients/{ADMIN_ID}/Roles?count=1"),
        ),
        &admin,
        None,
    )
    .await;
    assert_eq!(ids(&c), [TENANT_ADMINISTRATOR]);
    assert_eq!(total_count(&c), 2);
    let c = call(
        Method::GET,
        tenant_url(
            &sb,
            "ClientCredentialClients/00000000-0000-4000-8000-000000000000/Roles",
        ),
        &admin,
        None,
    )
    .await;
    assert_eq!(c.status, StatusCode::NOT_FOUND);
    let c = call(
        Method::GET,
        tenant_url(&sb, &format!("ClientCredentialClients/{MEMBER_ID}/Roles")),
        "Bearer nope",
        None,
    )
    .await;
    assert_eq!(c.status, StatusCode::UNAUTHORIZED);
}

fn missing_role_ids(c: &Call) -> Vec<String> {
    c.body["DynamicProperties"]["MissingRoleIds"]
        .as_array()
        .unwrap_or_else(|| panic!("no MissingRoleIds: {}", c.raw))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_non_administrator_may_assign_only_roles_it_holds() {
    let mut seed = Seed::example();
    // The member client also holds Data Ingress, not Report Publisher.
    seed.connect.tenants[0].clients[1]
        .role_ids
        .push(DATA_INGRESS.into());
    let sb = sandbox::start(seed, Faults::default()).await.unwrap();
    let member = bearer(&sb, MEMBER_ID, MEMBER_SECRET).await;
    let admin = bearer(&sb, ADMIN_ID, ADMIN_SECRET).await;
    let list = tenant_url(&sb, "AutomationIdentities");

    // Create: every role assigned must be held.
    let c = call(
        Method::POST,
        list.clone(),
        &member,
        Some(json!({"Name": "ingest", "RoleIds": [TENANT_MEMBER, REPORT_PUBLISHER, DATA_INGRESS]})),
    )
    .await;
    assert_eq!(c.status, StatusCode::FORBIDDEN, "{}", c.raw);
    assert_eq!(missing_role_ids(&c), [REPORT_PUBLISHER]);
    assert_eq!(
        c.body["Reason"],
        "A non-administrator caller must have all roles being assigned to the new automation identity."
    );
    assert_eq!(
        c.body["Resolution"],
        "Request the missing roles or ask a Tenant Administrator to perform the operation."
    );
    assert_eq!(
        c.headers["operation-id"].to_str().unwrap(),
        c.body["OperationId"].as_str().unwrap()
    );
    let c = call(
        Method::POST,
        list.clone(),
        &member,
        Some(json!({"Name": "ingest", "RoleIds": [TENANT_MEMBER, DATA_INGRESS]})),
    )
    .await;
    assert_eq!(c.status, StatusCode::CREATED, "{}", c.raw);
    let id = c.body["Id"].as_str().unwrap().to_string();
    let one = tenant_url(&sb, &format!("AutomationIdentities/{id}"));

    // Update: adding a role the caller lacks is refused, naming only that role.
    let c = call(
        Method::PUT,
        one.clone(),
        &member,
        Some(json!({"RoleIds": [TENANT_MEMBER, DATA_INGRESS, REPORT_PUBLISHER]})),
    )
    .await;
    assert_eq!(c.status, StatusCode::FORBIDDEN, "{}", c.raw);
    assert_eq!(missing_role_ids(&c), [REPORT_PUBLISHER]);
    assert!(
        c.body["Reason"]
            .as_str()
            .unwrap()
            .contains("as well as any roles being added")
    );
    // A Tenant Administrator adds it; after that the member may not touch the identity at
    // all, not even its tags: it lacks one of the identity's roles.
    let c = call(
        Method::PUT,
        one.clone(),
        &admin,
        Some(json!({"RoleIds": [TENANT_MEMBER, DATA_INGRESS, REPORT_PUBLISHER]})),
    )
    .await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.raw);
    let c = call(
        Method::PUT,
        one.clone(),
        &member,
        Some(json!({"Tags": ["x"]})),
    )
    .await;
    assert_eq!(c.status, StatusCode::FORBIDDEN);
    assert_eq!(missing_role_ids(&c), [REPORT_PUBLISHER]);
    let c = call(Method::GET, one, &admin, None).await;
    assert_eq!(c.body["Tags"], json!([]), "tags were changed: {}", c.raw);
}

#[tokio::test]
async fn tags_are_case_sensitive_when_stored_and_when_filtered() {
    let sb = sandbox::start(Seed::example(), Faults::default())
        .await
        .unwrap();
    let admin = bearer(&sb, ADMIN_ID, ADMIN_SECRET).await;
    let c = call(
        Method::POST,
        tenant_url(&sb, "AutomationIdentities"),
        &admin,
        Some(json!({"Name": "tagged", "RoleIds": [TENANT_MEMBER],
                    "Tags": ["Env:Prod", "env:prod", "env:prod", "team:data"]})),
    )
    .await;
    assert_eq!(c.status, StatusCode::CREATED, "{}", c.raw);
    // Exact duplicates collapse; tags differing in case are different tags.
    assert_eq!(c.body["Tags"], json!(["Env:Prod", "env:prod", "team:data"]));
    let names = |c: &Call| -> Vec<String> {
        c.body
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["Name"].as_str().unwrap().to_string())
            .collect()
    };
    for (tag, expected) in [
        ("env:prod", vec!["tagged"]),
        ("Env:Prod", vec!["tagged"]),
        ("ENV:PROD", vec![]),
        ("Team:Data", vec![]),
    ] {
        let c = call(
            Method::GET,
            tenant_url(&sb, &format!("AutomationIdentities?tag={tag}")),
            &admin,
            None,
        )
        .await;
        assert_eq!(names(&c), expected, "tag={tag}");
    }
}

// ---------------------------------------------------------------------------------------------
// Mist

fn token_url(sb: &SandboxHandle, id: &str) -> String {
    format!("{}/api/v1/orgs/{ORG}/apitokens/{id}", sb.mist)
}

fn mist(key: &str) -> String {
    format!("Token {key}")
}

/// The old-script token's `src_ips` in the sandbox's state.
fn stored_src_ips(sb: &SandboxHandle) -> Value {
    sb.state()["mist"]["orgs"][0]["apiTokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == OLD_SCRIPT)
        .unwrap()["srcIps"]
        .clone()
}

#[tokio::test]
async fn a_put_without_src_ips_keeps_them_unless_the_seed_says_put_replaces() {
    let rename = json!({"name": "old-script-2",
        "privileges": [{"role": "write", "scope": "site", "site_id": HQ}]});
    // Default (contracts/mist.md §1): an absent src_ips is kept.
    let sb = sandbox::start(Seed::example(), Faults::default())
        .await
        .unwrap();
    let c = call(
        Method::PUT,
        token_url(&sb, OLD_SCRIPT),
        &mist(MIST_ADMIN_KEY),
        Some(rename.clone()),
    )
    .await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.raw);
    assert_eq!(c.body["src_ips"], json!(["198.51.100.7"]));
    assert_eq!(stored_src_ips(&sb), json!(["198.51.100.7"]));

    // With putClearsMissingSrcIps, the same PUT silently widens the token to any address.
    let mut seed = Seed::example();
    seed.mist.put_clears_missing_src_ips = true;
    let sb = sandbox::start(seed, Faults::default()).await.unwrap();
    let mut resent = rename.clone();
    resent["src_ips"] = json!(["198.51.100.7"]);
    // Sending them unchanged keeps them ...
    let c = call(
        Method::PUT,
        token_url(&sb, OLD_SCRIPT),
        &mist(MIST_ADMIN_KEY),
        Some(resent),
    )
    .await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.raw);
    assert_eq!(stored_src_ips(&sb), json!(["198.51.100.7"]));
    // ... a changed list is still refused ...
    let mut changed = rename.clone();
    changed["src_ips"] = json!(["198.51.100.8"]);
    let c = call(
        Method::PUT,
        token_url(&sb, OLD_SCRIPT),
        &mist(MIST_ADMIN_KEY),
        Some(changed),
    )
    .await;
    assert_eq!(c.status, StatusCode::BAD_REQUEST);
    // ... and leaving them out, or null, clears them.
    for body in [rename.clone(), {
        let mut null = rename.clone();
        null["src_ips"] = Value::Null;
        null
    }] {
        let c = call(
            Method::PUT,
            token_url(&sb, OLD_SCRIPT),
            &mist(MIST_ADMIN_KEY),
            Some(body),
        )
        .await;
        assert_eq!(c.status, StatusCode::OK, "{}", c.raw);
        assert!(c.body.get("src_ips").is_none(), "{}", c.raw);
        assert_eq!(stored_src_ips(&sb), json!([]));
    }
    assert_eq!(sb.state()["mist"]["putClearsMissingSrcIps"], true);
}

#[tokio::test]
async fn mist_self_shows_the_tokens_own_privileges() {
    let sb = sandbox::start(Seed::example(), Faults::default())
        .await
        .unwrap();
    let url = format!("{}/api/v1/self", sb.mist);
    let c = call(Method::GET, url.clone(), &mist(MIST_READ_KEY), None).await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.raw);
    assert_eq!(c.body["name"], "monitoring-ro");
    assert_eq!(
        c.body["privileges"],
        json!([{"scope": "org", "role": "read", "org_id": ORG, "name": "ACME", "org_name": "ACME"}])
    );
    // An org token has no email: that is how SDKs tell it from a user.
    assert!(c.body.get("email").is_none());
    assert!(!c.raw.contains(MIST_READ_KEY));
    let c = call(Method::GET, url, &mist(MIST_ADMIN_KEY), None).await;
    assert_eq!(c.body["privileges"][0]["role"], "admin");
}

// ---------------------------------------------------------------------------------------------
// lostResponse: the write is applied, the answer never arrives

/// Sends a request that must fail for want of a response (the connection closed).
async fn lost(req: reqwest::RequestBuilder) {
    let err = req.send().await.expect_err("a response arrived");
    assert!(!err.is_status(), "{err}");
}

/// The requests of `platform` whose response the fault lost: (method and path, status).
async fn lost_entries(sb: &SandboxHandle, platform: &str) -> Vec<(String, u64)> {
    let log: Value = reqwest::get(format!("{}/_sandbox/requests", sb.atlan))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    log["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["platform"] == platform && e["fault"] == "lostResponse")
        .map(|e| {
            (
                format!(
                    "{} {}",
                    e["method"].as_str().unwrap(),
                    e["path"].as_str().unwrap()
                ),
                e["status"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_lost_response_on_atlan_applies_the_bulk_write() {
    let sb = sandbox::start(Seed::example(), Faults::default())
        .await
        .unwrap();
    sb.set_faults("atlan.lostResponse=1".parse().unwrap());
    let client = reqwest::Client::new();
    // Reads (GETs and the search POST) are served.
    let r = client
        .get(format!("{}/api/service/whoami", sb.atlan))
        .bearer_auth(ATLAN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = client
        .post(format!("{}/api/meta/search/indexsearch", sb.atlan))
        .bearer_auth(ATLAN_KEY)
        .json(&json!({"dsl": {"query": {"term": {"qualifiedName": SNOWFLAKE}}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The write is applied; its answer is lost.
    lost(
        client
            .post(format!("{}/api/meta/entity/bulk", sb.atlan))
            .bearer_auth(ATLAN_KEY)
            .json(&json!({"entities": [{"typeName": "Connection", "attributes": {
                "qualifiedName": SNOWFLAKE, "name": "snowflake-prod",
                "adminUsers": ["jsmith", "service-account-apikey-ac69de56-6529-4c8f-b53c-791cb5346308", "lost-but-applied"]}}]})),
    )
    .await;
    let state = sb.state();
    let admins = &state["atlan"]["connections"][0]["adminUsers"];
    assert!(
        admins
            .as_array()
            .unwrap()
            .contains(&json!("lost-but-applied")),
        "{admins}"
    );
    assert_eq!(
        lost_entries(&sb, "atlan").await,
        [("POST /api/meta/entity/bulk".to_string(), 200)]
    );
    // Other platforms are untouched by an `atlan.` fault.
    let r = client
        .get(format!("{}/api/v1/self", sb.mist))
        .header("Authorization", mist(MIST_ADMIN_KEY))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_lost_response_on_connect_applies_create_update_and_delete() {
    let sb = sandbox::start(Seed::example(), Faults::default())
        .await
        .unwrap();
    sb.set_faults("connect.lostResponse=1".parse().unwrap());
    // The token endpoint is not a write: it answers.
    let admin = bearer(&sb, ADMIN_ID, ADMIN_SECRET).await;
    let client = reqwest::Client::new();
    let identities = |sb: &SandboxHandle| -> Vec<Value> {
        sb.state()["connect"]["tenants"][0]["automationIdentities"]
            .as_array()
            .unwrap()
            .clone()
    };
    lost(
        client
            .post(tenant_url(&sb, "AutomationIdentities"))
            .header("Authorization", &admin)
            .json(&json!({"Name": "lost-create", "RoleIds": [TENANT_MEMBER]})),
    )
    .await;
    let created = identities(&sb)
        .into_iter()
        .find(|i| i["name"] == "lost-create")
        .expect("the create was applied");
    let id = created["id"].as_str().unwrap().to_string();
    // A read answers and shows it.
    let c = call(
        Method::GET,
        tenant_url(&sb, "AutomationIdentities"),
        &admin,
        None,
    )
    .await;
    assert_eq!(c.status, StatusCode::OK);
    assert_eq!(total_count(&c), 3);
    lost(
        client
            .put(tenant_url(&sb, &format!("AutomationIdentities/{id}")))
            .header("Authorization", &admin)
            .json(&json!({"Tags": ["lost-update"]})),
    )
    .await;
    let updated = identities(&sb)
        .into_iter()
        .find(|i| i["id"] == id.as_str())
        .unwrap();
    assert_eq!(updated["tags"], json!(["lost-update"]));
    lost(
        client
            .delete(tenant_url(&sb, &format!("AutomationIdentities/{id}")))
            .header("Authorization", &admin),
    )
    .await;
    assert!(identities(&sb).iter().all(|i| i["id"] != id.as_str()));
    let entries = lost_entries(&sb, "connect").await;
    let statuses: Vec<u64> = entries.iter().map(|(_, s)| *s).collect();
    assert_eq!(statuses, [201, 200, 204], "{entries:?}");
}

#[tokio::test]
async fn a_lost_response_on_mist_applies_the_create_and_only_sometimes_under_a_probability() {
    let sb = sandbox::start(Seed::example(), Faults::default())
        .await
        .unwrap();
    sb.set_faults("mist.lostResponse=1".parse().unwrap());
    let client = reqwest::Client::new();
    let list = format!("{}/api/v1/orgs/{ORG}/apitokens", sb.mist);
    lost(
        client
            .post(&list)
            .header("Authorization", mist(MIST_ADMIN_KEY))
            .json(
                &json!({"name": "lost-create", "privileges": [{"role": "read", "scope": "org"}]}),
            ),
    )
    .await;
    // The token exists, though its key was never seen by anyone.
    let c = call(Method::GET, list.clone(), &mist(MIST_ADMIN_KEY), None).await;
    assert_eq!(c.status, StatusCode::OK);
    let names: Vec<&str> = c
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"lost-create"), "{names:?}");

    // With a probability, some writes answer and some do not, and every one is applied.
    sb.set_faults("mist.lostResponse=0.5,seed=11".parse().unwrap());
    let mut answered = 0;
    for i in 0..20 {
        let r = client
            .post(&list)
            .header("Authorization", mist(MIST_ADMIN_KEY))
            .json(&json!({"name": format!("maybe-{i}"), "privileges": [{"role": "read", "scope": "org"}]}))
            .send()
            .await;
        answered += usize::from(r.is_ok());
    }
    assert!((3..=17).contains(&answered), "{answered} of 20 answered");
    let c = call(Method::GET, list, &mist(MIST_ADMIN_KEY), None).await;
    let maybes = c
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["name"].as_str().unwrap().starts_with("maybe-"))
        .count();
    assert_eq!(maybes, 20);
    assert_eq!(lost_entries(&sb, "mist").await.len(), 21 - answered);
}
