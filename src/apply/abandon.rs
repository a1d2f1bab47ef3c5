//! The report of an apply that was stopped before it finished: interrupted a second time
//! (Ctrl-C or SIGTERM), after the creates in flight settled or their bounded wait ran out.
//!
//! The executor's own report exists only when it returns, so while it runs [`Finished`]
//! keeps a copy of every object report it hands to the progress display. When the run is
//! abandoned, [`abandoned_report`] puts together: the objects that finished, as they finished;
//! the journalled creates of the run, as far as they got (a key delivered, or a token that may
//! exist without its key: `action_required`); and every other object as
//! [`Status::Unfinished`] — its write may or may not have been made, and the next plan shows
//! where it stands.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use super::journal::{KeyCreate, KeyOutcome};
use super::report::{ApplyReport, ObjectReport, Status};
use super::{Declared, Progress, report_of, requests_since};
use crate::model::{Address, Reason};
use crate::plan::Plan;
use crate::platform::{RequestCounts, Session};

/// A [`Progress`] that passes everything on to `inner` and keeps each finished object's report.
pub(crate) struct Finished<'p> {
    inner: &'p dyn Progress,
    reports: Mutex<Vec<ObjectReport>>,
}

impl<'p> Finished<'p> {
    pub(crate) fn new(inner: &'p dyn Progress) -> Finished<'p> {
        Finished {
            inner,
            reports: Mutex::new(Vec::new()),
        }
    }

    /// The reports of the objects finished so far.
    pub(crate) fn take(&self) -> Vec<ObjectReport> {
        std::mem::take(&mut *self.reports.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Progress for Finished<'_> {
    fn start(&self, total: usize) {
        self.inner.start(total);
    }

    fn working_on(&self, target: &str) {
        self.inner.working_on(target);
    }

    fn finished(&self, report: &ObjectReport) {
        self.inner.finished(report);
        self.reports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(report.clone());
    }

    fn done(&self) {
        self.inner.done();
    }
}

/// What an abandoned run had when it stopped.
pub(crate) struct Abandoned<'a> {
    /// From [`Finished::take`].
    pub finished: Vec<ObjectReport>,
    /// From `Journal::creates`.
    pub creates: &'a [KeyCreate],
    /// When the run started, and the requests counted before it.
    pub started_at: String,
    pub requests_before: BTreeMap<String, RequestCounts>,
}

/// The report of a run abandoned half way (see the module docs). Always a failure, and
/// `interrupted`.
pub(crate) fn abandoned_report(
    plan: &Plan,
    declared: &Declared<'_>,
    live: &Session,
    run: Abandoned<'_>,
) -> ApplyReport {
    let mut finished: HashMap<Address, ObjectReport> = HashMap::new();
    for report in run.finished {
        finished.entry(report.address.clone()).or_insert(report);
    }
    let creates: HashMap<&Address, &KeyCreate> =
        run.creates.iter().map(|c| (&c.address, c)).collect();
    let objects: Vec<ObjectReport> = plan
        .changes
        .iter()
        .map(|change| {
            if let Some(done) = finished.remove(&change.address) {
                return done;
            }
            let mut report =
                ObjectReport::new(change.address.clone(), change.action, Status::Unfinished);
            report.id = change.live_id.clone();
            if let Some(create) = creates.get(&change.address) {
                settle_create(&mut report, create);
            }
            report
        })
        .collect();
    let requests = requests_since(&run.requests_before, &live.request_counts());
    report_of(plan, declared, objects, true, run.started_at, requests)
}

/// An unfinished object whose create the journal recorded: what became of its key.
fn settle_create(report: &mut ObjectReport, create: &KeyCreate) {
    let name = &create.address.remote_key;
    let handle = format!("{}/{}", create.address.target, name);
    if let Some(id) = &create.created_id {
        report.id = Some(id.clone());
    }
    let lost = |report: &mut ObjectReport, error: String| {
        report.status = Status::Failed;
        report.error = Some(error);
        report.action_required = Some(format!(
            "rotate token {name}: delete it if it exists, run `warrant journal resolve {handle}`, then apply again to create it with a new key"
        ));
    };
    match create.outcome {
        None => lost(
            report,
            format!(
                "a token named {name} may have been created by an interrupted apply; its key was not captured (its create was still in flight when the run exited)"
            ),
        ),
        Some(KeyOutcome::Delivered) => report.reasons.push(Reason::CreatedUnverified),
        Some(KeyOutcome::NotCreated) => report.reasons.push(Reason::NothingCreated),
        Some(KeyOutcome::NotDelivered) => lost(
            report,
            format!("token {name} was created, but its key did not reach its sink"),
        ),
        Some(KeyOutcome::Unknown) => lost(
            report,
            format!(
                "a token named {name} may have been created by a create that failed; its key was not captured"
            ),
        ),
    }
}
