//! `warrant plan`: load the manifests, make the plan through `crate::plan::gather`, save it,
//! render it, and choose the outcome. How a plan is printed ([`print_plan`]) is shared with
//! `warrant show`, which renders a saved plan again byte for byte.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::Outcome;
use super::common::{Live, github_actions, plan_live, print, print_with, use_color};
use super::output::{errln, noteln, out, quiet, settle_stdout};
use crate::plan::file::PlanFile;
use crate::platform::Manifests;
use crate::render::markdown::MarkdownOptions;

/// How a plan or drift report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    Text,
    Markdown,
    Json,
}

/// What `warrant plan` does.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub paths: Vec<PathBuf>,
    /// Save the plan file here.
    pub out: Option<PathBuf>,
    pub format: PlanFormat,
    /// Changes to apply end as [`Outcome::ChangesPending`].
    pub detailed_exitcode: bool,
    pub markdown: MarkdownOptions,
    /// Also append the whole markdown plan (up to [`STEP_SUMMARY_MAX`]) to
    /// `$GITHUB_STEP_SUMMARY`.
    pub step_summary: bool,
    /// The create journal whose open records make their objects conflicts (`--journal`;
    /// `.warrant/journal.jsonl` under the repository root when absent).
    pub journal: Option<PathBuf>,
    pub live: Live,
}

/// GitHub's limit on one step's summary: 1 MiB. A larger one is not shown at all, so the
/// plan in it is cut to fit, whatever `--max-bytes` allows the comment.
pub(crate) const STEP_SUMMARY_MAX: usize = 1024 * 1024;

pub(crate) fn run(options: Options) -> anyhow::Result<Outcome> {
    // A plan only reads: with the Targets' read credentials when they name some.
    let (manifests, mut made) = match plan_live(&options.paths, &options.live.reading())? {
        Ok(made) => made,
        Err(outcome) => return Ok(outcome),
    };
    super::journal::hold_plan(&mut made, options.journal.as_deref())?;
    if let Some(out) = &options.out {
        crate::plan::file::write(out, &made)?;
        noteln!("Saved the plan to {}", out.display());
    }
    print_plan(&made, options.format, &options.markdown, None)?;
    if github_actions() {
        annotate_conflicts(&made, &manifests, options.format)?;
    }
    if options.step_summary {
        let budget = STEP_SUMMARY_MAX.saturating_sub(step_summary_used()?);
        let markdown = MarkdownOptions {
            max_bytes: budget,
            ..options.markdown.clone()
        };
        append_step_summary(&crate::render::markdown::plan(&made, &markdown))?;
    }
    let summary = &made.plan.summary;
    Ok(if summary.conflict > 0 {
        Outcome::Failure
    } else if summary.has_changes() && options.detailed_exitcode {
        Outcome::ChangesPending
    } else {
        Outcome::Success
    })
}

/// Prints a plan as `warrant plan` does in `format`. The JSON rendering is the plan file's
/// content; `json_text`, when given, is that content as read from the file (`warrant show`
/// prints a plan file's own bytes, already checked to be what warrant wrote).
pub(crate) fn print_plan(
    made: &PlanFile,
    format: PlanFormat,
    markdown: &MarkdownOptions,
    json_text: Option<&str>,
) -> anyhow::Result<()> {
    warn_partial_json(made, format);
    if format == PlanFormat::Json {
        // Recorded in the plan's `warnings`; said where a person reads the job too.
        for warning in crate::render::name_warning_lines(&made.plan) {
            errln!("{warning}");
        }
    }
    // Text and JSON grow with the plan, so they are streamed; markdown has a size budget.
    match (format, json_text) {
        // `--quiet`: the text is for people; the outcome and `--out` say the rest.
        (PlanFormat::Text, _) if quiet() => Ok(()),
        (PlanFormat::Text, _) => {
            let color = use_color();
            print_with(|out| crate::render::text::write_plan(out, made, color))
        }
        (PlanFormat::Markdown, _) => print(&crate::render::markdown::plan(made, markdown)),
        (PlanFormat::Json, Some(text)) => out!("{text}"),
        (PlanFormat::Json, None) => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            settle_stdout(crate::plan::file::write_json(&mut out, made).and_then(|_| out.flush()))
        }
    }
}

/// Under GitHub Actions, one `::error` annotation per conflict, at the line of the manifest
/// that declares the object, so the conflict shows on the pull request's diff. On stderr when
/// stdout carries JSON or markdown for a file, as `validate` does.
fn annotate_conflicts(
    made: &PlanFile,
    manifests: &Manifests,
    format: PlanFormat,
) -> anyhow::Result<()> {
    let annotations = crate::render::github::conflicts(&made.plan, &|a| locate(manifests, a));
    write_annotations(&annotations, format == PlanFormat::Text)
}

/// Where the manifests declare the object at `address`.
pub(crate) fn locate(
    manifests: &Manifests,
    address: &crate::model::Address,
) -> Option<crate::manifest::Location> {
    manifests
        .resources
        .iter()
        .find(|r| r.kind() == address.kind && r.name == address.name)
        .map(|r| r.location.clone())
}

/// Workflow commands on stdout beside text, else on stderr (GitHub reads both streams).
pub(crate) fn write_annotations(annotations: &str, on_stdout: bool) -> anyhow::Result<()> {
    if annotations.is_empty() {
        return Ok(());
    }
    if on_stdout {
        out!("{annotations}")
    } else {
        super::output::write_err(format_args!("{annotations}"));
        Ok(())
    }
}

/// The text and markdown renderings open with the `--only` warning; JSON is for machines and
/// only records the filters, so the person watching the job is told on stderr.
pub(crate) fn warn_partial_json(made: &PlanFile, format: PlanFormat) {
    if format == PlanFormat::Json
        && let Some(warning) = crate::render::only_warning(&made.plan)
    {
        errln!("{warning}");
    }
}

/// The file GitHub Actions names in `GITHUB_STEP_SUMMARY`.
pub(crate) fn step_summary_path() -> anyhow::Result<PathBuf> {
    match std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
        Some(path) => Ok(PathBuf::from(path)),
        None => {
            anyhow::bail!("--step-summary needs GITHUB_STEP_SUMMARY (set by GitHub Actions)")
        }
    }
}

/// Bytes the step's summary holds already (earlier commands of the same step).
fn step_summary_used() -> anyhow::Result<usize> {
    let path = step_summary_path()?;
    Ok(std::fs::metadata(&path).map_or(0, |m| usize::try_from(m.len()).unwrap_or(usize::MAX)))
}

/// Appends to the file GitHub Actions names in `GITHUB_STEP_SUMMARY`.
pub(crate) fn append_step_summary(markdown: &str) -> anyhow::Result<()> {
    let path = step_summary_path()?;
    let path = Path::new(&path);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    file.write_all(markdown.as_bytes())
        .with_context(|| format!("cannot append to {}", path.display()))
}
