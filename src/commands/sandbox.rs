//! `warrant sandbox`.

use crate::cli::{Outcome, SandboxArgs};

pub fn run(_args: SandboxArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`warrant sandbox` is not implemented yet")
}
