//! The glue of each subcommand: load, call the library, render, choose the outcome. One file
//! per command, each with its options (what `crate::cli` made of the arguments, once, after
//! parsing) and `run(options) -> anyhow::Result<Outcome>`; shared glue is in `common`. All of
//! them write through `output`, which never panics and ends quietly on a closed stdout.

pub(crate) mod apply;
pub(crate) mod common;
pub mod completions;
pub(crate) mod demo;
pub(crate) mod drift;
pub(crate) mod export;
pub(crate) mod interrupts;
pub(crate) mod journal;
pub(crate) mod man;
pub(crate) mod output;
pub mod plan;
pub(crate) mod report_file;
pub(crate) mod sandbox;
pub mod schema;
pub(crate) mod show;
pub(crate) mod validate;
pub(crate) mod version;

/// How a command ended; `main` exits with its [`code`](Outcome::code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 0: success, nothing to change (plan) or everything applied (apply).
    Success,
    /// 1: invalid manifests, conflicts, API failure, partial apply, a usage error.
    Failure,
    /// 2: plan with `--detailed-exitcode` found changes.
    ChangesPending,
    /// 3: apply refused one or more objects as stale.
    Stale,
    /// 4: `drift --fail-on-drift` found drift: undeclared or missing access.
    DriftFound,
}

impl Outcome {
    /// The process exit code (the table in the README and `warrant --help`).
    pub fn code(self) -> u8 {
        match self {
            Outcome::Success => 0,
            Outcome::Failure => 1,
            Outcome::ChangesPending => 2,
            Outcome::Stale => 3,
            Outcome::DriftFound => 4,
        }
    }
}

impl From<crate::apply::ReportOutcome> for Outcome {
    fn from(outcome: crate::apply::ReportOutcome) -> Outcome {
        match outcome {
            crate::apply::ReportOutcome::Success => Outcome::Success,
            crate::apply::ReportOutcome::Stale => Outcome::Stale,
            crate::apply::ReportOutcome::Failure => Outcome::Failure,
        }
    }
}
