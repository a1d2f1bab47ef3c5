//! `warrant export`: load the Target from the manifests, open it with credentials from the
//! environment, and write what is live as manifests (`crate::export`) to stdout or `--out`.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{Context, bail};

use super::output::{errln, settle_stdout};
use crate::cli::{ExportArgs, Outcome};
use crate::export::{export_target, write_files};
use crate::plan::gather::now_rfc3339;
use crate::session::{LiveOptions, Session};

pub fn run(args: ExportArgs) -> anyhow::Result<Outcome> {
    if !args.live.only.is_empty() {
        bail!("--only does not apply to export: it exports every object of --target");
    }
    let manifests = match crate::manifest::load(&args.paths) {
        Ok(m) => m,
        Err(diagnostics) => {
            super::plan::print_diagnostics(&diagnostics);
            return Ok(Outcome::Failure);
        }
    };
    let Some(target) = manifests.target(&args.target) else {
        let known: Vec<&str> = manifests.targets.iter().map(|t| t.name.as_str()).collect();
        bail!(
            "no Target document named {:?} in the manifests (targets: {})",
            args.target,
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        );
    };
    let options = LiveOptions {
        endpoints: LiveOptions::parse_endpoints(&args.live.endpoints)
            .map_err(anyhow::Error::msg)?,
        credentials: BTreeMap::new(),
        client: args.live.client_options(),
    };
    let targets = BTreeMap::from([(target.name.clone(), target.platform.clone())]);
    let session = match Session::open(&targets, &options) {
        Ok(s) => s,
        Err(errors) => {
            for e in errors {
                errln!("error: {e}");
            }
            return Ok(Outcome::Failure);
        }
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let files = runtime.block_on(export_target(&session, &target.name, &now_rfc3339()))?;
    if files.is_empty() {
        errln!("Target {} has nothing warrant could declare.", target.name);
        return Ok(Outcome::Success);
    }
    match &args.out {
        Some(dir) => {
            for (file, path) in files.iter().zip(write_files(dir, &files)?) {
                errln!(
                    "Wrote {} {} document(s) to {}",
                    file.documents,
                    file.kind,
                    path.display()
                );
            }
        }
        None => {
            let mut out = std::io::stdout().lock();
            let written = files.iter().enumerate().try_for_each(|(i, file)| {
                if i > 0 {
                    out.write_all(b"---\n")?;
                }
                out.write_all(file.text.as_bytes())
            });
            settle_stdout(written.and_then(|()| out.flush()))?;
        }
    }
    Ok(Outcome::Success)
}
