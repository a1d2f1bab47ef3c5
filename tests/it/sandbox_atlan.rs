//! Contract tests of the Atlan simulator over real HTTP (contracts/atlan.md).

use crate::support::{ATLAN_KEY as ADMIN_KEY, JSMITH_KEY};
use reqwest::StatusCode;
use serde_json::{Value, json};
use warrant::sandbox::{self, Faults, Seed};

const SNOWFLAKE: &str = "default/snowflake/1700000001";
const BIGQUERY: &str = "default/bigquery/1700000002";
const DATABRICKS: &str = "default/databricks/1700000003";
const CI_PIPELINE: &str = "service-account-apikey-ac69de56-6529-4c8f-b53c-791cb5346308";
const DBT_CLOUD: &str = "service-account-apikey-4e1f7a2b-9c3d-4b8e-a5f6-0d1c2b3a4e5f";

async fn get(url: String, key: &str) -> (StatusCode, Value) {
    let r = reqwest::Client::new()
        .get(url)
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn post(url: String, key: &str, body: &Value) -> (StatusCode, Value) {
    let r = reqwest::Client::new()
        .post(url)
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn connection<'a>(state: &'a Value, qn: &str) -> &'a Value {
    state["atlan"]["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["qualifiedName"] == qn)
        .unwrap()
}

fn save_body(qn: &str, name: &str, admins: &[&str]) -> Value {
    json!({"entities": [{
        "typeName": "Connection",
        "attributes": {"qualifiedName": qn, "name": name, "adminUsers": admins},
        "businessAttributes": null,
        "guid": "-1640957048199144",
    }]})
}

#[tokio::test]
async fn api_keys_lookup_by_name_guid_and_client_id_as_the_sdks_send_them() {
    let sb = sandbox::start(Seed::example(), Faults::default())
        .await
        .unwrap();
    // pyatlan get_by_name, byte for byte.
    let (s, body) = get(
        format!(
            "{}/api/service/apikeys?count=True&offset=0&limit=5&filter=%7B%22displayName%22%3A%22ci-pipeline%22%7D",
            sb.atlan
        ),
        ADMIN_KEY,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["totalRecord"], 8);
    assert_eq!(body["filterRecord"], 1);
    let rec = &body["records"][0];
    assert_eq!(rec["id"], "92588c67-5ddf-4a45-8b5c-dd92f4b84e99");
    assert_eq!(
        rec["clientId"],
        "apikey-ac69de56-6529-4c8f-b53c-791cb5346308"
    );
    // The retrieval quirks: JSON-encoded strings and stringly numbers.
    assert_eq!(rec["attributes"]["personaQualifiedName"], "[]");
    assert_eq!(rec["attributes"]["createdAt"], "1699100000000");
    assert!(rec["attributes"]["access.token.lifespan"].is_string());

    let (_, body) = get(
        format!(
            "{}/api/service/apikeys?limit=5&filter=%7B%22id%22%3A%225d3c1a9e-2b7f-4c1d-9e8a-6f4b2c0d1e3a%22%7D&sort=createdAt",
            sb.atlan
        ),
        ADMIN_KEY,
    )
    .await;
    assert_eq!(body["records"][0]["displayName"], "looker-sync");

    let (_, body) = get(
        format!(
            "{}/api/service/apikeys?filter=%7B%22clientId%22%3A%22apikey-2a9f8e7d-6c5b-4a3e-8d2c-1b0a9f8e7d6c%22%7D",
            sb.atlan
        ),
        ADMIN_KEY,
    )
    .await;
    assert_eq!(
        body["records"][0]["id"],
        "5d3c1a9e-2b7f-4c1d-9e8a-6f4b2c0d1e3a"
    );

    // Duplicate names, newest first (Java's sort=-createdAt), and paging.
    let (_, body) = get(
        format!(
            "{}/api/service/apikeys?limit=1&offset=0&sort=-createdAt&filter=%7B%22displayName%22%3A%22shared-bot%22%7D",
            sb.atlan
        ),
        ADMIN_KEY,
    )
    .await;
    assert_eq!(body["filterRecord"], 2);
    assert_eq!(body["records"].as_array().unwrap().len(), 1);
    assert_eq!(
        body["records"][0]["id"],
        "4d3c2b1a-0f9e-4d8c-b7a6-5f4e3d2c1b0a"
    );

    let (_, body) = get(
        format!(
            "{}/api/service/apikeys?filter=%7B%22displayName%22%3A%22nobody%22%7D",
            sb.atlan
        ),
        ADMIN_KEY,
    )
    .await;
    assert_eq!(body["filterRecord"], 0);
    assert_eq!(body["records"], json!([]));
}

#[tokio::test]
async fn api_keys_errors_are_atlas_shaped() {
    let sb = sandbox::start(Seed::example(), Faults::default())
        .await
        .unwrap();
    let (s, body) = get(format!("{}/api/service/apikeys", sb.atlan), "wrong-key").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(body["errorCode"], "ATLAS-401-00-001");
    let s = reqwest::get(format!("{}/api/service/apikeys", sb.atlan))
        .await
        .unwrap()
        .status();
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    for bad in [
        "filter=%7Bnot-json",
        "filter=%7B%22owner%22%3A%22x%22%7D",
        "limit=ten",
        "sort=color",
    ] {
        let (s, body) = get(format!("{}/api/service/apikeys?{bad}", sb.atlan), ADMIN_KEY).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
        assert!(body["errorMessage"].is_string(), "{bad}: {body}");
    }
}

#[tokio::test]
async fn whoami_and_users() {
    let sb = sandbox::start(Seed::example(), Faults::default())
        .await
        .unwrap();
    let (s, body) = get(format!("{}/api/service/whoami", sb.atlan), ADMIN_KEY).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        body["username"],
        "service-account-apikey-0b7e4d2a-6c1f-4e8b-9a3d-5f2c1e0d9b8a"
    );
    // Each role with its id (the built-in `$admin`'s sandbox id), as a connection's adminRoles
    // hold them.
    assert_eq!(
        body["roles"],
        json!([{"id": "0c54f4e3-4ff0-4b8b-9a7e-5d2c1b0a9f01", "name": "$admin"}])
    );
    let (s, _) = get(format!("{}/api/service/whoami", sb.atlan), "nope").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (_, body) = get(
        format!(
            "{}/api/service/users?filter=%7B%22username%22%3A%22jsmith%22%7D",
            sb.atlan
        ),
        ADMIN_KEY,
    )
    .await;
    assert_eq!(body["filterRecord"], 1);
    assert_eq!(body["records"][0]["email"], "jsmith@acme.example");
}

#[tokio::test]
async fn connection_by_qualified_name_and_its_404() {
    let sb = sandbox::start(Seed::example(), Faults::default())
        .await
        .unwrap();
    let (s, body) = get(
        format!(
            "{}/api/meta/entity/uniqueAttribute/type/Connection?attr%3AqualifiedName=default%2Fbigquery%2F1700000002&minExtInfo=false&ignoreRelationships=true",
            sb.atlan
        ),
        ADMIN_KEY,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let e = &body["entity"];
    assert_eq!(e["typeName"], "Connection");
    assert_eq!(e["guid"], "11111111-2222-4333-8444-555555555502");
    assert_eq!(e["attributes"]["adminGroups"], json!(["data-engineers"]));
    assert_eq!(e["attributes"]["adminRoles"], json!([]));
    assert_eq!(body["referredEntities"], json!({}));

    let (s, body) = get(
        format!(
            "{}/api/meta/entity/uniqueAttribute/type/Connection?attr:qualifiedName=default/snowflake/999",
            sb.atlan
        ),
        ADMIN_KEY,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(body["errorCode"], "ATLAS-404-00-009");
    assert_eq!(
        body["errorMessage"],
        "Instance Connection with unique attribute {qualifiedName=default/snowflake/999} does not exist"
    );
    let (s, body) = get(
        format!(
            "{}/api/meta/entity/guid/00000000-0000-4000-8000-000000000000",
            sb.atlan
        ),
        ADMIN_KEY,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(body["errorCode"], "ATLAS-404-00-005");
}

#[tokio::test]
async fn index_search_terms_attributes_paging_and_absent_entities() {
    let sb = sandbox::start(Seed::example(), Faults::default())
        .await
        .unwrap();
    let url = format!("{}/api/meta/search/indexsearch", sb.atlan);
    let query = |qns: Value, from: u64, size: u64| {
        json!({
            "attributes": ["adminUsers", "adminGroups", "adminRoles"],
            "dsl": {
                "from": from, "size": size, "aggregations": {}, "track_total_hits": true,
                "query": {"bool": {"filter": [
                    {"term": {"__typeName.keyword": {"value": "Connection", "case_insensitive": false}}},
                    {"term": {"__state": {"value": "ACTIVE", "case_insensitive": false}}},
                    {"terms": {"qualifiedName": qns}}
                ]}},
                "sort": [{"__guid": {"order": "asc"}}]
            },
            "requestMetadata": {"saveSearchLog": false, "utmTags": ["project_sdk_python"]}
        })
    };
    let (s, body) = post(
        url.clone(),
        ADMIN_KEY,
        &query(json!([SNOWFLAKE, BIGQUERY, "default/x/1"]), 0, 50),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["approximateCount"], 2);
    let entities = body["entities"].as_array().unwrap();
    assert_eq!(entities.len(), 2);
    assert_eq!(entities[0]["attributes"]["qualifiedName"], SNOWFLAKE);
    assert_eq!(entities[0]["attributes"]["name"], "snowflake-prod");
    assert_eq!(
        entities[1]["attributes"]["adminGroups"],
        json!(["data-engineers"])
    );
    assert!(entities[0]["attributes"].get("connectorName").is_none());

    // Paging: size 1 from 1 gives the second hit; beyond the end, no `entities` key at all.
    let (_, body) = post(
        url.clone(),
        ADMIN_KEY,
        &query(json!([SNOWFLAKE, BIGQUERY]), 1, 1),
    )
    .await;
    assert_eq!(body["entities"][0]["attributes"]["qualifiedName"], BIGQUERY);
    let (_, body) = post(
        url.clone(),
        ADMIN_KEY,
        &query(json!([SNOWFLAKE, BIGQUERY]), 2, 1),
    )
    .await;
    assert!(body.get("entities").is_none(), "{body}");
    assert_eq!(body["approximateCount"], 2);

    // Single-QN term form.
    let single = json!({"dsl": {"query": {"bool": {"filter": [
        {"term": {"qualifiedName": {"value": DATABRICKS, "case_insensitive": false}}}
    ]}}}, "attributes": ["adminUsers"]});
    let (_, body) = post(url.clone(), ADMIN_KEY, &single).await;
    assert_eq!(
        body["entities"][0]["attributes"]["adminUsers"],
        json!([CI_PIPELINE])
    );

    for bad in [
        json!("nope"),
        json!({"dsl": {"query": {"fuzzy": {}}}}),
        json!({"dsl": {"from": -1}}),
    ] {
        let (s, body) = post(url.clone(), ADMIN_KEY, &bad).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
        assert!(body["errorCode"].is_string());
    }
    let r = reqwest::Client::new()
        .post(&url)
        .bearer_auth(ADMIN_KEY)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn bulk_update_replaces_admin_users_then_noop() {
    let sb = sandbox::start(Seed::example(), Faults::default())
        .await
        .unwrap();
    // pyatlan's path (trailing slash and its query flags).
    let url = format!(
        "{}/api/meta/entity/bulk/?replaceTags=false&appendTags=false&replaceBusinessAttributes=false&overwriteBusinessAttributes=false",
        sb.atlan
    );
    let admins = ["jsmith", CI_PIPELINE, DBT_CLOUD];
    let (s, body) = post(
        url.clone(),
        ADMIN_KEY,
        &save_body(SNOWFLAKE, "snowflake-prod", &admins),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let updated = &body["mutatedEntities"]["UPDATE"][0];
    assert_eq!(updated["guid"], "11111111-2222-4333-8444-555555555501");
    assert_eq!(updated["attributes"]["adminUsers"], json!(admins));
    assert_eq!(
        body["guidAssignments"]["-1640957048199144"],
        "11111111-2222-4333-8444-555555555501"
    );
    let state = sb.state();
    let conn = connection(&state, SNOWFLAKE);
    assert_eq!(conn["adminUsers"], json!(admins));
    assert_eq!(
        conn["updatedBy"],
        "service-account-apikey-0b7e4d2a-6c1f-4e8b-9a3d-5f2c1e0d9b8a"
    );

    // The same again (Java's path, no trailing slash): NOOP, guidAssignments only.
    let (s, body) = post(
        format!(
            "{}/api/meta/entity/bulk?replaceClassifications=false",
            sb.atlan
        ),
        ADMIN_KEY,
        &save_body(SNOWFLAKE, "snowflake-prod", &admins),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.get("mutatedEntities").is_none(), "{body}");
    assert!(body["guidAssignments"].is_object());
    assert_eq!(connection(&sb.state(), SNOWFLAKE)["version"], 1);
}

#[tokio::test]
async fn bulk_errors_change_nothing() {
    let sb = sandbox::start(Seed::example(), Faults::default())
        .await
        .unwrap();
    let url = format!("{}/api/meta/entity/bulk", sb.atlan);
    let before = sb.state();

    // All admin lists empty.
    let (s, body) = post(
        url.clone(),
        ADMIN_KEY,
        &save_body(DATABRICKS, "databricks-lakehouse", &[]),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(body["errorCode"], "ATLAS-400-00-114");
    assert_eq!(
        body["errorMessage"],
        "Admin list should not be empty for type Connection"
    );

    // jsmith is not an admin of databricks (Atlan's rule, the default).
    let (s, body) = post(
        url.clone(),
        JSMITH_KEY,
        &save_body(DATABRICKS, "databricks-lakehouse", &[CI_PIPELINE, "jsmith"]),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(body["errorCode"], "ATLAS-403-00-001");
    assert_eq!(
        body["errorMessage"],
        "jsmith is not authorized to perform update entity: Connection:default/databricks/1700000003"
    );

    // A batch where the second entity fails: the first is not applied either.
    let mut batch = save_body(
        SNOWFLAKE,
        "snowflake-prod",
        &["jsmith", CI_PIPELINE, DBT_CLOUD],
    );
    batch["entities"].as_array_mut().unwrap().push(
        save_body(DATABRICKS, "databricks-lakehouse", &[CI_PIPELINE, "jsmith"])["entities"][0]
            .clone(),
    );
    let (s, _) = post(url.clone(), JSMITH_KEY, &batch).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Malformed requests.
    let no_name = json!({"entities": [{"typeName": "Connection", "attributes": {"qualifiedName": SNOWFLAKE}}]});
    let (s, _) = post(url.clone(), ADMIN_KEY, &no_name).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let wrong_type = json!({"entities": [{"typeName": "Connection", "attributes": {"qualifiedName": SNOWFLAKE, "name": "x", "adminUsers": "jsmith"}}]});
    let (s, _) = post(url.clone(), ADMIN_KEY, &wrong_type).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = post(
        format!("{url}?replaceTags=true&appendTags=true"),
        ADMIN_KEY,
        &save_body(SNOWFLAKE, "snowflake-prod", &["jsmith"]),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let r = reqwest::Client::new()
        .post(&url)
        .bearer_auth(ADMIN_KEY)
        .body("][")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let (s, _) = post(
        url.clone(),
        "nope",
        &save_body(SNOWFLAKE, "snowflake-prod", &["jsmith"]),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    assert_eq!(sb.state()["atlan"], before["atlan"]);
}

#[tokio::test]
async fn bulk_by_a_connection_admin_and_other_lists_untouched() {
    let sb = sandbox::start(Seed::example(), Faults::default())
        .await
        .unwrap();
    // jsmith is an admin of bigquery; only adminUsers is sent, so adminGroups stays.
    let (s, body) = post(
        format!("{}/api/meta/entity/bulk", sb.atlan),
        JSMITH_KEY,
        &save_body(BIGQUERY, "bigquery-analytics", &["jsmith", DBT_CLOUD]),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let state = sb.state();
    let conn = connection(&state, BIGQUERY);
    assert_eq!(conn["adminUsers"], json!(["jsmith", DBT_CLOUD]));
    assert_eq!(conn["adminGroups"], json!(["data-engineers"]));
}

/// A connection created through bulk is found afterwards by both lookups warrant uses, which
/// go through the simulator's qualifiedName index.
#[tokio::test]
async fn a_connection_created_by_bulk_is_found_by_unique_attribute_and_search() {
    let sb = sandbox::start(Seed::example(), Faults::default())
        .await
        .unwrap();
    const NEW: &str = "default/postgres/1700000099";
    let mut body = save_body(NEW, "postgres-new", &["jsmith"]);
    body["entities"][0]["attributes"]["connectorName"] = json!("postgres");
    let (s, response) = post(
        format!("{}/api/meta/entity/bulk", sb.atlan),
        ADMIN_KEY,
        &body,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{response}");
    assert_eq!(
        response["mutatedEntities"]["CREATE"][0]["attributes"]["qualifiedName"], NEW,
        "{response}"
    );

    let (s, found) = get(
        format!(
            "{}/api/meta/entity/uniqueAttribute/type/Connection?attr:qualifiedName={NEW}",
            sb.atlan
        ),
        ADMIN_KEY,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{found}");
    assert_eq!(found["entity"]["attributes"]["qualifiedName"], NEW);

    let search = json!({
        "attributes": ["adminUsers"],
        "dsl": {"from": 0, "size": 10, "query": {"bool": {"filter": [
            {"terms": {"qualifiedName": [NEW, SNOWFLAKE]}}
        ]}}}
    });
    let (s, hits) = post(
        format!("{}/api/meta/search/indexsearch", sb.atlan),
        ADMIN_KEY,
        &search,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{hits}");
    let mut names: Vec<&str> = hits["entities"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["attributes"]["qualifiedName"].as_str())
        .collect();
    names.sort();
    assert_eq!(names, [NEW, SNOWFLAKE]);
}
