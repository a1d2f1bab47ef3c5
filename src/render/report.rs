//! The words of an apply run: one line per object for CI logs and the progress display, and
//! the summary line at the end. Decides nothing: the report (`crate::apply::report`) holds the
//! statuses, reasons and counts.

use crate::apply::{ApplyReport, ObjectReport, ReportOutcome, Status};
use crate::plan::Action;

/// One line for CI logs, e.g.
/// `applied  ConnectionAdmins/snowflake-prod (atlan-prod: default/snowflake/1): +2 adminUsers`.
pub(crate) fn object_line(report: &ObjectReport) -> String {
    let detail = match report.status {
        Status::Applied | Status::Rebased => {
            let mut d = report
                .added
                .iter()
                .map(|(field, values)| format!("+{} {field}", values.len()))
                .collect::<Vec<_>>()
                .join(", ");
            if report.planned == Action::Create
                && let Some(id) = &report.id
            {
                d = format!("created {id}: {d}");
            }
            if report.retries > 0 {
                let times = if report.retries == 1 { "time" } else { "times" };
                d.push_str(&format!(" (retried {} {times})", report.retries));
            }
            // The runs that made it, on a route other than the direct one.
            for run in &report.runs {
                let how = match (run.created, run.joined) {
                    (true, _) => "created and ran",
                    (_, true) => "joined a run of",
                    _ => "re-ran",
                };
                let verified = if run.verified {
                    "verified"
                } else {
                    "not verified"
                };
                d.push_str(&format!(
                    "; {how} {} ({} {}, {verified})",
                    run.template, run.run, run.phase
                ));
            }
            d
        }
        Status::AlreadySatisfied => "nothing left to add".into(),
        Status::Stale | Status::ConflictSkipped | Status::Refused => words(&report.reasons),
        Status::Failed => {
            let mut d = report.error.clone().unwrap_or_default();
            if let Some(todo) = &report.action_required {
                d.push_str(&format!(" — {todo}"));
            }
            d
        }
        Status::NoOp => "nothing planned".into(),
        Status::NotAttempted => "the run stopped before this object".into(),
        Status::NotInPlan => "not in the reviewed plan; left untouched".into(),
        Status::Unfinished if !report.reasons.is_empty() => words(&report.reasons),
        Status::Unfinished => "the run stopped before this object finished; its write may or may not have been made (plan again)".into(),
    };
    // Ids, reasons and errors come from servers and plan files: one line, escaped.
    let line = format!("{}  {}: {detail}", report.status, report.address);
    crate::text::escape(&line).into_owned()
}

/// Reasons as one line of words.
fn words(reasons: &[crate::model::Reason]) -> String {
    reasons
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The one-line summary printed at the end of a run.
pub fn summary_line(report: &ApplyReport) -> String {
    let counts: Vec<String> = Status::ALL
        .iter()
        .filter_map(|s| report.counts.get(s).map(|n| format!("{n} {s}")))
        .collect();
    let total: u64 = report.requests.values().map(|r| r.total).sum();
    let per_target: Vec<String> = report
        .requests
        .iter()
        .map(|(t, r)| format!("{t} {}", r.total))
        .collect();
    let verdict = match report.outcome {
        ReportOutcome::Success => "complete",
        ReportOutcome::Stale => "stale objects refused (re-plan them)",
        ReportOutcome::Failure if report.interrupted => "interrupted",
        ReportOutcome::Failure => "incomplete",
    };
    let counts = if counts.is_empty() {
        "no objects".to_string()
    } else {
        counts.join(", ")
    };
    format!(
        "Apply {verdict}: {counts}; {total} requests ({})",
        per_target.join(", ")
    )
}
