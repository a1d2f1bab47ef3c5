//! More official-SDK paths against the sandbox (issue 15, item 14), with the same pinned venv
//! and script machinery as `sdk_python.rs`: pyatlan 11.6's FluentSearch with
//! `include_on_results(Connection.ADMIN_USERS)` (paged), `find_connections_by_name` (which asks
//! for the type name in upper case) and a save of a description read back by GUID; and
//! mistapi 0.64's update and delete of an org API token. Each script prints one
//! `SDK_RESULT <json>` line; the checks are on it and on the sandbox's own state.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use warrant::sandbox::Seed;

use crate::sdk_python::{connection, run_script_in, start_sandbox_with, strings, venv_python};
use crate::support::{ATLAN_KEY, MIST_KEY};

const SNOWFLAKE_QN: &str = "default/snowflake/1700000001";
const SNOWFLAKE_GUID: &str = "11111111-2222-4333-8444-555555555501";
const MIST_ORG: &str = "a40f5d1f-d889-42e9-94ea-b9b33585fc6b";
const HQ: &str = "d96e3952-53e8-4266-959a-45acd55f5114";

#[test]
fn pyatlan_fluent_search_finds_connections_with_their_admins_and_saves_a_description() {
    let python = venv_python();
    let (_rt, sb) = start_sandbox_with(Seed::example());
    let before = sb.state();
    let description = "Production warehouse (set through pyatlan)";

    let (result, output) = run_script_in(
        python,
        "atlan_fluent_search.py",
        &[],
        &[
            ("ATLAN_BASE_URL", &sb.atlan),
            ("ATLAN_API_KEY", ATLAN_KEY),
            ("CONNECTION_QN", SNOWFLAKE_QN),
            ("CONNECTION_NAME", "snowflake-prod"),
            ("DESCRIPTION", description),
        ],
    );
    assert!(!output.contains(ATLAN_KEY), "the API key was printed");

    // The FluentSearch paged through every active connection, admins included.
    let searched = result["searched"].as_object().expect("searched");
    let seeded = before["atlan"]["connections"].as_array().unwrap();
    assert_eq!(searched.len(), seeded.len(), "{result}");
    for c in seeded {
        let qn = c["qualifiedName"].as_str().unwrap();
        assert_eq!(
            strings(&searched[qn]),
            strings(&c["adminUsers"]),
            "{qn}: the SDK read other admins than the sandbox holds"
        );
    }
    assert_eq!(result["narrowed"], json!([SNOWFLAKE_GUID]));
    // find_connections_by_name asks for __typeName.keyword = CONNECTION.
    assert_eq!(result["found"][0]["guid"], SNOWFLAKE_GUID, "{result}");
    assert_eq!(
        strings(&result["found"][0]["adminUsers"]),
        strings(&connection(&before, SNOWFLAKE_QN)["adminUsers"])
    );
    // A description is an attribute the sandbox keeps: an UPDATE, then a NOOP, read back.
    assert_eq!(result["saveTypes"], json!(["UPDATE"]), "{result}");
    assert_eq!(result["againTypes"], json!([]), "{result}");
    assert_eq!(result["fetched"]["description"], description);
    assert_eq!(
        strings(&result["fetched"]["adminUsers"]),
        strings(&connection(&before, SNOWFLAKE_QN)["adminUsers"]),
        "the save of a description changed the admins"
    );
    let after = sb.state();
    let stored = connection(&after, SNOWFLAKE_QN);
    assert_eq!(stored["attributes"]["description"], description);
    assert_eq!(
        stored["adminUsers"],
        connection(&before, SNOWFLAKE_QN)["adminUsers"]
    );

    let counts = sb.request_counts();
    assert_eq!(
        counts.get("atlan GET /api/meta/entity/guid/{guid}"),
        Some(&1)
    );
    // Three connections in pages of two, the narrowed search and find_connections_by_name.
    let searches = counts
        .get("atlan POST /api/meta/search/indexsearch")
        .copied()
        .unwrap_or(0);
    assert!(searches >= 4, "{counts:?}");
}

#[test]
fn mistapi_updates_and_deletes_an_org_api_token() {
    let python = venv_python();
    let (_rt, sb) = start_sandbox_with(Seed::example());
    let before = sb.state();
    let seeded_names: BTreeSet<String> = before["mist"]["orgs"][0]["apiTokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();

    let (result, output) = run_script_in(
        python,
        "mist_org_apitoken_update_delete.py",
        &[],
        &[
            ("SANDBOX_MIST_URL", &sb.mist),
            ("MIST_SANDBOX_TOKEN", MIST_KEY),
            ("MIST_ORG_ID", MIST_ORG),
            ("SITE_ID", HQ),
        ],
    );
    assert!(!output.contains(MIST_KEY), "the API key was printed");
    assert_eq!(result["createStatus"], 200, "{result}");
    assert_eq!(result["updateStatus"], 200, "{result}");
    assert_eq!(result["fetched"]["name"], "sdk-update-probe-renamed");
    assert_eq!(
        result["fetched"]["privileges"],
        json!([
            {"scope": "org", "role": "read", "org_id": MIST_ORG},
            {"scope": "site", "role": "write", "site_id": HQ}
        ])
    );
    assert_eq!(result["deleteStatus"], 200, "{result}");
    assert_eq!(result["goneStatus"], 404, "{result}");
    let listed: BTreeSet<String> = result["listedNames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, seeded_names);

    // The sandbox holds exactly the seeded tokens again, unchanged.
    let tokens = |state: &Value| {
        let mut v: Vec<Value> = state["mist"]["orgs"][0]["apiTokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                let mut t = t.clone();
                // Used by the SDK's own requests.
                t.as_object_mut().unwrap().remove("lastUsed");
                t.as_object_mut().unwrap().remove("requestsThisHour");
                t
            })
            .collect();
        v.sort_by_key(|t| t["id"].as_str().unwrap_or_default().to_string());
        v
    };
    assert_eq!(tokens(&sb.state()), tokens(&before));
    let counts = sb.request_counts();
    for route in [
        "mist PUT /api/v1/orgs/{org_id}/apitokens/{apitoken_id}",
        "mist DELETE /api/v1/orgs/{org_id}/apitokens/{apitoken_id}",
    ] {
        assert_eq!(counts.get(route), Some(&1), "{route}: {counts:?}");
    }
}
