//! `warrant sandbox`: serve the three simulators until SIGINT/SIGTERM.
//!
//! The first (and only) line on stdout is the JSON object of base URLs, so scripts can read it
//! and start talking to the sandbox at once.

use std::io::Write;

use anyhow::Context;

use crate::cli::{Outcome, SandboxArgs};
use crate::sandbox::{self, Faults, Seed, StartOptions};

pub fn run(args: SandboxArgs) -> anyhow::Result<Outcome> {
    let text = std::fs::read_to_string(&args.seed)
        .with_context(|| format!("cannot read seed file {}", args.seed.display()))?;
    let seed = Seed::from_yaml(&text).with_context(|| format!("in {}", args.seed.display()))?;
    let faults: Faults = match &args.faults {
        Some(spec) => spec.parse().context("--faults")?,
        None => Faults::default(),
    };
    let options = StartOptions {
        host: args.host.clone(),
        atlan_port: args.atlan_port,
        connect_port: args.connect_port,
        mist_port: args.mist_port,
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let handle = sandbox::start_with(seed, faults, options).await?;
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
