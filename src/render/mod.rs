//! Renderers: of plans and drift, [`text`] for terminals, [`markdown`] for pull requests
//! (within a size budget), [`json`] for machines; of an apply run, [`report`] (its lines and
//! summary) and [`progress`] (a bar or a line per object); for GitHub Actions, `github`
//! (annotations at the declaring manifest line, the apply step summary). Rendering never decides anything:
//! it only puts into words a plan (`crate::plan::file::PlanFile`, the plan with its request
//! counts), a typed reason (`crate::model::Reason`) or an apply report.
//!
//! This module holds what the formats share, so they cannot disagree: how a value is shown
//! (`label (canonical value)`, hidden characters escaped by `crate::text::escape`, the one
//! escape of every output), the per-field before/after diff (made with `similar`), the
//! symbols, the warnings (`--only`, look-alike names) and the closing summary line.

pub(crate) mod github;
pub mod json;
pub mod markdown;
pub mod progress;
pub mod report;
pub mod text;

use std::fmt::Write as _;

use similar::{ChangeTag, TextDiff};

use crate::model::{SmallMap, Values};
use crate::plan::file::PlanFile;
use crate::plan::lookalike::{NameReason, NameWarning};
use crate::plan::{Action, Change, Plan};
use crate::text::escape;

/// The symbol of an action, Terraform-like; no-ops have none (they are summarized).
pub(crate) fn symbol(action: Action) -> &'static str {
    match action {
        Action::Create => "+",
        Action::Update => "~",
        Action::Conflict => "!",
        Action::NoOp => " ",
    }
}

/// The marker of undeclared (drift) values: reported, never removed.
pub(crate) const DRIFT_SYMBOL: &str = "?";

/// A value as people read it: `label (value)` when the manifests or the platform gave it a
/// different name, with control characters escaped so one value is always one line.
pub(crate) fn display_value(value: &str, labels: &SmallMap<String>) -> String {
    match labels.get(value) {
        Some(label) if label != value => format!("{} ({})", escape(label), escape(value)),
        _ => escape(value).into_owned(),
    }
}

/// One line of a field diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DiffLine {
    pub tag: ChangeTag,
    pub text: String,
}

/// The before/after diff of one field of a change, one value per line.
pub(crate) fn field_diff(change: &Change, field: &str) -> Vec<DiffLine> {
    let empty = Values::new();
    let before = change.before.get(field).unwrap_or(&empty);
    let after = change.after().remove(field).unwrap_or_default();
    // Sorted as shown (by label first), the same way on both sides, so a reader finds a name
    // where the alphabet says it is and the diff still shows exactly the additions.
    let show = |v: &Values| -> Vec<String> {
        let mut shown: Vec<String> = v.iter().map(|x| display_value(x, &change.labels)).collect();
        shown.sort();
        shown
    };
    let (old, new) = (show(before), show(&after));
    let old: Vec<&str> = old.iter().map(String::as_str).collect();
    let new: Vec<&str> = new.iter().map(String::as_str).collect();
    TextDiff::from_slices(&old, &new)
        .iter_all_changes()
        .map(|c| DiffLine {
            tag: c.tag(),
            text: c.value().to_string(),
        })
        .collect()
}

/// The fields whose diff a change shows: those with additions (for a create, all of them).
pub(crate) fn changed_fields(change: &Change) -> impl Iterator<Item = &str> {
    change.additions.keys().map(String::as_str)
}

/// The warning every rendering opens with when `--only` restricted the plan.
pub(crate) fn only_warning(plan: &Plan) -> Option<String> {
    if plan.only.is_empty() {
        return None;
    }
    Some(format!(
        "Warning: partial plan, restricted by --only {}; objects outside the filter were not read or diffed.",
        plan.only.join(", --only ")
    ))
}

/// One line per look-alike name of the plan ([`crate::plan::lookalike`]); every plan
/// rendering shows them before the changes.
pub(crate) fn name_warning_lines(plan: &Plan) -> Vec<String> {
    plan.warnings.iter().map(name_warning_line).collect()
}

fn name_warning_line(w: &NameWarning) -> String {
    let a = &w.address;
    let what = if w.name == a.remote_key || w.name == a.name {
        "the name"
    } else {
        "the added value"
    };
    let name = quoted_spelled(&w.name);
    let head = format!("Warning: {}/{}: {what} {name}", a.kind, escape(&a.name));
    match &w.reason {
        NameReason::MixedScripts { scripts } => format!(
            "{head} mixes scripts ({}); check that it is what you mean",
            escape(&scripts.join(", "))
        ),
        NameReason::LooksLike {
            other,
            declared_by: None,
        } => format!(
            "{head} looks like {}, a live object of {} that no manifest declares, but is a different name",
            quoted_spelled(other),
            escape(&a.target)
        ),
        NameReason::LooksLike {
            other,
            declared_by: Some(by),
        } => format!(
            "{head} looks like {} of {}/{} ({}), but is a different name",
            quoted_spelled(other),
            by.kind,
            escape(&by.name),
            escape(&by.target)
        ),
    }
}

/// `"name"`, escaped, followed by where its non-ASCII characters are: the difference between
/// two look-alikes is exactly what a reader cannot see.
fn quoted_spelled(name: &str) -> String {
    let mut shown = format!("\"{}\"", escape(name));
    let foreign: Vec<String> = name
        .chars()
        .enumerate()
        .filter(|(_, c)| !c.is_ascii())
        .map(|(i, c)| format!("U+{:04X} at {}", u32::from(c), i + 1))
        .collect();
    if !foreign.is_empty() {
        let more = foreign.len().saturating_sub(4);
        let mut list = foreign.into_iter().take(4).collect::<Vec<_>>().join(", ");
        if more > 0 {
            let _ = write!(list, " and {more} more");
        }
        let _ = write!(shown, " ({list})");
    }
    shown
}

/// The closing summary of a plan, naming it by the first 12 characters of its id.
pub(crate) fn summary_line(file: &PlanFile) -> String {
    let plan = &file.plan;
    let s = &plan.summary;
    let counts = format!(
        "Plan {}: {} to create, {} to update, {} conflicts; {} objects with undeclared access; {} API requests",
        plan.short_id(),
        s.create,
        s.update,
        s.conflict,
        s.drift,
        file.request_total()
    );
    if s.has_changes() {
        counts
    } else {
        format!("No changes. {counts}")
    }
}

/// The closing summary of a drift report: both directions counted.
pub(crate) fn drift_summary_line(file: &PlanFile) -> String {
    let plan = &file.plan;
    let undeclared = plan.summary.drift;
    let missing = missing_count(plan);
    let requests = file.request_total();
    let objects = plan.changes.len();
    let unknown = match unknown_count(plan) {
        0 => String::new(),
        n => format!("; {n} objects whose live state is unknown (see `warrant plan`)"),
    };
    if undeclared == 0 && missing == 0 {
        format!(
            "No drift in {objects} objects: no undeclared access, no missing access{unknown}; {requests} API requests"
        )
    } else {
        format!(
            "Drift in {objects} objects: {undeclared} with undeclared access (reported, not removed), {missing} with missing access (declared, not live){unknown}; {requests} API requests"
        )
    }
}

/// Objects whose live state is unknown (unreadable, or a name of several objects): drift
/// cannot be judged for them ([`Change::missing`] is `None`).
pub(crate) fn unknown_count(plan: &Plan) -> usize {
    plan.changes
        .iter()
        .filter(|c| c.missing().is_none())
        .count()
}

/// Objects whose declared access is not live ([`Change::is_missing`]).
pub(crate) fn missing_count(plan: &Plan) -> usize {
    plan.changes.iter().filter(|c| c.is_missing()).count()
}

/// The marker of missing access in a drift report: declared, not live.
pub(crate) const MISSING_SYMBOL: &str = "-";

/// The heading of the missing-access section of a drift report.
pub(crate) const MISSING_HEADING: &str =
    "Missing access (declared, not live; `warrant plan` shows what apply would add):";

/// The lines of one object with missing access: its title (absent or not), then
/// `- field: value` per declared value that is not live.
pub(crate) fn missing_lines(change: &Change) -> Vec<String> {
    let what = if change.live_id.is_none() {
        "declared, absent"
    } else {
        "declared, not live"
    };
    let mut out = vec![format!("{MISSING_SYMBOL} {}  {what}", change_title(change))];
    for (field, values) in change.missing().iter().flatten() {
        for v in values {
            out.push(format!(
                "{MISSING_SYMBOL}   {}: {}",
                escape(field),
                display_value(v, &change.labels)
            ));
        }
    }
    out
}

/// `name (platform, base URL)`: a target header.
pub(crate) fn target_heading(plan: &Plan, target: &str) -> String {
    let heading = match plan.targets.get(target) {
        Some(platform) => platform.heading(target),
        None => target.to_string(),
    };
    // A plan file is untrusted input: its target names and URLs are shown escaped too.
    escape(&heading).into_owned()
}

/// The changes of a plan grouped by target, in plan order.
pub(crate) fn by_target(plan: &Plan) -> Vec<(&str, Vec<&Change>)> {
    let mut groups: Vec<(&str, Vec<&Change>)> = Vec::new();
    for c in &plan.changes {
        match groups.last_mut() {
            Some((t, list)) if *t == c.address.target => list.push(c),
            _ => groups.push((&c.address.target, vec![c])),
        }
    }
    groups
}

/// `Kind/name (remote key)`: how a change is named in every format.
pub(crate) fn change_title(change: &Change) -> String {
    let a = &change.address;
    if a.remote_key == a.name {
        format!("{}/{}", a.kind, escape(&a.name))
    } else {
        format!("{}/{} ({})", a.kind, escape(&a.name), escape(&a.remote_key))
    }
}

/// The lines of one changed object, without colour: title, field diffs, conflict reasons,
/// notes.
/// Shared by text (which colours by the leading marker) and markdown (inside a diff fence).
pub(crate) fn change_lines(change: &Change) -> Vec<String> {
    let route = change.desired.route.as_ref();
    let mut out = vec![format!(
        "{} {}{}",
        symbol(change.action),
        change_title(change),
        route.map_or(String::new(), |r| format!(" via {}", escape(&r.via)))
    )];
    for field in changed_fields(change) {
        out.push(format!("    {}:", escape(field)));
        for line in field_diff(change, field) {
            let mark = match line.tag {
                ChangeTag::Insert => "+",
                ChangeTag::Delete => "-",
                ChangeTag::Equal => " ",
            };
            out.push(format!("{mark}       {}", line.text));
        }
    }
    if change.action == Action::Create
        && let Some(sink) = &change.desired.key_sink
    {
        // The key a create returns goes here and nowhere else: reviewers must see where.
        out.push(format!("    key → {}", escape(&sink.describe())));
    }
    // How each addition will be made on a route other than the direct one (a package
    // workflow re-run or created): the reviewer sees what will show in the platform's history.
    if let Some(route) = route {
        for value in change.additions.values().flatten() {
            if let Some(note) = route.notes.get(value) {
                out.push(format!(
                    "    {}: {}",
                    display_value(value, &change.labels),
                    escape(note)
                ));
            }
        }
    }
    for reason in &change.reasons {
        out.push(format!("!   conflict: {}", escape(&reason.to_string())));
    }
    for note in &change.notes {
        out.push(format!("    note: {}", escape(&note.to_string())));
    }
    out
}

/// Whether a change gets its lines in a plan rendering: every change but a no-op, and a
/// no-op with a note (adopting a token changes nothing, yet a reviewer must see it).
pub(crate) fn is_shown(change: &Change) -> bool {
    change.action != Action::NoOp || !change.notes.is_empty()
}

/// The drift lines of one object: `? field: value` per undeclared value.
pub(crate) fn drift_lines(change: &Change) -> Vec<String> {
    let mut out = Vec::new();
    for (field, values) in &change.drift {
        for v in values {
            out.push(format!(
                "{DRIFT_SYMBOL}   {}: {}",
                escape(field),
                display_value(v, &change.labels)
            ));
        }
    }
    out
}

/// Per-target counts for headings: `1 to create, 2 to update, 0 conflicts, 3 unchanged`.
pub(crate) fn target_counts(changes: &[&Change]) -> String {
    let count = |a: Action| changes.iter().filter(|c| c.action == a).count();
    let mut s = String::new();
    let _ = write!(
        s,
        "{} to create, {} to update, {} conflicts, {} unchanged",
        count(Action::Create),
        count(Action::Update),
        count(Action::Conflict),
        count(Action::NoOp)
    );
    s
}
