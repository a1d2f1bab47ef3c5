//! The example manifests load, mean what they say, and agree with the committed JSON Schemas;
//! and the committed schemas/ are what `warrant schema` generates now.

use std::path::PathBuf;

use serde::Deserialize;
use warrant::manifest;
use warrant::platform::{self, Manifests, ResourceSpec, TargetPlatform};

fn examples() -> Manifests {
    Manifests::load(&[PathBuf::from("examples/manifests")]).unwrap_or_else(|d| {
        panic!("examples invalid:\n{}", manifest::render_text(&d));
    })
}

#[test]
fn examples_load_with_defaults_applied() {
    let m = examples();
    assert_eq!(m.targets.len(), 3);
    assert_eq!(m.resources.len(), 9);
    let Some(TargetPlatform::Connect(connect)) = m.target("connect-prod").map(|t| &t.platform)
    else {
        panic!("connect-prod is a connect Target");
    };
    assert_eq!(connect.base_url, "https://uswe.datahub.connect.aveva.com");
    let Some(TargetPlatform::Atlan(atlan)) = m.target("atlan-prod").map(|t| &t.platform) else {
        panic!("atlan-prod is an atlan Target");
    };
    assert_eq!(atlan.requests_per_minute, 1800);
    let Some(TargetPlatform::Mist(mist)) = m.target("mist-prod").map(|t| &t.platform) else {
        panic!("mist-prod is a mist Target");
    };
    assert_eq!(mist.requests_per_hour, 5000);
    assert_eq!(atlan.api_key_env, "ATLAN_API_KEY");
    assert_eq!(connect.client_id_env, "CONNECT_CLIENT_ID");
    assert_eq!(connect.client_secret_env, "CONNECT_CLIENT_SECRET");
    assert_eq!(mist.api_token_env, "MIST_API_TOKEN");
    let runner = m
        .resources
        .iter()
        .find(|r| r.name == "asset-rule-runner")
        .expect("asset-rule-runner");
    assert_eq!(runner.remote_key(), "asset-rule-runner", "name defaults");
    assert!(matches!(runner.spec, ResourceSpec::AutomationIdentity(_)));
    let first = &m.resources[0];
    assert!(first.location.file.ends_with("atlan.yaml"));
    assert_eq!((first.location.line, first.location.column), (3, 1));
}

/// The examples name every environment variable explicitly; these Targets leave them out.
#[test]
fn omitted_target_fields_take_their_documented_defaults() {
    let text = "\
apiVersion: warrant/v1
kind: Target
metadata: {name: a}
spec: {atlan: {baseUrl: https://acme.atlan.com}}
---
apiVersion: warrant/v1
kind: Target
metadata: {name: c}
spec: {connect: {tenantId: 7fc97c8b-8f60-4f29-af71-3178c414e7a0}}
---
apiVersion: warrant/v1
kind: Target
metadata: {name: m}
spec: {mist: {cloud: global01, orgId: a40f5d1f-d889-42e9-94ea-b9b33585fc6b}}
";
    let m = platform::Manifests::parse(std::path::Path::new("t.yaml"), text).expect("valid");
    let Some(TargetPlatform::Atlan(atlan)) = m.target("a").map(|t| &t.platform) else {
        panic!("a is an atlan Target");
    };
    assert_eq!(atlan.api_key_env, "ATLAN_API_KEY");
    assert_eq!(atlan.requests_per_minute, 1800);
    let Some(TargetPlatform::Connect(connect)) = m.target("c").map(|t| &t.platform) else {
        panic!("c is a connect Target");
    };
    assert_eq!(connect.base_url, "https://uswe.datahub.connect.aveva.com");
    assert_eq!(connect.client_id_env, "CONNECT_CLIENT_ID");
    assert_eq!(connect.client_secret_env, "CONNECT_CLIENT_SECRET");
    let Some(TargetPlatform::Mist(mist)) = m.target("m").map(|t| &t.platform) else {
        panic!("m is a mist Target");
    };
    assert_eq!(mist.api_token_env, "MIST_API_TOKEN");
    assert_eq!(mist.requests_per_hour, 5000);
    assert_eq!(mist.base_url, None);
}

#[test]
fn committed_schemas_are_current() {
    let mut stale = Vec::new();
    for (name, schema) in warrant::commands::schema::schemas() {
        let path = PathBuf::from("schemas").join(&name);
        let committed: Option<serde_json::Value> = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        if committed.as_ref() != Some(&schema) {
            stale.push(name);
        }
    }
    assert!(
        stale.is_empty(),
        "schemas/ out of date: {stale:?}; run `cargo run -- schema --out schemas`"
    );
}

fn yaml_documents(path: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).expect("readable");
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| serde_json::Value::deserialize(doc).expect("example is YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

#[test]
fn every_example_document_matches_the_committed_schema() {
    let text = std::fs::read_to_string("schemas/warrant.schema.json").expect("schema");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let mut checked = 0;
    for entry in std::fs::read_dir("examples/manifests").expect("examples") {
        let path = entry.expect("entry").path();
        for doc in yaml_documents(&path) {
            let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{}: {errors:?}", path.display());
            checked += 1;
        }
    }
    assert_eq!(checked, 12);
}

#[test]
fn the_schema_rejects_what_validate_rejects_by_shape() {
    let text = std::fs::read_to_string("schemas/warrant.schema.json").expect("schema");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    for name in [
        "unknown-field",
        "target-two-platforms",
        "key-sink-both",
        "privilege-unknown-role",
        "list-entries-unknown-fields",
    ] {
        let path = PathBuf::from(format!("examples/invalid/{name}.yaml"));
        let docs = yaml_documents(&path);
        assert!(
            docs.iter().any(|d| !validator.is_valid(d)),
            "{name} passes the schema"
        );
    }
}
