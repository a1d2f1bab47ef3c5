//! `warrant validate`: load and check manifests, report every problem, exit 0 or 1.
//!
//! Human output goes to stderr like a compiler's; `--format json` puts a JSON array of the
//! diagnostics on stdout; under GitHub Actions, workflow-command annotations are printed too —
//! on stdout in text mode, on stderr in JSON mode so stdout stays one JSON document (GitHub
//! reads workflow commands from both streams).

use std::path::PathBuf;

use super::Outcome;
use super::output::{errln, noteln, out, outln, write_err};
use crate::manifest::{self, Diagnostic};
use crate::platform::Manifests;

/// Version of the `validate --format json` document.
pub(crate) const FORMAT_VERSION: u32 = 1;

/// How diagnostics are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiagnosticFormat {
    Text,
    Json,
}

/// What `warrant validate` checks, and how it reports.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub paths: Vec<PathBuf>,
    pub format: DiagnosticFormat,
}

pub(crate) fn run(args: Options) -> anyhow::Result<Outcome> {
    let result = Manifests::load(&args.paths);
    let diagnostics: &[Diagnostic] = match &result {
        Ok(_) => &[],
        Err(d) => d,
    };
    match args.format {
        DiagnosticFormat::Json => {
            outln!(
                "{}",
                crate::text::to_json_string_pretty(&manifest::render_json(diagnostics))?
            )?;
        }
        DiagnosticFormat::Text => write_err(format_args!("{}", manifest::render_text(diagnostics))),
    }
    if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
        let annotations = manifest::render_github(diagnostics);
        match args.format {
            DiagnosticFormat::Json => write_err(format_args!("{annotations}")),
            DiagnosticFormat::Text => out!("{annotations}")?,
        }
    }
    match result {
        Ok(m) => {
            noteln!(
                "ok: {} documents valid ({} targets, {} resources)",
                m.targets.len() + m.resources.len(),
                m.targets.len(),
                m.resources.len()
            );
            Ok(Outcome::Success)
        }
        Err(d) => {
            let mut files: Vec<_> = d.iter().map(|d| &d.location.file).collect();
            files.dedup();
            errln!(
                "error: {} problem{} in {} file{}",
                d.len(),
                if d.len() == 1 { "" } else { "s" },
                files.len(),
                if files.len() == 1 { "" } else { "s" }
            );
            Ok(Outcome::Failure)
        }
    }
}
