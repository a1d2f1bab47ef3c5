//! `warrant apply`.

use crate::cli::{ApplyArgs, Outcome};

pub fn run(_args: ApplyArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`warrant apply` is not implemented yet")
}
