//! `warrant plan` and `warrant drift`: load the manifests, make the plan through
//! `crate::plan::gather`, save it, render it, and choose the exit code.

use std::ffi::OsStr;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::output::{errln, settle_stdout};
use crate::cli::{DriftArgs, LiveArgs, Outcome, PlanArgs, PlanFormat};
pub(crate) use crate::manifest::load;
use crate::manifest::{Diagnostic, Manifests};
use crate::plan::Plan;
use crate::plan::gather::{Only, PlanError, make_plan, open_session};
use crate::render::markdown::MarkdownOptions;
use crate::session::LiveOptions;

pub fn run(args: PlanArgs) -> anyhow::Result<Outcome> {
    let mut plan = match plan_live(&args.paths, &args.live)? {
        Ok(plan) => plan,
        Err(outcome) => return Ok(outcome),
    };
    super::journal::hold_plan(&mut plan, args.journal.as_deref())?;
    if let Some(out) = &args.out {
        crate::plan::file::write(out, &plan)?;
        errln!("Saved the plan to {}", out.display());
    }
    let markdown = MarkdownOptions {
        max_bytes: args.max_bytes,
        full_plan_link: args.full_plan_link.clone(),
    };
    warn_partial_json(&plan, args.format);
    if args.format == PlanFormat::Json {
        // Recorded in the plan's `warnings`; said where a person reads the job too.
        for warning in crate::render::name_warning_lines(&plan) {
            errln!("{warning}");
        }
    }
    // Text and JSON grow with the plan, so they are streamed; markdown has a size budget.
    match args.format {
        PlanFormat::Text => {
            let color = use_color();
            print_with(|out| crate::render::text::write_plan(out, &plan, color))?
        }
        PlanFormat::Markdown => print(&crate::render::markdown::plan(&plan, &markdown))?,
        PlanFormat::Json => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            settle_stdout(crate::plan::file::write_json(&mut out, &plan).and_then(|_| out.flush()))?
        }
    }
    if args.step_summary {
        append_step_summary(&crate::render::markdown::plan(&plan, &markdown))?;
    }
    Ok(if plan.summary.conflict > 0 {
        Outcome::Failure
    } else if plan.summary.has_changes() && args.detailed_exitcode {
        Outcome::ChangesPending
    } else {
        Outcome::Success
    })
}

pub fn run_drift(args: DriftArgs) -> anyhow::Result<Outcome> {
    let plan = match plan_live(&args.paths, &args.live)? {
        Ok(plan) => plan,
        Err(outcome) => return Ok(outcome),
    };
    warn_partial_json(&plan, args.format);
    match args.format {
        PlanFormat::Text => {
            let color = use_color();
            print_with(|out| crate::render::text::write_drift(out, &plan, color))?
        }
        PlanFormat::Markdown => print(&crate::render::markdown::drift(
            &plan,
            &MarkdownOptions::default(),
        ))?,
        PlanFormat::Json => print(&crate::render::json::drift(&plan))?,
    }
    Ok(if plan.summary.drift > 0 && args.fail_on_drift {
        Outcome::DriftFound
    } else {
        Outcome::Success
    })
}

/// Loads, opens the targets and plans. Problems the user must fix (manifests, filters,
/// credentials, platform errors) are printed here and become `Err(Outcome::Failure)`.
pub(crate) fn plan_live(
    paths: &[PathBuf],
    live: &LiveArgs,
) -> anyhow::Result<Result<Plan, Outcome>> {
    Ok(plan_live_with_manifests(paths, live)?.map(|(_, plan)| plan))
}

/// [`plan_live`], keeping the manifests the plan was made from.
pub(crate) fn plan_live_with_manifests(
    paths: &[PathBuf],
    live: &LiveArgs,
) -> anyhow::Result<Result<(Manifests, Plan), Outcome>> {
    let only = match Only::parse_all(&live.only) {
        Ok(o) => o,
        Err(e) => return Ok(Err(report(&e))),
    };
    let manifests = match load(paths) {
        Ok(m) => m,
        Err(diagnostics) => {
            print_diagnostics(&diagnostics);
            return Ok(Err(Outcome::Failure));
        }
    };
    let options = LiveOptions {
        endpoints: LiveOptions::parse_endpoints(&live.endpoints).map_err(anyhow::Error::msg)?,
        credentials: Default::default(),
        client: live.client_options(),
    };
    let session = match open_session(&manifests, &only, &options) {
        Ok(s) => s,
        Err(e) => return Ok(Err(report(&e))),
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    match runtime.block_on(make_plan(&manifests, &only, &session)) {
        Ok(plan) => Ok(Ok((manifests, plan))),
        Err(e) => Ok(Err(report(&e))),
    }
}

/// Prints a plan error (each platform error on its own line, with its hint).
fn report(e: &PlanError) -> Outcome {
    for line in e.to_string().lines() {
        errln!("error: {line}");
    }
    Outcome::Failure
}

pub(crate) fn print_diagnostics(diagnostics: &[Diagnostic]) {
    super::output::write_err(format_args!(
        "{}",
        crate::manifest::render_text(diagnostics)
    ));
}

/// The text and markdown renderings open with the `--only` warning; JSON is for machines and
/// only records the filters, so the person watching the job is told on stderr.
fn warn_partial_json(plan: &Plan, format: PlanFormat) {
    if format == PlanFormat::Json
        && let Some(warning) = crate::render::only_warning(plan)
    {
        errln!("{warning}");
    }
}

/// Colour only on a terminal, and never when `NO_COLOR` is set to anything non-empty.
pub(crate) fn use_color() -> bool {
    color_wanted(
        std::env::var_os("NO_COLOR").as_deref(),
        std::io::stdout().is_terminal(),
    )
}

/// The rule of [`use_color`], apart from the process state it reads, so it can be tested
/// (and applied to stderr by the logger).
pub(crate) fn color_wanted(no_color: Option<&OsStr>, is_terminal: bool) -> bool {
    let no_color = no_color.is_some_and(|v| !v.is_empty());
    !no_color && is_terminal
}

/// Streams a renderer's output to stdout through a buffer; a reader that goes away stops the
/// rendering quietly.
fn print_with(
    render: impl FnOnce(
        &mut IoText<std::io::BufWriter<std::io::StdoutLock<'static>>>,
    ) -> std::fmt::Result,
) -> anyhow::Result<()> {
    let mut out = IoText {
        inner: std::io::BufWriter::new(std::io::stdout().lock()),
        error: None,
    };
    let rendered = render(&mut out);
    let result = match (rendered, out.error.take()) {
        (_, Some(e)) => Err(e),
        (Err(_), None) => Err(std::io::Error::other("formatting failed")),
        (Ok(()), None) => out.inner.flush(),
    };
    settle_stdout(result)
}

/// A `fmt::Write` over an `io::Write`, so text renderers can stream; keeps the I/O error
/// that `fmt::Error` cannot carry.
struct IoText<W: Write> {
    inner: W,
    error: Option<std::io::Error>,
}

impl<W: Write> std::fmt::Write for IoText<W> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.inner.write_all(s.as_bytes()).map_err(|e| {
            self.error = Some(e);
            std::fmt::Error
        })
    }
}

fn print(text: &str) -> anyhow::Result<()> {
    super::output::out!("{text}")
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

#[cfg(test)]
mod tests {
    use super::color_wanted;
    use std::ffi::OsStr;

    #[test]
    fn colour_only_on_a_terminal_and_never_with_a_non_empty_no_color() {
        assert!(color_wanted(None, true));
        assert!(!color_wanted(None, false));
        assert!(!color_wanted(Some(OsStr::new("1")), true));
        assert!(
            !color_wanted(Some(OsStr::new("0")), true),
            "any value counts"
        );
        assert!(!color_wanted(Some(OsStr::new("1")), false));
        // https://no-color.org: an empty NO_COLOR does not disable colour.
        assert!(color_wanted(Some(OsStr::new("")), true));
        assert!(!color_wanted(Some(OsStr::new("")), false));
    }
}
