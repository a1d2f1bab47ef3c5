//! The JSON Schemas of the manifest documents, generated from the Rust types with schemars.
//!
//! `warrant schema` writes them to `schemas/` (committed, and checked by a test to be current),
//! where editors pick them up through `# yaml-language-server: $schema=…`. Each kind's document
//! schema wraps the schema of its `spec` — a platform's spec type, or for `Target` the mapping
//! of the platforms' settings — in the common envelope (apiVersion, kind, metadata);
//! `warrant.schema.json` accepts a document of any kind. The schemas are as strict as
//! `warrant validate` for the rules about one document (enums, list sizes, non-blank names,
//! UUIDs, environment-variable names, base URLs, field pairings), so an editor shows red where
//! CI will; only rules across documents (references, uniqueness) and the file system are left
//! to `warrant validate`. The patterns below are the schema form of the checks in
//! `validate.rs` (a test runs examples/invalid/ through both).

use schemars::Schema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Value, json};

use super::Dialect;

/// A hyphenated UUID, any case (`Doc::uuid`).
pub(crate) const UUID_PATTERN: &str =
    "^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$";
/// The name of an environment variable (`Doc::env_name`).
pub(crate) const ENV_NAME_PATTERN: &str = "^[A-Za-z_][A-Za-z0-9_]*$";
/// Holds something besides whitespace (`Doc::non_empty`).
pub(crate) const NOT_BLANK_PATTERN: &str = r"\S";
/// A base URL `base_url_problems` accepts: https, or plain http to a loopback host; no user
/// or password part, no whitespace.
pub(crate) const BASE_URL_PATTERN: &str =
    r"^(https://[^\s/?#@]+|http://(localhost|127(\.[0-9]{1,3}){3}|\[::1\])(:[0-9]+)?)([/?#]\S*)?$";
use super::document::{API_VERSION, Metadata};

/// One manifest kind: its `kind:` value, its schema file, and its spec's schema.
struct KindSchema<'a> {
    kind: &'a str,
    file: &'a str,
    spec: Box<dyn Fn(&mut SchemaGenerator) -> Schema + 'a>,
}

/// Every schema file of the manifests of these platforms, by file name: one per kind and
/// `warrant.schema.json` (any kind).
pub(crate) fn documents_schemas<T, S>(dialects: &[&dyn Dialect<T, S>]) -> Vec<(String, Value)> {
    let mut kinds = vec![KindSchema {
        kind: "Target",
        file: "target.schema.json",
        spec: Box::new(|generator| target_spec(dialects, generator)),
    }];
    kinds.extend(dialects.iter().map(|d| KindSchema {
        kind: d.kind().as_str(),
        file: d.schema_file(),
        spec: Box::new(|generator| d.spec_schema(generator)),
    }));
    let mut out: Vec<(String, Value)> = kinds
        .iter()
        .map(|k| {
            (
                k.file.to_string(),
                documents_schema(std::slice::from_ref(k)),
            )
        })
        .collect();
    out.push(("warrant.schema.json".into(), documents_schema(&kinds)));
    out
}

/// The `spec` of a Target: exactly one key, a platform's name, holding its settings.
fn target_spec<T, S>(dialects: &[&dyn Dialect<T, S>], generator: &mut SchemaGenerator) -> Schema {
    const NAME: &str = "TargetSpec";
    // Defined before the platforms' settings, so the definitions keep the order of a derived
    // schema: the spec, then what it refers to.
    generator
        .definitions_mut()
        .insert(NAME.to_string(), Value::Null);
    let properties: serde_json::Map<String, Value> = dialects
        .iter()
        .map(|d| (d.name().to_string(), d.target_schema(generator).to_value()))
        .collect();
    generator.definitions_mut().insert(
        NAME.to_string(),
        json!({
            "type": "object",
            "additionalProperties": false,
            "properties": properties,
            "description": "`kind: Target`: where a platform lives and which environment variables hold its credentials.",
            "minProperties": 1,
            "maxProperties": 1,
        }),
    );
    Schema::new_ref(format!("#/$defs/{NAME}"))
}

/// A schema accepting a document of any of `kinds`.
fn documents_schema(kinds: &[KindSchema]) -> Value {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let metadata = generator.subschema_for::<Metadata>().to_value();
    let documents: Vec<Value> = kinds
        .iter()
        .map(|k| {
            let spec = (k.spec)(&mut generator).to_value();
            json!({
                "title": k.kind,
                "type": "object",
                "additionalProperties": false,
                "required": ["apiVersion", "kind", "metadata", "spec"],
                "properties": {
                    "apiVersion": {"const": API_VERSION},
                    "kind": {"const": k.kind},
                    "metadata": metadata,
                    "spec": spec,
                }
            })
        })
        .collect();
    let body = match <[Value; 1]>::try_from(documents) {
        Ok([one]) => one,
        Err(many) => json!({"title": "warrant manifest", "oneOf": many}),
    };
    let mut root = serde_json::Map::new();
    root.insert(
        "$schema".into(),
        "https://json-schema.org/draft/2020-12/schema".into(),
    );
    root.insert(
        "description".into(),
        "A warrant manifest document (generated by `warrant schema`; do not edit).".into(),
    );
    if let Value::Object(body) = body {
        root.extend(body);
    }
    root.insert(
        "$defs".into(),
        Value::Object(generator.take_definitions(true)),
    );
    Value::Object(root)
}
