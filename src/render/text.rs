//! Plan and drift for a terminal: Terraform-like symbols (`+` create, `~` update, `!`
//! conflict, `?` undeclared access, `-` missing access in a drift report), a before/after
//! diff per changed field, no-ops counted rather than listed, and the closing summary. Colour
//! (anstyle styles) only when the caller asks for it (the command decides from `--color`,
//! the environment and the stream).

use super::{
    DRIFT_SYMBOL, MISSING_HEADING, by_target, change_lines, change_title, drift_lines,
    drift_summary_line, is_shown, missing_lines, name_warning_lines, only_warning, summary_line,
    target_counts, target_heading,
};
use std::fmt;

use crate::plan::Plan;
use crate::plan::file::PlanFile;

use anstyle::{AnsiColor, Style};

const PLAIN: Style = Style::new();
const BOLD: Style = Style::new().bold();
const RED: Style = AnsiColor::Red.on_default();
const GREEN: Style = AnsiColor::Green.on_default();
const YELLOW: Style = AnsiColor::Yellow.on_default();
const MAGENTA: Style = AnsiColor::Magenta.on_default();

struct Paint {
    color: bool,
}

impl Paint {
    fn paint(&self, style: Style, text: &str) -> String {
        if self.color && style != PLAIN {
            format!("{style}{text}{style:#}")
        } else {
            text.to_string()
        }
    }

    /// Colours a line by its leading marker, the one visual language of every line.
    fn line(&self, indent: &str, line: &str) -> String {
        let style = match line.chars().next() {
            Some('+') => GREEN,
            Some('-') | Some('!') => RED,
            Some('~') => YELLOW,
            Some('?') => MAGENTA,
            _ => PLAIN,
        };
        format!("{indent}{}\n", self.paint(style, line))
    }
}

/// The plan as a terminal shows it.
pub fn plan(file: &PlanFile, color: bool) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = write_plan(&mut out, file, color);
    out
}

/// [`plan`], written piece by piece to `out`: `warrant plan` streams it to stdout, so a plan
/// of 100,000 objects is never held as one string.
pub(crate) fn write_plan(out: &mut impl fmt::Write, file: &PlanFile, color: bool) -> fmt::Result {
    let plan = &file.plan;
    let p = Paint { color };
    if let Some(w) = only_warning(plan) {
        out.write_str(&p.paint(YELLOW, &w))?;
        out.write_str("\n\n")?;
    }
    let warnings = name_warning_lines(plan);
    for w in &warnings {
        out.write_str(&p.paint(YELLOW, w))?;
        out.write_char('\n')?;
    }
    if !warnings.is_empty() {
        out.write_char('\n')?;
    }
    for (target, changes) in by_target(plan) {
        out.write_str(&p.paint(BOLD, &target_heading(plan, target)))?;
        writeln!(out, ": {}", target_counts(&changes))?;
        for change in changes.iter().filter(|c| is_shown(c)) {
            for line in change_lines(change) {
                out.write_str(&p.line("  ", &line))?;
            }
        }
        out.write_char('\n')?;
    }
    write_drift_section(out, plan, &p)?;
    out.write_str(&p.paint(BOLD, &summary_line(file)))?;
    out.write_char('\n')
}

/// Only the undeclared access, for `warrant drift`.
pub fn drift(file: &PlanFile, color: bool) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = write_drift(&mut out, file, color);
    out
}

/// [`drift`], written piece by piece to `out`.
pub(crate) fn write_drift(out: &mut impl fmt::Write, file: &PlanFile, color: bool) -> fmt::Result {
    let plan = &file.plan;
    let p = Paint { color };
    if let Some(w) = only_warning(plan) {
        out.write_str(&p.paint(YELLOW, &w))?;
        out.write_str("\n\n")?;
    }
    write_drift_section(out, plan, &p)?;
    write_missing_section(out, plan, &p)?;
    out.write_str(&p.paint(BOLD, &drift_summary_line(file)))?;
    out.write_char('\n')
}

/// The declared access that is not live (`warrant drift` only: a plan shows it as changes).
fn write_missing_section(out: &mut impl fmt::Write, plan: &Plan, p: &Paint) -> fmt::Result {
    if !plan.changes.iter().any(|c| c.is_missing()) {
        return Ok(());
    }
    out.write_str(&p.paint(BOLD, MISSING_HEADING))?;
    out.write_char('\n')?;
    for (target, changes) in by_target(plan) {
        let missing: Vec<_> = changes.into_iter().filter(|c| c.is_missing()).collect();
        if missing.is_empty() {
            continue;
        }
        writeln!(out, "  {}", p.paint(BOLD, &crate::text::escape(target)))?;
        for change in missing {
            for line in missing_lines(change) {
                out.write_str(&p.line("    ", &line))?;
            }
        }
    }
    out.write_char('\n')
}

fn write_drift_section(out: &mut impl fmt::Write, plan: &Plan, p: &Paint) -> fmt::Result {
    if plan.summary.drift == 0 {
        return Ok(());
    }
    out.write_str(&p.paint(
        BOLD,
        "Undeclared access (live, not in the manifests; reported, not removed):",
    ))?;
    out.write_char('\n')?;
    for (target, changes) in by_target(plan) {
        let drifting: Vec<_> = changes.into_iter().filter(|c| c.has_drift()).collect();
        if drifting.is_empty() {
            continue;
        }
        writeln!(out, "  {}", p.paint(BOLD, &crate::text::escape(target)))?;
        for change in drifting {
            out.write_str(&p.line(
                "    ",
                &format!(
                    "{DRIFT_SYMBOL} {}  undeclared, not removed",
                    change_title(change)
                ),
            ))?;
            for line in drift_lines(change) {
                out.write_str(&p.line("    ", &line))?;
            }
        }
    }
    out.write_char('\n')
}
