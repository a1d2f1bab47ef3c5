//! `warrant plan` and `warrant drift`.

use crate::cli::{DriftArgs, Outcome, PlanArgs};

pub fn run(_args: PlanArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`warrant plan` is not implemented yet")
}

pub fn run_drift(_args: DriftArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`warrant drift` is not implemented yet")
}
