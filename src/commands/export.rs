//! `warrant export`: load the Target from the manifests, open it with credentials from the
//! environment, and write what is live as manifests (`crate::export`) to stdout or `--out`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};

use super::Outcome;
use super::common::print_diagnostics;
use super::output::{errln, noteln, settle_stdout};
use crate::export::{export_target, write_files};
use crate::plan::gather::now_rfc3339;
use crate::platform::{LiveOptions, Manifests, Session};

/// What `warrant export` exports, and where to.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// Manifests that declare the target (other documents are ignored).
    pub paths: Vec<PathBuf>,
    /// The target to export.
    pub target: String,
    /// The directory to write the manifests into (stdout when absent).
    pub out: Option<PathBuf>,
    pub live: LiveOptions,
}

pub(crate) fn run(args: Options) -> anyhow::Result<Outcome> {
    let manifests = match Manifests::load(&args.paths) {
        Ok(m) => m,
        Err(diagnostics) => {
            print_diagnostics(&diagnostics);
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
    let targets = BTreeMap::from([(target.name.clone(), target.platform.clone())]);
    // An export only reads: with the Target's read credentials when it names some.
    let live = crate::platform::LiveOptions {
        credentials: crate::platform::Credentials::ReadWhenNamed,
        ..args.live.clone()
    };
    let session = match Session::open(&targets, &live) {
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
        noteln!("Target {} has nothing warrant could declare.", target.name);
        return Ok(Outcome::Success);
    }
    match &args.out {
        Some(dir) => {
            for (file, path) in files.iter().zip(write_files(dir, &files)?) {
                noteln!(
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
