//! `warrant schema`.

use crate::cli::{Outcome, SchemaArgs};

pub fn run(_args: SchemaArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`warrant schema` is not implemented yet")
}
