//! GitHub Actions renderings: workflow-command annotations (`::error file=…,line=…::…`) at
//! the manifest line that declares an object, for a plan's conflicts and an apply's failures,
//! and the markdown of `apply --step-summary`. Annotations go through the one renderer of
//! workflow commands (`crate::manifest::render_github`), which escapes what a plan or a
//! server could have put in a message.

use std::fmt::Write as _;

use crate::apply::{ApplyReport, ObjectReport, Status};
use crate::manifest::{Diagnostic, Location, Severity};
use crate::model::Address;
use crate::plan::{Action, Plan};

/// Where the manifests declare an object; `None` for an object they do not declare (one an
/// untrusted plan named), which gets no annotation: the command's own output names it.
pub(crate) type Locate<'a> = dyn Fn(&Address) -> Option<Location> + 'a;

/// One `::error` annotation per conflict of the plan.
pub(crate) fn conflicts(plan: &Plan, locate: &Locate) -> String {
    let diagnostics: Vec<Diagnostic> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Conflict)
        .filter_map(|c| {
            let reasons: Vec<String> = c.reasons.iter().map(ToString::to_string).collect();
            at(
                locate(&c.address)?,
                format!(
                    "warrant plan: conflict: {}: {}",
                    super::change_title(c),
                    reasons.join("; ")
                ),
            )
        })
        .collect();
    crate::manifest::render_github(&diagnostics)
}

/// The statuses an apply annotates: what failed or was refused or skipped, which fails the
/// run (stale objects are re-planned, not fixed in a manifest).
fn annotated(status: Status) -> bool {
    matches!(
        status,
        Status::Failed | Status::Refused | Status::ConflictSkipped | Status::Unfinished
    )
}

/// One `::error` annotation per object of an apply that failed, was refused, skipped as a
/// conflict or left unfinished.
pub(crate) fn apply_failures(report: &ApplyReport, locate: &Locate) -> String {
    let diagnostics: Vec<Diagnostic> = report
        .objects
        .iter()
        .filter(|o| annotated(o.status))
        .filter_map(|o| {
            at(
                locate(&o.address)?,
                format!("warrant apply: {}", super::report::object_line(o)),
            )
        })
        .collect();
    crate::manifest::render_github(&diagnostics)
}

fn at(location: Location, message: String) -> Option<Diagnostic> {
    Some(Diagnostic {
        location,
        severity: Severity::Error,
        message,
        hint: None,
    })
}

/// Objects listed per status in the apply summary before the rest are counted.
const LISTED: usize = 50;

/// `apply --step-summary`: the outcome, the counts per status, the objects written and every
/// object that needs attention, and — when declared objects were left out of the reviewed
/// plan — what to do about them.
pub(crate) fn apply_summary(report: &ApplyReport) -> String {
    let mut out = String::from("## warrant apply\n\n");
    let _ = writeln!(
        out,
        "Plan `{}` · warrant {}\n",
        escape_code(report.plan_id.get(..12).unwrap_or(&report.plan_id)),
        escape_code(&report.warrant_version)
    );
    let _ = writeln!(
        out,
        "**{}**\n",
        super::markdown::escape_inline(&super::report::summary_line(report))
    );
    out.push_str("| status | objects |\n|---|---:|\n");
    for status in Status::ALL {
        if let Some(n) = report.counts.get(&status) {
            let _ = writeln!(out, "| {status} | {n} |");
        }
    }
    out.push('\n');
    for (status, title) in [
        (Status::Failed, "Failed"),
        (Status::Refused, "Refused"),
        (Status::Unfinished, "Unfinished (plan again)"),
        (Status::Stale, "Stale (plan again)"),
        (Status::ConflictSkipped, "Conflicts, not attempted"),
        (Status::NotAttempted, "Not attempted"),
        (Status::Applied, "Applied"),
        (Status::Rebased, "Applied on moved live state"),
        (
            Status::NotInPlan,
            "Declared but not in the reviewed plan (left untouched)",
        ),
    ] {
        let objects: Vec<&ObjectReport> = report
            .objects
            .iter()
            .filter(|o| o.status == status)
            .collect();
        list(&mut out, title, &objects);
    }
    if report.counts.contains_key(&Status::NotInPlan) {
        out.push_str(NOT_IN_PLAN_NOTE);
        out.push('\n');
    }
    out
}

/// What to do about declared objects a reviewed plan left out: made with `--only`, or
/// declared by a pull request whose own apply was cancelled while queued (a later merge's
/// plan does not carry them).
pub(crate) const NOT_IN_PLAN_NOTE: &str = "Declared objects not in the reviewed plan were left untouched. If an earlier apply was cancelled or failed, plan and apply the default branch again (the recipe's `workflow_dispatch` job) so they are applied.\n";

fn list(out: &mut String, title: &str, objects: &[&ObjectReport]) {
    if objects.is_empty() {
        return;
    }
    let _ = writeln!(out, "### {title}\n");
    for o in objects.iter().take(LISTED) {
        let _ = writeln!(
            out,
            "- {}",
            super::markdown::escape_inline(&super::report::object_line(o))
        );
    }
    if objects.len() > LISTED {
        let _ = writeln!(
            out,
            "- … and {} more (all in the apply report)",
            objects.len() - LISTED
        );
    }
    out.push('\n');
}

/// Text inside a code span: one line, no backtick to close it early.
fn escape_code(s: &str) -> String {
    crate::text::escape(s).replace('`', "'")
}
