//! The editor schema is as strict as `warrant validate` for every rule about one document:
//! each case of examples/invalid/ is rejected by schemas/warrant.schema.json, except the
//! cases listed below, each with why a JSON Schema cannot see it.

use std::path::Path;

use serde::Deserialize;

/// Cases about more than one document (references, uniqueness across documents) or about
/// the file system: only `warrant validate` sees them.
const CROSS_DOCUMENT: &[&str] = &[
    "duplicate-resource-name.yaml",
    "duplicate-target-name.yaml",
    "same-connection-twice.yaml",
    "same-identity-twice.yaml",
    "same-token-twice.yaml",
    "target-undefined.yaml",
    "target-wrong-platform.yaml",
    "identity-name-case.yaml",
    "secret-in-env-field.yaml",
    "key-sink-outside-repository.yaml",
];

/// Cases `warrant validate`'s YAML reader rejects before there is a value to check: a JSON
/// Schema sees parsed values only (a repeated key is already gone, raw control characters
/// are a property of the text). An editor's YAML support flags the first two itself.
const READER_LEVEL: &[&str] = &[
    "syntax-error.yaml",
    "duplicate-key.yaml",
    "hidden-characters-raw.yaml",
];

fn documents(path: &Path) -> Result<Vec<serde_json::Value>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for document in serde_yaml::Deserializer::from_str(&text) {
        let value = serde_json::Value::deserialize(document).map_err(|e| e.to_string())?;
        if !value.is_null() {
            out.push(value);
        }
    }
    Ok(out)
}

#[test]
fn every_single_document_invalid_example_is_rejected_by_the_schema() {
    let text = std::fs::read_to_string("schemas/warrant.schema.json").expect("schema");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let mut accepted = Vec::new();
    let mut checked = 0;
    let mut entries: Vec<_> = std::fs::read_dir("examples/invalid")
        .expect("examples/invalid")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if CROSS_DOCUMENT.contains(&name.as_str()) || READER_LEVEL.contains(&name.as_str()) {
            continue;
        }
        let documents = documents(&path)
            .unwrap_or_else(|e| panic!("{name} is not YAML ({e}): list it in READER_LEVEL"));
        checked += 1;
        if documents.iter().all(|d| validator.is_valid(d)) {
            accepted.push(name);
        }
    }
    assert!(checked >= 40, "only {checked} cases checked");
    assert!(
        accepted.is_empty(),
        "the schema accepts these invalid cases that validate rejects: {accepted:#?}"
    );
}

#[test]
fn the_lists_name_existing_cases_and_validate_rejects_them() {
    for name in CROSS_DOCUMENT.iter().chain(READER_LEVEL) {
        let path = Path::new("examples/invalid").join(name);
        assert!(path.is_file(), "{name} does not exist");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_warrant"))
            .args(["validate", "--quiet"])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "validate accepts {name}");
    }
}

/// The other direction: the schema is not stricter than validate. Valid manifests — the
/// examples and a generated world with every kind of object — pass it.
#[test]
fn valid_manifests_pass_the_schema() {
    let text = std::fs::read_to_string("schemas/warrant.schema.json").expect("schema");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let dir = tempfile::tempdir().unwrap();
    let mut files = crate::support::example_manifests();
    files.extend(crate::support::generated(4, 4, 4).files);
    for (i, (name, text)) in files.iter().enumerate() {
        let path = dir.path().join(format!("{i}-{name}"));
        std::fs::write(&path, text).unwrap();
        for document in documents(&path).unwrap() {
            let errors: Vec<String> = validator
                .iter_errors(&document)
                .map(|e| format!("{e} at {}", e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "{name}: {errors:#?}\n{document:#}");
        }
    }
}
