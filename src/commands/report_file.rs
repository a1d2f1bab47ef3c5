//! The `--report` file of `apply`, opened before anything else happens: an unwritable path
//! (a missing directory, a directory, no permission, a FIFO) is an error before the first
//! request, not after the last write. The file is kept open and written at the end,
//! so nothing that happens to the path in between can lose the report; a file that was
//! created for it and never written (the apply stopped with an error first) is removed.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::apply::ApplyReport;

pub(crate) struct ReportFile {
    path: PathBuf,
    file: Option<File>,
    /// The file did not exist before: remove it if it is never written.
    created: bool,
}

impl ReportFile {
    /// Opens `path` for writing, creating it, without truncating an existing report yet.
    pub(crate) fn prepare(path: &Path) -> anyhow::Result<ReportFile> {
        let existed = std::fs::symlink_metadata(path).is_ok();
        let context = || {
            format!(
                "cannot write the report {} (checked before anything is applied); nothing was applied",
                path.display()
            )
        };
        // Opening a FIFO for writing would wait for a reader; a socket cannot be opened.
        if let Ok(meta) = std::fs::metadata(path)
            && !meta.is_file()
            && let Some(what) = crate::apply::journal::not_regular(&meta)
            && what != "a device"
        {
            return Err(anyhow::anyhow!("it is {what}, not a file")).with_context(context);
        }
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .with_context(context)?;
        Ok(ReportFile {
            path: path.to_path_buf(),
            file: Some(file),
            created: !existed,
        })
    }

    /// Writes `report` (streamed: a report of 100,000 objects is tens of MB of JSON).
    pub(crate) fn write(mut self, report: &ApplyReport) -> anyhow::Result<()> {
        let Some(file) = self.file.take() else {
            return Ok(());
        };
        let write = || -> std::io::Result<()> {
            if file.metadata()?.is_file() {
                file.set_len(0)?;
            }
            let mut out = std::io::BufWriter::new(&file);
            crate::text::write_json_pretty(&mut out, report).map_err(std::io::Error::other)?;
            out.write_all(b"\n")?;
            out.flush()
        };
        write().with_context(|| format!("cannot write the report {}", self.path.display()))
    }
}

impl Drop for ReportFile {
    fn drop(&mut self) {
        if self.file.take().is_some() && self.created {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
