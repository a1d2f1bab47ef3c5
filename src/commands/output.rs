//! Where commands write: stdout for results, stderr for people, with one policy for both.
//!
//! - A stdout whose reader went away (`warrant plan … | head -1`) is not an error: the write
//!   that meets the closed pipe and every later one are dropped quietly, and the command goes
//!   on to its end — `apply` still writes its `--report` — with the outcome it would have had.
//! - Any other stdout failure (a full disk behind a redirect) is an error of the command, as
//!   "cannot write to stdout: …", never a panic.
//! - stderr that cannot be written is dropped: there is nowhere left to say so.
//!
//! `print!` and `eprintln!` panic when a write fails, so commands use [`outln!`], [`out!`] and
//! [`errln!`] instead (Rust ignores SIGPIPE, so a closed pipe shows up as an `EPIPE` error
//! here rather than killing the process half way through an apply).

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

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

pub(crate) use {errln, out, outln};
