//! Where commands write: stdout for results, stderr for people, with one policy for both.
//!
//! - A stdout whose reader went away (`warrant plan … | head -1`) is not an error: the write
//!   that meets the closed pipe and every later one are dropped quietly, and the command goes
//!   on to its end — `apply` still writes its `--report` — with the outcome it would have had.
//! - Any other stdout failure (a full disk behind a redirect) is an error of the command, as
//!   "cannot write to stdout: …", never a panic.
//! - stderr that cannot be written is dropped: there is nowhere left to say so.
//!
//!
//! Two global switches, set once by `crate::cli` before a command runs: `--quiet` (only
//! errors and warnings: [`noteln!`] lines, the text renderings of plan and drift and apply's
//! progress and summary are dropped; a format asked for by name, `--format json`, is still
//! written) and `--color` (see [`color`]).
//!
//! `print!` and `eprintln!` panic when a write fails, so commands use [`outln!`], [`out!`] and
//! [`errln!`] instead (Rust ignores SIGPIPE, so a closed pipe shows up as an `EPIPE` error
//! here rather than killing the process half way through an apply).

use std::ffi::OsString;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use anyhow::Context;

/// Set once stdout's reader has gone; later writes are skipped.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// What a stdout write came to: `Ok` also when the reader had gone (remembered, so later
/// writes are skipped); any other error with context.
pub(crate) fn settle_stdout(result: io::Result<()>) -> anyhow::Result<()> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        other => other.context("cannot write to stdout"),
    }
}

/// Whether stdout's reader has gone: streaming renderers stop early.
pub(crate) fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// Writes to stdout and flushes (see the module docs for errors).
pub(crate) fn write_out(args: std::fmt::Arguments<'_>) -> anyhow::Result<()> {
    if stdout_closed() {
        return Ok(());
    }
    let mut out = io::stdout().lock();
    settle_stdout(out.write_fmt(args).and_then(|()| out.flush()))
}

/// `--color`: whether text for people is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour on a terminal that supports it and in GitHub Actions logs, unless `NO_COLOR`
    /// is set; `CLICOLOR_FORCE` colours a pipe too.
    #[default]
    Auto,
    Always,
    Never,
}

/// `--quiet`.
static QUIET: AtomicBool = AtomicBool::new(false);
/// `--color`, as the index of its [`ColorChoice`].
static COLOR: AtomicU8 = AtomicU8::new(0);

/// Sets the two switches (once, before the command runs).
pub(crate) fn configure(quiet: bool, color: ColorChoice) {
    QUIET.store(quiet, Ordering::Relaxed);
    COLOR.store(color as u8, Ordering::Relaxed);
    // Anything else that writes through anstream follows the flag too.
    anstream::ColorChoice::write_global(match color {
        ColorChoice::Auto => anstream::ColorChoice::Auto,
        ColorChoice::Always => anstream::ColorChoice::Always,
        ColorChoice::Never => anstream::ColorChoice::Never,
    });
}

/// Whether `--quiet` was given: only errors and warnings are written for people.
pub(crate) fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

fn color_choice() -> ColorChoice {
    match COLOR.load(Ordering::Relaxed) {
        1 => ColorChoice::Always,
        2 => ColorChoice::Never,
        _ => ColorChoice::Auto,
    }
}

/// The two streams colour is decided for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

/// Whether text written to `stream` is coloured: [`color_wanted`] with this process's
/// `--color`, environment and streams.
pub(crate) fn color(stream: Stream) -> bool {
    color_wanted(
        color_choice(),
        |name| std::env::var_os(name),
        || {
            // anstream's rule for a terminal: NO_COLOR, CLICOLOR_FORCE, CLICOLOR, TERM.
            let choice = match stream {
                Stream::Stdout => anstream::AutoStream::choice(&io::stdout()),
                Stream::Stderr => anstream::AutoStream::choice(&io::stderr()),
            };
            choice != anstream::ColorChoice::Never
        },
    )
}

/// The colour rule. `--color always|never` decides alone. `auto`: never when `NO_COLOR` is
/// set to anything non-empty (<https://no-color.org>); always under GitHub Actions
/// (`GITHUB_ACTIONS=true`: its log viewer renders ANSI colour although the stream is a pipe);
/// otherwise what `stream_rule` says (anstream's: `CLICOLOR_FORCE`, then a colour terminal).
pub(crate) fn color_wanted(
    choice: ColorChoice,
    env: impl Fn(&str) -> Option<OsString>,
    stream_rule: impl FnOnce() -> bool,
) -> bool {
    let set = |name: &str| env(name).is_some_and(|v| !v.is_empty());
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto if set("NO_COLOR") => false,
        ColorChoice::Auto if env("GITHUB_ACTIONS").is_some_and(|v| v == "true") => true,
        ColorChoice::Auto => stream_rule(),
    }
}

/// Writes to stderr unless `--quiet`: the messages that are neither errors nor warnings.
pub(crate) fn write_note(args: std::fmt::Arguments<'_>) {
    if !quiet() {
        write_err(args);
    }
}

/// Writes to stderr; a failure is dropped.
pub(crate) fn write_err(args: std::fmt::Arguments<'_>) {
    let mut err = io::stderr().lock();
    let _ = err.write_fmt(args).and_then(|()| err.flush());
}

/// `print!` that cannot panic; evaluates to `anyhow::Result<()>`.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::commands::output::write_out(format_args!($($arg)*))
    };
}

/// `println!` that cannot panic; evaluates to `anyhow::Result<()>`.
macro_rules! outln {
    () => {
        $crate::commands::output::write_out(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::commands::output::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprintln!` that cannot panic.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::commands::output::write_err(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprintln!` for what is neither an error nor a warning ("saved the plan to …"): dropped
/// under `--quiet`.
macro_rules! noteln {
    ($($arg:tt)*) => {
        $crate::commands::output::write_note(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {errln, noteln, out, outln};

#[cfg(test)]
mod tests {
    use super::{ColorChoice, color_wanted};
    use std::ffi::OsString;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.into())
    }

    #[test]
    fn the_flag_decides_alone_and_auto_follows_no_color_then_actions_then_the_stream() {
        use ColorChoice::*;
        let no_color = env(&[("NO_COLOR", "1"), ("GITHUB_ACTIONS", "true")]);
        assert!(color_wanted(Always, &no_color, || false));
        assert!(!color_wanted(Never, env(&[]), || true));
        assert!(
            !color_wanted(Auto, &no_color, || true),
            "NO_COLOR wins over auto"
        );
        assert!(color_wanted(
            Auto,
            env(&[("GITHUB_ACTIONS", "true")]),
            || false
        ));
        assert!(!color_wanted(
            Auto,
            env(&[("GITHUB_ACTIONS", "false")]),
            || false
        ));
        assert!(color_wanted(Auto, env(&[]), || true));
        assert!(!color_wanted(Auto, env(&[]), || false));
        // An empty NO_COLOR does not disable colour.
        assert!(color_wanted(Auto, env(&[("NO_COLOR", "")]), || true));
    }
}
