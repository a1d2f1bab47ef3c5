//! Signals during `apply`. SIGINT (Ctrl-C) and SIGTERM (a CI job cancelled, `kill`, a
//! container stopped) are handled alike and counted:
//!
//! 1. The first starts no new batch: the batches in flight finish (their writes, verification
//!    and key deliveries), the objects not started are reported as not attempted, the report
//!    is written, and the run exits 1.
//! 2. The second stops sooner: no new create that returns a key is started
//!    (`Journal::stop_new`), and the creates already sent get up to `--key-wait` seconds to
//!    return and hand their keys to their sinks (`Journal::settled`). Then the run is
//!    abandoned: the writes still in flight are dropped, and the report is put together from
//!    what finished (`crate::apply::abandon`), with every create whose key did not arrive
//!    named as needing rotation. Its journal intent stays open, so the next plan names it too.
//! 3. A third ends that wait at once, with the same report.
//!
//! A process killed outright (SIGKILL) writes nothing more, but the journal's intents were
//! on disk before each create was sent.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;

use crate::apply::abandon::{Abandoned, Finished, abandoned_report};
use crate::apply::journal::Journal;
use crate::apply::{
    self, ApplyOptions, ApplyReport, CancelFlag, Declared, ObjectReport, Progress, Status,
};
use crate::plan::{Action, Plan};
use crate::platform::Session;
use crate::render::progress::{Bars, Display, PlainLines};

/// Counts SIGINT and SIGTERM from the moment it listens; the first one sets the cancel flag.
struct Signals {
    count: watch::Receiver<u32>,
    listener: tokio::task::JoinHandle<()>,
}

impl Signals {
    /// `display` prints the notice of the first signal, above any bars.
    fn listen(cancel: CancelFlag, display: Arc<Display>) -> anyhow::Result<Signals> {
        let (tx, count) = watch::channel(0u32);
        let mut source = SignalSource::new()?;
        let listener = tokio::spawn(async move {
            while let Some(name) = source.next().await {
                let n = *tx.borrow() + 1;
                if n == 1 {
                    display.say(&format!(
                        "interrupted: finishing the writes in flight, starting nothing new ({name}; interrupt again to stop sooner)"
                    ));
                    cancel.cancel();
                }
                tx.send_replace(n);
            }
        });
        Ok(Signals { count, listener })
    }

    /// Resolves once `n` signals have arrived.
    async fn reached(&mut self, n: u32) {
        // The sender lives in the listener until it is aborted with `self`.
        let _ = self.count.wait_for(|c| *c >= n).await;
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// SIGINT and SIGTERM, as they arrive.
struct SignalSource {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl SignalSource {
    fn new() -> anyhow::Result<SignalSource> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(SignalSource {
                interrupt: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
                terminate: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
            })
        }
        #[cfg(not(unix))]
        Ok(SignalSource {})
    }

    /// The next signal's name; `None` when no more can arrive.
    async fn next(&mut self) -> Option<&'static str> {
        #[cfg(unix)]
        {
            tokio::select! {
                Some(()) = self.interrupt.recv() => Some("SIGINT"),
                Some(()) = self.terminate.recv() => Some("SIGTERM"),
                else => None,
            }
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c().await.ok().map(|()| "Ctrl-C")
        }
    }
}

/// Runs the apply under the signal rules of the module docs; `key_wait` bounds the wait for
/// creates in flight after a second signal.
pub(crate) async fn apply_with_interrupts(
    plan: &Plan,
    declared: &Declared<'_>,
    session: &Session,
    options: &ApplyOptions,
    key_wait: Duration,
) -> anyhow::Result<ApplyReport> {
    let display = Arc::new(display(plan, declared));
    // Waits are news for people: not under `--quiet`.
    let _waits = (!super::output::quiet()).then(|| crate::platform::wait::listen(display.waits()));
    let mut signals = Signals::listen(options.cancel.clone(), display.clone())?;
    let progress: &dyn Progress = display.as_ref();
    let say = |text: &str| display.say(text);
    let finished = Finished::new(progress);
    let started_at = apply::now();
    let requests_before = session.request_counts();
    let run = apply::apply_plan(plan, declared, session, options, &finished);
    tokio::pin!(run);

    tokio::select! {
        biased;
        report = &mut run => return Ok(report?),
        () = signals.reached(2) => {}
    }
    let journal = options.journal.as_deref();
    let in_flight = journal.map(Journal::stop_new).unwrap_or_default();
    match journal {
        Some(journal) if !in_flight.is_empty() => {
            let names: Vec<String> = in_flight
                .iter()
                .map(|a| format!("{}/{}", a.target, a.remote_key))
                .collect();
            say(&crate::text::escape(&format!(
                "interrupted again: no new create starts; waiting up to {}s for the create(s) in flight to return and hand their keys to their sinks: {} (interrupt once more to stop waiting)",
                key_wait.as_secs(),
                names.join(", ")
            )));
            tokio::select! {
                biased;
                report = &mut run => return Ok(report?),
                () = journal.settled() => say("the creates in flight have settled; stopping now"),
                () = tokio::time::sleep(key_wait) => say(&format!(
                    "waited {}s for the creates in flight; stopping now",
                    key_wait.as_secs()
                )),
                () = signals.reached(3) => say("interrupted once more: stopping without waiting"),
            }
        }
        _ => say("interrupted again: stopping now; the report marks what did not finish"),
    }
    progress.done();
    let creates = journal.map(Journal::creates).unwrap_or_default();
    let run_so_far = Abandoned {
        finished: finished.take(),
        creates: &creates,
        started_at,
        requests_before,
    };
    let report = abandoned_report(plan, declared, session, run_so_far);
    show_cut_off(&report)?;
    Ok(report)
}

/// The display of this run: under `--quiet` the failures only, as plain lines; on a terminal
/// a line per target the plan changes; otherwise (CI) one plain line per object.
fn display(plan: &Plan, declared: &Declared<'_>) -> Display {
    if super::output::quiet() {
        return Display::Plain(PlainLines::failures_only(std::io::stdout()));
    }
    if !std::io::stderr().is_terminal() {
        return Display::Plain(PlainLines::new(std::io::stdout()));
    }
    let mut totals: BTreeMap<&str, u64> = BTreeMap::new();
    for change in plan.changes.iter().filter(|c| c.action != Action::NoOp) {
        *totals.entry(change.address.target.as_str()).or_default() += 1;
    }
    let platforms: BTreeMap<&str, &str> = declared
        .manifests
        .targets
        .iter()
        .map(|t| (t.name.as_str(), t.platform.platform_name()))
        .collect();
    let targets = totals.into_iter().map(|(target, total)| {
        let platform = platforms.get(target).copied().unwrap_or("");
        (target.to_string(), platform.to_string(), total)
    });
    Display::Bars(Bars::new(targets, indicatif::ProgressDrawTarget::stderr()))
}

/// Names the objects the progress display never showed: those the run was working on or had
/// not reached when it was abandoned (the summary counts them).
fn show_cut_off(report: &ApplyReport) -> anyhow::Result<()> {
    let cut_off: Vec<&ObjectReport> = report
        .objects
        .iter()
        .filter(|o| o.status == Status::Unfinished || o.action_required.is_some())
        .collect();
    super::apply::print_lines(&cut_off, "objects the run stopped before finishing")
}
