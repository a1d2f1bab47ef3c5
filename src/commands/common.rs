//! Glue shared by the commands: what every command that talks to live systems is given
//! ([`Live`]), loading manifests and planning with problems printed ([`plan_live`]), and
//! printing (diagnostics, colour, streamed renderings).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context;

use super::Outcome;
use super::output::{errln, settle_stdout};
use crate::manifest::Diagnostic;
use crate::plan::file::PlanFile;
use crate::plan::gather::{Only, PlanError, make_plan, open_session};
use crate::platform::{LiveOptions, Manifests, Session};
use crate::render::progress::Spinners;

/// How a command reaches live systems, and which declared objects it is about.
#[derive(Debug, Clone, Default)]
pub(crate) struct Live {
    pub options: LiveOptions,
    /// `--only` filters (none: every declared object).
    pub only: Vec<Only>,
}

impl Live {
    /// The same, with the read credentials a Target names (`read:`) in place of its write
    /// credentials: for the commands that never write (`plan`, `drift`).
    pub(crate) fn reading(&self) -> Live {
        let mut live = self.clone();
        live.options.credentials = crate::platform::Credentials::ReadWhenNamed;
        live
    }
}

/// Loads the manifests, opens their targets and plans. Problems the user must fix (manifests,
/// filters, credentials, platform errors) are printed here and become `Err(Outcome::Failure)`.
pub(crate) fn plan_live(
    paths: &[PathBuf],
    live: &Live,
) -> anyhow::Result<Result<(Manifests, PlanFile), Outcome>> {
    let manifests = match Manifests::load(paths) {
        Ok(m) => m,
        Err(diagnostics) => {
            print_diagnostics(&diagnostics);
            return Ok(Err(Outcome::Failure));
        }
    };
    let session = match open_session(&manifests, &live.only, &live.options) {
        Ok(s) => s,
        Err(e) => return Ok(Err(report(&e))),
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let spinners = spinners(&manifests, &session);
    let _waits = spinners
        .as_ref()
        .map(|s| crate::platform::wait::listen(s.waits()));
    let made = runtime.block_on(make_plan(&manifests, &live.only, &session));
    if let Some(spinners) = &spinners {
        spinners.finish();
    }
    match made {
        Ok(made) => Ok(Ok((manifests, made))),
        Err(e) => Ok(Err(report(&e))),
    }
}

/// A spinner per target being read, on a terminal only (and not under `--quiet`): reading
/// live state can take seconds per target at real latencies.
fn spinners(manifests: &Manifests, session: &Session) -> Option<Spinners> {
    if super::output::quiet() || !std::io::stderr().is_terminal() {
        return None;
    }
    let targets = manifests
        .targets
        .iter()
        .filter(|t| session.client(&t.name).is_some())
        .map(|t| (t.name.clone(), t.platform.platform_name().to_string()));
    Some(Spinners::start(
        targets,
        indicatif::ProgressDrawTarget::stderr(),
    ))
}

/// Prints a plan error (each platform error on its own line, with its hint).
fn report(e: &PlanError) -> Outcome {
    for line in e.to_string().lines() {
        errln!("error: {line}");
    }
    Outcome::Failure
}

pub(crate) fn print_diagnostics(diagnostics: &[Diagnostic]) {
    super::output::write_err(format_args!(
        "{}",
        crate::manifest::render_text(diagnostics)
    ));
}

/// Whether warrant runs in a GitHub Actions job (`GITHUB_ACTIONS=true`): annotations are
/// printed then.
pub(crate) fn github_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// Whether stdout's text for people is coloured (`--color`, the environment, the stream).
pub(crate) fn use_color() -> bool {
    super::output::color(super::output::Stream::Stdout)
}

/// Streams a renderer's output to stdout through a buffer; a reader that goes away stops the
/// rendering quietly.
pub(crate) fn print_with(
    render: impl FnOnce(
        &mut IoText<std::io::BufWriter<std::io::StdoutLock<'static>>>,
    ) -> std::fmt::Result,
) -> anyhow::Result<()> {
    let mut out = IoText {
        inner: std::io::BufWriter::new(std::io::stdout().lock()),
        error: None,
    };
    let rendered = render(&mut out);
    let result = match (rendered, out.error.take()) {
        (_, Some(e)) => Err(e),
        (Err(_), None) => Err(std::io::Error::other("formatting failed")),
        (Ok(()), None) => out.inner.flush(),
    };
    settle_stdout(result)
}

/// A `fmt::Write` over an `io::Write`, so text renderers can stream; keeps the I/O error
/// that `fmt::Error` cannot carry.
pub(crate) struct IoText<W: Write> {
    inner: W,
    error: Option<std::io::Error>,
}

impl<W: Write> std::fmt::Write for IoText<W> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.inner.write_all(s.as_bytes()).map_err(|e| {
            self.error = Some(e);
            std::fmt::Error
        })
    }
}

/// Prints text to stdout.
pub(crate) fn print(text: &str) -> anyhow::Result<()> {
    super::output::out!("{text}")
}
