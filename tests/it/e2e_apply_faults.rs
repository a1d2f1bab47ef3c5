//! End to end under faults, on a world larger than the example (50 connections, 50
//! identities, 20 Mist tokens): 5xx, bursts of 429 with Retry-After, dropped connections and a
//! foreign writer; and runs stopped half way. Under faults the one apply finishes the job (a
//! second has nothing to do); after a stopped run, running plan and apply again converges.
//! Either way nothing that was live is lost.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::support::*;
use warrant::apply::{ObjectReport, Progress, Silent, Status};
use warrant::sandbox::Faults;

/// Every fifth request fails (a 500, a 503, a dropped connection, or a 429 that starts a burst
/// of three), every fifth brings a foreign write. The sandbox never acts on a request it fails,
/// so retries absorb every fault unless one operation fails [`ATTEMPTS`] times in a row.
const FAULTS: &str =
    "p500=0.05,p503=0.05,p429=0.05,retry_after=1,burst429=3,drop=0.05,foreign=0.2,seed=";

/// Attempts per operation, sized so that "every object applied in one run" holds.
///
/// A 429 burst is counted in requests of the platform, not per operation: it fails whichever
/// requests come next. An operation left alone (the last, unlucky one of a run) pays its own
/// burst with three of its attempts; one among others pays the tail of a burst another request
/// started, typically one that waited out the same 1 s `Retry-After` and came back at the same
/// moment. Per fresh draw a request fails alone with 0.15 and starts a burst with 0.05, so an
/// operation alone fails n attempts in a row with f(n) = 0.15 f(n-1) + 0.05 f(n-3) (f(0) = 1,
/// f of less than 0 = 1): 5.8e-4 at 8 attempts (two bursts and two single faults are enough),
/// not the 0.2^6 = 6.4e-5 this test once assumed; even that, over the ~440 operations of the
/// two seeds, would fail a run in a hundred. Seen: 2 runs failed in 65 under CPU load
/// (gen-token-1 gave up after 8 attempts, three of them tails of bursts other requests
/// started). At 20 attempts f is 2.3e-8, about one failed run in 100,000; the retry budget
/// (30 s) still holds 19 waits of 1 s.
const ATTEMPTS: u32 = 20;

async fn big_world() -> World {
    let g = generated(50, 50, 20);
    let mut world = World::start(g.seed, &g.files).await;
    world.live.client.max_attempts = ATTEMPTS;
    world
}

/// Plan and apply with faults off until nothing is left (at most `rounds`), returning how
/// many rounds had work.
async fn converge(world: &World, rounds: usize) -> usize {
    world.sandbox.set_faults(Faults::default());
    for round in 0..rounds {
        let session = world.session();
        let plan = world.plan(&session).await;
        if plan
            .changes
            .iter()
            .all(|c| c.action == warrant::plan::Action::NoOp)
        {
            return round;
        }
        world.apply(&plan, &session).await;
    }
    let plan = world.plan(&world.session()).await;
    assert_converged(&plan);
    rounds
}

/// Applies the big world under `FAULTS` with `seed`, checks convergence and that nothing live
/// before the apply was lost, and returns the foreign writes that were overwritten.
async fn apply_under_faults(seed: u64) -> Vec<String> {
    {
        let world = big_world().await;
        let before = world.sandbox.state();
        let session = world.session();
        let plan = world.plan(&session).await;
        assert!(
            plan.summary.create + plan.summary.update >= 100,
            "{:?}",
            plan.summary
        );

        world
            .sandbox
            .set_faults(format!("{FAULTS}{seed}").parse().unwrap());
        let report = world.apply(&plan, &session).await;
        let faulted = world.sandbox.state();
        let foreign = faulted["foreignWrites"].as_u64().unwrap_or(0);
        assert!(foreign > 0, "the foreign writer never ran");
        let requests: Vec<String> = report
            .requests
            .iter()
            .map(|(target, counts)| format!("{target}={}", counts.total))
            .collect();
        eprintln!(
            "seed {seed}: {:?}, {foreign} foreign writes ({} on Mist), retries {}, requests {}",
            report.counts,
            mist_foreign_writes(&faulted),
            report.objects.iter().map(|o| o.retries).sum::<u32>(),
            requests.join(" ")
        );
        // Retries absorb every fault (see ATTEMPTS), and the foreign writer only adds, so
        // nothing fails and nothing is stale.
        for o in &report.objects {
            assert!(
                matches!(
                    o.status,
                    Status::Applied | Status::Rebased | Status::AlreadySatisfied | Status::NoOp
                ),
                "{} {:?} {:?} {:?}",
                o.address,
                o.status,
                o.reasons,
                o.error
            );
        }
        assert!(faulted_429s(&world).await >= 3, "no 429 burst was injected");

        let rounds = converge(&world, 3).await;
        assert_eq!(rounds, 0, "a second apply still had work");
        let after = world.sandbox.state();
        assert_nothing_lost(&before, &after);
        assert_nothing_lost(&faulted, &after);
        let gaps = foreign_gaps(&after);
        eprintln!("seed {seed}: foreign writes overwritten: {gaps:?}");
        for i in [0, 25, 49] {
            let conn = find_object(
                &after,
                "qualifiedName",
                &format!("default/gen/{:010}", 1_800_000_000u64 + i),
            )
            .unwrap();
            let admins = conn["adminUsers"].to_string();
            for user in [CI_PIPELINE, DBT_CLOUD, AIRFLOW, &format!("owner-{i}")] {
                assert!(admins.contains(user), "{i}: {user} missing in {admins}");
            }
        }
        // Every token created got its key, exactly once.
        for i in (1..20).step_by(2) {
            assert!(world.keys().join(format!("gen-token-{i}.key")).exists());
        }
        gaps
    }
}

/// 429s the sandbox injected so far, from its request log.
async fn faulted_429s(world: &World) -> usize {
    let requests: serde_json::Value =
        reqwest::get(format!("{}/_sandbox/requests", world.sandbox.atlan))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    requests["log"].as_array().map_or(0, |log| {
        log.iter()
            .filter(|e| e["fault"].as_str() == Some("status 429"))
            .count()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_faults_apply_converges_and_loses_nothing_that_was_live() {
    for seed in [1, 2] {
        apply_under_faults(seed).await;
    }
}

/// The platforms offer no conditional write (no ETag, version or If-Match on any of the
/// three), so the clients only narrow the window: CONNECT and Mist read the one object right
/// before each PUT, Atlan writes right after the applier's read (a batch that waited reads
/// again). The sandbox's foreign writer fires when any request arrives, so one arriving
/// between that read and our write (our own PUT, or a concurrent request of the same run)
/// and landing on the same object is still overwritten: rarely, and depending on how
/// concurrent requests interleave, so this does not pass deterministically. Run with
/// `--ignored --nocapture` to see how many are lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "known limitation: without conditional writes a foreign write racing our write of the same object is lost"]
async fn foreign_writes_racing_a_read_modify_write_are_not_lost() {
    let gaps = apply_under_faults(1).await;
    assert!(gaps.is_empty(), "foreign writes were overwritten: {gaps:?}");
}

/// Cancels the run once `after` objects have finished, like a Ctrl-C half way.
struct CancelAfter {
    after: usize,
    done: AtomicUsize,
    cancel: warrant::apply::CancelFlag,
}

impl Progress for CancelAfter {
    fn finished(&self, _report: &ObjectReport) {
        if self.done.fetch_add(1, Ordering::SeqCst) + 1 >= self.after {
            self.cancel.cancel();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_cancelled_half_way_converges_when_run_again() {
    let world = big_world().await;
    let before = world.sandbox.state();
    let session = world.session();
    let plan = world.plan(&session).await;
    let options = world.options(8);
    let progress = CancelAfter {
        after: 10,
        done: AtomicUsize::new(0),
        cancel: options.cancel.clone(),
    };
    let report = world.apply_with(&plan, &session, &options, &progress).await;
    assert!(report.interrupted);
    let not_attempted = report
        .counts
        .get(&Status::NotAttempted)
        .copied()
        .unwrap_or(0);
    let applied = report.counts.get(&Status::Applied).copied().unwrap_or(0);
    assert!(not_attempted > 0 && applied > 0, "{:?}", report.counts);

    let rounds = converge(&world, 2).await;
    assert_eq!(rounds, 1);
    assert_nothing_lost(&before, &world.sandbox.state());
}

/// Drops every request to Mist once `after` objects have finished: the rest of Mist fails
/// half way while the other platforms carry on.
struct BreakMistAfter<'a> {
    after: usize,
    done: AtomicUsize,
    world: &'a World,
    broken: Mutex<bool>,
}

impl Progress for BreakMistAfter<'_> {
    fn finished(&self, _report: &ObjectReport) {
        if self.done.fetch_add(1, Ordering::SeqCst) + 1 >= self.after {
            let mut broken = self.broken.lock().unwrap();
            if !*broken {
                self.world
                    .sandbox
                    .set_faults("mist.drop=1,seed=3".parse().unwrap());
                *broken = true;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_platform_goes_away_half_way_converges_when_run_again() {
    let world = big_world().await;
    let before = world.sandbox.state();
    let session = world.session();
    let plan = world.plan(&session).await;
    let progress = BreakMistAfter {
        after: 30,
        done: AtomicUsize::new(0),
        world: &world,
        broken: Mutex::new(false),
    };
    let report = world
        .apply_with(&plan, &session, &world.options(4), &progress)
        .await;
    let failed: Vec<&ObjectReport> = report
        .objects
        .iter()
        .filter(|o| o.status == Status::Failed)
        .collect();
    assert!(!failed.is_empty(), "{:?}", report.counts);
    assert!(failed.iter().all(|o| o.address.target == "mist-prod"));

    let rounds = converge(&world, 2).await;
    assert_eq!(rounds, 1);
    assert_nothing_lost(&before, &world.sandbox.state());
    // A token whose create was cut off is either created now with its key delivered, or was
    // created before the cut with its key delivered then; never a token without its key.
    let state = world.sandbox.state();
    for i in (1..20).step_by(2) {
        let name = format!("gen-token-{i}");
        if find_object(&state, "name", &name).is_some() {
            assert!(
                world.keys().join(format!("{name}.key")).exists(),
                "{name} exists without its key"
            );
        }
    }
    let _ = Silent;
}
