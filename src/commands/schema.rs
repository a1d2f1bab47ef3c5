//! `warrant schema`: write the JSON Schemas of `manifest::schemas()` into a directory.

use anyhow::Context;

use crate::cli::{Outcome, SchemaArgs};

pub fn run(args: SchemaArgs) -> anyhow::Result<Outcome> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    for (name, schema) in crate::manifest::schemas() {
        let path = args.out.join(&name);
        let mut text = serde_json::to_string_pretty(&schema)?;
        text.push('\n');
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        super::output::errln!("wrote {}", path.display());
    }
    Ok(Outcome::Success)
}
