//! Progress of an apply run: the executor tells a [`Progress`] what it starts and finishes.
//! [`Silent`] reports nothing (tests, the library); the command chooses a display
//! (`crate::render::progress`: a bar on a terminal, one line per object for CI logs).

use super::report::ObjectReport;

/// Receives progress events. Called from the executor's concurrent per-target tasks.
pub trait Progress: Send + Sync {
    /// The number of objects that will be reported through [`Progress::finished`].
    fn start(&self, _total: usize) {}
    /// A batch of `target` is being worked on.
    fn working_on(&self, _target: &str) {}
    fn finished(&self, report: &ObjectReport);
    /// The run is over (before the summary is printed).
    fn done(&self) {}
}

/// Reports nothing.
pub struct Silent;

impl Progress for Silent {
    fn finished(&self, _report: &ObjectReport) {}
}
