//! Plan and drift for a terminal: Terraform-like symbols (`+` create, `~` update, `!`
//! conflict, `?` undeclared access), a before/after diff per changed field, no-ops counted
//! rather than listed, and the closing summary. ANSI colour only when the caller asks for it
//! (the command decides from the terminal and `NO_COLOR`).

use super::{
    DRIFT_SYMBOL, by_target, change_lines, change_title, drift_lines, drift_summary_line, is_shown,
    name_warning_lines, only_warning, summary_line, target_counts, target_heading,
};
use std::fmt;

use crate::plan::Plan;
use crate::plan::file::PlanFile;

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const MAGENTA: &str = "\x1b[35m";

struct Paint {
    color: bool,
}

impl Paint {
    fn paint(&self, style: &str, text: &str) -> String {
        if self.color && !style.is_empty() {
            format!("{style}{text}{RESET}")
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
            _ => "",
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
    out.write_str(&p.paint(BOLD, &drift_summary_line(file)))?;
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
