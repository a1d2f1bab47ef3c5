//! `warrant schema`: write the JSON Schemas of warrant's files ([`schemas`]) into a directory.

use std::path::PathBuf;

use anyhow::Context;
use serde_json::Value;

use super::Outcome;

/// Where `warrant schema` writes.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// The directory to write the schemas into.
    pub out: PathBuf,
}

/// Every schema file, by file name, each generated where its types live: the manifest
/// documents (one per kind and `warrant.schema.json` for any kind), `plan.schema.json` (the
/// plan file), `drift.schema.json` (`drift --format json`), `report.schema.json` (`apply
/// --report`), `validate.schema.json` (`validate --format json`) and
/// `sandbox-seed.schema.json` (the sandbox's seed file). Each gets an `$id` naming it
/// ([`schema_id`]). `warrant schema` writes them; a test checks that `schemas/` holds
/// exactly them.
pub fn schemas() -> Vec<(String, Value)> {
    let mut all = crate::platform::manifest_schemas();
    all.push(("plan.schema.json".into(), crate::plan::file::schema()));
    all.push((
        "drift.schema.json".into(),
        crate::render::json::drift_schema(),
    ));
    all.push((
        "report.schema.json".into(),
        schemars::schema_for!(crate::apply::ApplyReport).to_value(),
    ));
    all.push((
        "validate.schema.json".into(),
        schemars::schema_for!(super::validate::ValidateDocument).to_value(),
    ));
    all.push((
        "sandbox-seed.schema.json".into(),
        schemars::schema_for!(crate::sandbox::Seed).to_value(),
    ));
    for (name, schema) in &mut all {
        if let Some(object) = schema.as_object_mut() {
            // `$schema` and `$id` first, where readers look for them.
            let mut rest = std::mem::take(object);
            if let Some(dialect) = rest.remove("$schema") {
                object.insert("$schema".into(), dialect);
            }
            object.insert("$id".into(), schema_id(name).into());
            object.extend(rest);
        }
    }
    all
}

/// The `$id` of a schema file: a URN, since the schemas are served from no fixed address
/// (editors map them by file path); stable as long as the file name is.
pub fn schema_id(file_name: &str) -> String {
    format!("urn:warrant:schema:{file_name}")
}

pub(crate) fn run(args: Options) -> anyhow::Result<Outcome> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    for (name, schema) in schemas() {
        let path = args.out.join(&name);
        let mut text = serde_json::to_string_pretty(&schema)?;
        text.push('\n');
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        super::output::noteln!("wrote {}", path.display());
    }
    Ok(Outcome::Success)
}
