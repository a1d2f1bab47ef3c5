//! The markdown rendering of a plan far over its size budget: within `max_bytes`, valid
//! UTF-8 with multibyte labels intact, every fence and `<details>` closed, and a notice of
//! what was left out and where the full plan is.

use crate::support::acme;

use crate::support::acme::{acme_meta, address, append, desired, live};
use warrant::model::LiveState;
use warrant::plan::file::PlanFile;
use warrant::plan::{Plan, diff};
use warrant::render::markdown::{MarkdownOptions, plan as markdown};

/// 3000 objects over three targets with multibyte labels (and a backtick run in one value).
fn huge_plan() -> PlanFile {
    let mut changes = Vec::new();
    for i in 0..3000 {
        let target = ["atlan-prod", "connect-prod", "mist-prod"][i % 3];
        let value = format!("service-account-apikey-{i:08}");
        let mut d = desired(
            address(
                acme::CONNECTION_ADMINS,
                &format!("conn-{i:05}"),
                target,
                &format!("default/x/{i}"),
            ),
            vec![("adminUsers", append(&[&value, "ops```team"]))],
        );
        d.labels
            .insert(value.clone(), format!("tökén-ünïcødé-🔑-{i}"));
        let state = if i % 2 == 0 {
            LiveState::Absent
        } else {
            live(&format!("id-{i}"), vec![("adminUsers", &["jsmith-ß-漢字"])])
        };
        changes.push(diff(&d, &state));
    }
    PlanFile::new(Plan::new(acme_meta(), changes), Default::default())
}

fn fence_lines_balanced(md: &str) -> bool {
    // A line of only backticks (3 or more) optionally followed by an info string opens a
    // fence; the same run alone closes it.
    let mut open: Option<usize> = None;
    for line in md.lines() {
        let run = line.chars().take_while(|c| *c == '`').count();
        if run < 3 {
            continue;
        }
        match open {
            None => open = Some(run),
            Some(n) if run >= n && line.trim_end().len() == run => open = None,
            Some(_) => {}
        }
    }
    open.is_none()
}

#[test]
fn oversized_plan_is_cut_between_whole_pieces() {
    let plan = huge_plan();
    let unlimited = markdown(
        &plan,
        &MarkdownOptions {
            max_bytes: usize::MAX,
            full_plan_link: None,
        },
    );
    assert!(
        unlimited.len() > 600_000,
        "the fixture must be far over budget: {}",
        unlimited.len()
    );
    assert!(fence_lines_balanced(&unlimited));

    for max_bytes in [60_000, 20_000, 4_096, 1_500] {
        let options = MarkdownOptions {
            max_bytes,
            full_plan_link: Some("https://ci.example.com/run/42#artifacts".into()),
        };
        let md = markdown(&plan, &options);
        assert!(md.len() <= max_bytes, "{} > {max_bytes}", md.len());
        // `String` guarantees UTF-8; check the bytes would also decode on their own.
        assert!(std::str::from_utf8(md.as_bytes()).is_ok());
        assert!(fence_lines_balanced(&md), "unbalanced fence at {max_bytes}");
        assert_eq!(
            md.matches("<details>").count(),
            md.matches("</details>").count()
        );
        assert!(
            md.contains("**Truncated** to stay within"),
            "no notice at {max_bytes}"
        );
        assert!(md.contains("https://ci.example.com/run/42#artifacts"));
        assert!(md.contains("changed objects"));
        // No multibyte label is cut in half: every one shown is whole.
        for line in md.lines().filter(|l| l.contains("tökén")) {
            assert!(line.contains("-🔑-"), "cut label: {line}");
        }
        assert!(md.starts_with("## warrant plan"));
    }
}

#[test]
fn notice_names_the_plan_file_artifact_without_a_link() {
    let md = markdown(
        &huge_plan(),
        &MarkdownOptions {
            max_bytes: 10_000,
            full_plan_link: None,
        },
    );
    assert!(md.contains("The full plan is in the plan file artifact."));
    // The counts in the notice are exact: shown + left out = changed objects.
    let shown = md
        .lines()
        .filter(|l| l.starts_with("+ ConnectionAdmins/") || l.starts_with("~ ConnectionAdmins/"))
        .count();
    let left: usize = md
        .split("left out ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("notice with a count");
    assert_eq!(shown + left, 3000);
}

#[test]
fn a_plan_within_budget_is_not_truncated() {
    let md = markdown(&acme::acme_plan(), &MarkdownOptions::default());
    assert!(!md.contains("Truncated"));
    assert!(fence_lines_balanced(&md));
}
