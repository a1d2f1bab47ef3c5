//! A stdout (and stderr) whose reader has gone, as in `warrant plan … | head -1`: every
//! command ends quietly with the exit code it would have had, never panics, and `apply` still
//! writes its `--report`. The pipes are made with no reader at all before warrant starts, so
//! the very first write meets a closed pipe whatever the timing.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{ATLAN_KEY, World, assert_nothing_lost, wait_at_most};
use warrant::apply::{ApplyReport, ReportOutcome};

/// Where the child's stderr goes (its stdout always goes to a pipe without a reader).
#[derive(Clone, Copy, PartialEq)]
enum Stderr {
    /// A pipe whose read end is already closed, like stdout.
    Closed,
    /// Captured, to be read after the exit.
    Captured,
}

fn pipe_without_reader() -> Stdio {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    Stdio::from(writer)
}

/// Runs `command` with a closed stdout; returns the exit code and what stderr said (empty
/// when stderr was closed too).
fn run(mut command: Command, stderr: Stderr) -> (i32, String) {
    let capture = tempfile::NamedTempFile::new().expect("stderr file");
    command
        .stdin(Stdio::null())
        .stdout(pipe_without_reader())
        .stderr(match stderr {
            Stderr::Closed => pipe_without_reader(),
            Stderr::Captured => Stdio::from(capture.reopen().expect("reopen")),
        });
    let mut child = command.spawn().expect("warrant starts");
    let status = wait_at_most(&mut child, Duration::from_secs(60));
    let said = std::fs::read_to_string(capture.path()).unwrap_or_default();
    (status.code().unwrap_or(-1), said)
}

/// `warrant ARGS` against the world's sandbox.
fn live(world: &World, args: &[&str]) -> Command {
    let mut command = world.command(ATLAN_KEY);
    command.args(args);
    command.args(world.endpoint_args());
    command
}

/// The example world with its plan saved as plan.json.
async fn planned_world() -> World {
    let world = World::example().await;
    let status = live(&world, &["plan", "manifests", "--out", "plan.json"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    world
}

fn assert_quiet(stderr: &str) {
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_into_a_closed_pipe_ends_quietly_in_every_format() {
    let world = World::example().await;
    for format in ["text", "markdown", "json"] {
        let plan = [
            "plan",
            "manifests",
            "--format",
            format,
            "--detailed-exitcode",
        ];
        let (code, stderr) = run(live(&world, &plan), Stderr::Captured);
        assert_eq!(
            code, 2,
            "{format}: changes pending, as with an open stdout\n{stderr}"
        );
        assert_quiet(&stderr);
        // With stderr gone too, nothing is left to panic on.
        let (code, _) = run(live(&world, &plan), Stderr::Closed);
        assert_eq!(code, 2, "{format} with stderr closed too");
    }
    let drift = live(&world, &["drift", "manifests", "--fail-on-drift"]);
    let (code, stderr) = run(drift, Stderr::Captured);
    assert_eq!(code, 4, "{stderr}");
    assert_quiet(&stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_into_a_closed_pipe_applies_and_still_writes_its_report() {
    let world = planned_world().await;
    let before = world.sandbox.state();

    let apply = live(&world, &["apply", "plan.json", "--report", "report.json"]);
    let (code, stderr) = run(apply, Stderr::Captured);

    assert_eq!(code, 0, "{stderr}");
    assert_quiet(&stderr);
    let report = read_report(&world);
    assert!(report.objects.len() >= 5, "{report:#?}");
    assert_nothing_lost(&before, &world.sandbox.state());
    let again = live(&world, &["plan", "manifests", "--detailed-exitcode"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(again.code(), Some(0), "applied for real");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_with_stdout_and_stderr_closed_still_writes_its_report() {
    let world = planned_world().await;

    let apply = live(&world, &["apply", "plan.json", "--report", "report.json"]);
    let (code, _) = run(apply, Stderr::Closed);

    assert_eq!(code, 0);
    read_report(&world);
}

/// The whole report, of a run that succeeded.
fn read_report(world: &World) -> ApplyReport {
    let text = std::fs::read_to_string(world.dir().join("report.json")).expect("report written");
    let report: ApplyReport = serde_json::from_str(&text).expect("a whole report");
    assert_eq!(report.outcome, ReportOutcome::Success);
    report
}

#[test]
fn validate_into_closed_pipes_never_panics() {
    let validate = |format: &str| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_warrant"));
        command.current_dir(env!("CARGO_MANIFEST_DIR")).args([
            "validate",
            "examples/invalid",
            "--format",
            format,
        ]);
        command
    };
    for format in ["text", "json"] {
        let (code, stderr) = run(validate(format), Stderr::Captured);
        assert_eq!(code, 1, "{format}: invalid manifests\n{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        let (code, _) = run(validate(format), Stderr::Closed);
        assert_eq!(code, 1, "{format} with stderr closed: 101 would be a panic");
    }
}
