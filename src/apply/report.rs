//! The apply report: what happened to every object of the plan (and to the declared objects
//! the plan does not name), the requests used, and the outcome that decides the exit code.
//! Written as JSON by `--report FILE` and summarised in one line at the end of a run. It holds
//! addresses, values and messages only — never a key: every message from a server or a key
//! sink was redacted where it was made.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::cli::Outcome;
use crate::model::{Address, SmallMap, Values};
use crate::plan::Action;
use crate::platform::RequestCounts;

/// Version of the report format.
pub const REPORT_VERSION: u32 = 1;

/// What happened to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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
    pub const ALL: [Status; 11] = [
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

    pub fn as_str(self) -> &'static str {
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

/// Why apply refused a change of the plan: it asked for more than the merged manifests
/// declare (the plan file is untrusted; these are what an edited or foreign plan looks like),
/// or the create journal holds an earlier create of the object that nobody resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case", tag = "reason")]
pub enum Refused {
    #[error("no manifest declares this object")]
    NotDeclared,
    #[error("the plan names this object more than once")]
    Duplicated,
    #[error("no manifest declares target {target}")]
    TargetNotDeclared { target: String },
    #[error(
        "the plan's settings for target {target} differ from the manifests' ({}); only the manifests and --endpoint decide where requests go",
        differences.join("; ")
    )]
    TargetSettings {
        target: String,
        differences: Vec<String>,
    },
    #[error(
        "the plan adds {} to {field}, which the manifests do not declare",
        values.join(", ")
    )]
    UndeclaredAdditions { field: String, values: Vec<String> },
    #[error("the plan creates the object, which the manifests never create")]
    CreateNotDeclared,
    #[error("{record}")]
    JournalOpen { record: String },
}

/// The outcome of one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    pub reasons: Vec<String>,
    /// Why the object was refused, as data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<Refused>,
    /// What a human must do, e.g. replace a token whose key was not captured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_required: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl ObjectReport {
    pub fn new(address: Address, planned: Action, status: Status) -> ObjectReport {
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
        }
    }

    /// Marks the object refused, for `why`.
    pub fn refuse(&mut self, why: Refused) {
        self.status = Status::Refused;
        self.reasons = vec![why.to_string()];
        self.refused = Some(why);
    }

    /// One line for CI logs, e.g.
    /// `applied  ConnectionAdmins/snowflake-prod (atlan-prod: default/snowflake/1): +2 adminUsers`.
    pub fn line(&self) -> String {
        let detail = match self.status {
            Status::Applied | Status::Rebased => {
                let mut d = self
                    .added
                    .iter()
                    .map(|(field, values)| format!("+{} {field}", values.len()))
                    .collect::<Vec<_>>()
                    .join(", ");
                if self.planned == Action::Create
                    && let Some(id) = &self.id
                {
                    d = format!("created {id}: {d}");
                }
                if self.retries > 0 {
                    let times = if self.retries == 1 { "time" } else { "times" };
                    d.push_str(&format!(" (retried {} {times})", self.retries));
                }
                d
            }
            Status::AlreadySatisfied => "nothing left to add".into(),
            Status::Stale | Status::ConflictSkipped | Status::Refused => self.reasons.join("; "),
            Status::Failed => {
                let mut d = self.error.clone().unwrap_or_default();
                if let Some(todo) = &self.action_required {
                    d.push_str(&format!(" — {todo}"));
                }
                d
            }
            Status::NoOp => "nothing planned".into(),
            Status::NotAttempted => "the run stopped before this object".into(),
            Status::NotInPlan => "not in the reviewed plan; left untouched".into(),
            Status::Unfinished if !self.reasons.is_empty() => self.reasons.join("; "),
            Status::Unfinished => "the run stopped before this object finished; its write may or may not have been made (plan again)".into(),
        };
        // Ids, reasons and errors come from servers and plan files: one line, escaped.
        let line = format!("{}  {}: {detail}", self.status, self.address);
        crate::text::escape(&line).into_owned()
    }
}

/// The whole report of one apply run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    pub fn of(objects: &[ObjectReport], interrupted: bool) -> ReportOutcome {
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

    pub fn exit(self) -> Outcome {
        match self {
            ReportOutcome::Success => Outcome::Success,
            ReportOutcome::Stale => Outcome::Stale,
            ReportOutcome::Failure => Outcome::Failure,
        }
    }
}

impl ApplyReport {
    pub fn counts_of(objects: &[ObjectReport]) -> BTreeMap<Status, usize> {
        let mut counts = BTreeMap::new();
        for o in objects {
            *counts.entry(o.status).or_insert(0) += 1;
        }
        counts
    }

    pub fn outcome(&self) -> Outcome {
        self.outcome.exit()
    }

    /// The one-line summary printed at the end of a run.
    pub fn summary_line(&self) -> String {
        let counts: Vec<String> = Status::ALL
            .iter()
            .filter_map(|s| self.counts.get(s).map(|n| format!("{n} {s}")))
            .collect();
        let total: u64 = self.requests.values().map(|r| r.total).sum();
        let per_target: Vec<String> = self
            .requests
            .iter()
            .map(|(t, r)| format!("{t} {}", r.total))
            .collect();
        let verdict = match self.outcome {
            ReportOutcome::Success => "complete",
            ReportOutcome::Stale => "stale objects refused (re-plan them)",
            ReportOutcome::Failure if self.interrupted => "interrupted",
            ReportOutcome::Failure => "incomplete",
        };
        let counts = if counts.is_empty() {
            "no objects".to_string()
        } else {
            counts.join(", ")
        };
        format!(
            "Apply {verdict}: {counts}; {total} requests ({})",
            per_target.join(", ")
        )
    }
}
