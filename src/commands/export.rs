//! `warrant export`.

use crate::cli::{ExportArgs, Outcome};

pub fn run(_args: ExportArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`warrant export` is not implemented yet")
}
