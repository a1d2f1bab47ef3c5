//! The applier: executes the reviewed changes of a plan that the merged manifests declare,
//! append-only, re-reading each object before writing and verifying after.
//!
//! [`apply_plan`] is the library entry point (the CLI, the demo and the tests call it). It
//! reaches live systems through a [`Session`] of `LiveTarget`s — the platforms' clients, or
//! in-memory targets in tests — so every rule below is testable without HTTP.
//!
//! **The plan file is untrusted; the manifests are not.** Everything apply acts on comes from
//! the manifests ([`Declared`]): which targets exist and where they live (with `--endpoint`
//! the only override), which credential variables they use, every object's desired values and
//! key sink. The plan contributes only the reviewed set of changes — addresses, additions per
//! field, live fingerprints and declaration digests — so it can only narrow what apply does:
//!
//! - a change whose target the manifests do not declare, or whose recorded target settings
//!   (base URL, credential variables, tenant or org) differ from the manifests', is refused,
//!   and no request goes to that target;
//! - a change for an object no manifest declares is refused;
//! - per target, the declared objects the plan names are resolved again (names to ids, one
//!   batched call as at plan time); an object whose declaration digest differs from the plan's
//!   changed since review and is refused as stale; an addition the fresh declaration does not
//!   contain, or a create of an object the manifests never create, is refused;
//! - declared objects the plan does not name are never touched and reported as
//!   [`Status::NotInPlan`].
//!
//! Then, per target, objects are worked on in batches (one `read`, one `write`, at most one
//! verifying `read` per batch; the client parallelises and isolates failures inside a call).
//! For each object:
//!
//! 1. the live object is read again and re-diffed with [`crate::plan::diff`] against the
//!    desired object derived from the manifests;
//! 2. the fresh additions must be a subset of the reviewed ones (a create only where a create
//!    was reviewed), otherwise the object is refused as stale and left untouched; nothing left
//!    to add is "already satisfied"; an object the credential may not write (it can read it,
//!    but e.g. is not an admin of the connection), or whose live value is unreadable, fails
//!    with that reason, untouched (`Reason::fails_apply`): planning again would not help;
//! 3. the write carries the additions; the platform builds it as *fresh live ∪ additions*
//!    ([`WriteOp`] has no remove variant);
//! 4. the result is verified: every addition present, nothing written missing. A concurrent
//!    write that dropped something makes the read-modify-write run again, at most
//!    [`MAX_REDO`] times.
//!
//! So every write is within both what the manifests imply and what the plan reviewed. A key
//! returned by a create goes straight to the key sink the manifests name and is dropped; it
//! is never stored in the report. With a [`journal::Journal`] (the CLI always has one), each
//! create that returns a key is journalled: an intent before it is sent, its outcome after the
//! sink; an object with an open record from an earlier run is refused. Cancelling (Ctrl-C,
//! SIGTERM) starts no new batch; the batches in flight finish, the objects not started are
//! reported as not attempted, and the run is a failure even when nothing was left to start. A
//! run abandoned half way gets its report from `abandon`; `lock` keeps two applies on one
//! machine off the same target.

pub(crate) mod abandon;
pub mod journal;
pub(crate) mod lock;
pub(crate) mod progress;
pub(crate) mod report;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::model::{
    DesiredObject, Kind, LiveState, Reason, Refused, SmallMap, Values, WriteOp, WriteOutcome,
};
use crate::plan::{Action, Change, FORMAT_VERSION, Plan, declaration_digest};
use crate::platform::{
    ErrorKind, Manifests, PlatformError, RequestCounts, Resource, Session, TargetPlatform,
};
use crate::secret::Secret;

pub use progress::{Progress, Silent};
pub use report::{ApplyReport, ObjectReport, REPORT_VERSION, ReportOutcome, Status};

/// How often a read-modify-write is redone when a concurrent write dropped something.
pub const MAX_REDO: u32 = 3;

/// At most this many batches per target: each batch re-reads its objects (a whole list on
/// CONNECT and Mist) right before writing, so more batches means more full-list reads.
pub const MAX_BATCHES_PER_TARGET: usize = 8;

/// The trusted side of an apply: the merged manifests, and each declared target's settings as
/// they will be used (the manifests', with the `--endpoint` overrides applied).
#[derive(Debug, Clone)]
pub struct Declared<'m> {
    pub manifests: &'m Manifests,
    pub targets: BTreeMap<String, TargetPlatform>,
}

impl<'m> Declared<'m> {
    /// `endpoints` are the `--endpoint TARGET=URL` overrides (a session's `endpoints`).
    pub fn new(manifests: &'m Manifests, endpoints: &BTreeMap<String, String>) -> Declared<'m> {
        let targets = manifests
            .targets
            .iter()
            .map(|t| {
                let endpoint = endpoints.get(&t.name).map(String::as_str);
                (t.name.clone(), t.platform.as_used(endpoint))
            })
            .collect();
        Declared { manifests, targets }
    }

    /// The declared targets the plan's creates and updates name: the targets a session must
    /// be opened for (with the manifests' settings, never the plan's).
    pub(crate) fn targets_to_open(&self, plan: &Plan) -> BTreeMap<String, TargetPlatform> {
        let named: BTreeSet<&str> = plan
            .changes
            .iter()
            .filter(|c| matches!(c.action, Action::Create | Action::Update))
            .map(|c| c.address.target.as_str())
            .collect();
        self.manifests
            .targets
            .iter()
            .filter(|t| named.contains(t.name.as_str()))
            .map(|t| (t.name.clone(), t.platform.clone()))
            .collect()
    }

    /// Why the plan's changes on `target` cannot be applied at all, if they cannot: the
    /// manifests do not declare the target, or the plan recorded other settings for it.
    fn target_refusal(&self, plan: &Plan, target: &str) -> Option<Refused> {
        let Some(declared) = self.targets.get(target) else {
            return Some(Refused::TargetNotDeclared {
                target: target.to_string(),
            });
        };
        let differences = match plan.targets.get(target) {
            None => vec!["the plan records no settings for it".to_string()],
            Some(planned) => planned.differences(declared),
        };
        (!differences.is_empty()).then(|| Refused::TargetSettings {
            target: target.to_string(),
            differences,
        })
    }
}

/// Set from a Ctrl-C handler; checked before every batch.
#[derive(Debug, Clone, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub(crate) fn is_cancelled(&self) -> bool {
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
    pub cancel: CancelFlag,
    /// Where creates that return a key are journalled, and whose open records refuse objects.
    pub journal: Option<Arc<journal::Journal>>,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            batch_size: 64,
            max_changes: None,
            cancel: CancelFlag::default(),
            journal: None,
        }
    }
}

/// Why a whole plan was refused before any request.
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
    #[error(
        "the plan file's plan_id {claimed:?} does not match its content (plan id {actual}): it was edited after it was made; nothing was applied"
    )]
    PlanIdMismatch { claimed: String, actual: String },
    #[error(
        "the plan file is plan {actual}, not the reviewed plan {expected} given with --plan-id; nothing was applied"
    )]
    NotTheReviewedPlan { expected: String, actual: String },
}

/// Refuses a plan file of another format or warrant version.
pub(crate) fn check_version(format_version: u32, warrant_version: &str) -> Result<(), Refusal> {
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

/// Checks a plan read from the file `text` against its own id, recomputed from the file's bytes
/// (`crate::plan::file::id_of_text`), and against the id the caller expects (`--plan-id`, the
/// plan that was reviewed).
pub(crate) fn check_plan_id(
    plan: &Plan,
    text: &str,
    expected: Option<&str>,
) -> Result<(), Refusal> {
    let actual = crate::plan::file::id_of_text(text).unwrap_or_else(|| "(none)".to_string());
    if plan.plan_id != actual {
        return Err(Refusal::PlanIdMismatch {
            claimed: plan.plan_id.clone(),
            actual,
        });
    }
    match expected {
        Some(expected) if !expected.trim().eq_ignore_ascii_case(&actual) => {
            Err(Refusal::NotTheReviewedPlan {
                expected: expected.trim().to_string(),
                actual,
            })
        }
        _ => Ok(()),
    }
}

/// Every check made before any request: versions and `--max-changes`.
pub(crate) fn preflight(plan: &Plan, options: &ApplyOptions) -> Result<(), Refusal> {
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

/// Applies the reviewed changes of `plan` that `declared` (the manifests) implies, through
/// `live`. Refuses (before any request) a plan of another version or one larger than
/// `--max-changes`; otherwise always returns a report, whatever failed.
pub async fn apply_plan(
    plan: &Plan,
    declared: &Declared<'_>,
    live: &Session,
    options: &ApplyOptions,
    progress: &dyn Progress,
) -> Result<ApplyReport, Refusal> {
    preflight(plan, options)?;
    let started_at = now();
    let requests_before = live.request_counts();

    let resources: HashMap<(Kind, &str), &Resource> = declared
        .manifests
        .resources
        .iter()
        .map(|r| ((r.kind(), r.name.as_str()), r))
        .collect();
    // A plan names each object once; one that names an object twice could create it twice.
    let mut named: HashMap<(Kind, &str), usize> = HashMap::new();
    for c in &plan.changes {
        *named
            .entry((c.address.kind, c.address.name.as_str()))
            .or_default() += 1;
    }
    let mut refused_targets: BTreeMap<&str, Option<Refused>> = BTreeMap::new();
    let mut objects: Vec<Option<ObjectReport>> = vec![None; plan.changes.len()];
    let mut by_target: BTreeMap<&str, Vec<(usize, &Resource)>> = BTreeMap::new();
    progress.start(
        plan.changes
            .iter()
            .filter(|c| c.action != Action::NoOp)
            .count(),
    );
    for (i, change) in plan.changes.iter().enumerate() {
        let mut report = ObjectReport::new(change.address.clone(), change.action, Status::NoOp);
        match change.action {
            Action::NoOp => {}
            Action::Conflict => {
                report.status = Status::ConflictSkipped;
                report.reasons = change.reasons.clone();
                report.id = change.live_id.clone();
            }
            Action::Create | Action::Update => {
                let key = (change.address.kind, change.address.name.as_str());
                let target = change.address.target.as_str();
                // An earlier create of it may have lost its key: a human decides first.
                let held = options.journal.as_ref().and_then(|j| {
                    let record = j.records().about(&change.address)?;
                    Some(Refused::JournalOpen {
                        record: record.conflict().to_string(),
                    })
                });
                match (held, resources.get(&key)) {
                    _ if named.get(&key).copied().unwrap_or(0) > 1 => {
                        report.refuse(Refused::Duplicated)
                    }
                    (Some(held), _) => report.refuse(held),
                    (None, None) => report.refuse(Refused::NotDeclared),
                    (None, Some(resource)) if resource.address() != change.address => {
                        // Declared under another target or remote key than the plan says:
                        // not the declaration that was reviewed.
                        report.status = Status::Stale;
                        report.reasons = vec![Reason::DeclaredAs(resource.address())];
                    }
                    (None, Some(resource)) => {
                        let refusal = refused_targets
                            .entry(target)
                            .or_insert_with(|| declared.target_refusal(plan, target));
                        match refusal {
                            Some(refusal) => report.refuse(refusal.clone()),
                            None => {
                                by_target.entry(target).or_default().push((i, resource));
                                continue;
                            }
                        }
                    }
                }
            }
        }
        progress.finished(&report);
        objects[i] = Some(report);
    }

    let runs = by_target.into_iter().map(|(target, items)| {
        apply_target(plan, declared, live, target, items, options, progress)
    });
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
    let requests = requests_since(&requests_before, &live.request_counts());
    let interrupted = options.cancel.is_cancelled();
    Ok(report_of(
        plan,
        declared,
        objects,
        interrupted,
        started_at,
        requests,
    ))
}

/// The report of a run over `plan`: `objects` (one per change, in plan order), then the
/// declared objects the plan does not name; the outcome follows from them and `interrupted`.
fn report_of(
    plan: &Plan,
    declared: &Declared<'_>,
    mut objects: Vec<ObjectReport>,
    interrupted: bool,
    started_at: String,
    requests: BTreeMap<String, RequestCounts>,
) -> ApplyReport {
    objects.extend(not_in_plan(plan, declared.manifests));
    let outcome = ReportOutcome::of(&objects, interrupted);
    ApplyReport {
        report_version: REPORT_VERSION,
        warrant_version: env!("CARGO_PKG_VERSION").to_string(),
        plan_id: plan.plan_id.clone(),
        plan_created_at: plan.created_at.clone(),
        plan_git_commit: plan.git_commit.clone(),
        plan_desired_digest: plan.desired_digest.clone(),
        started_at,
        finished_at: now(),
        interrupted,
        outcome,
        counts: ApplyReport::counts_of(&objects),
        objects,
        requests,
    }
}

/// The declared objects the plan does not name: never touched, reported so nobody takes
/// their absence for success.
fn not_in_plan(plan: &Plan, manifests: &Manifests) -> Vec<ObjectReport> {
    let named: BTreeSet<(Kind, &str)> = plan
        .changes
        .iter()
        .map(|c| (c.address.kind, c.address.name.as_str()))
        .collect();
    let mut out: Vec<ObjectReport> = manifests
        .resources
        .iter()
        .filter(|r| !named.contains(&(r.kind(), r.name.as_str())))
        .map(|r| ObjectReport::new(r.address(), Action::NoOp, Status::NotInPlan))
        .collect();
    out.sort_by(|a, b| crate::plan::order_key(&a.address).cmp(&crate::plan::order_key(&b.address)));
    out
}

pub(crate) fn now() -> String {
    crate::plan::gather::now_rfc3339()
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
        .filter(|(_, counts)| counts.total > 0)
        .collect()
}

/// A reviewed change bound to what the manifests declare for its object now.
struct Bound<'p> {
    index: usize,
    change: &'p Change,
    /// Derived from the manifests at apply time; the plan's own `desired` is never used.
    desired: DesiredObject,
}

/// Why a reviewed change cannot be bound to what the manifests declare now.
enum Unbound {
    /// Its declaration changed since the plan: stale.
    Changed,
    /// The plan asks for more than the declaration implies.
    Refused(Refused),
}

/// Checks a reviewed change against its fresh declaration: stale when the declaration changed
/// since the plan, refused when the plan adds or creates what the declaration does not imply.
fn bind(change: &Change, desired: &DesiredObject) -> Result<(), Unbound> {
    if declaration_digest(desired) != change.declaration {
        return Err(Unbound::Changed);
    }
    let empty = Values::new();
    for (field, planned) in &change.additions {
        let declared = desired.fields.get(field).map_or(&empty, |f| &f.values);
        let undeclared: Vec<String> = planned.difference(declared).cloned().collect();
        if !undeclared.is_empty() {
            return Err(Unbound::Refused(Refused::UndeclaredAdditions {
                field: field.clone(),
                values: undeclared,
            }));
        }
    }
    if change.action == Action::Create && desired.create != crate::model::CreateRule::Allowed {
        return Err(Unbound::Refused(Refused::CreateNotDeclared));
    }
    Ok(())
}

/// Works through one target's objects: resolves their declarations once, binds each reviewed
/// change to its declaration, then batch by batch, stopping before a new batch when
/// cancelled.
async fn apply_target(
    plan: &Plan,
    declared: &Declared<'_>,
    live: &Session,
    target: &str,
    items: Vec<(usize, &Resource)>,
    options: &ApplyOptions,
    progress: &dyn Progress,
) -> Vec<(usize, ObjectReport)> {
    let mut out = Vec::with_capacity(items.len());
    let not_attempted = |i: usize| {
        let c = &plan.changes[i];
        ObjectReport::new(c.address.clone(), c.action, Status::NotAttempted)
    };
    if options.cancel.is_cancelled() {
        for (i, _) in items {
            let report = not_attempted(i);
            progress.finished(&report);
            out.push((i, report));
        }
        return out;
    }
    progress.working_on(target);
    let resources: Vec<&Resource> = items.iter().map(|(_, r)| *r).collect();
    let resolved = match resolve(live, target, &resources).await {
        Ok(desired) if desired.len() == resources.len() => Ok(desired),
        Ok(desired) => Err(format!(
            "the client resolved {} objects for {} declared",
            desired.len(),
            resources.len()
        )),
        Err(e) => Err(e.to_string()),
    };
    let resolved = match resolved {
        Ok(resolved) => resolved,
        Err(e) => {
            for (i, _) in items {
                let c = &plan.changes[i];
                let mut report = ObjectReport::new(c.address.clone(), c.action, Status::Failed);
                report.error = Some(format!("resolving its declaration failed: {e}"));
                progress.finished(&report);
                out.push((i, report));
            }
            return out;
        }
    };
    let mut bound = Vec::with_capacity(resolved.len());
    for ((i, _), desired) in items.into_iter().zip(resolved) {
        let change = &plan.changes[i];
        match bind(change, &desired) {
            Ok(()) => bound.push(Bound {
                index: i,
                change,
                desired,
            }),
            Err(why) => {
                let mut report =
                    ObjectReport::new(change.address.clone(), change.action, Status::Stale);
                report.id = change.live_id.clone();
                match why {
                    Unbound::Changed => report.reasons = vec![Reason::DeclarationChanged],
                    Unbound::Refused(refused) => report.refuse(refused),
                }
                progress.finished(&report);
                out.push((i, report));
            }
        }
    }

    // CONNECT and Mist can only be re-read as whole lists, so every batch costs a full list
    // read: cap the number of batches per target so reads stay bounded as N grows, while
    // small plans keep small batches (responsive progress and Ctrl-C).
    let size = options
        .batch_size
        .max(bound.len().div_ceil(MAX_BATCHES_PER_TARGET))
        .max(1)
        .next_multiple_of(
            live.client(target)
                .map_or(1, |c| c.objects_per_write())
                .max(1),
        );
    let root = declared.manifests.root.as_path();
    let mut bound = bound.into_iter().peekable();
    while bound.peek().is_some() {
        let batch: Vec<Bound> = bound.by_ref().take(size).collect();
        if options.cancel.is_cancelled() {
            for b in batch.into_iter().chain(bound.by_ref()) {
                let report = not_attempted(b.index);
                progress.finished(&report);
                out.push((b.index, report));
            }
            break;
        }
        progress.working_on(target);
        let indices: Vec<usize> = batch.iter().map(|b| b.index).collect();
        let journal = options.journal.as_deref();
        let reports = apply_batch(live, target, batch, root, journal, &plan.plan_id).await;
        for (i, report) in indices.into_iter().zip(reports) {
            progress.finished(&report);
            out.push((i, report));
        }
    }
    out
}

/// One object of a batch while it is being worked on.
struct Slot<'a> {
    change: &'a Change,
    /// The object as the manifests declare it now.
    desired: DesiredObject,
    report: ObjectReport,
    /// Applied or rebased, decided by the first write.
    first_status: Option<Status>,
    /// This run created the object (so a later read showing it present is our own doing).
    created: bool,
    /// Its create, journalled and not yet settled.
    ticket: Option<journal::Ticket>,
}

impl<'a> Slot<'a> {
    fn new(bound: Bound<'a>) -> Slot<'a> {
        let change = bound.change;
        let mut report =
            ObjectReport::new(change.address.clone(), change.action, Status::NotAttempted);
        report.id = change.live_id.clone();
        Slot {
            change,
            desired: bound.desired,
            report,
            first_status: None,
            created: false,
            ticket: None,
        }
    }

    fn finish(&mut self, status: Status) {
        self.report.status = status;
    }

    fn fail(&mut self, error: String) {
        self.report.status = Status::Failed;
        self.report.error = Some(error);
    }

    fn stale(&mut self, reasons: Vec<Reason>) {
        self.report.status = Status::Stale;
        self.report.reasons = reasons;
    }
}

/// A write built for one object, and what must be live after it.
struct Pending {
    slot: usize,
    expected: SmallMap<Values>,
    /// Every value of every field live right before the write: none may be gone after it.
    kept: SmallMap<Values>,
}

/// Re-read, decide, write, verify, and redo what a concurrent writer dropped. Creates that
/// return a key are journalled in `journal` under `plan_id`.
async fn apply_batch(
    live: &Session,
    target: &str,
    batch: Vec<Bound<'_>>,
    root: &Path,
    journal: Option<&journal::Journal>,
    plan_id: &str,
) -> Vec<ObjectReport> {
    let mut slots: Vec<Slot> = batch.into_iter().map(Slot::new).collect();
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
            match decide(slot.change, &slot.desired, state, slot.created) {
                Decision::Satisfied => {
                    let status = slot.first_status.unwrap_or(Status::AlreadySatisfied);
                    slot.finish(status);
                }
                Decision::Stale(reasons) => slot.stale(reasons),
                Decision::Fail(error) => slot.fail(error),
                Decision::Write {
                    op,
                    additions,
                    expected,
                    kept,
                    rebased,
                } => {
                    if let (WriteOp::Create { .. }, Some(sink)) =
                        (op.as_ref(), &slot.desired.key_sink)
                        && let Err(e) = sink.check(root)
                    {
                        slot.fail(format!(
                            "not created, because its key could not be stored: {e}"
                        ));
                        continue;
                    }
                    // The intent is on disk before the create is sent, or nothing is sent.
                    if let (WriteOp::Create { .. }, Some(_), Some(journal)) =
                        (op.as_ref(), &slot.desired.key_sink, journal)
                    {
                        match journal.begin(plan_id, &slot.desired.address) {
                            Ok(ticket) => slot.ticket = Some(ticket),
                            Err(e) => {
                                slot.fail(format!("not created: {e}"));
                                continue;
                            }
                        }
                    }
                    slot.first_status.get_or_insert(if rebased {
                        Status::Rebased
                    } else {
                        Status::Applied
                    });
                    for (field, values) in additions {
                        slot.report.added.entry(field).or_default().extend(values);
                    }
                    written.push(Pending {
                        slot: k,
                        expected,
                        kept,
                    });
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
        // Journalled creates that failed in a way that may have created the object.
        let mut unsure: Vec<usize> = Vec::new();
        for ((pending, outcome), is_create) in written.into_iter().zip(outcomes).zip(created) {
            let slot = &mut slots[pending.slot];
            let mut outcome = match outcome {
                Ok(outcome) => outcome,
                Err(e) => {
                    if journal::refused_before_creating(&e) {
                        finish_create(journal, slot, journal::KeyOutcome::NotCreated);
                    } else if slot.ticket.is_some() {
                        unsure.push(pending.slot);
                    }
                    slot.fail(format!("the write failed: {e}"));
                    // A refusal the client recognised keeps its typed reason (`Reason`).
                    slot.report.reasons.extend(e.reason.as_deref().cloned());
                    continue;
                }
            };
            slot.report.runs.append(&mut outcome.runs);
            if is_create {
                slot.created = true;
                slot.report.id = outcome.created_id.clone();
                let delivered = deliver_key(slot, outcome.secret, root).await;
                let key = match delivered {
                    Ok(()) => journal::KeyOutcome::Delivered,
                    Err(_) => journal::KeyOutcome::NotDelivered,
                };
                let journalled = slot.ticket.is_some();
                finish_create(journal, slot, key);
                if let Err((error, mut todo)) = delivered {
                    if journalled {
                        todo.push_str(&journal::resolve_first(&slot.desired.address));
                    }
                    slot.fail(error);
                    slot.report.action_required = Some(todo);
                    continue;
                }
            }
            to_verify.push(pending);
        }

        // Every write is confirmed by reading the objects again, never by the write's own
        // response: an echo of the request proves nothing about what the server stored. The
        // same read settles whether a failed create made its object after all.
        let written: Vec<usize> = to_verify.iter().map(|p| p.slot).collect();
        let mut reread = if written.is_empty() && unsure.is_empty() {
            Ok(Vec::new().into_iter())
        } else {
            read_exact(live, target, &slots, &[&written[..], &unsure[..]].concat())
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
            // A write adds; it must not take anything away, in the fields it wrote or in any
            // other (a server whose PUT replaces what the body leaves out would). That is not
            // retried: writing again cannot bring back what warrant did not declare.
            if let (Some(lost), Some(_)) = (missing(&pending.kept, &after), after.object()) {
                slot.fail(format!(
                    "the write was made, but values live right before it are gone after it ({lost}): the server dropped them or a concurrent writer removed them; warrant never removes values, so restore them by hand"
                ));
                continue;
            }
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
        for k in unsure {
            let after = reread.as_mut().ok().and_then(Iterator::next);
            settle_failed_create(journal, &mut slots[k], after.as_ref());
        }
        todo = again;
    }
    slots.into_iter().map(|s| s.report).collect()
}

/// Reads the objects of `slots` listed in `which`, insisting on one state per object.
async fn read_exact(
    live: &Session,
    target: &str,
    slots: &[Slot<'_>],
    which: &[usize],
) -> Result<Vec<LiveState>, PlatformError> {
    let desired: Vec<DesiredObject> = which.iter().map(|&k| slots[k].desired.clone()).collect();
    let states = live.live(target)?.read(&desired).await?;
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

/// Resolves the declarations of `resources` on `target`.
async fn resolve(
    live: &Session,
    target: &str,
    resources: &[&Resource],
) -> Result<Vec<DesiredObject>, PlatformError> {
    live.live(target)?.resolve(resources).await
}

/// Writes `ops`, insisting on one result per op.
async fn write_exact(
    live: &Session,
    target: &str,
    ops: Vec<WriteOp>,
) -> Vec<Result<WriteOutcome, PlatformError>> {
    if ops.is_empty() {
        return Vec::new();
    }
    let n = ops.len();
    let results = match live.live(target) {
        Ok(client) => client.write(ops).await,
        Err(e) => return (0..n).map(|_| Err(e.clone())).collect(),
    };
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
    Stale(Vec<Reason>),
    Fail(String),
    Write {
        op: Box<WriteOp>,
        additions: SmallMap<Values>,
        /// What must be live after the write: the fresh values ∪ the additions, per field
        /// written.
        expected: SmallMap<Values>,
        /// The fresh values of every field, which must all still be live after the write.
        kept: SmallMap<Values>,
        rebased: bool,
    },
}

/// Re-diffs `desired` (from the manifests) against fresh live state and decides, never going
/// beyond what the plan reviewed.
fn decide(
    planned: &Change,
    desired: &DesiredObject,
    state: &LiveState,
    created_by_us: bool,
) -> Decision {
    let fresh = crate::plan::diff(desired, state);
    let rebased = fresh.fingerprint != planned.fingerprint;
    match fresh.action {
        // The credential cannot write this object (e.g. not an admin of the Atlan connection),
        // or its live value is unknown: re-planning would not help. It is a failure with the
        // platform's reason; the object is left untouched. Anything else moved since the plan.
        Action::Conflict => match fresh.reasons.iter().find(|r| r.fails_apply()) {
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
                return Decision::Stale(vec![Reason::GoneSincePlan]);
            }
            if let Some(reasons) = unreviewed(&fresh.additions, &planned.additions) {
                return Decision::Stale(reasons);
            }
            let fields: SmallMap<Values> = desired
                .fields
                .iter()
                .map(|(name, field)| (name.clone(), field.values.clone()))
                .collect();
            Decision::Write {
                expected: fields.clone(),
                kept: SmallMap::new(),
                op: Box::new(WriteOp::Create {
                    desired: desired.clone(),
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
            if planned.action == Action::Create && desired.key_sink.is_some() && !created_by_us {
                return Decision::Stale(vec![Reason::CreatedElsewhere]);
            }
            let Some(object) = state.object() else {
                return Decision::Fail(
                    "an update was decided for an object that is not present".into(),
                );
            };
            let mut after = fresh.after();
            let expected = fresh
                .additions
                .keys()
                .filter_map(|field| Some((field.clone(), after.remove(field)?)))
                .collect();
            Decision::Write {
                op: Box::new(WriteOp::Update {
                    address: planned.address.clone(),
                    live: object.clone(),
                    additions: fresh.additions.clone(),
                }),
                kept: fresh.before.clone(),
                additions: fresh.additions,
                expected,
                rebased,
            }
        }
    }
}

/// The fresh additions the plan did not review, as reasons; `None` when all were reviewed.
fn unreviewed(fresh: &SmallMap<Values>, planned: &SmallMap<Values>) -> Option<Vec<Reason>> {
    let empty = Values::new();
    let reasons: Vec<Reason> = fresh
        .iter()
        .filter_map(|(field, add)| {
            let reviewed = planned.get(field).unwrap_or(&empty);
            let values: Vec<String> = add.difference(reviewed).cloned().collect();
            (!values.is_empty()).then(|| Reason::Unreviewed {
                field: field.clone(),
                values,
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

/// Journals how the create of `slot` ended, when it was journalled. A record that cannot be
/// written leaves the intent open: the next plan flags the object, which the report says.
fn finish_create(
    journal: Option<&journal::Journal>,
    slot: &mut Slot<'_>,
    outcome: journal::KeyOutcome,
) {
    let (Some(journal), Some(ticket)) = (journal, slot.ticket.take()) else {
        return;
    };
    if let Err(e) = journal.finish(ticket, slot.report.id.as_deref(), outcome) {
        slot.report
            .reasons
            .push(Reason::JournalNotWritten(e.to_string()));
    }
}

/// A journalled create failed in a way that may have created the object: the read after the
/// writes (`after`, `None` when it failed) says whether it did. Created means a token without
/// its key: a human must replace it.
fn settle_failed_create(
    journal: Option<&journal::Journal>,
    slot: &mut Slot<'_>,
    after: Option<&LiveState>,
) {
    let name = slot.desired.address.remote_key.clone();
    let outcome = match after {
        Some(LiveState::Absent) => journal::KeyOutcome::NotCreated,
        Some(state) => {
            let id = state.object().map(|o| o.id.clone());
            slot.report.id = id.clone();
            slot.report.action_required = Some(format!(
                "a token named {name} exists (id {}) although its create failed: if this apply made it, its key was not captured; check it, delete it by hand and run apply again to create a new one{}",
                id.as_deref().unwrap_or("unknown"),
                journal::resolve_first(&slot.desired.address)
            ));
            journal::KeyOutcome::NotDelivered
        }
        None => {
            slot.report.action_required = Some(format!(
                "a token named {name} may have been created although its create failed, and its key was not captured: check Mist, delete it if it exists, and run apply again{}",
                journal::resolve_first(&slot.desired.address)
            ));
            journal::KeyOutcome::Unknown
        }
    };
    finish_create(journal, slot, outcome);
}

/// Hands a created object's key to the sink the manifests name and drops it. On failure
/// returns the error and what a human must do about the token that now exists without a
/// delivered key.
async fn deliver_key(
    slot: &Slot<'_>,
    secret: Option<Secret>,
    root: &Path,
) -> Result<(), (String, String)> {
    let name = &slot.desired.address.remote_key;
    let id = slot.report.id.as_deref().unwrap_or("unknown");
    let failed = |why: String| {
        (
            format!("token created, key NOT delivered: rotate it (token {name}, id {id}): {why}"),
            format!(
                "token {name} (id {id}) exists, but its key was not delivered: delete it by hand and run apply again to create a new one"
            ),
        )
    };
    match (&slot.desired.key_sink, secret) {
        (None, None) => Ok(()),
        (Some(sink), Some(key)) => sink
            .deliver(&key, root)
            .await
            .map_err(|e| failed(format!("{}: {e}", sink.describe()))),
        (Some(sink), None) => Err(failed(format!(
            "the platform returned no key for {}",
            sink.describe()
        ))),
        (None, Some(_)) => Err(failed(
            "the platform returned a key, but the object declares no keySink; the key was discarded".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Address, CreateRule, DesiredField, FieldPolicy, LiveObject};

    fn desired(max_items: Option<usize>) -> DesiredObject {
        DesiredObject {
            address: Address {
                kind: Kind::new("ConnectionAdmins"),
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
            create: CreateRule::Never(Reason::NeverCreated {
                what: "connection",
                key: "c".into(),
            }),
            labels: SmallMap::new(),
            problems: Vec::new(),
            key_sink: None,
            route: None,
            adopt: Default::default(),
        }
    }

    fn denied() -> Reason {
        Reason::NotConnectionAdmin {
            caller: "jsmith".into(),
            connection: "c".into(),
        }
    }

    fn live(write_denied: Option<Reason>) -> LiveState {
        LiveState::Present {
            object: LiveObject {
                id: "guid".into(),
                fields: SmallMap::from([("adminUsers".into(), ["a".to_string()].into())]),
                labels: SmallMap::new(),
                write_denied,
                extra: SmallMap::new(),
                made_outside_by: None,
            },
        }
    }

    #[test]
    fn a_write_the_credential_is_denied_fails_with_the_reason() {
        let planned = crate::plan::diff(&desired(None), &live(None));
        assert_eq!(planned.action, Action::Update);
        match decide(&planned, &desired(None), &live(Some(denied())), false) {
            Decision::Fail(error) => assert_eq!(error, format!("not applied: {}", denied())),
            _ => panic!("expected a failure"),
        }
    }

    #[test]
    fn an_unreadable_object_fails_rather_than_going_stale() {
        let planned = crate::plan::diff(&desired(None), &live(None));
        let unreadable = LiveState::Unreadable {
            id: "guid".into(),
            reasons: vec![Reason::Unreadable {
                field: "adminUsers".into(),
                problem: "is null".into(),
                read_with: "POST /search".into(),
            }],
        };
        match decide(&planned, &desired(None), &unreadable, false) {
            Decision::Fail(error) => assert_eq!(
                error,
                "not applied: live state unreadable: field adminUsers is null in POST /search"
            ),
            _ => panic!("expected a failure"),
        }
    }

    #[test]
    fn a_denied_write_with_another_conflict_stays_stale() {
        let planned = crate::plan::diff(&desired(None), &live(None));
        // Over the limit as well: live state is in the way, not only the permission.
        let over_limit = desired(Some(1));
        match decide(&planned, &over_limit, &live(Some(denied())), false) {
            Decision::Stale(reasons) => {
                assert!(
                    reasons
                        .iter()
                        .any(|r| matches!(r, Reason::LimitExceeded { max: 1, .. })),
                    "{reasons:?}"
                )
            }
            _ => panic!("expected stale"),
        }
    }
}
