//! Plans and drift as a pull-request comment: summary table first, then per target a
//! `<details>` block with the diffs in a ```` ```diff ```` fence, then the undeclared access.
//!
//! The comment must fit where it is posted (GitHub refuses bodies over 65536 characters), so
//! the document is built from whole pieces — a target block's opening, one object's diff, its
//! closing, one drift row — and pieces are added while they fit in `max_bytes`. Cutting only
//! between pieces means a UTF-8 character or a code fence is never split; a block that is cut
//! still gets its closing. When anything is left out, a closing notice says what and where the
//! full plan is.

use super::{
    by_target, change_lines, change_title, display_value, drift_summary_line, is_shown,
    name_warning_lines, only_warning, summary_line, target_counts, target_heading,
};
use crate::model::{SmallMap, Values};
use crate::plan::file::PlanFile;
use crate::plan::{Change, Plan};

/// Options of the markdown rendering.
#[derive(Debug, Clone)]
pub struct MarkdownOptions {
    /// Upper bound of the rendering's size in bytes (`--max-bytes`).
    pub max_bytes: usize,
    /// Where the full plan is (`--full-plan-link`); "the plan file artifact" when absent.
    pub full_plan_link: Option<String>,
}

impl Default for MarkdownOptions {
    fn default() -> Self {
        MarkdownOptions {
            max_bytes: 60_000,
            full_plan_link: None,
        }
    }
}

/// The plan as a pull-request comment.
pub fn plan(file: &PlanFile, options: &MarkdownOptions) -> String {
    let plan = &file.plan;
    let s = &plan.summary;
    let mut head = String::from("## warrant plan\n\n");
    push_warning(&mut head, plan);
    push_name_warnings(&mut head, plan);
    head.push_str("| | objects |\n|---|---:|\n");
    for (label, n) in [
        ("➕ to create", s.create),
        ("🔄 to update", s.update),
        ("⛔ conflicts", s.conflict),
        ("✔️ unchanged", s.no_op),
        ("❓ with undeclared access", s.drift),
    ] {
        head.push_str(&format!("| {label} | {n} |\n"));
    }
    head.push_str(&format!("\n**{}**\n\n", escape_inline(&summary_line(file))));

    let mut sections: Vec<Section> = by_target(plan)
        .into_iter()
        .map(|(target, changes)| target_section(plan, target, &changes))
        .collect();
    sections.extend(drift_section(plan));
    assemble(&head, &sections, options)
}

/// Only the undeclared access, as a comment or step summary (`warrant drift`).
pub fn drift(file: &PlanFile, options: &MarkdownOptions) -> String {
    let plan = &file.plan;
    let mut head = String::from("## warrant drift\n\n");
    push_warning(&mut head, plan);
    head.push_str(&format!(
        "**{}**\n\n",
        escape_inline(&drift_summary_line(file))
    ));
    let sections: Vec<Section> = drift_section(plan)
        .into_iter()
        .chain(missing_section(plan))
        .collect();
    assemble(&head, &sections, options)
}

fn push_warning(out: &mut String, plan: &Plan) {
    if let Some(w) = only_warning(plan) {
        out.push_str(&format!("> [!WARNING]\n> {}\n\n", escape_inline(&w)));
    }
}

/// Look-alike warnings shown in the comment before it is cut to size; the plan file and the
/// text rendering list all of them.
const MAX_NAME_WARNINGS: usize = 20;

/// The look-alike warnings, as a callout in the head, which comes before every change and is
/// kept when the changes are cut.
fn push_name_warnings(out: &mut String, plan: &Plan) {
    let warnings = name_warning_lines(plan);
    if warnings.is_empty() {
        return;
    }
    out.push_str("> [!WARNING]\n");
    for w in warnings.iter().take(MAX_NAME_WARNINGS) {
        out.push_str(&format!("> - {}\n", escape_inline(w)));
    }
    if warnings.len() > MAX_NAME_WARNINGS {
        out.push_str(&format!(
            "> - … and {} more look-alike names: see the plan file\n",
            warnings.len() - MAX_NAME_WARNINGS
        ));
    }
    out.push('\n');
}

/// What a piece of the document stands for, for the truncation notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counted {
    Change,
    Drift,
    Missing,
}

/// A block whose items may be cut: `open` and `close` always go together.
struct Section {
    counted: Counted,
    /// Target name, for the notice.
    target: String,
    open: String,
    items: Vec<String>,
    close: String,
}

fn target_section(plan: &Plan, target: &str, changes: &[&Change]) -> Section {
    let summary = format!(
        "<details><summary><b>{}</b>: {}</summary>\n\n",
        escape_html(&target_heading(plan, target)),
        target_counts(changes)
    );
    let items: Vec<String> = changes
        .iter()
        .filter(|c| is_shown(c))
        .map(|c| {
            let mut lines = change_lines(c).join("\n");
            lines.push_str("\n\n");
            lines
        })
        .collect();
    if items.is_empty() {
        return Section {
            counted: Counted::Change,
            target: target.to_string(),
            open: summary,
            items,
            close: "Nothing to change.\n\n</details>\n\n".into(),
        };
    }
    // A fence longer than any backtick run inside cannot be closed early by a value.
    let fence = "`".repeat(3.max(longest_backtick_run(&items) + 1));
    Section {
        counted: Counted::Change,
        target: target.to_string(),
        open: format!("{summary}{fence}diff\n"),
        items,
        close: format!("{fence}\n\n</details>\n\n"),
    }
}

fn drift_section(plan: &Plan) -> Option<Section> {
    values_section(
        plan.changes
            .iter()
            .filter(|c| c.has_drift())
            .map(|c| value_row(c, &c.drift, None)),
        Counted::Drift,
        "### ❓ Undeclared access (live, not in the manifests; reported, not removed)\n\n| target | object | undeclared values |\n|---|---|---|\n",
    )
}

fn missing_section(plan: &Plan) -> Option<Section> {
    values_section(
        plan.changes.iter().filter(|c| c.is_missing()).map(|c| {
            let absent = c.live_id.is_none().then_some("(the object is absent)");
            value_row(c, &c.missing().unwrap_or_default(), absent)
        }),
        Counted::Missing,
        "### ➖ Missing access (declared, not live; `warrant plan` shows what apply would add)\n\n| target | object | missing values |\n|---|---|---|\n",
    )
}

/// One table row of a drift report: the object and its values per field (labelled), after
/// an optional first note.
fn value_row(c: &Change, fields: &SmallMap<Values>, first: Option<&str>) -> String {
    let cells: Vec<String> = first
        .map(str::to_string)
        .into_iter()
        .chain(fields.iter().map(|(field, values)| {
            let shown: Vec<String> = values
                .iter()
                .map(|v| escape_inline(&display_value(v, &c.labels)))
                .collect();
            format!("{}: {}", escape_inline(field), shown.join(", "))
        }))
        .collect();
    format!(
        "| {} | {} | {} |\n",
        escape_inline(&c.address.target),
        escape_inline(&change_title(c)),
        cells.join("<br>")
    )
}

/// A drift report's table, or nothing when it has no rows.
fn values_section(
    rows: impl Iterator<Item = String>,
    counted: Counted,
    open: &str,
) -> Option<Section> {
    let items: Vec<String> = rows.collect();
    if items.is_empty() {
        return None;
    }
    Some(Section {
        counted,
        target: String::new(),
        open: open.into(),
        items,
        close: "\n".into(),
    })
}

fn longest_backtick_run(items: &[String]) -> usize {
    let mut longest = 0;
    for item in items {
        let mut run = 0;
        for c in item.chars() {
            run = if c == '`' { run + 1 } else { 0 };
            longest = longest.max(run);
        }
    }
    longest
}

/// Everything, if it fits; else as many whole pieces as fit, and the notice.
fn assemble(head: &str, sections: &[Section], options: &MarkdownOptions) -> String {
    let mut full = head.to_string();
    for s in sections {
        full.push_str(&s.open);
        s.items.iter().for_each(|i| full.push_str(i));
        full.push_str(&s.close);
    }
    if full.len() <= options.max_bytes {
        return full;
    }

    let total = |k: Counted| -> usize {
        sections
            .iter()
            .filter(|s| s.counted == k)
            .map(|s| s.items.len())
            .sum()
    };
    let (changes_total, drift_total, missing_total) = (
        total(Counted::Change),
        total(Counted::Drift),
        total(Counted::Missing),
    );
    let all_targets: Vec<&str> = sections
        .iter()
        .filter(|s| s.counted == Counted::Change)
        .map(|s| s.target.as_str())
        .collect();
    // The notice is never longer than with every count at its total and every target named.
    let reserve = notice(
        changes_total,
        changes_total,
        &all_targets,
        (drift_total, drift_total),
        (missing_total, missing_total),
        options,
    )
    .len();
    let budget = options.max_bytes.saturating_sub(reserve);

    let mut out = String::new();
    if head.len() <= budget {
        out.push_str(head);
    }
    let mut left = (0usize, 0usize, 0usize);
    let mut left_targets: Vec<&str> = Vec::new();
    // Once a piece of a kind does not fit, later pieces of that kind are left out too, so the
    // comment is a prefix of the plan, not a sample of it.
    let mut stopped = (false, false, false);
    for s in sections {
        let stop = match s.counted {
            Counted::Change => &mut stopped.0,
            Counted::Drift => &mut stopped.1,
            Counted::Missing => &mut stopped.2,
        };
        let mut taken = 0;
        if !*stop && out.len() + s.open.len() + s.close.len() <= budget {
            out.push_str(&s.open);
            for item in &s.items {
                if out.len() + item.len() + s.close.len() > budget {
                    break;
                }
                out.push_str(item);
                taken += 1;
            }
            out.push_str(&s.close);
        }
        if taken < s.items.len() {
            *stop = true;
        }
        let missing = s.items.len() - taken;
        match s.counted {
            Counted::Change => {
                left.0 += missing;
                if missing > 0 {
                    left_targets.push(&s.target);
                }
            }
            Counted::Drift => left.1 += missing,
            Counted::Missing => left.2 += missing,
        }
    }
    out.push_str(&notice(
        left.0,
        changes_total,
        &left_targets,
        (left.1, drift_total),
        (left.2, missing_total),
        options,
    ));
    if out.len() > options.max_bytes {
        // Only when even the head and the notice cannot fit (a tiny --max-bytes): cut at a
        // character boundary; there is no fence to break at this point.
        let mut end = options.max_bytes;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
    }
    out
}

fn notice(
    changes_left: usize,
    changes_total: usize,
    targets: &[&str],
    (drift_left, drift_total): (usize, usize),
    (missing_left, missing_total): (usize, usize),
    options: &MarkdownOptions,
) -> String {
    let mut parts = Vec::new();
    if changes_left > 0 {
        let within = if targets.is_empty() {
            String::new()
        } else {
            format!(" (in {})", escape_inline(&targets.join(", ")))
        };
        parts.push(format!(
            "{changes_left} of {changes_total} changed objects{within}"
        ));
    }
    if drift_left > 0 {
        parts.push(format!(
            "{drift_left} of {drift_total} objects with undeclared access"
        ));
    }
    if missing_left > 0 {
        parts.push(format!(
            "{missing_left} of {missing_total} objects with missing access"
        ));
    }
    if parts.is_empty() {
        parts.push("part of the summary".to_string());
    }
    let place = match &options.full_plan_link {
        // A URL becomes an autolink (escaping would corrupt it); anything else is text.
        Some(link)
            if (link.starts_with("https://") || link.starts_with("http://"))
                && !link.contains(|c: char| c.is_whitespace() || c == '<' || c == '>') =>
        {
            format!("<{link}>")
        }
        Some(link) => escape_inline(link),
        None => "the plan file artifact".to_string(),
    };
    format!(
        "\n---\n✂️ **Truncated** to stay within {} bytes: left out {}. The full plan is in {place}.\n",
        options.max_bytes,
        parts.join(" and ")
    )
}

/// Escapes text for a table cell or a paragraph: hidden characters (`crate::text::escape`,
/// line breaks included), then markdown punctuation and HTML.
pub(crate) fn escape_inline(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in crate::text::escape(s).chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            _ => out.push(c),
        }
    }
    out
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
