//! One apply per target at a time on one machine: an advisory lock per target, held for the
//! whole apply.
//!
//! The lock of target `T` is `lock-T` in the journal's directory (`.warrant/` under the
//! repository root, or beside `--journal`), locked with `flock` (`File::try_lock`). Two
//! applies that share that directory cannot both run on a target: the second is refused
//! before it sends any request, naming the process that holds the lock. The lock belongs to
//! the open file, so the operating system releases it however the holder ends — normal exit,
//! error, panic, signal or `SIGKILL` — and a stale lock cannot outlive its process. The files
//! stay in place (removing a lock file while another process waits on it would let two
//! holders in); each holds the pid of its last holder, for the message.
//!
//! What it does not cover: applies on other machines, or with another `.warrant` directory
//! (another checkout, another `--journal`). Between machines, the CI concurrency group orders
//! runs, and the Mist client's re-list right before each create refuses a token that
//! appeared since the plan (see docs/files-and-interrupts.md).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use super::journal::{ensure_dir, no_follow, not_regular, open_error};

/// Locks held until dropped (the operating system also releases them when the process ends).
#[derive(Debug)]
pub(crate) struct TargetLocks {
    _files: Vec<File>,
}

/// Why the locks could not be taken.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LockError {
    #[error(
        "another warrant process is applying to target {target}: it holds the lock {}{}; this apply was refused before any request, nothing was changed. Wait for the other one to finish, then plan and apply again",
        path.display(),
        holder.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
    )]
    Held {
        target: String,
        path: PathBuf,
        holder: Option<u32>,
    },
    #[error("cannot lock {} for target {target}: {source}", path.display())]
    Io {
        target: String,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The lock file of `target` in `dir`. Target names are manifest names; anything outside
/// `[A-Za-z0-9._-]` is written as `%XX` so a name can never leave the directory.
pub(crate) fn lock_path(dir: &Path, target: &str) -> PathBuf {
    let mut file = String::from("lock-");
    for b in target.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
            file.push(char::from(b));
        } else {
            file.push_str(&format!("%{b:02X}"));
        }
    }
    dir.join(file)
}

/// Takes the lock of every target in `targets` (in name order), or none: the first one held
/// elsewhere refuses the whole apply.
pub(crate) fn lock_targets<'t>(
    dir: &Path,
    targets: impl IntoIterator<Item = &'t str>,
) -> Result<TargetLocks, LockError> {
    let mut names: Vec<&str> = targets.into_iter().collect();
    names.sort_unstable();
    names.dedup();
    let mut files = Vec::with_capacity(names.len());
    for target in names {
        files.push(lock_one(dir, target)?);
    }
    Ok(TargetLocks { _files: files })
}

fn lock_one(dir: &Path, target: &str) -> Result<File, LockError> {
    let path = lock_path(dir, target);
    let io = |source| LockError::Io {
        target: target.to_string(),
        path: path.clone(),
        source,
    };
    ensure_dir(dir).map_err(io)?;
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    no_follow(&mut options);
    let mut file = options.open(&path).map_err(|e| io(open_error(&path, e)))?;
    let meta = file.metadata().map_err(io)?;
    if let Some(what) = not_regular(&meta) {
        return Err(io(std::io::Error::other(format!(
            "it is {what}, not a regular file"
        ))));
    }
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(LockError::Held {
                target: target.to_string(),
                holder: holder(&mut file),
                path,
            });
        }
        Err(TryLockError::Error(e)) => return Err(io(e)),
    }
    // The pid is for the message of a refused apply only; failing to write it changes nothing.
    let _ = file
        .set_len(0)
        .and_then(|()| file.write_all(format!("{}\n", std::process::id()).as_bytes()));
    Ok(file)
}

/// The pid the holder wrote, if the file holds one (read through a small limit: the file is
/// local, but not ours alone).
fn holder(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.take(32).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock_targets(dir.path(), ["mist-prod", "atlan-prod"]).unwrap();
        let error = lock_targets(dir.path(), ["mist-prod"]).unwrap_err();
        match &error {
            LockError::Held { target, holder, .. } => {
                assert_eq!(target, "mist-prod");
                assert_eq!(*holder, Some(std::process::id()));
            }
            other => panic!("{other}"),
        }
        assert!(error.to_string().contains("nothing was changed"), "{error}");
        // Another target is free.
        let other = lock_targets(dir.path(), ["connect-prod"]).unwrap();
        drop(first);
        lock_targets(dir.path(), ["mist-prod"]).unwrap();
        drop(other);
    }

    #[test]
    fn a_target_name_cannot_leave_the_directory() {
        let dir = Path::new("/state");
        assert_eq!(
            lock_path(dir, "../x/y"),
            PathBuf::from("/state/lock-..%2Fx%2Fy")
        );
        assert_eq!(
            lock_path(dir, "mist-prod"),
            PathBuf::from("/state/lock-mist-prod")
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_lock_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = dir.path().join("elsewhere");
        std::fs::write(&elsewhere, "keep").unwrap();
        std::os::unix::fs::symlink(&elsewhere, lock_path(dir.path(), "t")).unwrap();
        let error = lock_targets(dir.path(), ["t"]).unwrap_err().to_string();
        assert!(error.contains("symbolic link"), "{error}");
        assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "keep");
    }
}
