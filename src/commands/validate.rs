//! `warrant validate`.

use crate::cli::{Outcome, ValidateArgs};

pub fn run(_args: ValidateArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`warrant validate` is not implemented yet")
}
