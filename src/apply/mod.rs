//! The applier: executes exactly the changes of a reviewed plan, append-only, re-reading
//! each object before writing and verifying after.
//!
//! [`apply_plan`] is the library entry point (the CLI, the demo and the tests call it). It is
//! generic over [`LiveSystem`], the two operations it needs from live systems — implemented by
//! [`Session`] for real platforms and by in-memory fakes in tests — so every rule below is
//! testable without HTTP.
//!
//! Per target, objects are worked on in batches (one `read`, one `write`, at most one verifying
//! `read` per batch; the client parallelises and isolates failures inside a call). For each
//! object:
//!
//! 1. the live object is read again and re-diffed with [`crate::plan::diff`];
//! 2. the fresh additions must be a subset of the reviewed ones (a create only where a create
//!    was reviewed), otherwise the object is refused as stale and left untouched; nothing left
//!    to add is "already satisfied"; an object the credential may not write (it can read it,
//!    but e.g. is not an admin of the connection) fails with that reason, untouched;
//! 3. the write is built as *fresh live ∪ additions* ([`WriteOp`] has no remove variant);
//! 4. the result is verified: every addition present, nothing written missing. A concurrent
//!    write that dropped something makes the read-modify-write run again, at most
//!    [`MAX_REDO`] times.
//!
//! A key returned by a create goes straight to the object's [`crate::secret::KeySink`] and is
//! dropped; it is never stored in the report. Cancelling (Ctrl-C) starts no new batch; the
//! batches in flight finish, the objects not started are reported as not attempted, and the
//! run is a failure even when nothing was left to start.

pub mod progress;
pub mod report;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::model::{DesiredObject, LiveState, SmallMap, Values, WriteOp, WriteOutcome};
use crate::plan::{Action, Change, FORMAT_VERSION, Plan};
use crate::platform::{ErrorKind, PlatformError, RequestCounts};
use crate::secret::Secret;
use crate::session::Session;

pub use progress::{Bar, PlainLines, Progress, Silent};
pub use report::{ApplyReport, ObjectReport, REPORT_VERSION, ReportOutcome, Status};

/// How often a read-modify-write is redone when a concurrent write dropped something.
pub const MAX_REDO: u32 = 3;

/// At most this many batches per target: each batch re-reads its objects (a whole list on
/// CONNECT and Mist) right before writing, so more batches means more full-list reads.
pub const MAX_BATCHES_PER_TARGET: usize = 8;

/// What the applier needs from live systems, per target.
pub trait LiveSystem: Sync {
    /// The live state of these objects of `target`, one per object, same order. A failed read
    /// is an error, never "absent".
    fn read(
        &self,
        target: &str,
        objects: &[DesiredObject],
    ) -> impl Future<Output = Result<Vec<LiveState>, PlatformError>> + Send;

    /// Performs these writes on `target`; one result per op, same order.
    fn write(
        &self,
        target: &str,
        ops: Vec<WriteOp>,
    ) -> impl Future<Output = Vec<Result<WriteOutcome, PlatformError>>> + Send;

    /// Requests made so far, per target.
    fn request_counts(&self) -> BTreeMap<String, RequestCounts>;

    /// How many objects of `target` one write request carries (see
    /// `Client::objects_per_write`); batches are sized in multiples of it.
    fn objects_per_write(&self, _target: &str) -> usize {
        1
    }
}

impl LiveSystem for Session {
    async fn read(
        &self,
        target: &str,
        objects: &[DesiredObject],
    ) -> Result<Vec<LiveState>, PlatformError> {
        match self.client(target) {
            Some(client) => client.read(objects).await,
            None => Err(no_client(target)),
        }
    }

    async fn write(
        &self,
        target: &str,
        ops: Vec<WriteOp>,
    ) -> Vec<Result<WriteOutcome, PlatformError>> {
        match self.client(target) {
            Some(client) => client.write(ops).await,
            None => ops.iter().map(|_| Err(no_client(target))).collect(),
        }
    }

    fn request_counts(&self) -> BTreeMap<String, RequestCounts> {
        Session::request_counts(self)
    }

    fn objects_per_write(&self, target: &str) -> usize {
        self.client(target).map_or(1, |c| c.objects_per_write())
    }
}

fn no_client(target: &str) -> PlatformError {
    PlatformError::new(
        target,
        ErrorKind::Other,
        "no client is open for this target (it is missing from the plan's targets)",
    )
}

/// Set from a Ctrl-C handler; checked before every batch.
#[derive(Debug, Clone, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// How to apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Objects per batch of one target (one read, one write call, one verifying read).
    pub batch_size: usize,
    /// Refuse plans with more creates and updates than this, before any request.
    pub max_changes: Option<usize>,
    /// The directory relative key-sink paths are resolved against (the working directory).
    pub key_dir: PathBuf,
    pub cancel: CancelFlag,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            batch_size: 64,
            max_changes: None,
            key_dir: PathBuf::from("."),
            cancel: CancelFlag::default(),
        }
    }
}

/// Why a plan was refused before any request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "the plan file has format version {found}, but this warrant (v{ours}) reads only format version {expected}; make the plan again with this warrant"
    )]
    FormatVersion {
        found: u32,
        expected: u32,
        ours: String,
    },
    #[error(
        "the plan was made by warrant {found}, but this is warrant {ours}; make the plan again with this warrant"
    )]
    WarrantVersion { found: String, ours: String },
    #[error(
        "the plan has {changes} creates and updates, more than --max-changes {max}; nothing was applied"
    )]
    TooManyChanges { changes: usize, max: usize },
}

/// Refuses a plan file of another format or warrant version.
pub fn check_version(format_version: u32, warrant_version: &str) -> Result<(), Refusal> {
    let ours = env!("CARGO_PKG_VERSION");
    if format_version != FORMAT_VERSION {
        return Err(Refusal::FormatVersion {
            found: format_version,
            expected: FORMAT_VERSION,
            ours: ours.to_string(),
        });
    }
    if warrant_version != ours {
        return Err(Refusal::WarrantVersion {
            found: warrant_version.to_string(),
            ours: ours.to_string(),
        });
    }
    Ok(())
}

/// Every check made before any request: versions and `--max-changes`.
pub fn preflight(plan: &Plan, options: &ApplyOptions) -> Result<(), Refusal> {
    check_version(plan.format_version, &plan.warrant_version)?;
    if let Some(max) = options.max_changes {
        let changes = plan
            .changes
            .iter()
            .filter(|c| matches!(c.action, Action::Create | Action::Update))
            .count();
        if changes > max {
            return Err(Refusal::TooManyChanges { changes, max });
        }
    }
    Ok(())
}

/// Applies `plan` through `live`. Refuses (before any request) a plan of another version or
/// one larger than `--max-changes`; otherwise always returns a report, whatever failed.
pub async fn apply_plan<S: LiveSystem>(
    plan: &Plan,
    live: &S,
    options: &ApplyOptions,
    progress: &dyn Progress,
) -> Result<ApplyReport, Refusal> {
    preflight(plan, options)?;
    let started_at = now();
    let requests_before = live.request_counts();

    let mut objects: Vec<Option<ObjectReport>> = vec![None; plan.changes.len()];
    let mut by_target: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    progress.start(
        plan.changes
            .iter()
            .filter(|c| c.action != Action::NoOp)
            .count(),
    );
    for (i, change) in plan.changes.iter().enumerate() {
        match change.action {
            Action::NoOp => {
                objects[i] = Some(ObjectReport::new(
                    change.address.clone(),
                    change.action,
                    Status::NoOp,
                ));
            }
            Action::Conflict => {
                let mut report = ObjectReport::new(
                    change.address.clone(),
                    change.action,
                    Status::ConflictSkipped,
                );
                report.reasons = change.reasons.clone();
                report.id = change.live_id.clone();
                progress.finished(&report);
                objects[i] = Some(report);
            }
            Action::Create | Action::Update => by_target
                .entry(change.address.target.as_str())
                .or_default()
                .push(i),
        }
    }

    let runs = by_target
        .into_iter()
        .map(|(target, indices)| apply_target(plan, live, target, indices, options, progress));
    for (i, report) in futures::future::join_all(runs).await.into_iter().flatten() {
        objects[i] = Some(report);
    }
    progress.done();

    let objects: Vec<ObjectReport> = objects
        .into_iter()
        .zip(&plan.changes)
        .map(|(o, c)| {
            o.unwrap_or_else(|| {
                ObjectReport::new(c.address.clone(), c.action, Status::NotAttempted)
            })
        })
        .collect();
    let interrupted = options.cancel.is_cancelled();
    let outcome = ReportOutcome::of(&objects, interrupted);
    Ok(ApplyReport {
        report_version: REPORT_VERSION,
        warrant_version: env!("CARGO_PKG_VERSION").to_string(),
        plan_created_at: plan.created_at.clone(),
        plan_git_commit: plan.git_commit.clone(),
        plan_desired_digest: plan.desired_digest.clone(),
        started_at,
        finished_at: now(),
        interrupted,
        outcome,
        counts: ApplyReport::counts_of(&objects),
        objects,
        requests: requests_since(&requests_before, &live.request_counts()),
    })
}

fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// Requests made between two snapshots, per target.
fn requests_since(
    before: &BTreeMap<String, RequestCounts>,
    after: &BTreeMap<String, RequestCounts>,
) -> BTreeMap<String, RequestCounts> {
    after
        .iter()
        .map(|(target, now)| {
            let then = before.get(target).cloned().unwrap_or_default();
            let by_endpoint = now
                .by_endpoint
                .iter()
                .map(|(e, n)| {
                    let was = then.by_endpoint.get(e).copied().unwrap_or(0);
                    (e.clone(), n.saturating_sub(was))
                })
                .filter(|(_, n)| *n > 0)
                .collect();
            let counts = RequestCounts {
                total: now.total.saturating_sub(then.total),
                by_endpoint,
            };
            (target.clone(), counts)
        })
        .collect()
}

/// Works through one target's objects batch by batch, stopping before a new batch when
/// cancelled.
async fn apply_target<S: LiveSystem>(
    plan: &Plan,
    live: &S,
    target: &str,
    indices: Vec<usize>,
    options: &ApplyOptions,
    progress: &dyn Progress,
) -> Vec<(usize, ObjectReport)> {
    let mut out = Vec::with_capacity(indices.len());
    // CONNECT and Mist can only be re-read as whole lists, so every batch costs a full list
    // read: cap the number of batches per target so reads stay bounded as N grows, while
    // small plans keep small batches (responsive progress and Ctrl-C).
    let size = options
        .batch_size
        .max(indices.len().div_ceil(MAX_BATCHES_PER_TARGET))
        .max(1)
        .next_multiple_of(live.objects_per_write(target).max(1));
    let mut batches = indices.chunks(size);
    while let Some(batch) = batches.next() {
        if options.cancel.is_cancelled() {
            for &i in batch.iter().chain(batches.by_ref().flatten()) {
                let c = &plan.changes[i];
                let report = ObjectReport::new(c.address.clone(), c.action, Status::NotAttempted);
                progress.finished(&report);
                out.push((i, report));
            }
            break;
        }
        progress.working_on(target);
        let changes: Vec<&Change> = batch.iter().map(|&i| &plan.changes[i]).collect();
        let reports = apply_batch(live, target, &changes, options).await;
        for (&i, report) in batch.iter().zip(reports) {
            progress.finished(&report);
            out.push((i, report));
        }
    }
    out
}

/// One object of a batch while it is being worked on.
struct Slot<'a> {
    change: &'a Change,
    report: ObjectReport,
    /// Applied or rebased, decided by the first write.
    first_status: Option<Status>,
    /// This run created the object (so a later read showing it present is our own doing).
    created: bool,
}

impl<'a> Slot<'a> {
    fn new(change: &'a Change) -> Slot<'a> {
        let mut report =
            ObjectReport::new(change.address.clone(), change.action, Status::NotAttempted);
        report.id = change.live_id.clone();
        Slot {
            change,
            report,
            first_status: None,
            created: false,
        }
    }

    fn finish(&mut self, status: Status) {
        self.report.status = status;
    }

    fn fail(&mut self, error: String) {
        self.report.status = Status::Failed;
        self.report.error = Some(error);
    }

    fn stale(&mut self, reasons: Vec<String>) {
        self.report.status = Status::Stale;
        self.report.reasons = reasons;
    }
}

/// A write built for one object, and what must be live after it.
struct Pending {
    slot: usize,
    expected: SmallMap<Values>,
}

/// Re-read, decide, write, verify, and redo what a concurrent writer dropped.
async fn apply_batch<S: LiveSystem>(
    live: &S,
    target: &str,
    batch: &[&Change],
    options: &ApplyOptions,
) -> Vec<ObjectReport> {
    let mut slots: Vec<Slot> = batch.iter().map(|c| Slot::new(c)).collect();
    let mut todo: Vec<usize> = (0..slots.len()).collect();

    for attempt in 0..=MAX_REDO {
        if todo.is_empty() {
            break;
        }
        let fresh = match read_exact(live, target, &slots, &todo).await {
            Ok(fresh) => fresh,
            Err(e) => {
                for &k in &todo {
                    slots[k].fail(format!("reading the live object failed: {e}"));
                }
                break;
            }
        };

        let mut ops = Vec::new();
        let mut written = Vec::new();
        for (&k, state) in todo.iter().zip(&fresh) {
            let slot = &mut slots[k];
            match decide(slot.change, state, slot.created) {
                Decision::Satisfied => {
                    let status = slot.first_status.unwrap_or(Status::AlreadySatisfied);
                    slot.finish(status);
                }
                Decision::Stale(reasons) => slot.stale(reasons),
                Decision::Fail(error) => slot.fail(error),
                Decision::Write {
                    op,
                    additions,
                    rebased,
                } => {
                    if let (WriteOp::Create { .. }, Some(sink)) =
                        (op.as_ref(), &slot.change.desired.key_sink)
                        && let Err(e) = sink.check(&options.key_dir)
                    {
                        slot.fail(format!(
                            "not created, because its key could not be stored: {e}"
                        ));
                        continue;
                    }
                    slot.first_status.get_or_insert(if rebased {
                        Status::Rebased
                    } else {
                        Status::Applied
                    });
                    for (field, values) in additions {
                        slot.report.added.entry(field).or_default().extend(values);
                    }
                    let expected = match op.as_ref() {
                        WriteOp::Create { fields, .. } | WriteOp::Update { fields, .. } => {
                            fields.clone()
                        }
                    };
                    written.push(Pending { slot: k, expected });
                    ops.push(*op);
                }
            }
        }

        let created: Vec<bool> = ops
            .iter()
            .map(|op| matches!(op, WriteOp::Create { .. }))
            .collect();
        let outcomes = write_exact(live, target, ops).await;
        let mut to_verify: Vec<Pending> = Vec::new();
        for ((pending, outcome), is_create) in written.into_iter().zip(outcomes).zip(created) {
            let slot = &mut slots[pending.slot];
            let outcome = match outcome {
                Ok(outcome) => outcome,
                Err(e) => {
                    slot.fail(format!("the write failed: {e}"));
                    continue;
                }
            };
            if is_create {
                slot.created = true;
                slot.report.id = outcome.created_id.clone();
                if let Err((error, todo)) = deliver_key(slot.change, outcome.secret, options).await
                {
                    slot.fail(error);
                    slot.report.action_required = Some(todo);
                    continue;
                }
            }
            to_verify.push(pending);
        }

        // Every write is confirmed by reading the objects again, never by the write's own
        // response: an echo of the request proves nothing about what the server stored.
        let written: Vec<usize> = to_verify.iter().map(|p| p.slot).collect();
        let mut reread = if written.is_empty() {
            Ok(Vec::new().into_iter())
        } else {
            read_exact(live, target, &slots, &written)
                .await
                .map(Vec::into_iter)
        };

        let mut again = Vec::new();
        for pending in to_verify {
            let slot = &mut slots[pending.slot];
            let after = match &mut reread {
                Ok(states) => states.next().unwrap_or(LiveState::Absent),
                Err(e) => {
                    slot.fail(format!(
                        "the write was made but reading it back failed: {e}"
                    ));
                    continue;
                }
            };
            match missing(&pending.expected, &after) {
                None => {
                    let status = slot.first_status.unwrap_or(Status::Applied);
                    slot.finish(status);
                }
                Some(what) if attempt == MAX_REDO => slot.fail(format!(
                    "after {MAX_REDO} retries the written values are still not live ({what} missing): a concurrent writer drops them, or the server does not store what it acknowledges"
                )),
                Some(_) => {
                    slot.report.retries += 1;
                    again.push(pending.slot);
                }
            }
        }
        todo = again;
    }
    slots.into_iter().map(|s| s.report).collect()
}

/// Reads the objects of `slots` listed in `which`, insisting on one state per object.
async fn read_exact<S: LiveSystem>(
    live: &S,
    target: &str,
    slots: &[Slot<'_>],
    which: &[usize],
) -> Result<Vec<LiveState>, PlatformError> {
    let desired: Vec<DesiredObject> = which
        .iter()
        .map(|&k| slots[k].change.desired.clone())
        .collect();
    let states = live.read(target, &desired).await?;
    if states.len() != desired.len() {
        return Err(PlatformError::new(
            target,
            ErrorKind::Malformed,
            format!(
                "the client returned {} live states for {} objects",
                states.len(),
                desired.len()
            ),
        ));
    }
    Ok(states)
}

/// Writes `ops`, insisting on one result per op.
async fn write_exact<S: LiveSystem>(
    live: &S,
    target: &str,
    ops: Vec<WriteOp>,
) -> Vec<Result<WriteOutcome, PlatformError>> {
    if ops.is_empty() {
        return Vec::new();
    }
    let n = ops.len();
    let results = live.write(target, ops).await;
    if results.len() == n {
        return results;
    }
    let error = PlatformError::new(
        target,
        ErrorKind::Malformed,
        format!(
            "the client returned {} write results for {n} writes",
            results.len()
        ),
    );
    (0..n).map(|_| Err(error.clone())).collect()
}

/// What to do with one object, given its fresh live state.
enum Decision {
    Satisfied,
    Stale(Vec<String>),
    Fail(String),
    Write {
        op: Box<WriteOp>,
        additions: SmallMap<Values>,
        rebased: bool,
    },
}

/// Re-diffs `planned.desired` against fresh live state and decides, never going beyond
/// what the plan reviewed.
fn decide(planned: &Change, state: &LiveState, created_by_us: bool) -> Decision {
    let fresh = crate::plan::diff(&planned.desired, state);
    let rebased = fresh.fingerprint != planned.fingerprint;
    match fresh.action {
        // The credential cannot write this object (e.g. not an admin of the Atlan connection):
        // nothing about live state moved, so re-planning would not help. It is a failure with
        // the platform's reason; the object is left untouched.
        Action::Conflict => match denied_write(state, &fresh.reasons) {
            Some(reason) => Decision::Fail(format!("not applied: {reason}")),
            None => Decision::Stale(fresh.reasons),
        },
        Action::NoOp => Decision::Satisfied,
        Action::Create => {
            if created_by_us {
                return Decision::Fail(
                    "the object was created, but reading it back does not show it; it is not created a second time".into(),
                );
            }
            if planned.action != Action::Create {
                return Decision::Stale(vec![
                    "the object no longer exists live, and the plan did not review creating it"
                        .into(),
                ]);
            }
            if let Some(reasons) = unreviewed(&fresh.additions, &planned.additions) {
                return Decision::Stale(reasons);
            }
            let fields = planned
                .desired
                .fields
                .iter()
                .map(|(name, field)| (name.clone(), field.values.clone()))
                .collect();
            Decision::Write {
                op: Box::new(WriteOp::Create {
                    desired: planned.desired.clone(),
                    fields,
                }),
                additions: fresh.additions,
                rebased,
            }
        }
        Action::Update => {
            if let Some(reasons) = unreviewed(&fresh.additions, &planned.additions) {
                return Decision::Stale(reasons);
            }
            if planned.action == Action::Create
                && planned.desired.key_sink.is_some()
                && !created_by_us
            {
                return Decision::Stale(vec![
                    "the token was created by someone else since the plan, so no new key can reach its key sink".into(),
                ]);
            }
            let Some(object) = state.object() else {
                return Decision::Fail(
                    "an update was decided for an object that is not present".into(),
                );
            };
            let fields = fresh
                .additions
                .iter()
                .map(|(name, add)| {
                    let mut union = object.fields.get(name).cloned().unwrap_or_default();
                    union.extend(add.iter().cloned());
                    (name.clone(), union)
                })
                .collect();
            Decision::Write {
                op: Box::new(WriteOp::Update {
                    address: planned.address.clone(),
                    live: object.clone(),
                    fields,
                }),
                additions: fresh.additions,
                rebased,
            }
        }
    }
}

/// The reason when the only thing in the way is the credential's missing write permission.
fn denied_write(state: &LiveState, reasons: &[String]) -> Option<String> {
    let denied = state.object()?.write_denied.as_ref()?;
    (reasons.len() == 1 && &reasons[0] == denied).then(|| denied.clone())
}

/// The fresh additions the plan did not review, as reasons; `None` when all were reviewed.
fn unreviewed(fresh: &SmallMap<Values>, planned: &SmallMap<Values>) -> Option<Vec<String>> {
    let empty = Values::new();
    let reasons: Vec<String> = fresh
        .iter()
        .filter_map(|(field, add)| {
            let reviewed = planned.get(field).unwrap_or(&empty);
            let extra: Vec<&str> = add.difference(reviewed).map(String::as_str).collect();
            (!extra.is_empty()).then(|| {
                format!(
                    "{field}: live state changed since the plan; applying now would also add {}, which the plan did not review",
                    extra.join(", ")
                )
            })
        })
        .collect();
    (!reasons.is_empty()).then_some(reasons)
}

/// What of `expected` is not live in `after`, described; `None` when everything is there.
fn missing(expected: &SmallMap<Values>, after: &LiveState) -> Option<String> {
    let Some(object) = after.object() else {
        return Some("the whole object".into());
    };
    let empty = Values::new();
    let gaps: Vec<String> = expected
        .iter()
        .filter_map(|(field, values)| {
            let live = object.fields.get(field).unwrap_or(&empty);
            let gone: Vec<&str> = values.difference(live).map(String::as_str).collect();
            (!gone.is_empty()).then(|| format!("{field}: {}", gone.join(", ")))
        })
        .collect();
    (!gaps.is_empty()).then(|| gaps.join("; "))
}

/// Hands a created object's key to its sink and drops it. On failure returns the error and
/// what a human must do about the token that now exists without a captured key.
async fn deliver_key(
    change: &Change,
    secret: Option<Secret>,
    options: &ApplyOptions,
) -> Result<(), (String, String)> {
    let todo = || {
        format!(
            "the token {} exists without a captured key: delete it by hand and run apply again to create a new one",
            change.address.remote_key
        )
    };
    match (&change.desired.key_sink, secret) {
        (None, None) => Ok(()),
        (Some(sink), Some(key)) => sink.deliver(&key, &options.key_dir).await.map_err(|e| {
            (
                format!("created, but the key could not be delivered to {}: {e}", sink.describe()),
                todo(),
            )
        }),
        (Some(sink), None) => Err((
            format!(
                "created, but the platform returned no key for {}",
                sink.describe()
            ),
            todo(),
        )),
        (None, Some(_)) => Err((
            "created, and the platform returned a key, but the object declares no keySink; the key was discarded".into(),
            todo(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Address, CreateRule, DesiredField, FieldPolicy, Kind, LiveObject};

    const DENIED: &str = "the credential (jsmith) is not an admin of connection c";

    fn desired(max_items: Option<usize>) -> DesiredObject {
        DesiredObject {
            address: Address {
                kind: Kind::ConnectionAdmins,
                name: "c".into(),
                target: "atlan".into(),
                remote_key: "c".into(),
            },
            fields: SmallMap::from([(
                "adminUsers".into(),
                DesiredField {
                    policy: FieldPolicy::Append,
                    values: ["a".to_string(), "b".to_string()].into(),
                    max_items,
                },
            )]),
            create: CreateRule::Never("connections are never created".into()),
            labels: SmallMap::new(),
            problems: Vec::new(),
            key_sink: None,
        }
    }

    fn live(write_denied: Option<&str>) -> LiveState {
        LiveState::Present {
            object: LiveObject {
                id: "guid".into(),
                fields: SmallMap::from([("adminUsers".into(), ["a".to_string()].into())]),
                labels: SmallMap::new(),
                write_denied: write_denied.map(str::to_string),
                extra: SmallMap::new(),
            },
        }
    }

    #[test]
    fn a_write_the_credential_is_denied_fails_with_the_reason() {
        let planned = crate::plan::diff(&desired(None), &live(None));
        assert_eq!(planned.action, Action::Update);
        match decide(&planned, &live(Some(DENIED)), false) {
            Decision::Fail(error) => assert_eq!(error, format!("not applied: {DENIED}")),
            _ => panic!("expected a failure"),
        }
    }

    #[test]
    fn a_denied_write_with_another_conflict_stays_stale() {
        let planned = crate::plan::diff(&desired(None), &live(None));
        // Over the limit as well: live state is in the way, not only the permission.
        let over_limit = desired(Some(1));
        let planned = Change {
            desired: over_limit,
            ..planned
        };
        match decide(&planned, &live(Some(DENIED)), false) {
            Decision::Stale(reasons) => {
                assert!(
                    reasons
                        .iter()
                        .any(|r| r.contains("more than the 1 allowed"))
                )
            }
            _ => panic!("expected stale"),
        }
    }
}
