//! The apply report: what happened to every object of the plan (and to the declared objects
//! the plan does not name), the requests used, and the outcome the exit code is chosen from.
//! Written as JSON by `--report FILE`; its lines and summary are worded by
//! `crate::render::report`. It holds addresses, values and messages only — never a key: every
//! message from a server or a key sink was redacted where it was made.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::{Address, Reason, Refused, RouteRun, SmallMap, Values};
use crate::plan::Action;
use crate::platform::RequestCounts;

/// Version of the report format.
pub const REPORT_VERSION: u32 = 1;

/// What happened to one object.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// The planned additions were written and verified.
    Applied,
    /// Live state had moved, but the fresh additions were a subset of the planned ones; those
    /// were written and verified.
    Rebased,
    /// Live state already had everything the plan would add.
    AlreadySatisfied,
    /// Live state moved incompatibly with the plan; the object was left untouched.
    Stale,
    /// A read, write, verification or key delivery failed.
    Failed,
    /// The plan asked for more than the manifests declare (see [`Refused`]); untouched.
    Refused,
    /// The plan marked the object as a conflict; it was never attempted.
    ConflictSkipped,
    /// The plan had nothing to do for the object.
    NoOp,
    /// The run stopped (Ctrl-C, or an earlier refusal) before the object was started.
    NotAttempted,
    /// Declared in the manifests, but not in the reviewed plan: never touched.
    NotInPlan,
    /// The run was abandoned (interrupted a second time) before the object finished: its
    /// write may or may not have been made (see `crate::apply::abandon`).
    Unfinished,
}

impl Status {
    pub(crate) const ALL: [Status; 11] = [
        Status::Applied,
        Status::Rebased,
        Status::AlreadySatisfied,
        Status::Stale,
        Status::Failed,
        Status::Refused,
        Status::ConflictSkipped,
        Status::NoOp,
        Status::NotAttempted,
        Status::NotInPlan,
        Status::Unfinished,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Applied => "applied",
            Status::Rebased => "rebased",
            Status::AlreadySatisfied => "already-satisfied",
            Status::Stale => "stale",
            Status::Failed => "failed",
            Status::Refused => "refused",
            Status::ConflictSkipped => "conflict-skipped",
            Status::NoOp => "no-op",
            Status::NotAttempted => "not-attempted",
            Status::NotInPlan => "not-in-plan",
            Status::Unfinished => "unfinished",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ObjectReport {
    pub address: Address,
    /// What the plan said.
    pub planned: Action,
    pub status: Status,
    /// Values written, per field (for a create: every value it was created with).
    #[serde(default, skip_serializing_if = "SmallMap::is_empty")]
    pub added: SmallMap<Values>,
    /// The live object's id, or the id of the object created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// How often the read-modify-write was redone because a concurrent write dropped something.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: u32,
    /// Why the object failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why the object is stale, refused or a conflict.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<Reason>,
    /// Why the object was refused, as data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<Refused>,
    /// What a human must do, e.g. replace a token whose key was not captured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_required: Option<String>,
    /// The runs that made the write, on a route other than the direct one (Atlan's package
    /// workflow): template, run, phase, message and the verified result.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<RouteRun>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl ObjectReport {
    pub(crate) fn new(address: Address, planned: Action, status: Status) -> ObjectReport {
        ObjectReport {
            address,
            planned,
            status,
            added: SmallMap::new(),
            id: None,
            retries: 0,
            error: None,
            reasons: Vec::new(),
            refused: None,
            action_required: None,
            runs: Vec::new(),
        }
    }

    /// Marks the object refused, for `why`.
    pub(crate) fn refuse(&mut self, why: Refused) {
        self.status = Status::Refused;
        self.reasons = vec![Reason::Refused(why.clone())];
        self.refused = Some(why);
    }
}

/// The whole report of one apply run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(title = "warrant apply --report")]
pub struct ApplyReport {
    pub report_version: u32,
    pub warrant_version: String,
    /// The id of the applied plan.
    pub plan_id: String,
    /// When the applied plan was made, and from which commit.
    pub plan_created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_git_commit: Option<String>,
    pub plan_desired_digest: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub finished_at: String,
    /// The run was stopped by Ctrl-C (objects not started by then are not attempted).
    pub interrupted: bool,
    pub outcome: ReportOutcome,
    /// Objects per status.
    pub counts: BTreeMap<Status, usize>,
    /// Every object of the plan, in plan order; then the declared objects the plan does not
    /// name (`not-in-plan`).
    pub objects: Vec<ObjectReport>,
    /// Requests used per target during the apply.
    pub requests: BTreeMap<String, RequestCounts>,
}

/// The outcome as it appears in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ReportOutcome {
    /// Everything planned is live now.
    Success,
    /// Some objects were refused as stale; nothing failed.
    Stale,
    /// Something failed, was refused, was a conflict in the plan, or was not attempted; or the
    /// run was interrupted.
    Failure,
}

impl ReportOutcome {
    /// Decides the outcome: an interrupted run, or any failed, refused, conflicting or
    /// unattempted object is a failure (exit 1); otherwise any stale object makes it stale
    /// (exit 3). Declared objects not in the plan change nothing. An interrupted
    /// run fails even when the interrupt came after the last batch had started: whoever pressed
    /// Ctrl-C must not read the run as a clean success.
    pub(crate) fn of(objects: &[ObjectReport], interrupted: bool) -> ReportOutcome {
        let has = |s: Status| objects.iter().any(|o| o.status == s);
        if interrupted
            || has(Status::Failed)
            || has(Status::Refused)
            || has(Status::ConflictSkipped)
            || has(Status::NotAttempted)
            || has(Status::Unfinished)
        {
            ReportOutcome::Failure
        } else if has(Status::Stale) {
            ReportOutcome::Stale
        } else {
            ReportOutcome::Success
        }
    }
}

impl ApplyReport {
    pub(crate) fn counts_of(objects: &[ObjectReport]) -> BTreeMap<Status, usize> {
        let mut counts = BTreeMap::new();
        for o in objects {
            *counts.entry(o.status).or_insert(0) += 1;
        }
        counts
    }
}
