//! The example sandbox seed against its committed JSON Schema, and the schema against what
//! the seed parser refuses by shape.

use serde_json::Value;

fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string("schemas/sandbox-seed.schema.json").expect("schema");
    let schema: Value = serde_json::from_str(&text).expect("schema is JSON");
    jsonschema::validator_for(&schema).expect("a valid JSON Schema")
}

fn yaml(text: &str) -> Value {
    serde_yaml::from_str(text).expect("YAML")
}

#[test]
fn the_example_seed_matches_the_committed_schema() {
    let text = std::fs::read_to_string("examples/sandbox/seed.yaml").expect("example seed");
    let seed = yaml(&text);
    let errors: Vec<String> = validator()
        .iter_errors(&seed)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    // It is the world the sandbox parses, not an empty document that trivially passes.
    assert!(
        seed["atlan"]["connections"]
            .as_array()
            .is_some_and(|c| !c.is_empty())
    );
    warrant::sandbox::Seed::from_yaml(&text).expect("the parser accepts it too");
}

#[test]
fn the_schema_rejects_what_the_parser_rejects_by_shape() {
    let v = validator();
    for bad in [
        "atlan:\n  conections: []\n",
        "mist:\n  orgs:\n    - {name: no-id}\n",
        "connect:\n  tenants:\n    - {id: t, roles: [{id: r}]}\n",
        "planet: {}\n",
        "atlan:\n  workflows:\n    templates: [{name: a-1700000500, runs: [{phase: Done}]}]\n",
        "atlan:\n  workflows:\n    runSecs: 1\n",
    ] {
        let doc = yaml(bad);
        assert!(!v.is_valid(&doc), "the schema accepts {bad:?}");
        assert!(
            warrant::sandbox::Seed::from_yaml(bad).is_err(),
            "the parser accepts {bad:?}"
        );
    }
}
