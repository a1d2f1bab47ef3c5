//! Plan and drift for a terminal: Terraform-like symbols (`+` create, `~` update, `!`
//! conflict, `?` undeclared access), a before/after diff per changed field, no-ops counted
//! rather than listed, and the closing summary. ANSI colour only when the caller asks for it
//! (the command decides from the terminal and `NO_COLOR`).

use super::{
    DRIFT_SYMBOL, by_target, change_lines, change_title, drift_lines, drift_summary_line,
    only_warning, summary_line, target_counts, target_heading,
};
use crate::plan::{Action, Plan};

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
pub fn plan(plan: &Plan, color: bool) -> String {
    let p = Paint { color };
    let mut out = String::new();
    if let Some(w) = only_warning(plan) {
        out.push_str(&p.paint(YELLOW, &w));
        out.push_str("\n\n");
    }
    for (target, changes) in by_target(plan) {
        out.push_str(&p.paint(BOLD, &target_heading(plan, target)));
        out.push_str(&format!(": {}\n", target_counts(&changes)));
        for change in changes.iter().filter(|c| c.action != Action::NoOp) {
            for line in change_lines(change) {
                out.push_str(&p.line("  ", &line));
            }
        }
        out.push('\n');
    }
    out.push_str(&drift_section(plan, &p));
    out.push_str(&p.paint(BOLD, &summary_line(plan)));
    out.push('\n');
    out
}

/// Only the undeclared access, for `warrant drift`.
pub fn drift(plan: &Plan, color: bool) -> String {
    let p = Paint { color };
    let mut out = String::new();
    if let Some(w) = only_warning(plan) {
        out.push_str(&p.paint(YELLOW, &w));
        out.push_str("\n\n");
    }
    out.push_str(&drift_section(plan, &p));
    out.push_str(&p.paint(BOLD, &drift_summary_line(plan)));
    out.push('\n');
    out
}

fn drift_section(plan: &Plan, p: &Paint) -> String {
    let mut out = String::new();
    if plan.summary.drift == 0 {
        return out;
    }
    out.push_str(&p.paint(
        BOLD,
        "Undeclared access (live, not in the manifests; reported, not removed):",
    ));
    out.push('\n');
    for (target, changes) in by_target(plan) {
        let drifting: Vec<_> = changes.into_iter().filter(|c| c.has_drift()).collect();
        if drifting.is_empty() {
            continue;
        }
        out.push_str(&format!("  {}\n", p.paint(BOLD, target)));
        for change in drifting {
            out.push_str(&p.line(
                "    ",
                &format!(
                    "{DRIFT_SYMBOL} {}  undeclared, not removed",
                    change_title(change)
                ),
            ));
            for line in drift_lines(change) {
                out.push_str(&p.line("    ", &line));
            }
        }
    }
    out.push('\n');
    out
}
