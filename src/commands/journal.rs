//! `warrant journal`: the create journal's open records (`list`, the default), and `resolve`
//! once a human has rotated a token whose key may be lost. Also the journal glue of `plan`
//! and `apply`: where the journal is, and its open records turned into a plan's conflicts.
//!
//! The journal itself — its records, how it is read and written — is
//! `crate::apply::journal`; the per-target locks are `crate::apply::lock`. `resolve` takes
//! the lock of each target it touches, so it cannot close the intent of a create that a
//! running apply has in flight.

use std::path::{Path, PathBuf};

use anyhow::bail;

use super::Outcome;
use super::output::{errln, outln};
use crate::apply::journal::{self, Journal, OpenRecord, Records};
use crate::apply::lock;
use crate::plan::file::PlanFile;

/// The journal `--journal` (or `WARRANT_JOURNAL`) names, else `.warrant/journal.jsonl` under
/// the repository root — one place for `plan`, `apply` and `journal`, wherever they are run
/// from inside the repository.
pub(crate) fn path(given: Option<&Path>) -> PathBuf {
    given.map_or_else(
        || journal::default_path(&crate::manifest::repository_root()),
        Path::to_path_buf,
    )
}

/// Reads the journal (creating nothing) and makes every change of `plan` an open record is
/// about a conflict (`plan`).
pub(crate) fn hold_plan(plan: &mut PlanFile, given: Option<&Path>) -> anyhow::Result<()> {
    let path = path(given);
    let records = journal::read(&path)?;
    hold(plan, &records, &path);
    Ok(())
}

/// Makes the changes of `plan` that `records` hold conflicts, and says on stderr what the
/// plan cannot show: skipped lines, and open records about objects the plan does not cover.
pub(crate) fn hold(plan: &mut PlanFile, records: &Records, path: &Path) {
    warn_skipped(records);
    let elsewhere = journal::hold(plan, records);
    if !elsewhere.is_empty() {
        let handles: Vec<String> = elsewhere.iter().map(|r| r.handle()).collect();
        let line = format!(
            "note: the create journal {} holds {} open record(s) for objects this plan does not cover: {} (`warrant journal` shows them)",
            path.display(),
            elsewhere.len(),
            handles.join(", ")
        );
        errln!("{}", crate::text::escape(&line));
    }
}

/// Prints the lines of the journal that were skipped.
pub(crate) fn warn_skipped(records: &Records) {
    for warning in &records.warnings {
        errln!("warning: {warning}");
    }
}

/// What `warrant journal` does, and with which journal.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// The create journal (default: under the repository root).
    pub journal: Option<PathBuf>,
    pub action: Action,
}

#[derive(Debug, Clone)]
pub(crate) enum Action {
    /// List the open records.
    List,
    /// Mark the open records of these `TARGET/NAME` tokens resolved.
    Resolve { tokens: Vec<String> },
}

pub(crate) fn run(options: Options) -> anyhow::Result<Outcome> {
    let path = path(options.journal.as_deref());
    match options.action {
        Action::List => list(&path),
        Action::Resolve { tokens } => resolve(&path, &tokens),
    }
}

fn list(path: &Path) -> anyhow::Result<Outcome> {
    let records = journal::read(path)?;
    warn_skipped(&records);
    if records.open.is_empty() {
        outln!(
            "No open records in {}: every journalled create ended with its key delivered or nothing created, or was resolved.",
            path.display()
        )?;
        return Ok(Outcome::Success);
    }
    outln!(
        "{} open record(s) in {}:",
        records.open.len(),
        path.display()
    )?;
    for record in &records.open {
        outln!("{}", line(record))?;
    }
    outln!(
        "Rotate each token by hand (delete it in Mist if it exists; the next apply creates it again with a new key), then run `warrant journal resolve TARGET/NAME`."
    )?;
    Ok(Outcome::Success)
}

/// One open record on one line, escaped (the file is local, but not trusted to be sane).
fn line(record: &OpenRecord) -> String {
    let text = format!(
        "  {}  ({} {}, intent {}): {}",
        record.handle(),
        record.address.kind,
        record.address.name,
        record.id,
        record.conflict()
    );
    crate::text::escape(&text).into_owned()
}

fn resolve(path: &Path, tokens: &[String]) -> anyhow::Result<Outcome> {
    let mut wanted: Vec<(&str, &str)> = Vec::with_capacity(tokens.len());
    for token in tokens {
        match token.split_once('/') {
            Some((target, name)) if !target.is_empty() && !name.is_empty() => {
                wanted.push((target, name))
            }
            _ => bail!(
                "{} is not TARGET/NAME (as `warrant journal` lists the open records)",
                crate::text::escape(token)
            ),
        }
    }
    if !path.exists() {
        bail!(
            "there is no create journal at {}; nothing to resolve",
            path.display()
        );
    }
    // An apply running on the target has intents open for the creates it is sending.
    let _locks = lock::lock_targets(&journal::dir_of(path), wanted.iter().map(|(t, _)| *t))?;
    let journal = Journal::open(path)?;
    warn_skipped(journal.records());
    let mut chosen: Vec<OpenRecord> = Vec::new();
    let mut unknown: Vec<String> = Vec::new();
    for (target, name) in &wanted {
        let found: Vec<&OpenRecord> = journal
            .records()
            .open
            .iter()
            .filter(|r| {
                r.address.target == *target
                    && (r.address.remote_key == *name || r.address.name == *name)
            })
            .collect();
        if found.is_empty() {
            unknown.push(format!("{target}/{name}"));
        }
        for record in found {
            if !chosen.contains(record) {
                chosen.push(record.clone());
            }
        }
    }
    if !unknown.is_empty() {
        bail!(
            "{} has no open record for {}; nothing was resolved (`warrant journal` lists the open ones)",
            path.display(),
            crate::text::escape(&unknown.join(", "))
        );
    }
    journal.resolve(&chosen)?;
    for record in &chosen {
        let text = format!(
            "resolved {} (intent {} at {}, plan {})",
            record.handle(),
            record.id,
            record.at,
            record.plan_id.get(..12).unwrap_or(&record.plan_id)
        );
        outln!("{}", crate::text::escape(&text))?;
    }
    Ok(Outcome::Success)
}
