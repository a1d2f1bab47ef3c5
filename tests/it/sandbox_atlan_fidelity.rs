//! The Atlan simulator's real-API semantics (issue 15) over real HTTP: the search index that
//! lags behind the entity store, the entity store's reads by GUID (one and many), the token
//! list a non-admin may not take unfiltered, type names matched as Atlan's normalizer does,
//! attributes the sandbox does not model kept on save, archived connections, and both rules
//! of who may change a connection (legacy and Atlan's), for bulk writes and workflow runs.

use std::time::{Duration, Instant};

use crate::support::{ATLAN_KEY as ADMIN_KEY, JSMITH_KEY};
use reqwest::StatusCode;
use serde_json::{Value, json};
use warrant::sandbox::seed::{AtlanCaller, AtlanConnection, AtlanRole, ConnectionAdminRule};
use warrant::sandbox::{self, Faults, SandboxHandle, Seed};

const ADMIN_USER: &str = "service-account-apikey-0b7e4d2a-6c1f-4e8b-9a3d-5f2c1e0d9b8a";
const SNOWFLAKE: &str = "default/snowflake/1700000001";
const SNOWFLAKE_GUID: &str = "11111111-2222-4333-8444-555555555501";
const BIGQUERY_GUID: &str = "11111111-2222-4333-8444-555555555502";
const DATABRICKS: &str = "default/databricks/1700000003";
const DATABRICKS_GUID: &str = "11111111-2222-4333-8444-555555555503";
const CI_PIPELINE: &str = "service-account-apikey-ac69de56-6529-4c8f-b53c-791cb5346308";
const DBT_CLOUD: &str = "service-account-apikey-4e1f7a2b-9c3d-4b8e-a5f6-0d1c2b3a4e5f";
/// The sandbox ids of the built-in workspace roles.
const ADMIN_ROLE: &str = "0c54f4e3-4ff0-4b8b-9a7e-5d2c1b0a9f01";
const MEMBER_ROLE: &str = "0c54f4e3-4ff0-4b8b-9a7e-5d2c1b0a9f02";
const ARCHIVED_GUID: &str = "11111111-2222-4333-8444-5555555555a1";
const ARCHIVED_QN: &str = "default/redshift/1600000001";

async fn start(seed: Seed) -> SandboxHandle {
    sandbox::start(seed, Faults::default()).await.unwrap()
}

async fn get(sb: &SandboxHandle, path: &str, key: &str) -> (StatusCode, Value) {
    let r = reqwest::Client::new()
        .get(format!("{}{path}", sb.atlan))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn post(sb: &SandboxHandle, path: &str, key: &str, body: &Value) -> (StatusCode, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}{path}", sb.atlan))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// `GET /api/meta/entity/guid/{guid}` as warrant-bot.
async fn entity(sb: &SandboxHandle, guid: &str) -> (StatusCode, Value) {
    get(sb, &format!("/api/meta/entity/guid/{guid}"), ADMIN_KEY).await
}

/// A bulk save of one connection with these attributes (qualifiedName and name included).
async fn save(sb: &SandboxHandle, key: &str, attributes: Value) -> (StatusCode, Value) {
    post(
        sb,
        "/api/meta/entity/bulk/",
        key,
        &json!({"entities": [{"typeName": "Connection", "attributes": attributes, "guid": "-1"}]}),
    )
    .await
}

fn admins_of(entity: &Value) -> Vec<String> {
    let mut v: Vec<String> = entity["attributes"]["adminUsers"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .filter_map(|u| u.as_str().map(str::to_string))
        .collect();
    v.sort();
    v
}

fn sorted(names: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// The connections a search for these qualifiedNames (the way pyatlan asks) finds.
async fn search(sb: &SandboxHandle, names: &[&str]) -> Vec<Value> {
    let (s, body) = post(
        sb,
        "/api/meta/search/indexsearch",
        ADMIN_KEY,
        &json!({
            "attributes": ["adminUsers", "adminGroups", "adminRoles", "description"],
            "dsl": {"from": 0, "size": 50, "query": {"bool": {"filter": [
                {"term": {"__typeName.keyword": {"value": "Connection", "case_insensitive": false}}},
                {"term": {"__state": {"value": "ACTIVE", "case_insensitive": false}}},
                {"terms": {"qualifiedName": names}},
            ]}}},
        }),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    body["entities"].as_array().cloned().unwrap_or_default()
}

fn snowflake_with(admins: &[&str]) -> Value {
    json!({"qualifiedName": SNOWFLAKE, "name": "snowflake-prod", "adminUsers": admins})
}

fn archived_connection(guid: &str, qualified_name: &str) -> AtlanConnection {
    AtlanConnection {
        guid: guid.into(),
        qualified_name: qualified_name.into(),
        name: "redshift-old".into(),
        connector_name: "redshift".into(),
        category: Some("warehouse".into()),
        admin_users: vec!["jsmith".into()],
        admin_groups: vec![],
        admin_roles: vec![],
        created_by: "jsmith".into(),
        updated_by: "jsmith".into(),
        create_time: 1_600_000_001_000,
        update_time: 1_600_000_001_000,
        version: 3,
    }
}

// ---------------------------------------------------------------------------------------------
// The search index lags; the entity store does not

#[tokio::test]
async fn a_write_reaches_the_entity_reads_at_once_and_the_search_after_the_lag() {
    let mut seed = Seed::example();
    seed.atlan.index_lag_seconds = 3600.0;
    let sb = start(seed).await;
    let before = search(&sb, &[SNOWFLAKE]).await;
    assert_eq!(admins_of(&before[0]), sorted(&["jsmith", CI_PIPELINE]));

    let (s, body) = save(
        &sb,
        ADMIN_KEY,
        snowflake_with(&["jsmith", CI_PIPELINE, DBT_CLOUD]),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(body["mutatedEntities"]["UPDATE"].is_array(), "{body}");
    let written = sorted(&["jsmith", CI_PIPELINE, DBT_CLOUD]);

    // The entity store: every read sees the write.
    let (_, one) = entity(&sb, SNOWFLAKE_GUID).await;
    assert_eq!(admins_of(&one["entity"]), written);
    let (_, by_name) = get(
        &sb,
        &format!(
            "/api/meta/entity/uniqueAttribute/type/Connection?attr:qualifiedName={SNOWFLAKE}&minExtInfo=true&ignoreRelationships=true"
        ),
        ADMIN_KEY,
    )
    .await;
    assert_eq!(admins_of(&by_name["entity"]), written);
    let (s, many) = get(
        &sb,
        &format!(
            "/api/meta/entity/bulk?guid={SNOWFLAKE_GUID}&guid={BIGQUERY_GUID}&minExtInfo=true&ignoreRelationships=true"
        ),
        ADMIN_KEY,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{many}");
    assert_eq!(admins_of(&many["entities"][0]), written);

    // The search index still shows the connection as it was, version and all.
    let lagging = search(&sb, &[SNOWFLAKE]).await;
    assert_eq!(admins_of(&lagging[0]), sorted(&["jsmith", CI_PIPELINE]));
    assert_eq!(lagging[0]["version"], before[0]["version"]);
    // The sandbox's own state is the store.
    let state = sb.state();
    let stored = state["atlan"]["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["qualifiedName"] == SNOWFLAKE)
        .unwrap();
    assert_eq!(stored["adminUsers"].as_array().unwrap().len(), 3);

    // A bulk write is matched in the store, not the index: writing the same again is a NOOP.
    let (_, again) = save(
        &sb,
        ADMIN_KEY,
        snowflake_with(&["jsmith", CI_PIPELINE, DBT_CLOUD]),
    )
    .await;
    assert!(again.get("mutatedEntities").is_none(), "{again}");

    // A connection created now is readable by GUID at once, searchable only after the lag.
    let (s, created) = save(
        &sb,
        ADMIN_KEY,
        json!({"qualifiedName": "default/postgres/1800000001", "name": "pg", "connectorName": "postgres"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{created}");
    let guid = created["mutatedEntities"]["CREATE"][0]["guid"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, _) = entity(&sb, &guid).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        search(&sb, &["default/postgres/1800000001"])
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_lagging_write_becomes_searchable_once_the_lag_has_passed() {
    let mut seed = Seed::example();
    seed.atlan.index_lag_seconds = 0.4;
    let sb = start(seed).await;
    let written_at = Instant::now();
    let (s, _) = save(
        &sb,
        ADMIN_KEY,
        snowflake_with(&["jsmith", CI_PIPELINE, DBT_CLOUD]),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let first = search(&sb, &[SNOWFLAKE]).await;
    let seen_early = admins_of(&first[0]).len() == 3;
    // Checked only when the first search ran well within the lag (a slow machine may not).
    if written_at.elapsed() < Duration::from_millis(300) {
        assert!(!seen_early, "the write was searchable before the lag");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let hits = search(&sb, &[SNOWFLAKE]).await;
        if admins_of(&hits[0]) == sorted(&["jsmith", CI_PIPELINE, DBT_CLOUD]) {
            assert!(written_at.elapsed() >= Duration::from_millis(400));
            break;
        }
        assert!(Instant::now() < deadline, "never searchable: {hits:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn two_writes_inside_the_lag_reach_the_search_in_order() {
    let mut seed = Seed::example();
    seed.atlan.index_lag_seconds = 1.0;
    let sb = start(seed).await;
    save(
        &sb,
        ADMIN_KEY,
        snowflake_with(&["jsmith", CI_PIPELINE, DBT_CLOUD]),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    save(&sb, ADMIN_KEY, snowflake_with(&["jsmith", DBT_CLOUD])).await;
    // Each version shows for a while, then the last one stays.
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let admins = admins_of(&search(&sb, &[SNOWFLAKE]).await[0]);
        if seen.last() != Some(&admins) {
            seen.push(admins.clone());
        }
        if admins == sorted(&["jsmith", DBT_CLOUD]) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        seen.last(),
        Some(&sorted(&["jsmith", DBT_CLOUD])),
        "{seen:?}"
    );
    // Never a version that was not written, never out of order.
    let order = [
        sorted(&["jsmith", CI_PIPELINE]),
        sorted(&["jsmith", CI_PIPELINE, DBT_CLOUD]),
        sorted(&["jsmith", DBT_CLOUD]),
    ];
    let positions: Vec<usize> = seen
        .iter()
        .map(|s| {
            order
                .iter()
                .position(|o| o == s)
                .expect("a written version")
        })
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    // The middle version had the index to itself for 600 ms: the first write's time came
    // while the second was still pending.
    assert_eq!(positions, [0, 1, 2], "{seen:?}");
}

// ---------------------------------------------------------------------------------------------
// The entity store's reads by GUID

#[tokio::test]
async fn entity_bulk_get_reads_many_guids_in_the_order_asked() {
    let mut seed = Seed::example();
    seed.atlan
        .archived_connections
        .push(archived_connection(ARCHIVED_GUID, ARCHIVED_QN));
    let sb = start(seed).await;
    for path in ["/api/meta/entity/bulk", "/api/meta/entity/bulk/"] {
        let (s, body) = get(
            &sb,
            &format!(
                "{path}?guid={DATABRICKS_GUID}&guid={SNOWFLAKE_GUID}&guid={ARCHIVED_GUID}&minExtInfo=true&ignoreRelationships=true"
            ),
            ADMIN_KEY,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body["referredEntities"], json!({}));
        let entities = body["entities"].as_array().unwrap();
        let guids: Vec<&str> = entities
            .iter()
            .map(|e| e["guid"].as_str().unwrap())
            .collect();
        assert_eq!(guids, [DATABRICKS_GUID, SNOWFLAKE_GUID, ARCHIVED_GUID]);
        assert_eq!(entities[0]["typeName"], "Connection");
        assert_eq!(entities[0]["status"], "ACTIVE");
        assert_eq!(entities[0]["attributes"]["qualifiedName"], DATABRICKS);
        assert_eq!(
            entities[0]["attributes"]["adminUsers"],
            json!([CI_PIPELINE])
        );
        assert_eq!(entities[2]["status"], "DELETED");
    }
    // As in Atlas, one unknown GUID fails the whole request, and so does none.
    let (s, body) = get(
        &sb,
        &format!(
            "/api/meta/entity/bulk?guid={SNOWFLAKE_GUID}&guid=00000000-0000-4000-8000-000000000000"
        ),
        ADMIN_KEY,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(body["errorCode"], "ATLAS-404-00-005");
    assert!(
        body["errorMessage"]
            .as_str()
            .unwrap()
            .contains("00000000-0000-4000-8000-000000000000"),
        "{body}"
    );
    let (s, body) = get(&sb, "/api/meta/entity/bulk?minExtInfo=true", ADMIN_KEY).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(body["errorCode"], "ATLAS-404-00-005");
    let (s, _) = get(
        &sb,
        &format!("/api/meta/entity/bulk?guid={SNOWFLAKE_GUID}"),
        "nope",
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // A read: no write is counted and nothing changes.
    let counts = sb.request_counts();
    assert_eq!(counts.get("atlan GET /api/meta/entity/bulk"), Some(&4));
    assert_eq!(counts.get("atlan POST /api/meta/entity/bulk"), None);
}

// ---------------------------------------------------------------------------------------------
// API tokens: no unfiltered list without $admin (when seeded), batched filtered lookups

#[tokio::test]
async fn an_unfiltered_token_list_needs_admin_when_the_seed_says_so() {
    let mut seed = Seed::example();
    seed.atlan.unfiltered_token_list_needs_admin = true;
    let sb = start(seed).await;
    for path in [
        "/api/service/apikeys",
        "/api/service/apikeys?limit=100&offset=0",
        "/api/service/apikeys?filter=%7B%7D",
        "/api/service/apikeys?filter=",
    ] {
        let (s, body) = get(&sb, path, JSMITH_KEY).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}: {body}");
        assert_eq!(body["errorCode"], "ATLAS-403-00-001");
        assert!(
            body["errorMessage"].as_str().unwrap().contains("jsmith"),
            "{body}"
        );
        let (s, body) = get(&sb, path, ADMIN_KEY).await;
        assert_eq!(s, StatusCode::OK, "{path}");
        assert_eq!(body["filterRecord"], 8);
    }
    // Filtered lookups work for everyone, one value or many (`$in`).
    let filter = |f: Value| {
        format!(
            "/api/service/apikeys?limit=100&filter={}",
            urlencode(&f.to_string())
        )
    };
    let (s, body) = get(
        &sb,
        &filter(json!({"displayName": "ci-pipeline"})),
        JSMITH_KEY,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["filterRecord"], 1);
    let (_, body) = get(
        &sb,
        &filter(json!({"displayName": {"$in": ["ci-pipeline", "shared-bot", "no-such-token"]}})),
        JSMITH_KEY,
    )
    .await;
    let mut names: Vec<&str> = body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["displayName"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["ci-pipeline", "shared-bot", "shared-bot"]);
    assert_eq!(body["filterRecord"], 3);
    let (_, body) = get(
        &sb,
        &filter(json!({"id": {"$in": ["92588c67-5ddf-4a45-8b5c-dd92f4b84e99", "7c4b1e2f-8a3d-4f6e-9b0c-1d2e3f4a5b6c"]}})),
        JSMITH_KEY,
    )
    .await;
    assert_eq!(body["filterRecord"], 2);
    // `$in` together with another key narrows both.
    let (_, body) = get(
        &sb,
        &filter(json!({"displayName": {"$in": ["shared-bot"]}, "id": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"})),
        JSMITH_KEY,
    )
    .await;
    assert_eq!(body["filterRecord"], 1);
    // Anything else is a clear 400.
    for bad in [
        json!({"displayName": {"$in": "ci-pipeline"}}),
        json!({"displayName": {"$ilike": "ci%"}}),
        json!({"displayName": {"$in": ["a"], "$nin": ["b"]}}),
    ] {
        let (s, body) = get(&sb, &filter(bad.clone()), JSMITH_KEY).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    // The same `$in` works on users.
    let (_, body) = get(
        &sb,
        &format!(
            "/api/service/users?filter={}",
            urlencode(&json!({"username": {"$in": ["jsmith", "mlopez", "ghost"]}}).to_string())
        ),
        JSMITH_KEY,
    )
    .await;
    assert_eq!(body["filterRecord"], 2);
}

#[tokio::test]
async fn by_default_anyone_may_list_every_token() {
    let sb = start(Seed::example()).await;
    let (s, body) = get(&sb, "/api/service/apikeys", JSMITH_KEY).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["filterRecord"], 8);
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

// ---------------------------------------------------------------------------------------------
// Search: type names through Atlan's lowercase normalizer

#[tokio::test]
async fn type_names_match_whatever_their_case_as_pyatlan_find_connections_by_name_asks() {
    let sb = start(Seed::example()).await;
    // pyatlan 11.6 `asset.find_connections_by_name("snowflake-prod", SNOWFLAKE)`, byte for byte.
    let (s, body) = post(
        &sb,
        "/api/meta/search/indexsearch",
        ADMIN_KEY,
        &json!({"attributes": ["adminUsers"], "dsl": {"from": 0, "size": 300, "aggregations": {},
            "track_total_hits": true, "query": {"bool": {"filter": [
                {"term": {"__state": {"value": "ACTIVE"}}},
                {"term": {"__typeName.keyword": {"value": "CONNECTION"}}},
                {"term": {"name.keyword": {"value": "snowflake-prod"}}},
                {"term": {"connectorName": {"value": "snowflake"}}}]}},
            "sort": [{"__guid": {"order": "asc"}}]},
            "relationAttributes": ["name"], "includeRelationshipAttributes": false,
            "requestMetadata": {"saveSearchLog": false, "utmTags": ["project_sdk_python"]}}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["approximateCount"], 1, "{body}");
    assert_eq!(body["entities"][0]["guid"], SNOWFLAKE_GUID);
    // Other keyword fields stay exact.
    let (_, body) = post(
        &sb,
        "/api/meta/search/indexsearch",
        ADMIN_KEY,
        &json!({"dsl": {"query": {"bool": {"filter": [
            {"term": {"__typeName.keyword": "connection"}},
            {"term": {"name.keyword": "SNOWFLAKE-PROD"}}]}}}}),
    )
    .await;
    assert_eq!(body["approximateCount"], 0, "{body}");
    let (_, body) = post(
        &sb,
        "/api/meta/search/indexsearch",
        ADMIN_KEY,
        &json!({"dsl": {"query": {"prefix": {"__typeName.keyword": "conn"}}}}),
    )
    .await;
    assert_eq!(
        body["approximateCount"],
        Seed::example().atlan.connections.len(),
        "{body}"
    );
}

// ---------------------------------------------------------------------------------------------
// Attributes the sandbox does not model are kept

#[tokio::test]
async fn other_attributes_are_kept_count_as_an_update_and_can_be_cleared() {
    let sb = start(Seed::example()).await;
    let mut attributes = snowflake_with(&["jsmith", CI_PIPELINE]);
    attributes["description"] = json!("Production warehouse");
    attributes["userDescription"] = json!("Ask #data-platform");
    let (s, body) = save(&sb, JSMITH_KEY, attributes.clone()).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        body["mutatedEntities"]["UPDATE"][0]["guid"], SNOWFLAKE_GUID,
        "{body}"
    );
    let (_, one) = entity(&sb, SNOWFLAKE_GUID).await;
    assert_eq!(
        one["entity"]["attributes"]["description"],
        "Production warehouse"
    );
    assert_eq!(
        one["entity"]["attributes"]["userDescription"],
        "Ask #data-platform"
    );
    assert_eq!(one["entity"]["version"], 1);
    // The admin lists were not touched by a description-only change.
    assert_eq!(admins_of(&one["entity"]), sorted(&["jsmith", CI_PIPELINE]));
    // Searchable and shown in the sandbox state.
    let hits = search(&sb, &[SNOWFLAKE]).await;
    assert_eq!(hits[0]["attributes"]["description"], "Production warehouse");
    let state = sb.state();
    let stored = state["atlan"]["connections"][0].clone();
    assert_eq!(stored["attributes"]["description"], "Production warehouse");

    // The same again: a NOOP.
    let (_, body) = save(&sb, JSMITH_KEY, attributes.clone()).await;
    assert!(body.get("mutatedEntities").is_none(), "{body}");
    // A changed one, or one set to null (cleared), is an UPDATE.
    attributes["description"] = Value::Null;
    let (_, body) = save(&sb, JSMITH_KEY, attributes).await;
    assert!(body["mutatedEntities"]["UPDATE"].is_array(), "{body}");
    let (_, one) = entity(&sb, SNOWFLAKE_GUID).await;
    assert!(
        one["entity"]["attributes"].get("description").is_none(),
        "{one}"
    );
    assert_eq!(
        one["entity"]["attributes"]["userDescription"],
        "Ask #data-platform"
    );
    assert_eq!(one["entity"]["version"], 2);

    // A change to any attribute needs the right to change the connection: jsmith is no admin
    // of databricks.
    let (s, _) = save(
        &sb,
        JSMITH_KEY,
        json!({"qualifiedName": DATABRICKS, "name": "databricks-lakehouse", "description": "x"}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

// ---------------------------------------------------------------------------------------------
// Archived connections

#[tokio::test]
async fn archived_connections_are_readable_and_never_written() {
    let mut seed = Seed::example();
    seed.atlan
        .archived_connections
        .push(archived_connection(ARCHIVED_GUID, ARCHIVED_QN));
    // An archived predecessor of an active connection, under the same qualifiedName.
    let mut predecessor = archived_connection("11111111-2222-4333-8444-5555555555a2", SNOWFLAKE);
    predecessor.name = "snowflake-prod-old".into();
    seed.atlan.archived_connections.push(predecessor);
    let sb = start(seed).await;
    let archived_before = sb.state()["atlan"]["archivedConnections"].clone();
    assert_eq!(archived_before.as_array().unwrap().len(), 2);

    let (s, one) = entity(&sb, ARCHIVED_GUID).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(one["entity"]["status"], "DELETED");
    // A qualifiedName lookup finds only active connections.
    let (s, _) = get(
        &sb,
        &format!(
            "/api/meta/entity/uniqueAttribute/type/Connection?attr:qualifiedName={ARCHIVED_QN}"
        ),
        ADMIN_KEY,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, by_name) = get(
        &sb,
        &format!("/api/meta/entity/uniqueAttribute/type/Connection?attr:qualifiedName={SNOWFLAKE}"),
        ADMIN_KEY,
    )
    .await;
    assert_eq!(by_name["entity"]["guid"], SNOWFLAKE_GUID);
    // A search with __state ACTIVE leaves them out; one without shows them as DELETED.
    assert!(search(&sb, &[ARCHIVED_QN]).await.is_empty());
    assert_eq!(search(&sb, &[SNOWFLAKE]).await.len(), 1);
    let (_, body) = post(
        &sb,
        "/api/meta/search/indexsearch",
        ADMIN_KEY,
        &json!({"dsl": {"query": {"terms": {"qualifiedName": [ARCHIVED_QN, SNOWFLAKE]}}}}),
    )
    .await;
    let mut found: Vec<(String, String)> = body["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["guid"].as_str().unwrap().to_string(),
                e["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            (SNOWFLAKE_GUID.to_string(), "ACTIVE".to_string()),
            (ARCHIVED_GUID.to_string(), "DELETED".to_string()),
            (
                "11111111-2222-4333-8444-5555555555a2".to_string(),
                "DELETED".to_string()
            ),
        ]
    );
    let (_, body) = post(
        &sb,
        "/api/meta/search/indexsearch",
        ADMIN_KEY,
        &json!({"dsl": {"query": {"term": {"__state": "DELETED"}}}}),
    )
    .await;
    assert_eq!(body["approximateCount"], 2);

    // A save by qualifiedName reaches the active connection, never an archived one.
    let (s, body) = save(
        &sb,
        ADMIN_KEY,
        snowflake_with(&["jsmith", CI_PIPELINE, DBT_CLOUD]),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["mutatedEntities"]["UPDATE"][0]["guid"], SNOWFLAKE_GUID);
    // The archived one's qualifiedName has no active connection: a save would be a create,
    // which jsmith may not do and which without a connectorName is refused.
    let archived_save = json!({"qualifiedName": ARCHIVED_QN, "name": "redshift-old", "adminUsers": ["jsmith", DBT_CLOUD]});
    let (s, body) = save(&sb, JSMITH_KEY, archived_save.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["errorMessage"]
            .as_str()
            .unwrap()
            .contains("create entity"),
        "{body}"
    );
    let (s, _) = save(&sb, ADMIN_KEY, archived_save).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // Foreign writers leave them alone too.
    sb.set_faults("atlan.foreign=1,seed=3".parse().unwrap());
    for _ in 0..30 {
        get(&sb, "/api/service/whoami", ADMIN_KEY).await;
    }
    let state = sb.state();
    assert_eq!(state["foreignWrites"], 30);
    assert_eq!(state["atlan"]["archivedConnections"], archived_before);
}

#[test]
fn archived_connections_share_guids_with_nothing() {
    let mut seed = Seed::example();
    seed.atlan
        .archived_connections
        .push(archived_connection(SNOWFLAKE_GUID, ARCHIVED_QN));
    let yaml = serde_yaml::to_string(&seed).unwrap();
    let err = Seed::from_yaml(&yaml).unwrap_err().to_string();
    assert!(err.contains("duplicate atlan connection guid"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Who may change a connection

fn atlan_rule(seed: &mut Seed) {
    seed.atlan.connection_admin_rule = ConnectionAdminRule::Atlan;
}

#[tokio::test]
async fn the_legacy_rule_lets_workspace_admins_change_anything_and_ignores_admin_roles() {
    let mut seed = Seed::example();
    // Under the legacy rule, a role listed in adminRoles does not make its holders admins.
    seed.atlan.connections[2].admin_roles = vec![MEMBER_ROLE.into()];
    // Atlan's rule is the default; the legacy one is asked for.
    assert_eq!(seed.atlan.connection_admin_rule, ConnectionAdminRule::Atlan);
    seed.atlan.connection_admin_rule = ConnectionAdminRule::Legacy;
    let sb = start(seed).await;
    let databricks = |admins: &[&str]| json!({"qualifiedName": DATABRICKS, "name": "databricks-lakehouse", "adminUsers": admins});
    // warrant-bot is $admin and in no admin list of databricks.
    let (s, body) = save(&sb, ADMIN_KEY, databricks(&[CI_PIPELINE, DBT_CLOUD])).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(body["mutatedEntities"]["UPDATE"].is_array());
    // jsmith ($member) is refused, even for a save that changes nothing: the legacy check
    // comes first.
    for admins in [
        &[CI_PIPELINE, DBT_CLOUD, "jsmith"][..],
        &[CI_PIPELINE, DBT_CLOUD][..],
    ] {
        let (s, body) = save(&sb, JSMITH_KEY, databricks(admins)).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body["errorCode"], "ATLAS-403-00-002");
        assert_eq!(
            body["errorMessage"],
            "jsmith is not admin for connection default/databricks/1700000003"
        );
    }
}

#[tokio::test]
async fn the_atlan_rule_needs_a_listed_user_group_or_role() {
    let mut seed = Seed::example();
    atlan_rule(&mut seed);
    seed.atlan.callers.push(AtlanCaller {
        api_key: "sandbox-atlan-key-engineer".into(),
        username: "mlopez".into(),
        roles: vec!["$member".into()],
        groups: vec!["data-engineers".into()],
    });
    let sb = start(seed).await;
    let databricks = |admins: &[&str]| json!({"qualifiedName": DATABRICKS, "name": "databricks-lakehouse", "adminUsers": admins});
    let bigquery = |admins: &[&str]| json!({"qualifiedName": "default/bigquery/1700000002", "name": "bigquery-analytics", "adminUsers": admins});
    let bigquery_admins = [
        "jsmith",
        "service-account-apikey-6b5a4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d",
    ];

    // Workspace $admin alone is not enough: warrant-bot is in no list of databricks.
    let (s, body) = save(&sb, ADMIN_KEY, databricks(&[CI_PIPELINE, DBT_CLOUD])).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["errorCode"], "ATLAS-403-00-001");
    assert_eq!(
        body["errorMessage"],
        format!("{ADMIN_USER} is not authorized to perform update entity: Connection:{DATABRICKS}")
    );
    // An unchanged save is a 200 NOOP for anyone, admin or not.
    for key in [ADMIN_KEY, JSMITH_KEY] {
        let (s, body) = save(&sb, key, databricks(&[CI_PIPELINE])).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert!(body.get("mutatedEntities").is_none(), "{body}");
        assert_eq!(body["guidAssignments"]["-1"], DATABRICKS_GUID);
    }
    // A user listed in adminUsers may (jsmith on snowflake).
    let (s, _) = save(
        &sb,
        JSMITH_KEY,
        snowflake_with(&["jsmith", CI_PIPELINE, DBT_CLOUD]),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    // A member of a group in adminGroups may (mlopez in data-engineers, on bigquery).
    let mut more = bigquery_admins.to_vec();
    more.push(DBT_CLOUD);
    let (s, body) = save(&sb, "sandbox-atlan-key-engineer", bigquery(&more)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(body["mutatedEntities"]["UPDATE"].is_array());
    // ... but not where the group is not listed.
    let (s, _) = save(&sb, "sandbox-atlan-key-engineer", databricks(&[DBT_CLOUD])).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let before = sb.state()["atlan"]["connections"].clone();
    // The refusals changed nothing.
    let (_, one) = entity(&sb, DATABRICKS_GUID).await;
    assert_eq!(admins_of(&one["entity"]), [CI_PIPELINE.to_string()]);
    assert_eq!(sb.state()["atlan"]["connections"], before);
}

#[tokio::test]
async fn under_the_atlan_rule_a_role_in_admin_roles_makes_its_holders_admins() {
    let mut seed = Seed::example();
    atlan_rule(&mut seed);
    // databricks lists the $admin role; snowflake lists a custom role.
    seed.atlan.connections[2].admin_roles = vec![ADMIN_ROLE.into()];
    seed.atlan.roles.push(AtlanRole {
        id: "7d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c01".into(),
        name: "data-stewards".into(),
    });
    seed.atlan.connections[0].admin_roles = vec!["7d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c01".into()];
    seed.atlan.callers.push(AtlanCaller {
        api_key: "sandbox-atlan-key-steward".into(),
        username: "steward".into(),
        roles: vec!["$member".into(), "data-stewards".into()],
        groups: vec![],
    });
    let sb = start(seed).await;
    // whoami reports the role ids that adminRoles hold.
    let (_, me) = get(&sb, "/api/service/whoami", "sandbox-atlan-key-steward").await;
    assert_eq!(
        me["roles"],
        json!([
            {"id": MEMBER_ROLE, "name": "$member"},
            {"id": "7d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c01", "name": "data-stewards"}
        ])
    );
    let databricks = json!({"qualifiedName": DATABRICKS, "name": "databricks-lakehouse", "adminUsers": [CI_PIPELINE, DBT_CLOUD]});
    // $admin counts through adminRoles.
    let (s, body) = save(&sb, ADMIN_KEY, databricks.clone()).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, _) = save(&sb, "sandbox-atlan-key-steward", databricks).await;
    assert_eq!(s, StatusCode::OK, "a NOOP by now");
    let (s, body) = save(
        &sb,
        "sandbox-atlan-key-steward",
        snowflake_with(&["jsmith", CI_PIPELINE, DBT_CLOUD]),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(body["mutatedEntities"]["UPDATE"].is_array());
    // The role does not reach connections that do not list it.
    let (s, _) = save(
        &sb,
        "sandbox-atlan-key-steward",
        json!({"qualifiedName": "default/bigquery/1700000002", "name": "bigquery-analytics", "adminUsers": ["jsmith"]}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_tenant_may_let_workspace_admins_change_any_connection() {
    let mut seed = Seed::example();
    atlan_rule(&mut seed);
    seed.atlan.workspace_admins_may_change_connections = true;
    let sb = start(seed).await;
    let databricks = json!({"qualifiedName": DATABRICKS, "name": "databricks-lakehouse", "adminUsers": [CI_PIPELINE, DBT_CLOUD]});
    let (s, body) = save(&sb, ADMIN_KEY, databricks).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(body["mutatedEntities"]["UPDATE"].is_array());
    // The option is about workspace admins only: jsmith is still refused, with Atlan's error.
    let (s, body) = save(
        &sb,
        JSMITH_KEY,
        json!({"qualifiedName": DATABRICKS, "name": "databricks-lakehouse", "adminUsers": ["jsmith"]}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(body["errorCode"], "ATLAS-403-00-001");
}

#[test]
fn a_caller_role_must_be_a_workspace_role() {
    let mut seed = Seed::example();
    seed.atlan.callers[1].roles.push("$superuser".into());
    let yaml = serde_yaml::to_string(&seed).unwrap();
    let err = Seed::from_yaml(&yaml).unwrap_err().to_string();
    assert!(err.contains("$superuser is not a workspace role"), "{err}");
    let mut seed = Seed::example();
    seed.atlan.index_lag_seconds = -1.0;
    let yaml = serde_yaml::to_string(&seed).unwrap();
    let err = Seed::from_yaml(&yaml).unwrap_err().to_string();
    assert!(err.contains("atlan indexLagSeconds"), "{err}");
}

/// A seeded package run by `submitter` on databricks, finishing right after the start.
fn seed_with_run(submitter: &str, rule: ConnectionAdminRule) -> Seed {
    let yaml = format!(
        "atlan:\n  connectionAdminRule: {}\n  workflows:\n    runSeconds: 0.1\n    templates:\n      - name: csa-api-token-connection-admin-1800000100\n        parameters:\n          connection_qualified_name: {DATABRICKS}\n          api_token_guid: 7c4b1e2f-8a3d-4f6e-9b0c-1d2e3f4a5b6c\n        createdBy: {submitter}\n        runs:\n          - {{phase: Running, remainingSeconds: 0.1}}\n",
        match rule {
            ConnectionAdminRule::Legacy => "legacy",
            ConnectionAdminRule::Atlan => "atlan",
        }
    );
    let extra = Seed::from_yaml(&yaml).unwrap();
    let mut seed = Seed::example();
    seed.atlan.connection_admin_rule = extra.atlan.connection_admin_rule;
    seed.atlan.workflows = extra.atlan.workflows;
    seed
}

async fn finished_run(sb: &SandboxHandle) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state = sb.state();
        let run = state["atlan"]["workflows"]["runs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["template"] == "csa-api-token-connection-admin-1800000100")
            .cloned()
            .unwrap();
        if run["phase"] != "Running" && run["phase"] != "Pending" {
            return run;
        }
        assert!(Instant::now() < deadline, "the run never finished: {run}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_workflow_run_follows_the_same_rule_as_its_submitter() {
    // Legacy: the $admin submitter may change databricks.
    let sb = start(seed_with_run(ADMIN_USER, ConnectionAdminRule::Legacy)).await;
    let run = finished_run(&sb).await;
    assert_eq!(run["phase"], "Succeeded", "{run}");
    let (_, one) = entity(&sb, DATABRICKS_GUID).await;
    assert_eq!(admins_of(&one["entity"]), sorted(&[CI_PIPELINE, DBT_CLOUD]));

    // Atlan's rule: the same run fails with the refusal entity/bulk gives, nothing changes.
    let sb = start(seed_with_run(ADMIN_USER, ConnectionAdminRule::Atlan)).await;
    let run = finished_run(&sb).await;
    assert_eq!(run["phase"], "Failed", "{run}");
    assert_eq!(
        run["message"],
        format!(
            "Unable to add the API token as a connection admin. {ADMIN_USER} is not authorized to perform update entity: Connection:{DATABRICKS}"
        )
    );
    let (_, one) = entity(&sb, DATABRICKS_GUID).await;
    assert_eq!(admins_of(&one["entity"]), [CI_PIPELINE.to_string()]);
}
