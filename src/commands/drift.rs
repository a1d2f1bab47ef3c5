//! `warrant drift`: plan, then report only the drift, in both directions — *undeclared*
//! access (live, not in the manifests; reported, never removed) and *missing* access
//! (declared, not live; what `plan` would add, or cannot) — each in its own section, and
//! with `--fail-on-drift` exit 4 on either. An object whose live state is unknown
//! (unreadable, ambiguous) is warned about, and fails `--fail-on-drift` with exit 1.

use std::path::PathBuf;

use super::Outcome;
use super::common::{Live, plan_live, print, print_with, use_color};
use super::output::errln;
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
        PlanFormat::Text if super::output::quiet() => {}
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
    // An object that could not be read has no drift to report, and no absence of drift
    // either: a security review must not pass it as clean.
    let unknown: Vec<_> = made
        .plan
        .changes
        .iter()
        .filter(|c| c.missing().is_none())
        .collect();
    for change in &unknown {
        let reasons: Vec<String> = change.reasons.iter().map(ToString::to_string).collect();
        errln!(
            "warning: {}: its live state is unknown, so its drift cannot be judged: {}",
            crate::text::escape(&change.address.to_string()),
            crate::text::escape(&reasons.join("; "))
        );
    }
    Ok(if drifted && options.fail_on_drift {
        Outcome::DriftFound
    } else if !unknown.is_empty() && options.fail_on_drift {
        Outcome::Failure
    } else {
        Outcome::Success
    })
}
