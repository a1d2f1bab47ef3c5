//! A stdout (and stderr) whose reader has gone, as in `warrant plan … | head -1`: every
//! command ends quietly with the exit code it would have had, never panics, and `apply` still
//! writes its `--report`. The pipes are made with no reader at all before warrant starts, so
//! the very first write meets a closed pipe whatever the timing.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::e2e_apply_support::{
    ATLAN_KEY, CONNECT_ID, CONNECT_SECRET, MIST_KEY, World, assert_nothing_lost,
};
use warrant::apply::{ApplyReport, ReportOutcome};

/// Where a stream of the child goes.
#[derive(Clone, Copy, PartialEq)]
enum Stream {
    /// A pipe whose read end is already closed.
    Closed,
    /// Captured, to be read after the exit.
    Captured,
}

fn pipe_without_reader() -> Stdio {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    Stdio::from(writer)
}

/// Runs `warrant ARGS` in `dir` with the sandbox credentials; returns the exit code and what
/// stderr said (empty when stderr was closed too).
fn run(dir: &Path, args: &[String], stderr: Stream) -> (i32, String) {
    let capture = tempfile::NamedTempFile::new().expect("stderr file");
    let mut command = Command::new(env!("CARGO_BIN_EXE_warrant"));
    command
        .current_dir(dir)
        .args(args)
        .env("ATLAN_API_KEY", ATLAN_KEY)
        .env("CONNECT_CLIENT_ID", CONNECT_ID)
        .env("CONNECT_CLIENT_SECRET", CONNECT_SECRET)
        .env("MIST_API_TOKEN", MIST_KEY)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(pipe_without_reader())
        .stderr(match stderr {
            Stream::Closed => pipe_without_reader(),
            Stream::Captured => Stdio::from(capture.reopen().expect("reopen")),
        });
    let mut child = command.spawn().expect("warrant starts");
    let status = wait_at_most(&mut child, Duration::from_secs(60));
    let said = std::fs::read_to_string(capture.path()).unwrap_or_default();
    (status.code().unwrap_or(-1), said)
}

fn wait_at_most(child: &mut std::process::Child, bound: Duration) -> std::process::ExitStatus {
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > bound {
            let _ = child.kill();
            panic!("warrant still running after {bound:?} with a closed stdout");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn args(world: &World, args: &[&str]) -> Vec<String> {
    let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    all.extend(world.endpoint_args());
    all
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
        let plan = args(
            &world,
            &[
                "plan",
                "manifests",
                "--format",
                format,
                "--detailed-exitcode",
            ],
        );
        let (code, stderr) = run(world.dir(), &plan, Stream::Captured);
        assert_eq!(
            code, 2,
            "{format}: changes pending, as with an open stdout\n{stderr}"
        );
        assert_quiet(&stderr);
        // With stderr gone too, nothing is left to panic on.
        let (code, _) = run(world.dir(), &plan, Stream::Closed);
        assert_eq!(code, 2, "{format} with stderr closed too");
    }
    let drift = args(&world, &["drift", "manifests", "--fail-on-drift"]);
    let (code, stderr) = run(world.dir(), &drift, Stream::Captured);
    assert_eq!(code, 4, "{stderr}");
    assert_quiet(&stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_into_a_closed_pipe_applies_and_still_writes_its_report() {
    let world = World::example().await;
    let out = world.warrant(
        &args(&world, &["plan", "manifests", "--out", "plan.json"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(out.code, 0, "{out:#?}");
    let before = world.sandbox.state();

    let apply = args(&world, &["apply", "plan.json", "--report", "report.json"]);
    let (code, stderr) = run(world.dir(), &apply, Stream::Captured);

    assert_eq!(code, 0, "{stderr}");
    assert_quiet(&stderr);
    let text = std::fs::read_to_string(world.dir().join("report.json")).expect("report written");
    let report: ApplyReport = serde_json::from_str(&text).expect("a whole report");
    assert_eq!(report.outcome, ReportOutcome::Success);
    assert!(report.objects.len() >= 5, "{report:#?}");
    assert_nothing_lost(&before, &world.sandbox.state());
    let again = world.warrant(
        &args(&world, &["plan", "manifests", "--detailed-exitcode"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(again.code, 0, "applied for real: {again:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_with_stdout_and_stderr_closed_still_writes_its_report() {
    let world = World::example().await;
    let out = world.warrant(
        &args(&world, &["plan", "manifests", "--out", "plan.json"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(out.code, 0, "{out:#?}");

    let apply = args(&world, &["apply", "plan.json", "--report", "report.json"]);
    let (code, _) = run(world.dir(), &apply, Stream::Closed);

    assert_eq!(code, 0);
    let text = std::fs::read_to_string(world.dir().join("report.json")).expect("report written");
    let report: ApplyReport = serde_json::from_str(&text).expect("a whole report");
    assert_eq!(report.outcome, ReportOutcome::Success);
}

#[test]
fn validate_into_closed_pipes_never_panics() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for format in ["text", "json"] {
        let validate: Vec<String> = ["validate", "examples/invalid", "--format", format]
            .iter()
            .map(|a| a.to_string())
            .collect();
        let (code, stderr) = run(root, &validate, Stream::Captured);
        assert_eq!(code, 1, "{format}: invalid manifests\n{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        let (code, _) = run(root, &validate, Stream::Closed);
        assert_eq!(code, 1, "{format} with stderr closed: 101 would be a panic");
    }
}
