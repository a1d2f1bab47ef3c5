//! `warrant validate`: load and check manifests, report every problem, exit 0 or 1.
//!
//! Human output goes to stderr like a compiler's; `--format json` puts one JSON object on
//! stdout — `format_version`, `valid` and the `diagnostics` (schema: `validate.schema.json`); under GitHub Actions, workflow-command annotations are printed too —
//! on stdout in text mode, on stderr in JSON mode so stdout stays one JSON document (GitHub
//! reads workflow commands from both streams).
//!
//! With `--ci` (or under GitHub Actions), valid manifests also get warnings about where they
//! are used: a `file` key sink writes a new key onto the CI runner, which is gone when the
//! job ends, and the key with it.

use std::path::PathBuf;

use super::Outcome;
use super::output::{errln, noteln, out, outln, write_err};
use crate::manifest::{self, Diagnostic};
use crate::platform::Manifests;

/// Version of the `validate --format json` document.
pub(crate) const FORMAT_VERSION: u32 = 1;

/// The `validate --format json` document, as its schema describes it (the diagnostics are
/// rendered by `manifest::render_json`; a test checks the output against this schema).
#[derive(schemars::JsonSchema)]
#[schemars(title = "warrant validate --format json")]
#[allow(dead_code)] // The shape of the schema; the document itself is built as JSON.
pub(crate) struct ValidateDocument {
    /// Version of this document's format; changes only when its meaning does.
    #[schemars(range(min = 1, max = 1))]
    format_version: u32,
    /// Whether every document is valid (then `diagnostics` is empty).
    valid: bool,
    diagnostics: Vec<DiagnosticEntry>,
}

#[derive(schemars::JsonSchema)]
#[allow(dead_code)]
struct DiagnosticEntry {
    /// The file, as given on the command line or found under a given directory.
    file: String,
    /// 1-based.
    #[schemars(range(min = 1))]
    line: u64,
    /// 1-based.
    #[schemars(range(min = 1))]
    column: u64,
    severity: Severity,
    message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hint: Option<String>,
}

#[derive(schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum Severity {
    Error,
}

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
    /// Warn about what does not work on an ephemeral CI runner (also under GitHub Actions).
    pub ci: bool,
}

pub(crate) fn run(args: Options) -> anyhow::Result<Outcome> {
    let result = Manifests::load(&args.paths);
    let in_actions = super::common::github_actions();
    let warnings = match &result {
        Ok(m) if args.ci || in_actions => ci_warnings(m),
        _ => Vec::new(),
    };
    let diagnostics: &[Diagnostic] = match &result {
        Ok(_) => &warnings,
        Err(d) => d,
    };
    match args.format {
        DiagnosticFormat::Json => {
            let document = serde_json::json!({
                "format_version": FORMAT_VERSION,
                "valid": result.is_ok(),
                "diagnostics": manifest::render_json(diagnostics),
            });
            outln!("{}", crate::text::to_json_string_pretty(&document)?)?;
        }
        DiagnosticFormat::Text => write_err(format_args!("{}", manifest::render_text(diagnostics))),
    }
    if in_actions {
        let annotations = manifest::render_github(diagnostics);
        match args.format {
            DiagnosticFormat::Json => write_err(format_args!("{annotations}")),
            DiagnosticFormat::Text => out!("{annotations}")?,
        }
    }
    match result {
        Ok(m) => {
            noteln!(
                "ok: {} documents valid ({} targets, {} resources){}",
                m.targets.len() + m.resources.len(),
                m.targets.len(),
                m.resources.len(),
                match warnings.len() {
                    0 => String::new(),
                    1 => ", 1 warning".to_string(),
                    n => format!(", {n} warnings"),
                }
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

/// The warnings of valid manifests used in CI: one per `file` key sink, at the document that
/// declares it. The key of a token created in a CI job would be written to the runner's disk
/// and lost with the runner; a `command` sink that stores it in a secret store survives.
fn ci_warnings(manifests: &Manifests) -> Vec<Diagnostic> {
    manifests
        .resources
        .iter()
        .filter_map(|r| {
            let mut spec = r.spec.clone();
            let file = spec.key_sink_mut()?.file.clone()?;
            Some(Diagnostic {
                location: r.location.clone(),
                severity: manifest::Severity::Warning,
                message: format!(
                    "{}/{}: keySink writes a new key to the file {}, which is lost with the CI runner when the job ends",
                    r.kind(),
                    r.name,
                    file.display()
                ),
                hint: Some(
                    "use a command sink that stores the key where it outlives the job, e.g. `command: [gh, secret, set, NAME]` with `env: [GH_TOKEN]`, or `command: [vault, kv, put, …]` (docs/ci.md)".into(),
                ),
            })
        })
        .collect()
}
