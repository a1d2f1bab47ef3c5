//! The JSON documents warrant writes are versioned and described by the committed schemas:
//! `validate --format json` (valid and invalid manifests), the apply report, and every schema
//! carries an `$id`.

use crate::support::*;

fn validator(name: &str) -> jsonschema::Validator {
    let text = std::fs::read_to_string(format!("schemas/{name}")).expect("schema");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
    jsonschema::validator_for(&schema).expect("a valid JSON Schema")
}

fn assert_valid(validator: &jsonschema::Validator, document: &serde_json::Value, what: &str) {
    let errors: Vec<String> = validator
        .iter_errors(document)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}: {errors:#?}\n{document:#}");
}

#[test]
fn validate_json_is_a_versioned_object_its_schema_describes() {
    let schema = validator("validate.schema.json");
    for (path, valid) in [
        ("examples/manifests", true),
        ("examples/invalid/roles-empty.yaml", false),
        (
            "examples/invalid/errors-within-and-across-documents.yaml",
            false,
        ),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_warrant"))
            .args(["validate", path, "--format", "json"])
            .env_remove("GITHUB_ACTIONS")
            .output()
            .unwrap();
        let document: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_valid(&schema, &document, path);
        assert_eq!(document["valid"], valid, "{document:#}");
        assert_eq!(document["format_version"], 1);
        assert_eq!(out.status.success(), valid);
    }
    // The schema is not a rubber stamp.
    let wrong = serde_json::json!({"format_version": 2, "valid": true, "diagnostics": []});
    assert!(!schema.is_valid(&wrong));
    let wrong = serde_json::json!([]);
    assert!(!schema.is_valid(&wrong));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_apply_report_matches_its_schema() {
    let world = World::example().await;
    let out = world.warrant_live(&["plan", "manifests", "--out", "plan.json"]);
    assert_eq!(out.code, 0, "{out:#?}");
    let out = world.warrant_live(&[
        "apply",
        "plan.json",
        "--manifests",
        "manifests",
        "--report",
        "report.json",
    ]);
    assert_eq!(out.code, 0, "{out:#?}");
    let text = std::fs::read_to_string(world.dir().join("report.json")).unwrap();
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    let schema = validator("report.schema.json");
    assert_valid(&schema, &report, "report.json");
    assert!(report["objects"].as_array().is_some_and(|o| !o.is_empty()));

    let mut broken = report.clone();
    broken["outcome"] = "great".into();
    assert!(!schema.is_valid(&broken), "an unknown outcome is rejected");
}

#[test]
fn every_schema_has_its_id() {
    for (name, schema) in warrant::commands::schema::schemas() {
        assert_eq!(
            schema["$id"],
            warrant::commands::schema::schema_id(&name),
            "{name}"
        );
        let keys: Vec<&String> = schema.as_object().unwrap().keys().take(2).collect();
        assert_eq!(keys, ["$schema", "$id"], "{name}");
    }
}
