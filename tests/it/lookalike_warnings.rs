//! Names a reviewer could misread carry a warning in every rendering of the plan, against the
//! sandbox over real HTTP: `аsset-rule-runner` (Cyrillic а) next to the live, undeclared
//! `asset-rule-runner`, a Mist token name with Cyrillic letters next to a live token, two
//! declared names that differ only by `1`/`l`, and a Cyrillic letter in an added tag. The
//! example world, whose names are plain, gets no warning.

use crate::support::{World, example_manifests};
use warrant::plan::lookalike::{NameReason, NameWarning};
use warrant::sandbox::Seed;

const CYRILLIC_A: &str = "\u{0430}sset-rule-runner";

fn targets() -> (String, String) {
    example_manifests()
        .into_iter()
        .find(|(name, _)| name == "targets.yaml")
        .expect("example targets")
}

fn identity(name: &str, tags: &str) -> String {
    format!(
        "apiVersion: warrant/v1\nkind: AutomationIdentity\nmetadata: {{name: {name}}}\nspec:\n  target: connect-prod\n  roles: [Tenant Member]\n  tags: {tags}\n"
    )
}

const LOOKS_LIKE_LIVE: &str = "Warning: AutomationIdentity/\u{0430}sset-rule-runner: the name \"\u{0430}sset-rule-runner\" (U+0430 at 1) looks like \"asset-rule-runner\", a live object of connect-prod that no manifest declares, but is a different name";
const MIXED: &str = "Warning: AutomationIdentity/\u{0430}sset-rule-runner: the name \"\u{0430}sset-rule-runner\" (U+0430 at 1) mixes scripts (Cyrillic, Latin); check that it is what you mean";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cyrillic_look_alike_of_a_live_identity_is_flagged_in_every_rendering() {
    let files = vec![
        targets(),
        (
            "connect.yaml".to_string(),
            identity(CYRILLIC_A, "[managed-by:warrant]"),
        ),
    ];
    let world = World::start(Seed::example(), &files).await;

    let text = world.warrant_live(&["plan", "manifests"]);
    assert_eq!(text.code, 0, "{text:#?}");
    let first_change = text.stdout.find("+ AutomationIdentity/").expect("a create");
    for line in [MIXED, LOOKS_LIKE_LIVE] {
        let at = text.stdout.find(&format!("{line}\n")).unwrap_or_else(|| {
            panic!("{line:?} not in\n{}", text.stdout);
        });
        assert!(at < first_change, "warnings come before the changes");
    }

    let markdown = world.warrant_live(&["plan", "manifests", "--format", "markdown"]);
    assert_eq!(markdown.code, 0, "{markdown:#?}");
    let callout = markdown.stdout.find("> [!WARNING]\n").expect("a callout");
    assert!(callout < markdown.stdout.find("<details>").unwrap());
    for line in [MIXED, LOOKS_LIKE_LIVE] {
        assert!(
            markdown.stdout.contains(&format!("> - {line}\n")),
            "{line:?} not in\n{}",
            markdown.stdout
        );
    }

    let json = world.warrant_live(&["plan", "manifests", "--format", "json"]);
    assert_eq!(json.code, 0, "{json:#?}");
    let plan: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let warnings: Vec<NameWarning> =
        serde_json::from_value(plan["warnings"].clone()).expect("typed warnings");
    let reasons: Vec<&NameReason> = warnings
        .iter()
        .filter(|w| w.name == CYRILLIC_A && w.address.remote_key == CYRILLIC_A)
        .map(|w| &w.reason)
        .collect();
    assert_eq!(
        reasons,
        [
            &NameReason::MixedScripts {
                scripts: vec!["Cyrillic".into(), "Latin".into()]
            },
            &NameReason::LooksLike {
                other: "asset-rule-runner".into(),
                declared_by: None
            },
        ],
        "{warnings:#?}"
    );
    for line in [MIXED, LOOKS_LIKE_LIVE] {
        assert!(json.stderr.contains(line), "{}", json.stderr);
    }

    // A plan with warnings is still the plan its id names: the warnings are part of the
    // content the id covers, so the reviewed plan applies (it was once refused as edited).
    let saved = world.warrant_live(&["plan", "manifests", "--out", "plan.json"]);
    assert_eq!(saved.code, 0, "{saved:#?}");
    let apply = world.warrant_live(&["apply", "plan.json", "--manifests", "manifests"]);
    assert_eq!(apply.code, 0, "{apply:#?}");
    assert!(apply.stdout.contains("applied"), "{}", apply.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mist_token_named_like_a_live_token_is_flagged() {
    // "monitoring-rо" with a Cyrillic о, next to the live, undeclared "monitoring-ro".
    let name = "monitoring-r\u{043e}";
    let token = format!(
        "apiVersion: warrant/v1\nkind: OrgApiToken\nmetadata: {{name: {name}}}\nspec:\n  target: mist-prod\n  privileges:\n    - {{role: read, scope: org}}\n  keySink: {{file: keys/m.key}}\n"
    );
    let files = vec![targets(), ("mist.yaml".to_string(), token)];
    let world = World::start(Seed::example(), &files).await;

    let plan = world.plan(&world.session()).await;

    let looks_like: Vec<&NameWarning> = plan
        .warnings
        .iter()
        .filter(|w| matches!(w.reason, NameReason::LooksLike { .. }))
        .collect();
    assert_eq!(looks_like.len(), 1, "{:#?}", plan.warnings);
    assert_eq!(looks_like[0].name, name);
    assert_eq!(
        looks_like[0].reason,
        NameReason::LooksLike {
            other: "monitoring-ro".into(),
            declared_by: None
        }
    );
    let text = warrant::render::text::plan(&plan, false);
    assert!(
        text.contains("looks like \"monitoring-ro\", a live object of mist-prod"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_look_alikes_and_mixed_script_values_are_flagged() {
    let files = vec![
        targets(),
        (
            "connect.yaml".to_string(),
            [
                identity("ci-bot-1", "[managed-by:warrant]"),
                identity("ci-bot-l", "[managed-by:warrant]"),
                // An update of the live asset-rule-runner adding a tag with a Cyrillic е.
                identity("asset-rule-runner", "[managed-by:warrant, \u{0435}nv:prod]"),
            ]
            .join("---\n"),
        ),
    ];
    let world = World::start(Seed::example(), &files).await;

    let plan = world.plan(&world.session()).await;

    let found: Vec<(&str, &str, String)> = plan
        .warnings
        .iter()
        .map(|w| {
            let why = match &w.reason {
                NameReason::MixedScripts { scripts } => scripts.join("+"),
                NameReason::LooksLike {
                    other,
                    declared_by: Some(by),
                } => format!("like {other} of {}", by.name),
                NameReason::LooksLike {
                    other,
                    declared_by: None,
                } => format!("like live {other}"),
            };
            (w.address.name.as_str(), w.name.as_str(), why)
        })
        .collect();
    assert_eq!(
        found,
        [
            (
                "asset-rule-runner",
                "\u{0435}nv:prod",
                "Cyrillic+Latin".to_string()
            ),
            (
                "ci-bot-1",
                "ci-bot-1",
                "like ci-bot-l of ci-bot-l".to_string()
            ),
            (
                "ci-bot-l",
                "ci-bot-l",
                "like ci-bot-1 of ci-bot-1".to_string()
            ),
        ]
    );
    let markdown = warrant::render::markdown::plan(
        &plan,
        &warrant::render::markdown::MarkdownOptions::default(),
    );
    assert!(
        markdown.contains(
            "> - Warning: AutomationIdentity/asset-rule-runner: the added value \"\u{0435}nv:prod\" (U+0435 at 1) mixes scripts (Cyrillic, Latin)"
        ),
        "{markdown}"
    );
    assert!(
        markdown.contains("the name \"ci-bot-1\" looks like \"ci-bot-l\" of AutomationIdentity/ci-bot-l (connect-prod), but is a different name"),
        "{markdown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plain_example_world_has_no_warning() {
    let world = World::example().await;
    let plan = world.plan(&world.session()).await;
    assert!(plan.summary.has_changes());
    assert_eq!(plan.warnings, Vec::new());
    let text = world.warrant_live(&["plan", "manifests"]);
    assert!(!text.stdout.contains("Warning"), "{}", text.stdout);
    let json = world.warrant_live(&["plan", "manifests", "--format", "json"]);
    assert!(!json.stdout.contains("\"warnings\""), "{}", json.stdout);
}
