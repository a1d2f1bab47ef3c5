//! The displays of an apply's progress: a bar on a terminal, one plain line per finished
//! object for CI logs. Lines are `object_line`s, which never hold a key.

use std::io::Write;
use std::sync::Mutex;

use super::report::object_line;
use crate::apply::{ObjectReport, Progress, Status};

/// One line per finished object (no-ops are left out: they were never worked on).
pub struct PlainLines<W: Write + Send> {
    out: Mutex<W>,
    /// `--quiet`: failed, stale, refused and skipped objects only.
    failures_only: bool,
}

impl<W: Write + Send> PlainLines<W> {
    pub fn new(out: W) -> PlainLines<W> {
        PlainLines {
            out: Mutex::new(out),
            failures_only: false,
        }
    }

    /// Lines for the objects that did not succeed only (`--quiet`).
    pub fn failures_only(out: W) -> PlainLines<W> {
        PlainLines {
            failures_only: true,
            ..PlainLines::new(out)
        }
    }

    pub fn into_inner(self) -> W {
        self.out.into_inner().unwrap_or_else(|e| e.into_inner())
    }
}

impl<W: Write + Send> Progress for PlainLines<W> {
    fn finished(&self, report: &ObjectReport) {
        if report.status == Status::NoOp || (self.failures_only && !is_failure(report.status)) {
            return;
        }
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        // A closed stdout must not abort an apply half way; the report file still records it.
        let _ = writeln!(out, "{}", object_line(report));
        let _ = out.flush();
    }
}

/// Objects that did not end as wanted: shown even under `--quiet` and above a bar.
fn is_failure(status: Status) -> bool {
    matches!(
        status,
        Status::Failed | Status::Stale | Status::Refused | Status::ConflictSkipped
    )
}

/// An indicatif bar: objects done/total and the target being worked on. Failed, stale and
/// refused objects are also printed above the bar, so they stay visible after it finishes.
pub(crate) struct Bar {
    bar: indicatif::ProgressBar,
}

impl Bar {
    pub(crate) fn new() -> Bar {
        let bar = indicatif::ProgressBar::new(0);
        let style = indicatif::ProgressStyle::with_template(
            "{spinner} [{bar:30}] {pos}/{len} objects  {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        Bar { bar }
    }
}

impl Default for Bar {
    fn default() -> Self {
        Bar::new()
    }
}

impl Progress for Bar {
    fn start(&self, total: usize) {
        self.bar.set_length(total as u64);
        self.bar
            .enable_steady_tick(std::time::Duration::from_millis(120));
    }

    fn working_on(&self, target: &str) {
        self.bar.set_message(target.to_string());
    }

    fn finished(&self, report: &ObjectReport) {
        if report.status == Status::NoOp {
            return;
        }
        if is_failure(report.status) {
            self.bar.println(object_line(report));
        }
        self.bar.inc(1);
    }

    fn done(&self) {
        self.bar.finish_and_clear();
    }
}
