//! Expected output of every rendering of a fixed plan (tests/golden/; regenerate with
//! UPDATE_GOLDEN=1 after an intended change, then read the diff).

use crate::support::acme::{acme_plan, golden};
use warrant::plan::Action;
use warrant::render::markdown::MarkdownOptions;

#[test]
fn text_plan_matches_golden() {
    golden(
        "plan.txt",
        &warrant::render::text::plan(&acme_plan(), false),
    );
}

#[test]
fn coloured_text_plan_matches_golden() {
    let coloured = warrant::render::text::plan(&acme_plan(), true);
    assert!(
        coloured.contains("\x1b[32m"),
        "a create or addition is green"
    );
    golden("plan.color.txt", &coloured);
}

#[test]
fn markdown_plan_matches_golden() {
    golden(
        "plan.md",
        &warrant::render::markdown::plan(&acme_plan(), &MarkdownOptions::default()),
    );
}

#[test]
fn json_plan_matches_golden() {
    golden("plan.json", &warrant::render::json::plan(&acme_plan()));
}

#[test]
fn drift_renderings_match_golden() {
    let plan = acme_plan();
    golden("drift.txt", &warrant::render::text::drift(&plan, false));
    golden(
        "drift.md",
        &warrant::render::markdown::drift(&plan, &MarkdownOptions::default()),
    );
    golden("drift.json", &warrant::render::json::drift(&plan));
}

#[test]
fn plain_text_has_no_escape_codes_and_lists_no_no_ops() {
    let plan = acme_plan();
    let text = warrant::render::text::plan(&plan, false);
    assert!(!text.contains('\x1b'));
    for c in plan.changes.iter().filter(|c| c.action == Action::NoOp) {
        // No-op objects appear only in the drift section, never with a change symbol.
        let title = format!("/{}", c.address.name);
        for line in text.lines().filter(|l| l.contains(&title)) {
            assert!(line.trim_start().starts_with('?'), "no-op listed: {line}");
        }
    }
}

#[test]
fn summary_line_closes_the_text_plan() {
    let plan = acme_plan();
    let text = warrant::render::text::plan(&plan, false);
    let s = plan.summary;
    assert_eq!(
        (s.create, s.update, s.conflict, s.no_op, s.drift),
        (2, 3, 4, 2, 3)
    );
    // The plan is named by the first 12 hex characters of its id.
    assert_eq!(plan.short_id().len(), 12);
    assert!(plan.plan_id.starts_with(plan.short_id()));
    assert_eq!(
        text.lines().last(),
        Some(
            format!(
                "Plan {}: 2 to create, 3 to update, 4 conflicts; 3 objects with undeclared access; 7 API requests",
                plan.short_id()
            )
            .as_str()
        )
    );
}

#[test]
fn only_filters_are_warned_about_in_every_format() {
    let mut plan = acme_plan();
    plan.only = vec!["target=atlan-prod".into()];
    let text = warrant::render::text::plan(&plan, false);
    assert!(text.starts_with("Warning: partial plan, restricted by --only target=atlan-prod"));
    let md = warrant::render::markdown::plan(&plan, &MarkdownOptions::default());
    assert!(md.contains("[!WARNING]") && md.contains("target=atlan-prod"));
    let json = warrant::render::json::plan(&plan);
    assert!(json.contains("\"only\": [\n    \"target=atlan-prod\""));
    assert!(warrant::render::text::drift(&plan, false).starts_with("Warning: partial plan"));
    assert!(
        warrant::render::markdown::drift(&plan, &MarkdownOptions::default()).contains("[!WARNING]")
    );
}

#[test]
fn no_changes_is_said_so() {
    let mut plan = acme_plan();
    plan.changes.retain(|c| c.action == Action::NoOp);
    plan.summary = warrant::plan::Summary::of(&plan.changes);
    let text = warrant::render::text::plan(&plan, false);
    let last = text.lines().last().unwrap();
    assert!(last.starts_with("No changes. Plan "), "{last}");
    assert!(
        last.contains(": 0 to create, 0 to update, 0 conflicts;"),
        "{last}"
    );
}
