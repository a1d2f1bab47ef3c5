//! End to end under faults, on a world larger than the example (50 connections, 50
//! identities, 20 Mist tokens): 5xx, 429 with Retry-After, dropped connections and a foreign
//! writer; and runs stopped half way. Each time, running plan and apply again converges and
//! nothing that was live is lost.

mod e2e_apply_support;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use e2e_apply_support::*;
use warrant::apply::{ObjectReport, Progress, Silent, Status};
use warrant::sandbox::Faults;

const FAULTS: &str = "p500=0.05,p503=0.05,p429=0.05,retry_after=1,drop=0.05,foreign=0.2,seed=";

async fn big_world() -> World {
    let g = generated(50, 50, 20);
    World::start(g.seed, &g.files).await
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
        // A failure under faults is allowed (retries can run out); a stale object is not
        // expected, since the foreign writer only adds.
        for o in &report.objects {
            assert!(
                matches!(
                    o.status,
                    Status::Applied
                        | Status::Rebased
                        | Status::AlreadySatisfied
                        | Status::NoOp
                        | Status::Failed
                ),
                "{} {:?} {:?}",
                o.address,
                o.status,
                o.reasons
            );
        }

        let rounds = converge(&world, 3).await;
        assert!(rounds <= 1, "took {rounds} more applies");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_faults_apply_converges_and_loses_nothing_that_was_live() {
    for seed in 1..=5 {
        apply_under_faults(seed).await;
    }
}

/// The platforms offer no conditional write (no ETag, version or If-Match on any of the
/// three), so a foreign write landing between the applier's read and its write of the same
/// object is overwritten: the sandbox's foreign writer hits exactly that window. Shown here,
/// not yet solved; run with `--ignored` to see how many are lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "known limitation: read-modify-write without conditional writes loses racing foreign writes"]
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
