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
/// plan file) and `sandbox-seed.schema.json` (the sandbox's seed file). `warrant schema`
/// writes them; a test checks that `schemas/` holds exactly them.
pub fn schemas() -> Vec<(String, Value)> {
    let mut all = crate::platform::manifest_schemas();
    all.push(("plan.schema.json".into(), crate::plan::file::schema()));
    all.push((
        "sandbox-seed.schema.json".into(),
        schemars::schema_for!(crate::sandbox::Seed).to_value(),
    ));
    all
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
