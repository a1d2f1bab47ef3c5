//! Signals while a Mist create is in flight, against the sandbox over real HTTP, with the
//! `warrant` binary as a process: SIGTERM is handled like a first Ctrl-C (the create finishes,
//! its key reaches its sink, the report is written); a second SIGINT waits, bounded, for the
//! create and its sink; when that wait runs out (or a third signal ends it), the report and
//! the next plan name the token as needing rotation, until `warrant journal resolve`; after a
//! SIGKILL the journal's intents alone make the next plan name them.
//!
//! The world is the example's Mist organization: two tokens to create (`installer-app` and
//! `noc-automation`, keys to `keys/NAME.key`), in one batch. Every Mist request is slowed down,
//! and the signals are sent once the journal holds both creates' intents: they are then under
//! way (the re-list by name, then the POSTs).

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{
    ATLAN_KEY, World, assert_nothing_lost, example_manifests, find_object, object_of, wait_at_most,
};
use warrant::apply::{ApplyReport, ReportOutcome, Status};
use warrant::sandbox::{Faults, Seed};

const TOKENS: [&str; 2] = ["installer-app", "noc-automation"];

/// The example world with only its targets and Mist tokens declared.
async fn mist_world() -> World {
    let files: Vec<(String, String)> = example_manifests()
        .into_iter()
        .filter(|(name, _)| name == "targets.yaml" || name == "mist.yaml")
        .collect();
    World::start(Seed::example(), &files).await
}

fn journal(world: &World) -> PathBuf {
    world.dir().join(".warrant/journal.jsonl")
}

fn key_file(world: &World, token: &str) -> PathBuf {
    world.keys().join(format!("{token}.key"))
}

/// A running `warrant apply plan.json`, its stderr collected on a thread.
struct Running {
    child: Child,
    stderr: std::thread::JoinHandle<String>,
}

impl Running {
    fn start(world: &World, extra: &[&str]) -> Running {
        let mut command = world.command(ATLAN_KEY);
        command
            .args(["apply", "plan.json", "--report", "report.json"])
            .args(extra)
            .args(world.endpoint_args())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let mut err = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            text
        });
        Running { child, stderr }
    }

    fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .args([name, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    /// Waits (bounded) until the journal holds the intent of the create: it is under way.
    fn wait_for_intent(&mut self, world: &World) {
        let started = Instant::now();
        loop {
            let text = std::fs::read_to_string(journal(world)).unwrap_or_default();
            let intents = text.lines().filter(|l| l.contains("\"record\":\"intent\""));
            if intents.count() == TOKENS.len() {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the apply ended before its create began: {status:?}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no intent in the journal"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits for the end; returns the exit code, stdout and stderr.
    fn finish(mut self, bound: Duration) -> (Option<i32>, String, String) {
        let status = wait_at_most(&mut self.child, bound);
        let mut stdout = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        (status.code(), stdout, self.stderr.join().unwrap())
    }
}

fn report(world: &World) -> ApplyReport {
    let text = std::fs::read_to_string(world.dir().join("report.json")).expect("no report");
    serde_json::from_str(&text).unwrap()
}

/// Plans with the sandbox at full speed, then slows every Mist request to `latency`.
fn plan_then_slow_down(world: &World, latency: &str) {
    let out = world.warrant_live(&["plan", "manifests", "--out", "plan.json"]);
    assert_eq!(out.code, 0, "{out:#?}");
    for token in TOKENS {
        assert!(out.stdout.contains(token), "{}", out.stdout);
    }
    world
        .sandbox
        .set_faults(format!("mist.latency={latency}").parse::<Faults>().unwrap());
}

/// After the run: each key reached its file, no output or report holds it, the journal has
/// nothing open, and a fresh plan has nothing left to do.
fn assert_keys_delivered_and_converged(world: &World, outputs: &[&str]) {
    let report_text = std::fs::read_to_string(world.dir().join("report.json")).unwrap();
    let journal_text = std::fs::read_to_string(journal(world)).unwrap();
    for token in TOKENS {
        let key = std::fs::read_to_string(key_file(world, token))
            .unwrap_or_else(|e| panic!("the key file of {token} was not written: {e}"));
        assert!(!key.trim().is_empty());
        for text in outputs
            .iter()
            .copied()
            .chain([&*report_text, &*journal_text])
        {
            assert!(!text.contains(key.trim()), "the key leaked: {text}");
        }
        assert_eq!(tokens_named(world, token), 1, "{token}");
    }
    world.sandbox.set_faults(Faults::default());
    let out = world.warrant(&["journal"]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(out.stdout.contains("No open records"), "{}", out.stdout);
    let out = world.warrant_live(&["plan", "manifests", "--detailed-exitcode"]);
    assert_eq!(out.code, 0, "the plan still has work: {out:#?}");
}

fn tokens_named(world: &World, name: &str) -> usize {
    let state = world.sandbox.state();
    state["mist"]["orgs"][0]["apiTokens"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["name"] == name)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_mist_create_lets_it_deliver_its_key_and_writes_the_report() {
    let world = mist_world().await;
    let before = world.sandbox.state();
    plan_then_slow_down(&world, "400ms");

    let mut run = Running::start(&world, &[]);
    run.wait_for_intent(&world);
    run.signal("-TERM");
    let (code, stdout, stderr) = run.finish(Duration::from_secs(120));

    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr
            .contains("interrupted: finishing the writes in flight, starting nothing new (SIGTERM"),
        "{stderr}"
    );
    assert!(stdout.contains("Apply interrupted"), "{stdout}");
    let report = report(&world);
    assert!(report.interrupted);
    assert_eq!(report.outcome, ReportOutcome::Failure);
    // The batch in flight finished: created, keys delivered, read back.
    for token in TOKENS {
        assert_eq!(
            object_of(&report, token).status,
            Status::Applied,
            "{report:#?}"
        );
    }
    assert_keys_delivered_and_converged(&world, &[&stdout, &stderr]);
    assert_nothing_lost(&before, &world.sandbox.state());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sigint_during_a_mist_create_waits_for_the_key_to_reach_its_sink() {
    let world = mist_world().await;
    let before = world.sandbox.state();
    plan_then_slow_down(&world, "700ms");

    let mut run = Running::start(&world, &[]);
    run.wait_for_intent(&world);
    run.signal("-INT");
    std::thread::sleep(Duration::from_millis(100));
    run.signal("-INT");
    let (code, stdout, stderr) = run.finish(Duration::from_secs(120));

    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("interrupted again: no new create starts; waiting up to 30s for the create(s) in flight to return and hand their keys to their sinks: mist-prod/installer-app, mist-prod/noc-automation"),
        "{stderr}"
    );
    assert!(
        stderr.contains("the creates in flight have settled; stopping now"),
        "{stderr}"
    );
    let report = report(&world);
    assert!(report.interrupted);
    assert_eq!(report.outcome, ReportOutcome::Failure);
    for name in TOKENS {
        let token = object_of(&report, name);
        // Stopped before the creates were read back, or (rarely) the run ended on its own
        // first.
        assert!(
            matches!(token.status, Status::Unfinished | Status::Applied),
            "{token:#?}"
        );
        if token.status == Status::Unfinished {
            assert!(
                token
                    .reasons
                    .iter()
                    .any(|r| r.to_string().contains("its key reached its sink")),
                "{token:#?}"
            );
        }
        assert!(token.action_required.is_none(), "{token:#?}");
    }
    assert_keys_delivered_and_converged(&world, &[&stdout, &stderr]);
    assert_nothing_lost(&before, &world.sandbox.state());
}

/// The wait for the create is bounded (`--key-wait`), or ended by a third signal: then the
/// token may exist without its key, and nothing lets that pass silently.
async fn stopped_before_the_create_returned(stop: &str) {
    let world = mist_world().await;
    let before = world.sandbox.state();
    plan_then_slow_down(&world, "3s");

    let extra: &[&str] = if stop == "key-wait" {
        &["--key-wait", "1"]
    } else {
        &[]
    };
    let mut run = Running::start(&world, extra);
    run.wait_for_intent(&world);
    run.signal("-INT");
    std::thread::sleep(Duration::from_millis(100));
    let second = Instant::now();
    run.signal("-INT");
    if stop == "third signal" {
        std::thread::sleep(Duration::from_millis(300));
        run.signal("-INT");
    }
    let (code, stdout, stderr) = run.finish(Duration::from_secs(120));
    let took = second.elapsed();

    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(
        took < Duration::from_secs(15),
        "{stop}: exiting took {took:?} after the second signal"
    );
    let why = match stop {
        "key-wait" => "waited 1s for the creates in flight; stopping now",
        _ => "interrupted once more: stopping without waiting",
    };
    assert!(stderr.contains(why), "{stderr}");

    // The report names each token as needing rotation, and so does the summary on stdout.
    let report = report(&world);
    assert!(report.interrupted);
    world.sandbox.set_faults(Faults::default());
    let plan = world.warrant_live(&["plan", "manifests"]);
    assert_eq!(plan.code, 1, "{plan:#?}");
    let listed = world.warrant(&["journal"]);
    for name in TOKENS {
        let token = object_of(&report, name);
        assert_eq!(token.status, Status::Failed, "{token:#?}");
        let error = token.error.as_deref().unwrap_or_default();
        assert!(
            error.contains(&format!("a token named {name} may have been created by an interrupted apply; its key was not captured")),
            "{error}"
        );
        let todo = token.action_required.as_deref().unwrap_or_default();
        assert!(todo.contains(&format!("rotate token {name}")), "{todo}");
        assert!(
            stdout.contains(&format!("action required: OrgApiToken/{name}")),
            "{stdout}"
        );
        assert!(
            !key_file(&world, name).exists(),
            "no key can have been delivered"
        );
        // The next plan names it as a conflict, however far the create got; so does the
        // journal's list.
        assert!(
            plan.stdout.contains(&format!(
                "a token named {name} may have been created by an interrupted apply"
            )),
            "{}",
            plan.stdout
        );
        assert!(
            listed.stdout.contains(&format!("mist-prod/{name}")),
            "{}",
            listed.stdout
        );
    }
    assert!(
        plan.stdout.contains("its key was not captured; rotate it"),
        "{}",
        plan.stdout
    );

    // A human rotates them (deletes each one that was created) and resolves the records;
    // then apply creates them again and the new keys arrive.
    for name in TOKENS {
        if let Some(id) = find_object(&world.sandbox.state(), "name", name)
            .and_then(|t| t["id"].as_str())
            .map(str::to_string)
        {
            delete_token(&world, &id).await;
        }
    }
    let out = world.warrant(&[
        "journal",
        "resolve",
        "mist-prod/installer-app",
        "mist-prod/noc-automation",
    ]);
    assert_eq!(out.code, 0, "{out:#?}");
    for name in TOKENS {
        assert!(
            out.stdout.contains(&format!("resolved mist-prod/{name}")),
            "{}",
            out.stdout
        );
    }
    let out = world.warrant_live(&[
        "apply",
        "manifests",
        "--auto-approve",
        "--report",
        "report.json",
    ]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert_keys_delivered_and_converged(&world, &[&out.stdout, &out.stderr]);
    assert_nothing_lost(&before, &world.sandbox.state());
}

/// Deletes a Mist token through the sandbox's API, as a human in the Mist portal would.
async fn delete_token(world: &World, id: &str) {
    let base = &world.live.endpoints["mist-prod"];
    let response = reqwest::Client::new()
        .delete(format!(
            "{base}/api/v1/orgs/{}/apitokens/{id}",
            crate::support::ORG
        ))
        .header(
            "Authorization",
            format!("Token {}", crate::support::MIST_KEY),
        )
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{response:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_key_wait_runs_out_the_report_and_the_next_plan_name_the_token_to_rotate() {
    stopped_before_the_create_returned("key-wait").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_signal_ends_the_wait_and_the_token_is_still_named_for_rotation() {
    stopped_before_the_create_returned("third signal").await;
}

/// SIGKILL cannot be handled: nothing more is written, but the intents were on disk before
/// the creates were sent, so the next plan names both tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sigkill_during_a_mist_create_the_next_plan_names_the_tokens_to_rotate() {
    let world = mist_world().await;
    plan_then_slow_down(&world, "700ms");

    let mut run = Running::start(&world, &[]);
    run.wait_for_intent(&world);
    run.signal("-KILL");
    let (code, _, _) = run.finish(Duration::from_secs(60));
    assert_eq!(code, None, "killed by a signal");
    // The report file was opened (checked writable) first, and never written.
    let left = std::fs::read_to_string(world.dir().join("report.json")).unwrap_or_default();
    assert!(left.is_empty(), "{left}");

    world.sandbox.set_faults(Faults::default());
    let plan = world.warrant_live(&["plan", "manifests"]);
    assert_eq!(plan.code, 1, "{plan:#?}");
    for name in TOKENS {
        assert!(
            plan.stdout.contains(&format!(
                "a token named {name} may have been created by an interrupted apply"
            )),
            "{}",
            plan.stdout
        );
    }
    // The lock died with the process: the next apply is not refused for it, only the two
    // tokens are (their records are open).
    let out = world.warrant_live(&["apply", "plan.json", "--report", "report.json"]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(
        !out.stderr.contains("another warrant process"),
        "{}",
        out.stderr
    );
    let report = report(&world);
    for name in TOKENS {
        assert_eq!(object_of(&report, name).status, Status::Refused);
    }
}
