//! `warrant apply` as a process: refusals before any request, the report file, and exit
//! codes; and against the sandbox over real HTTP, the `--manifests` digest check, the
//! `--auto-approve` path and Ctrl-C (SIGINT) half way through a run.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{ATLAN_KEY, Output, World, assert_nothing_lost, generated, wait_at_most};
use warrant::apply::{ApplyReport, ReportOutcome, Status};
use warrant::sandbox::Faults;

use warrant::model::{
    Address, CreateRule, DesiredField, DesiredObject, FieldPolicy, LiveState, Reason, SmallMap,
};
use warrant::plan::file::PlanFile;
use warrant::plan::{FORMAT_VERSION, Plan, Summary, diff};

use crate::support::acme::AUTOMATION_IDENTITY;

fn desired(name: &str, create: CreateRule) -> DesiredObject {
    DesiredObject {
        address: Address {
            kind: AUTOMATION_IDENTITY,
            name: name.into(),
            target: "nowhere".into(),
            remote_key: name.into(),
        },
        fields: SmallMap::from([(
            "roleIds".into(),
            DesiredField {
                policy: FieldPolicy::Append,
                values: ["r1".to_string()].into(),
                max_items: None,
            },
        )]),
        create,
        labels: SmallMap::new(),
        problems: Vec::new(),
        key_sink: None,
        route: None,
        adopt: Default::default(),
    }
}

/// A plan against no target: creates (when `CreateRule::Allowed`) or conflicts.
fn plan(objects: &[(&str, CreateRule)]) -> PlanFile {
    let changes: Vec<_> = objects
        .iter()
        .map(|(n, c)| diff(&desired(n, c.clone()), &LiveState::Absent))
        .collect();
    let plan = Plan {
        plan_id: String::new(),
        format_version: FORMAT_VERSION,
        warrant_version: env!("CARGO_PKG_VERSION").into(),
        created_at: "2025-01-01T00:00:00Z".into(),
        git_commit: None,
        desired_digest: "sha256:x".into(),
        manifests: vec!["manifests".into()],
        targets: BTreeMap::new(),
        only: Vec::new(),
        warnings: Vec::new(),
        summary: Summary::of(&changes),
        changes,
    };
    crate::support::sealed(plan)
}

/// The manifests the plans above record: one Target, nothing else.
fn write_manifests(dir: &Path) {
    std::fs::create_dir_all(dir.join("manifests")).unwrap();
    std::fs::write(
        dir.join("manifests/targets.yaml"),
        "apiVersion: warrant/v1\nkind: Target\nmetadata: {name: nowhere}\nspec:\n  connect: {tenantId: 7fc97c8b-8f60-4f29-af71-3178c414e7a0}\n",
    )
    .unwrap();
}

/// Writes `value` as `warrant plan --out` lays a plan file out (pretty JSON, a final newline),
/// so a plan that was not edited keeps a matching `plan_id`.
fn write_plan(dir: &Path, value: &serde_json::Value) -> std::path::PathBuf {
    let path = dir.join("plan.json");
    std::fs::write(&path, serde_json::to_string_pretty(value).unwrap() + "\n").unwrap();
    path
}

fn warrant(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_warrant"))
        .current_dir(dir)
        .arg("apply")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_plan_file_of_another_format_version_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let mut value = serde_json::to_value(plan(&[("x", CreateRule::Allowed)])).unwrap();
    value["format_version"] = 99.into();
    value["changes"] = "a shape this version does not know".into();
    let path = write_plan(dir.path(), &value);

    let (code, _, stderr) = warrant(dir.path(), &[path.to_str().unwrap()]);

    assert_eq!(code, 1);
    assert!(stderr.contains("format_version 99"), "{stderr}");
    assert!(stderr.contains("make the plan again"), "{stderr}");
}

#[test]
fn max_changes_refuses_the_plan_file_before_opening_targets() {
    let dir = tempfile::tempdir().unwrap();
    let value = serde_json::to_value(plan(&[
        ("x", CreateRule::Allowed),
        ("y", CreateRule::Allowed),
    ]))
    .unwrap();
    let path = write_plan(dir.path(), &value);

    let (code, _, stderr) = warrant(dir.path(), &[path.to_str().unwrap(), "--max-changes", "1"]);

    assert_eq!(code, 1);
    assert!(
        stderr.contains("2 creates and updates, more than --max-changes 1"),
        "{stderr}"
    );
}

#[test]
fn conflicts_are_skipped_reported_and_fail_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let value = serde_json::to_value(plan(&[(
        "x",
        CreateRule::Never(Reason::Unresolved("connection not found".into())),
    )]))
    .unwrap();
    let path = write_plan(dir.path(), &value);
    write_manifests(dir.path());

    let (code, stdout, stderr) = warrant(
        dir.path(),
        &[path.to_str().unwrap(), "--report", "report.json"],
    );

    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout
            .contains("conflict-skipped  AutomationIdentity/x (nowhere: x): connection not found"),
        "{stdout}"
    );
    assert!(stdout.contains("1 conflict-skipped"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(report["outcome"], "failure");
    assert_eq!(report["objects"][0]["status"], "conflict-skipped");
    assert_eq!(report["plan_desired_digest"], "sha256:x");
}

#[test]
fn a_single_file_that_is_neither_yaml_nor_a_plan_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "hello").unwrap();
    let (code, _, stderr) = warrant(dir.path(), &["notes.txt"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("neither a manifest"), "{stderr}");
}

#[test]
fn manifests_without_a_terminal_or_auto_approve_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("manifests")).unwrap();
    let (code, _, stderr) = warrant(dir.path(), &["manifests"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("--auto-approve"), "{stderr}");
}

// ---- Against the sandbox, over real HTTP ----

/// Runs `warrant ARGS` in the world's scratch directory, endpoints pointing at the sandbox
/// and credentials in the subprocess environment only.
fn warrant_live(world: &World, args: &[&str]) -> Output {
    world.warrant_live(args)
}

fn credentialed(world: &World, args: &[String]) -> Command {
    let mut command = world.command(ATLAN_KEY);
    command.args(args).args(world.endpoint_args());
    command
}

fn read_report(world: &World, name: &str) -> ApplyReport {
    let text = std::fs::read_to_string(world.dir().join(name))
        .unwrap_or_else(|e| panic!("no report {name}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// Asserts a fresh plan of the world's manifests has nothing to do (plan exit 0 with
/// `--detailed-exitcode`).
fn assert_plan_converged(world: &World) {
    let out = warrant_live(world, &["plan", "manifests", "--detailed-exitcode"]);
    assert_eq!(out.code, 0, "the plan still has changes: {out:#?}");
}

/// A manifest merged after the plan adds an object: the reviewed objects still apply, the new
/// one is reported as not in the reviewed plan and left alone (the whole-manifest digest is
/// information only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_declared_after_the_plan_is_left_out_and_the_reviewed_ones_apply() {
    let world = World::example().await;
    let out = warrant_live(&world, &["plan", "manifests", "--out", "plan.json"]);
    assert_eq!(out.code, 0, "{out:#?}");

    let connect = world.manifest_dir().join("connect.yaml");
    let original = std::fs::read_to_string(&connect).unwrap();
    std::fs::write(
        &connect,
        format!(
            "{original}\n---\napiVersion: warrant/v1\nkind: AutomationIdentity\nmetadata: {{name: added-after-review}}\nspec:\n  target: connect-prod\n  roles: [Tenant Member]\n"
        ),
    )
    .unwrap();

    let out = warrant_live(
        &world,
        &[
            "apply",
            "plan.json",
            "--manifests",
            "manifests",
            "--report",
            "report.json",
        ],
    );

    assert_eq!(out.code, 0, "{out:#?}");
    assert!(
        out.stderr.contains("the manifests changed since plan"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.contains(
            "not-in-plan  AutomationIdentity/added-after-review (connect-prod: added-after-review): not in the reviewed plan; left untouched"
        ),
        "{}",
        out.stdout
    );
    let report = read_report(&world, "report.json");
    assert_eq!(report.outcome, ReportOutcome::Success);
    assert_eq!(report.counts.get(&Status::NotInPlan), Some(&1));
    assert!(report.counts.get(&Status::Applied).copied().unwrap_or(0) >= 4);
    assert!(
        crate::support::find_object(&world.sandbox.state(), "name", "added-after-review").is_none(),
        "an object the plan does not name is never created"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_manifests_with_auto_approve_shows_the_plan_applies_without_asking() {
    let world = World::example().await;
    let before = world.sandbox.state();

    let out = warrant_live(
        &world,
        &[
            "apply",
            "manifests",
            "--auto-approve",
            "--report",
            "report.json",
        ],
    );

    assert_eq!(out.code, 0, "{out:#?}");
    // The plan is shown first, then one line per object and the summary; no question.
    let shown = out
        .stdout
        .find("ConnectionAdmins/snowflake-prod")
        .expect("the plan is shown");
    let summary = out.stdout.find("Apply complete").expect("a summary");
    assert!(shown < summary, "{}", out.stdout);
    assert!(!out.stdout.contains("Only 'yes'"), "{}", out.stdout);
    let report = read_report(&world, "report.json");
    assert_eq!(report.outcome, ReportOutcome::Success);
    assert!(!report.interrupted);
    assert!(
        report.counts.get(&Status::Applied).copied().unwrap_or(0) >= 4,
        "{:?}",
        report.counts
    );
    assert_nothing_lost(&before, &world.sandbox.state());
    assert_plan_converged(&world);
}

/// Ctrl-C as a user presses it: SIGINT to the process once the first objects are done.
/// The batches in flight finish, nothing new starts, the report is written, exit 1; a second
/// plan and apply converge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_finishes_what_is_in_flight_writes_the_report_and_exits_1() {
    // 24 identities are three CONNECT batches of 8 (at --parallelism 1), about a second each at
    // 50 ms per request, so whichever target finishes an object first, later CONNECT batches
    // are still waiting when the signal arrives. (Atlan's 24 connections are only two batches:
    // batches are whole bulk requests of 20.)
    let g = generated(24, 24, 4);
    let world = World::start(g.seed, &g.files).await;
    let before = world.sandbox.state();
    let out = warrant_live(&world, &["plan", "manifests", "--out", "plan.json"]);
    assert_eq!(out.code, 0, "{out:#?}");
    // Slow enough that the run is still going when the signal arrives: one request at a time
    // per target, 50 ms each.
    world
        .sandbox
        .set_faults("latency=50ms".parse::<Faults>().unwrap());

    let args: Vec<String> = [
        "apply",
        "plan.json",
        "--parallelism",
        "1",
        "--report",
        "report.json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut child = credentialed(&world, &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut stderr = child.stderr.take().unwrap();
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });

    // The first finished object means the run (and its Ctrl-C handler) is under way.
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(!first.is_empty(), "the apply printed nothing");
    let pid = child.id().to_string();
    let kill = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(kill.success());

    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let status = wait_at_most(&mut child, Duration::from_secs(120));
    let stderr = stderr_reader.join().unwrap();
    let stdout = first + &rest;

    assert_eq!(status.code(), Some(1), "{status:?}\n{stdout}\n{stderr}");
    assert!(
        stderr.contains("interrupted: finishing the writes in flight, starting nothing new"),
        "{stderr}"
    );
    assert!(stdout.contains("Apply interrupted"), "{stdout}");
    let report = read_report(&world, "report.json");
    assert!(report.interrupted);
    assert_eq!(report.outcome, ReportOutcome::Failure);
    let count = |s: Status| report.counts.get(&s).copied().unwrap_or(0);
    assert!(
        count(Status::Applied) > 0 && count(Status::NotAttempted) > 0,
        "{:?}",
        report.counts
    );
    // Every object that was started finished: none failed half way.
    assert_eq!(count(Status::Failed), 0, "{:#?}", report.objects);

    world.sandbox.set_faults(Faults::default());
    let out = warrant_live(&world, &["plan", "manifests", "--out", "plan2.json"]);
    assert_eq!(out.code, 0, "{out:#?}");
    let out = warrant_live(&world, &["apply", "plan2.json", "--report", "report2.json"]);
    assert_eq!(out.code, 0, "{out:#?}");
    let second = read_report(&world, "report2.json");
    assert_eq!(
        second.counts.get(&Status::Applied).copied().unwrap_or(0),
        count(Status::NotAttempted),
        "{:?}",
        second.counts
    );
    assert_plan_converged(&world);
    assert_nothing_lost(&before, &world.sandbox.state());
}

/// Ctrl-C after the last batch has started: every object still finishes and is applied, but
/// the run was interrupted, so it must not exit 0 as if nobody had pressed it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_after_the_last_batch_started_still_exits_1() {
    let world = World::example().await;
    // One batch per target (the example is small); 200 ms per request keeps them in flight.
    world
        .sandbox
        .set_faults("latency=200ms".parse::<Faults>().unwrap());
    let args: Vec<String> = [
        "apply",
        "manifests",
        "--auto-approve",
        "--report",
        "report.json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut child = credentialed(&world, &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // A write to every target comes after the plan, the apply's resolution and its re-read:
    // the run is well under way and every target's only batch has started.
    let started = std::time::Instant::now();
    let writing = |prefix: &str| {
        world
            .sandbox
            .request_counts()
            .keys()
            .any(|k| k.starts_with(prefix))
    };
    while !(writing("atlan POST /api/meta/entity/bulk")
        && (writing("connect POST /api/v1") || writing("connect PUT"))
        && writing("mist POST"))
    {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the apply ended before every target wrote: {status:?}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no write to every target seen"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = wait_at_most(&mut child, Duration::from_secs(120));
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();

    assert_eq!(status.code(), Some(1), "{status:?}\n{stdout}");
    let report = read_report(&world, "report.json");
    assert!(report.interrupted);
    assert_eq!(report.outcome, ReportOutcome::Failure);
    let count = |s: Status| report.counts.get(&s).copied().unwrap_or(0);
    assert_eq!(count(Status::NotAttempted), 0, "{:?}", report.counts);
    assert_eq!(count(Status::Failed), 0, "{:#?}", report.objects);
    assert!(count(Status::Applied) >= 4, "{:?}", report.counts);
    assert!(stdout.contains("Apply interrupted"), "{stdout}");

    world.sandbox.set_faults(Faults::default());
    assert_plan_converged(&world);
}

/// Credentials go to https, or plain http on loopback only: `--endpoint` too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_with_plain_http_to_another_host_is_refused_before_any_request() {
    let world = World::example().await;
    let requests = world.sandbox.request_counts();
    for command in ["plan", "apply"] {
        let mut args = vec![
            command,
            "manifests",
            "--endpoint",
            "atlan-prod=http://198.51.100.7",
        ];
        if command == "apply" {
            args.push("--auto-approve");
        }
        let out = world.warrant(&args);
        assert_eq!(out.code, 1, "{out:#?}");
        assert!(
            out.stderr.contains(
                "--endpoint atlan-prod=http://198.51.100.7: the URL must use https (plain http only for loopback hosts)"
            ),
            "{}",
            out.stderr
        );
    }
    // A user part is a secret: refused without being quoted.
    let out = world.warrant(&[
        "plan",
        "manifests",
        "--endpoint",
        "atlan-prod=https://user:hunter2-secret@acme.atlan.com",
    ]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(!out.stderr.contains("hunter2-secret"), "{}", out.stderr);
    assert_eq!(world.sandbox.request_counts(), requests);

    // The library applies the same rule to every client it opens.
    let mut live = world.live.clone();
    live.endpoints
        .insert("atlan-prod".into(), "http://example.com".into());
    let errors = match warrant::plan::gather::open_session(&world.manifests, &[], &live) {
        Err(warrant::plan::gather::PlanError::Platform(errors)) => errors,
        other => panic!("{:?}", other.map(|_| "a session")),
    };
    assert!(
        errors[0].to_string().contains("must use https"),
        "{errors:?}"
    );
}

/// Without `--manifests`, apply loads the paths the plan records — untrusted like the rest of
/// the plan — only from inside the repository.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_manifest_paths_outside_the_repository_or_not_yaml_are_refused() {
    let world = World::example().await;
    let mut plan = world.plan(&world.session()).await;
    let requests = world.sandbox.request_counts();
    std::fs::write(world.dir().join("notes.txt"), "not a manifest").unwrap();
    for (recorded, why) in [
        ("../elsewhere", "which is not inside the repository root"),
        ("/etc/warrant", "which is not inside the repository root"),
        (
            "manifests/../../elsewhere",
            "which is not inside the repository root",
        ),
        ("notes.txt", "which is not a .yaml or .yml file"),
    ] {
        plan.manifests = vec![recorded.to_string()];
        plan.seal();
        warrant::plan::file::write(&world.dir().join("plan.json"), &plan).unwrap();
        let out = warrant_live(&world, &["apply", "plan.json"]);
        assert_eq!(out.code, 1, "{out:#?}");
        assert!(out.stderr.contains(why), "{}", out.stderr);
    }
    assert_eq!(world.sandbox.request_counts(), requests);
}

/// In a git repository the recorded paths may lead only to files git tracks: a plan cannot
/// bring its own manifests (say, unpacked from the same artifact).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_manifest_paths_load_only_files_git_tracks() {
    let world = World::example().await;
    let git = |args: &[&str]| {
        let status = Command::new("git")
            .current_dir(world.dir())
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    };
    git(&["init", "-q"]);
    git(&["add", "manifests"]);
    let plan = world.plan(&world.session()).await;
    warrant::plan::file::write(&world.dir().join("plan.json"), &plan).unwrap();
    std::fs::write(
        world.manifest_dir().join("smuggled.yaml"),
        "apiVersion: warrant/v1\nkind: AutomationIdentity\nmetadata: {name: smuggled}\nspec:\n  target: connect-prod\n  roles: [Tenant Administrator]\n",
    )
    .unwrap();
    let requests = world.sandbox.request_counts();

    let out = warrant_live(&world, &["apply", "plan.json"]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(out.stderr.contains("git does not track"), "{}", out.stderr);
    assert!(out.stderr.contains("smuggled.yaml"), "{}", out.stderr);
    assert_eq!(world.sandbox.request_counts(), requests);

    // Tracked, it is part of the repository's manifests (and not in the reviewed plan).
    git(&["add", "manifests"]);
    let out = warrant_live(&world, &["apply", "plan.json"]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(
        out.stdout
            .contains("not-in-plan  AutomationIdentity/smuggled"),
        "{}",
        out.stdout
    );
}
