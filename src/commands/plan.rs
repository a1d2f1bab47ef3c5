//! `warrant plan` and `warrant drift`: load the manifests, make the plan through
//! `crate::plan::gather`, save it, render it, and choose the outcome.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::Outcome;
use super::common::{Live, plan_live, print, print_with, use_color};
use super::output::{errln, noteln, quiet, settle_stdout};
use crate::plan::file::PlanFile;
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
    /// Also append the markdown plan to `$GITHUB_STEP_SUMMARY`.
    pub step_summary: bool,
    /// The create journal whose open records make their objects conflicts (`--journal`;
    /// `.warrant/journal.jsonl` under the repository root when absent).
    pub journal: Option<PathBuf>,
    pub live: Live,
}

/// What `warrant drift` does.
#[derive(Debug, Clone)]
pub(crate) struct DriftOptions {
    pub paths: Vec<PathBuf>,
    pub format: PlanFormat,
    /// Undeclared access ends as [`Outcome::DriftFound`].
    pub fail_on_drift: bool,
    pub live: Live,
}

pub(crate) fn run(options: Options) -> anyhow::Result<Outcome> {
    let mut made = match plan_live(&options.paths, &options.live)? {
        Ok((_, made)) => made,
        Err(outcome) => return Ok(outcome),
    };
    super::journal::hold_plan(&mut made, options.journal.as_deref())?;
    if let Some(out) = &options.out {
        crate::plan::file::write(out, &made)?;
        noteln!("Saved the plan to {}", out.display());
    }
    warn_partial_json(&made, options.format);
    if options.format == PlanFormat::Json {
        // Recorded in the plan's `warnings`; said where a person reads the job too.
        for warning in crate::render::name_warning_lines(&made.plan) {
            errln!("{warning}");
        }
    }
    // Text and JSON grow with the plan, so they are streamed; markdown has a size budget.
    match options.format {
        // `--quiet`: the text is for people; the outcome and `--out` say the rest.
        PlanFormat::Text if quiet() => {}
        PlanFormat::Text => {
            let color = use_color();
            print_with(|out| crate::render::text::write_plan(out, &made, color))?
        }
        PlanFormat::Markdown => print(&crate::render::markdown::plan(&made, &options.markdown))?,
        PlanFormat::Json => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            settle_stdout(crate::plan::file::write_json(&mut out, &made).and_then(|_| out.flush()))?
        }
    }
    if options.step_summary {
        append_step_summary(&crate::render::markdown::plan(&made, &options.markdown))?;
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

pub(crate) fn run_drift(options: DriftOptions) -> anyhow::Result<Outcome> {
    let made = match plan_live(&options.paths, &options.live)? {
        Ok((_, made)) => made,
        Err(outcome) => return Ok(outcome),
    };
    warn_partial_json(&made, options.format);
    match options.format {
        PlanFormat::Text if quiet() => {}
        PlanFormat::Text => {
            let color = use_color();
            print_with(|out| crate::render::text::write_drift(out, &made, color))?
        }
        PlanFormat::Markdown => print(&crate::render::markdown::drift(
            &made,
            &MarkdownOptions::default(),
        ))?,
        PlanFormat::Json => print(&crate::render::json::drift(&made))?,
    }
    Ok(if made.plan.summary.drift > 0 && options.fail_on_drift {
        Outcome::DriftFound
    } else {
        Outcome::Success
    })
}

/// The text and markdown renderings open with the `--only` warning; JSON is for machines and
/// only records the filters, so the person watching the job is told on stderr.
fn warn_partial_json(made: &PlanFile, format: PlanFormat) {
    if format == PlanFormat::Json
        && let Some(warning) = crate::render::only_warning(&made.plan)
    {
        errln!("{warning}");
    }
}

/// Appends to the file GitHub Actions names in `GITHUB_STEP_SUMMARY`.
fn append_step_summary(markdown: &str) -> anyhow::Result<()> {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        anyhow::bail!("--step-summary needs GITHUB_STEP_SUMMARY (set by GitHub Actions)");
    };
    let path = Path::new(&path);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    file.write_all(markdown.as_bytes())
        .with_context(|| format!("cannot append to {}", path.display()))
}
