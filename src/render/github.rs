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

/// Annotations written at most per run: GitHub shows only the first few of a step anyway, and
/// a plan of 100,000 conflicts must not print 100,000 workflow commands (nor look each one
/// up among the manifests). The rest are counted on one plain line.
const MAX_ANNOTATIONS: usize = 50;

/// One `::error` annotation per conflict of the plan (the first [`MAX_ANNOTATIONS`]).
pub(crate) fn conflicts(plan: &Plan, locate: &Locate) -> String {
    let conflicts = plan.changes.iter().filter(|c| c.action == Action::Conflict);
    let total = conflicts.clone().count();
    let diagnostics: Vec<Diagnostic> = conflicts
        .take(MAX_ANNOTATIONS)
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
    with_rest(
        crate::manifest::render_github(&diagnostics),
        total,
        "conflicts",
    )
}

/// The annotations, and a plain line counting what was left out.
fn with_rest(mut annotations: String, total: usize, what: &str) -> String {
    if total > MAX_ANNOTATIONS {
        let _ = writeln!(
            annotations,
            "({} more {what} not annotated; the output above lists them all)",
            total - MAX_ANNOTATIONS
        );
    }
    annotations
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
/// conflict or left unfinished (the first [`MAX_ANNOTATIONS`]).
pub(crate) fn apply_failures(report: &ApplyReport, locate: &Locate) -> String {
    let failed = report.objects.iter().filter(|o| annotated(o.status));
    let total = failed.clone().count();
    let diagnostics: Vec<Diagnostic> = failed
        .take(MAX_ANNOTATIONS)
        .filter_map(|o| {
            at(
                locate(&o.address)?,
                format!("warrant apply: {}", super::report::object_line(o)),
            )
        })
        .collect();
    with_rest(
        crate::manifest::render_github(&diagnostics),
        total,
        "failed objects",
    )
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CreateRule, DesiredObject, Kind, LiveState, SmallMap};
    use crate::plan::{PlanMeta, diff};

    /// A plan of `n` conflicts (names matching two live objects), `name-0` … `name-{n-1}`.
    fn conflicting(n: usize) -> Plan {
        let changes = (0..n)
            .map(|i| {
                let name = format!("name-{i}");
                let desired = DesiredObject {
                    address: Address {
                        kind: Kind::new("AutomationIdentity"),
                        name: name.clone(),
                        target: "t".into(),
                        remote_key: name,
                    },
                    fields: SmallMap::new(),
                    create: CreateRule::Allowed,
                    labels: SmallMap::new(),
                    problems: Vec::new(),
                    key_sink: None,
                    route: None,
                    adopt: Default::default(),
                };
                diff(
                    &desired,
                    &LiveState::Ambiguous {
                        ids: vec!["a".into(), "b%,\n::x".into()],
                    },
                )
            })
            .collect();
        Plan::new(PlanMeta::default(), changes)
    }

    fn at_line(address: &Address) -> Option<Location> {
        let line = address.name.strip_prefix("name-")?.parse::<usize>().ok()? + 1;
        Some(Location {
            file: "m/ids.yaml".into(),
            line,
            column: 1,
        })
    }

    #[test]
    fn each_conflict_is_annotated_at_its_line_escaped() {
        let text = conflicts(&conflicting(2), &at_line);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[0].starts_with("::error file=m/ids.yaml,line=1,col=1::warrant plan: conflict: AutomationIdentity/name-0: "),
            "{text}"
        );
        // The server's words stay on the annotation's line, `%` escaped.
        assert!(lines[1].contains("b%25,\\n::x"), "{text}");
    }

    #[test]
    fn annotations_stop_at_the_cap_and_count_the_rest_without_looking_them_up() {
        let looked_up = std::cell::Cell::new(0);
        let locate = |a: &Address| {
            looked_up.set(looked_up.get() + 1);
            at_line(a)
        };
        let text = conflicts(&conflicting(MAX_ANNOTATIONS + 7), &locate);
        assert_eq!(looked_up.get(), MAX_ANNOTATIONS);
        assert_eq!(
            text.lines().filter(|l| l.starts_with("::error ")).count(),
            MAX_ANNOTATIONS
        );
        assert!(
            text.ends_with("(7 more conflicts not annotated; the output above lists them all)\n"),
            "{text}"
        );
        // An object the manifests do not declare gets no annotation.
        assert_eq!(conflicts(&conflicting(3), &|_| None), "");
    }
}
