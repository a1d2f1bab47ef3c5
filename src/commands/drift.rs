//! `warrant drift`: plan, then report only the drift, in both directions — *undeclared*
//! access (live, not in the manifests; reported, never removed) and *missing* access
//! (declared, not live; what `plan` would add, or cannot) — each in its own section, and
//! with `--fail-on-drift` exit 4 on either.

use std::path::PathBuf;

use super::Outcome;
use super::common::{Live, plan_live, print, print_with, use_color};
use super::plan::{PlanFormat, warn_partial_json};
use crate::render::markdown::MarkdownOptions;

/// What `warrant drift` does.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub paths: Vec<PathBuf>,
    pub format: PlanFormat,
    /// Drift in either direction ends as [`Outcome::DriftFound`].
    pub fail_on_drift: bool,
    pub live: Live,
}

pub(crate) fn run(options: Options) -> anyhow::Result<Outcome> {
    // Drift only reads: with the Targets' read credentials when they name some.
    let made = match plan_live(&options.paths, &options.live.reading())? {
        Ok((_, made)) => made,
        Err(outcome) => return Ok(outcome),
    };
    warn_partial_json(&made, options.format);
    match options.format {
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
    let drifted = made.plan.summary.drift > 0 || crate::render::missing_count(&made.plan) > 0;
    Ok(if drifted && options.fail_on_drift {
        Outcome::DriftFound
    } else {
        Outcome::Success
    })
}
