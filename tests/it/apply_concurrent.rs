//! Two applies of one plan at the same time on one machine, against the sandbox: the second
//! finds the first one's target lock, is refused before any request with a message naming
//! the lock and its holder, and writes no report; the first applies everything once. No
//! object is created twice. `warrant journal resolve` is refused the same way while the apply
//! runs (it could close the intent of a create in flight).

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{ATLAN_KEY, World, assert_nothing_lost, wait_at_most};
use warrant::apply::{ApplyReport, ReportOutcome};
use warrant::sandbox::Faults;

fn named(state: &serde_json::Value, list: &str, name: &str) -> usize {
    fn walk(v: &serde_json::Value, list: &str, name: &str, n: &mut usize) {
        match v {
            serde_json::Value::Object(map) => {
                if let Some(items) = map.get(list).and_then(|l| l.as_array()) {
                    *n += items.iter().filter(|i| i["name"] == name).count();
                }
                map.values().for_each(|v| walk(v, list, name, n));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, list, name, n)),
            _ => {}
        }
    }
    let mut n = 0;
    walk(state, list, name, &mut n);
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_apply_of_the_same_plan_is_refused_while_the_first_holds_the_lock() {
    let world = World::example().await;
    let before = world.sandbox.state();
    let out = world.warrant_live(&["plan", "manifests", "--out", "plan.json"]);
    assert_eq!(out.code, 0, "{out:#?}");
    // Slow enough that the first apply is still running while the second starts.
    world
        .sandbox
        .set_faults("latency=300ms".parse::<Faults>().unwrap());
    let requests_after_plan: u64 = world.sandbox.request_counts().values().sum();

    let mut first = world.command(ATLAN_KEY);
    first
        .args(["apply", "plan.json", "--report", "first.json"])
        .args(world.endpoint_args())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut first = first.spawn().unwrap();

    // Under way: its lock file names it, and it has sent a request.
    let lock = world.dir().join(".warrant/lock-mist-prod");
    let pid = first.id().to_string();
    let started = Instant::now();
    loop {
        let holder = std::fs::read_to_string(&lock).unwrap_or_default();
        let sent: u64 = world.sandbox.request_counts().values().sum();
        if holder.trim() == pid && sent > requests_after_plan {
            break;
        }
        if let Some(status) = first.try_wait().unwrap() {
            panic!("the first apply ended before the second started: {status:?}");
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no lock taken");
        std::thread::sleep(Duration::from_millis(5));
    }

    let second = world.warrant_live(&["apply", "plan.json", "--report", "second.json"]);
    let resolve = world.warrant(&["journal", "resolve", "mist-prod/installer-app"]);
    let status = wait_at_most(&mut first, Duration::from_secs(120));

    assert_eq!(second.code, 1, "{second:#?}");
    assert!(
        second
            .stderr
            .contains("another warrant process is applying to target"),
        "{}",
        second.stderr
    );
    assert!(
        second.stderr.contains(&format!("(pid {pid})"))
            && second
                .stderr
                .contains("this apply was refused before any request, nothing was changed"),
        "{}",
        second.stderr
    );
    assert!(
        !world.dir().join("second.json").exists(),
        "the refused apply left a report"
    );
    assert_eq!(resolve.code, 1, "{resolve:#?}");
    assert!(
        resolve
            .stderr
            .contains("another warrant process is applying to target mist-prod"),
        "{}",
        resolve.stderr
    );

    assert_eq!(status.code(), Some(0), "the first apply failed");
    let report: ApplyReport =
        serde_json::from_str(&std::fs::read_to_string(world.dir().join("first.json")).unwrap())
            .unwrap();
    assert_eq!(report.outcome, ReportOutcome::Success);

    // Each object the plan creates exists once.
    let state = world.sandbox.state();
    for (list, name) in [
        ("apiTokens", "installer-app"),
        ("apiTokens", "noc-automation"),
        ("automationIdentities", "ingress-pipeline"),
    ] {
        assert_eq!(named(&state, list, name), 1, "{name}");
    }
    assert_nothing_lost(&before, &state);

    // With the first one done, the lock is free again.
    world.sandbox.set_faults(Faults::default());
    let out = world.warrant_live(&["plan", "manifests", "--detailed-exitcode"]);
    assert_eq!(out.code, 0, "{out:#?}");
    let out = world.warrant(&["journal"]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(out.stdout.contains("No open records"), "{}", out.stdout);
}
