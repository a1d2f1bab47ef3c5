//! Live data is shown escaped in every output. The sandbox serves an identity whose tags hold
//! a terminal escape sequence, a bidi override, a line break and a C1 control, and a twin
//! identity whose id holds an OSC sequence: `plan` and `drift` in text, markdown and JSON,
//! and `apply`'s lines and report, show them as `\u{…}` / `\uXXXX` and never raw. JSON still
//! carries the exact value.

use crate::support::{World, assert_no_hidden, example_manifests};
use warrant::platform::{ErrorKind, PlatformError};
use warrant::sandbox::Seed;
use warrant::sandbox::seed::ConnectIdentity;

const HOSTILE_TAGS: [&str; 4] = [
    "x\u{1b}[31mred",
    "rtl\u{202e}gnp.exe",
    "two\nlines",
    "c1\u{9b}2J",
];
const SHOWN_TAGS: [&str; 4] = [
    "x\\u{1b}[31mred",
    "rtl\\u{202e}gnp.exe",
    "two\\nlines",
    "c1\\u{9b}2J",
];

/// No raw hidden character, and no value breaking a line.
fn assert_escaped(what: &str, text: &str) {
    assert_no_hidden(what, text);
    assert!(!text.contains("two\nlines"), "{what}: a value broke a line");
}

fn hostile_seed() -> Seed {
    let mut seed = Seed::example();
    let tenant = &mut seed.connect.tenants[0];
    let runner = tenant
        .automation_identities
        .iter_mut()
        .find(|i| i.name == "asset-rule-runner")
        .expect("seeded identity");
    runner
        .tags
        .extend(HOSTILE_TAGS.iter().map(|t| t.to_string()));
    seed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_tags_with_hidden_characters_are_escaped_in_plan_and_drift() {
    let world = World::start(hostile_seed(), &example_manifests()).await;

    for command in ["plan", "drift"] {
        let text = world.warrant_live(&[command, "manifests"]);
        assert!(text.code == 0, "{text:#?}");
        assert_escaped(command, &text.stdout);
        for shown in SHOWN_TAGS {
            assert!(
                text.stdout.contains(&format!("tags: {shown}\n")),
                "{command}: {shown} not in\n{}",
                text.stdout
            );
        }

        let markdown = world.warrant_live(&[command, "manifests", "--format", "markdown"]);
        assert_escaped(command, &markdown.stdout);
        assert!(
            markdown.stdout.contains("rtl\\\\u{202e}gnp.exe"),
            "{command}: markdown escapes the backslash too\n{}",
            markdown.stdout
        );

        let json = world.warrant_live(&[command, "manifests", "--format", "json"]);
        assert_escaped(command, &json.stdout);
        for escaped in [
            "x\\u001b[31mred",
            "rtl\\u202egnp.exe",
            "two\\nlines",
            "c1\\u009b2J",
        ] {
            assert!(json.stdout.contains(escaped), "{command}: {escaped}");
        }
        // The same data for a machine: every hostile tag comes back exactly.
        let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
        let all = value.to_string();
        for tag in HOSTILE_TAGS {
            let encoded = serde_json::to_string(tag).unwrap();
            assert!(all.contains(&encoded), "{command}: {tag:?} lost");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_id_with_an_escape_sequence_is_escaped_in_the_conflict_and_the_apply_lines() {
    let mut seed = Seed::example();
    let tenant = &mut seed.connect.tenants[0];
    let runner = tenant.automation_identities[0].clone();
    assert_eq!(runner.name, "asset-rule-runner");
    // A second identity of the same name (the tenant allows duplicates) whose id sets the
    // terminal title and clears the screen if printed raw.
    tenant.unique_identity_names = false;
    tenant.automation_identities.push(ConnectIdentity {
        id: "evil\u{1b}]0;pwned\u{7}\u{1b}[2J".into(),
        ..runner
    });
    let world = World::start(seed, &example_manifests()).await;

    let plan = world.warrant_live(&["plan", "manifests", "--out", "plan.json"]);
    assert_eq!(plan.code, 1, "a conflict: {plan:#?}");
    assert_escaped("plan", &plan.stdout);
    assert!(
        plan.stdout.contains("evil\\u{1b}]0;pwned\\u{7}\\u{1b}[2J"),
        "{}",
        plan.stdout
    );
    let file = std::fs::read_to_string(world.dir().join("plan.json")).unwrap();
    assert_escaped("plan file", &file);

    let apply = world.warrant_live(&["apply", "plan.json", "--report", "report.json"]);
    assert_eq!(apply.code, 1, "the conflict is skipped: {apply:#?}");
    assert_escaped("apply", &apply.stdout);
    assert!(
        apply
            .stdout
            .contains("conflict-skipped  AutomationIdentity/asset-rule-runner"),
        "{}",
        apply.stdout
    );
    assert!(
        apply.stdout.contains("evil\\u{1b}]0;pwned"),
        "{}",
        apply.stdout
    );
    let report = std::fs::read_to_string(world.dir().join("report.json")).unwrap();
    assert_escaped("report", &report);
}

#[test]
fn platform_errors_show_server_text_on_one_escaped_line() {
    let error = PlatformError::new(
        "connect-prod",
        ErrorKind::Rejected,
        "identity \u{1b}[2Jname\nforged line \u{202e}",
    )
    .with_code("E\u{7}1");
    let shown = error.to_string();
    assert_eq!(
        shown,
        "target connect-prod: identity \\u{1b}[2Jname\\nforged line \\u{202e} (E\\u{7}1)"
    );
}

/// A tampered plan file whose parse error quotes a value with an escape sequence: the error
/// line is shown escaped.
#[test]
fn an_error_quoting_a_tampered_plan_file_is_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let plan = serde_json::json!({
        "format_version": warrant::plan::FORMAT_VERSION,
        "warrant_version": env!("CARGO_PKG_VERSION"),
        "created_at": "2025-01-01T00:00:00Z",
        "desired_digest": "sha256:x",
        "targets": {},
        "changes": [{"action": "\u{1b}]0;pwned\u{7}\u{1b}[2Jcreate"}],
        "summary": {"create": 0, "update": 0, "no_op": 0, "conflict": 0, "drift": 0},
    });
    std::fs::write(dir.path().join("plan.json"), plan.to_string()).unwrap();

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_warrant"))
        .current_dir(dir.path())
        .args(["apply", "plan.json"])
        .output()
        .unwrap();

    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not a valid warrant plan"), "{stderr}");
    assert!(stderr.contains("\\u{1b}]0;pwned\\u{7}"), "{stderr}");
    assert_no_hidden("apply", &stderr);
}
