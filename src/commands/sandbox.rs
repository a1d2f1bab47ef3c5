//! `warrant sandbox`: serve the three simulators until SIGINT/SIGTERM.
//!
//! The first (and only) line on stdout is the JSON object of base URLs, so scripts can read it
//! and start talking to the sandbox at once.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use super::Outcome;
use crate::sandbox::{self, Faults, Seed, StartOptions};

/// What `warrant sandbox` serves, and where.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// The seed file (YAML) with the live objects and callers of each platform.
    pub seed: PathBuf,
    pub faults: Faults,
    pub start: StartOptions,
}

pub(crate) fn run(args: Options) -> anyhow::Result<Outcome> {
    let text = std::fs::read_to_string(&args.seed)
        .with_context(|| format!("cannot read seed file {}", args.seed.display()))?;
    let seed = Seed::from_yaml(&text).with_context(|| format!("in {}", args.seed.display()))?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let handle = sandbox::start_with(seed, args.faults, args.start).await?;
        let line = serde_json::json!({
            "atlan": handle.atlan,
            "connect": handle.connect,
            "mist": handle.mist,
        });
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()?;
        drop(out);
        wait_for_signal().await?;
        handle.shutdown().await;
        Ok(Outcome::Success)
    })
}

async fn wait_for_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("cannot listen for SIGINT")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("cannot listen for Ctrl-C")?;
    Ok(())
}
