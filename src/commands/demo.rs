//! `warrant demo`.

use crate::cli::{DemoArgs, Outcome};

pub fn run(_args: DemoArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`warrant demo` is not implemented yet")
}
