//! The create journal from the outside, with the `warrant` binary against the sandbox: an
//! open record (written here as an interrupted apply leaves it) makes the object a conflict in
//! every rendering of the plan, makes apply refuse it, is listed by `warrant journal`, and
//! stays until `warrant journal resolve`; lines that are not records, hidden characters and a
//! torn last line are skipped with escaped warnings; and `--report` and `--journal` paths that
//! cannot be written stop apply before any request.

use std::path::Path;

use crate::support::{World, assert_no_hidden, assert_nothing_lost, find_object, object_of};
use warrant::apply::{ApplyReport, Status};

/// A journal line as an apply writes it before sending a create (the documented format).
fn intent(id: &str, name: &str) -> String {
    serde_json::json!({
        "v": 1, "record": "intent", "id": id, "at": "2026-01-05T10:00:00Z",
        "target": "mist-prod", "kind": "OrgApiToken", "name": name, "remote_key": name,
        "plan_id": "3f2a9c1b0d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8", "pid": 4242
    })
    .to_string()
}

fn done(id: &str, name: &str, key: &str) -> String {
    serde_json::json!({
        "v": 1, "record": "done", "id": id, "at": "2026-01-05T10:00:01Z",
        "target": "mist-prod", "kind": "OrgApiToken", "name": name, "remote_key": name,
        "plan_id": "3f2a9c1b0d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8",
        "created_id": "5a1f0e4e-0000-4000-8000-000000000001", "key": key
    })
    .to_string()
}

const OPEN_ID: &str = "6f1c1d7e-4e0b-4d36-9b59-0a8f0c7f4a11";
const CLOSED_ID: &str = "0d4b3a86-9a9c-4a52-8b38-3f1f55a9b0c2";
const CONFLICT: &str = "a token named installer-app may have been created by an interrupted apply (plan 3f2a9c1b0d4e, 2026-01-05T10:00:00Z); its key was not captured; rotate it";

fn write_journal(dir: &Path, lines: &[String], tail: &str) {
    std::fs::create_dir_all(dir.join(".warrant")).unwrap();
    let mut text = lines.join("\n");
    text.push('\n');
    text.push_str(tail);
    std::fs::write(dir.join(".warrant/journal.jsonl"), text).unwrap();
}

fn read_report(world: &World, name: &str) -> ApplyReport {
    serde_json::from_str(&std::fs::read_to_string(world.dir().join(name)).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_record_is_a_conflict_everywhere_until_a_human_resolves_it() {
    let world = World::example().await;
    let before = world.sandbox.state();
    // Reviewed before the interrupted apply happened: it still creates installer-app.
    let out = world.warrant_live(&["plan", "manifests", "--out", "plan.json"]);
    assert_eq!(out.code, 0, "{out:#?}");

    let mut hostile = intent("7a0c5f3e-1b2d-4c3e-8f9a-0b1c2d3e4f5a", "x");
    hostile = hostile.replace("\"x\"", "\"ci\\u001b[2J\\u202ebot\"");
    write_journal(
        world.dir(),
        &[
            intent(OPEN_ID, "installer-app"),
            // Created and delivered: closed.
            intent(CLOSED_ID, "noc-automation"),
            done(CLOSED_ID, "noc-automation", "delivered"),
            "not json at all".into(),
            hostile,
            format!(
                "{{\"v\":1,\"record\":\"intent\",\"junk\":\"{}\"}}",
                "y".repeat(20_000)
            ),
        ],
        // A writer killed half way through its line.
        "{\"v\":1,\"record\":\"in",
    );

    // Every rendering names the conflict; the skipped lines are warned about, escaped.
    for format in ["text", "markdown", "json"] {
        let out = world.warrant_live(&["plan", "manifests", "--format", format]);
        assert_eq!(out.code, 1, "{format}: {out:#?}");
        assert!(out.stdout.contains(CONFLICT), "{format}: {}", out.stdout);
        assert!(
            !out.stdout.contains("noc-automation may have been created"),
            "a delivered create is not a conflict: {}",
            out.stdout
        );
        assert_eq!(
            out.stderr.matches("the line was ignored").count(),
            4,
            "{format}: {}",
            out.stderr
        );
        assert_no_hidden("plan stderr", &out.stderr);
    }

    // The plan reviewed before: apply refuses that object, applies the rest.
    let out = world.warrant_live(&["apply", "plan.json", "--report", "report.json"]);
    assert_eq!(out.code, 1, "{out:#?}");
    let report = read_report(&world, "report.json");
    let token = object_of(&report, "installer-app");
    assert_eq!(token.status, Status::Refused, "{token:#?}");
    assert!(
        token.reasons[0].to_string().contains(CONFLICT),
        "{token:#?}"
    );
    assert!(
        find_object(&world.sandbox.state(), "name", "installer-app").is_none(),
        "created again although its journal record is open"
    );
    assert!(report.counts.get(&Status::Applied).copied().unwrap_or(0) >= 4);

    let out = world.warrant(&["journal"]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(out.stdout.contains("1 open record(s)"), "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!(
            "mist-prod/installer-app  (OrgApiToken installer-app, intent {OPEN_ID})"
        )),
        "{}",
        out.stdout
    );
    assert_no_hidden("journal list", &(out.stdout.clone() + &out.stderr));

    let out = world.warrant(&["journal", "resolve", "mist-prod/monitoring-ro"]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(
        out.stderr
            .contains("has no open record for mist-prod/monitoring-ro; nothing was resolved"),
        "{}",
        out.stderr
    );
    let out = world.warrant(&["journal", "resolve", "installer-app"]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(out.stderr.contains("is not TARGET/NAME"), "{}", out.stderr);

    let out = world.warrant(&["journal", "resolve", "mist-prod/installer-app"]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(
        out.stdout.contains(&format!(
            "resolved mist-prod/installer-app (intent {OPEN_ID}"
        )),
        "{}",
        out.stdout
    );
    let out = world.warrant(&["journal"]);
    assert!(out.stdout.contains("No open records"), "{}", out.stdout);

    // Resolved: planned and created again, its key delivered, the journal closed.
    let out = world.warrant_live(&[
        "apply",
        "manifests",
        "--auto-approve",
        "--report",
        "report.json",
    ]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(world.keys().join("installer-app.key").exists());
    let out = world.warrant(&["journal"]);
    assert!(out.stdout.contains("No open records"), "{}", out.stdout);
    let out = world.warrant_live(&["plan", "manifests", "--detailed-exitcode"]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert_nothing_lost(&before, &world.sandbox.state());
}

/// An open record about a token that exists live is a conflict too: its key may be the lost one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_record_about_a_live_token_is_a_conflict_and_a_journal_elsewhere_is_used() {
    let world = World::example().await;
    std::fs::create_dir_all(world.dir().join("ci")).unwrap();
    std::fs::write(
        world.dir().join("ci/journal.jsonl"),
        intent(OPEN_ID, "monitoring-ro") + "\n",
    )
    .unwrap();
    // Not the default journal: nothing to see there.
    let out = world.warrant_live(&["plan", "manifests"]);
    assert_eq!(out.code, 0, "{out:#?}");
    let out = world.warrant_live(&["plan", "manifests", "--journal", "ci/journal.jsonl"]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(
        out.stdout
            .contains("a token named monitoring-ro may have been created by an interrupted apply"),
        "{}",
        out.stdout
    );
    // The variable names it as well.
    let mut command = world.command(crate::support::ATLAN_KEY);
    command
        .args(["plan", "manifests"])
        .args(world.endpoint_args())
        .env("WARRANT_JOURNAL", "ci/journal.jsonl");
    let out = crate::support::run(command);
    assert_eq!(out.code, 1, "{out:#?}");
    // A record about a token the plan does not cover is said on stderr.
    std::fs::write(
        world.dir().join("ci/journal.jsonl"),
        intent(OPEN_ID, "gone-token") + "\n",
    )
    .unwrap();
    let out = world.warrant_live(&["plan", "manifests", "--journal", "ci/journal.jsonl"]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(
        out.stderr.contains(
            "holds 1 open record(s) for objects this plan does not cover: mist-prod/gone-token"
        ),
        "{}",
        out.stderr
    );
}

/// `--report` and `--journal` are checked before any request: nothing is read or written
/// live, and no empty report is left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unwritable_report_and_journal_paths_stop_apply_before_any_request() {
    let world = World::example().await;
    let out = world.warrant_live(&["plan", "manifests", "--out", "plan.json"]);
    assert_eq!(out.code, 0, "{out:#?}");
    let requests = world.sandbox.request_counts();
    std::fs::write(world.dir().join("a-file"), "").unwrap();
    let fifo = world.dir().join("report.fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );

    let cases: [(&[&str], &str); 5] = [
        (
            &["apply", "plan.json", "--report", "missing/report.json"],
            "cannot write the report missing/report.json (checked before anything is applied); nothing was applied",
        ),
        (
            &["apply", "plan.json", "--report", "a-file/report.json"],
            "cannot write the report a-file/report.json",
        ),
        (
            &["apply", "plan.json", "--report", "report.fifo"],
            "it is a FIFO, not a file",
        ),
        (
            &[
                "apply",
                "plan.json",
                "--report",
                "report.json",
                "--journal",
                "a-file/journal.jsonl",
            ],
            "cannot write the create journal a-file/journal.jsonl",
        ),
        (
            &[
                "apply",
                "manifests",
                "--auto-approve",
                "--report",
                "missing/report.json",
            ],
            "cannot write the report missing/report.json",
        ),
    ];
    for (args, message) in cases {
        let out = world.warrant_live(args);
        assert_eq!(out.code, 1, "{args:?}: {out:#?}");
        assert!(out.stderr.contains(message), "{args:?}: {}", out.stderr);
        assert_eq!(
            world.sandbox.request_counts(),
            requests,
            "{args:?} sent requests"
        );
    }
    assert!(
        !world.dir().join("report.json").exists(),
        "an empty report was left behind"
    );
}

/// A `.warrant` directory or journal that is a symbolic link (a repository can commit one) is
/// refused, and nothing is written through it.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlinked_state_directory_or_journal_is_refused() {
    let world = World::example().await;
    let out = world.warrant_live(&["plan", "manifests", "--out", "plan.json"]);
    assert_eq!(out.code, 0, "{out:#?}");
    let elsewhere = world.dir().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, world.dir().join(".warrant")).unwrap();
    let out = world.warrant_live(&["apply", "plan.json"]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(out.stderr.contains("is a symbolic link"), "{}", out.stderr);
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);

    std::fs::remove_file(world.dir().join(".warrant")).unwrap();
    std::fs::create_dir(world.dir().join(".warrant")).unwrap();
    let victim = world.dir().join("victim");
    std::fs::write(&victim, "keep").unwrap();
    std::os::unix::fs::symlink(&victim, world.dir().join(".warrant/journal.jsonl")).unwrap();
    for args in [&["apply", "plan.json"][..], &["plan", "manifests"][..]] {
        let out = world.warrant_live(args);
        assert_eq!(out.code, 1, "{out:#?}");
        assert!(out.stderr.contains("is a symbolic link"), "{}", out.stderr);
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
}
