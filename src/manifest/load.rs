//! Reading manifest files: which files, how big, which encoding, split into documents.
//!
//! `load` is the one entry point (`crate::platform::Manifests::load` gives it the platforms).
//! It gathers files (directories are
//! walked recursively for `*.yaml`/`*.yml` in sorted order), refuses what cannot be a manifest,
//! parses each into located documents (`yaml.rs`), and hands them all to `validate.rs`, so that
//! every problem of every file is reported in one run.
//!
//! What cannot be a manifest: anything but a regular file or a directory — a FIFO would block
//! the read forever, a device such as `/dev/zero` never ends — whether named directly or
//! reached through a symlink (a repository can commit `m.yaml -> /dev/zero`); a file over
//! 4 MiB, counted while reading (at most [`MAX_FILE_BYTES`] + 1 bytes are ever read, whatever
//! the file's metadata says); and text that is not UTF-8. The type is checked before the file
//! is opened, and again on the opened file, which is opened non-blocking so that a FIFO
//! swapped in between cannot hang the open.
//!
//! Manifests are loaded under a repository root ([`repository_root`]: the nearest directory
//! holding `.git`, else the working directory). A key sink's file is resolved relative to its
//! manifest and must stay under that root; the paths a plan records are relative to it.

use std::fs::Metadata;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::validate::Validator;
use super::yaml::{self, Pos};
use super::{Diagnostic, Dialect, Location, Manifests, Settings, Severity, Spec};

/// Largest manifest file accepted.
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Loads and validates the manifests of these platforms in `paths` (files or directories)
/// under the [`repository_root`]. Returns every diagnostic, sorted by file, line and column,
/// when anything is wrong.
pub(crate) fn load<T: Settings, S: Spec>(
    paths: &[PathBuf],
    dialects: &[&dyn Dialect<T, S>],
) -> Result<Manifests<T, S>, Vec<Diagnostic>> {
    load_under(paths, &repository_root(), dialects)
}

/// [`load`] under an explicit repository root.
pub(crate) fn load_under<T: Settings, S: Spec>(
    paths: &[PathBuf],
    root: &Path,
    dialects: &[&dyn Dialect<T, S>],
) -> Result<Manifests<T, S>, Vec<Diagnostic>> {
    let root = absolute(root);
    let mut diagnostics = Vec::new();
    let files = collect_files(paths, &mut diagnostics);
    let mut validator = Validator::new(root.clone(), dialects);
    for file in &files {
        if let Some(text) = read_text(file, &mut diagnostics) {
            load_text(&mut validator, file, &text);
        }
    }
    let mut manifests = validator.finish(diagnostics)?;
    manifests.paths = paths.iter().map(|p| under_root(p, &root)).collect();
    manifests.root = root;
    Ok(manifests)
}

/// Loads manifests from text (as if read from `file`, under the [`repository_root`]): what
/// `load` does per file, for tests and for callers that hold the text already.
pub(crate) fn load_str<T: Settings, S: Spec>(
    file: &Path,
    text: &str,
    dialects: &[&dyn Dialect<T, S>],
) -> Result<Manifests<T, S>, Vec<Diagnostic>> {
    let root = repository_root();
    let mut validator = Validator::new(root.clone(), dialects);
    load_text(&mut validator, file, text);
    let mut manifests = validator.finish(Vec::new())?;
    manifests.paths = vec![under_root(file, &root)];
    manifests.root = root;
    Ok(manifests)
}

/// The repository root: the nearest directory from the working directory up that holds
/// `.git` (a directory, or the file of a worktree); the working directory when there is none.
pub(crate) fn repository_root() -> PathBuf {
    let cwd = absolute(Path::new("."));
    cwd.ancestors()
        .find(|dir| dir.join(".git").exists())
        .map_or_else(|| cwd.clone(), Path::to_path_buf)
}

/// `path` relative to `root` when it lies inside it (compared lexically), else as given.
fn under_root(path: &Path, root: &Path) -> PathBuf {
    let full = absolute(path);
    match full.strip_prefix(root) {
        Ok(rel) if rel.as_os_str().is_empty() => PathBuf::from("."),
        Ok(rel) => rel.to_path_buf(),
        Err(_) => path.to_path_buf(),
    }
}

/// `path` made absolute against the working directory, with `.` and `..` resolved lexically.
pub(crate) fn absolute(path: &Path) -> PathBuf {
    let joined = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    lexically_normal(&joined)
}

/// `path` with `.` removed and each `..` taking away the component before it, without looking
/// at the file system. A `..` with nothing before it stays.
pub(crate) fn lexically_normal(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                let can_pop = matches!(out.components().next_back(), Some(Component::Normal(_)));
                if can_pop {
                    out.pop();
                } else if !matches!(
                    out.components().next_back(),
                    Some(Component::RootDir | Component::Prefix(_))
                ) {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn load_text<T: Settings, S: Spec>(validator: &mut Validator<T, S>, file: &Path, text: &str) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (documents, errors) = yaml::parse_stream(text);
    for e in errors {
        validator.report(file, e.pos, e.message, e.hint);
    }
    for doc in &documents {
        // An empty document parses as a null scalar; it declares nothing.
        let Some(root) = &doc.root else { continue };
        if root.resolve() != Some(yaml::Resolved::Null) {
            validator.document(file, root);
        }
    }
}

/// A file or path that could not be read.
fn unreadable(path: &Path, e: &std::io::Error) -> Diagnostic {
    file_error(
        path,
        START,
        format!("cannot read: {e}"),
        "check that the path exists and is readable",
    )
}

fn file_error(file: &Path, pos: Pos, message: String, hint: &str) -> Diagnostic {
    Diagnostic {
        location: Location {
            file: file.to_path_buf(),
            line: pos.line,
            column: pos.column,
        },
        severity: Severity::Error,
        message,
        hint: Some(hint.into()),
    }
}

const START: Pos = Pos { line: 1, column: 1 };

fn collect_files(paths: &[PathBuf], diagnostics: &mut Vec<Diagnostic>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for path in paths {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                let before = (files.len(), diagnostics.len());
                walk(path, &mut files, diagnostics);
                if (files.len(), diagnostics.len()) == before {
                    diagnostics.push(file_error(
                        path,
                        START,
                        "no *.yaml or *.yml manifest files in this directory".into(),
                        "pass the directory that holds the manifests, or the files themselves",
                    ));
                }
            }
            Ok(meta) if meta.is_file() => files.push(path.clone()),
            Ok(meta) => diagnostics.push(not_regular(path, &meta)),
            Err(e) => diagnostics.push(unreadable(path, &e)),
        }
    }
    let mut seen = std::collections::HashSet::new();
    files.retain(|f| seen.insert(f.clone()));
    files
}

/// Recursive, sorted, not following symlinked directories (no loops), skipping hidden
/// directories such as `.git` and `.github`, whose YAML files are not manifests.
fn walk(dir: &Path, files: &mut Vec<PathBuf>, diagnostics: &mut Vec<Diagnostic>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            diagnostics.push(file_error(
                dir,
                START,
                format!("cannot read directory: {e}"),
                "check that the path exists and is readable",
            ));
            return;
        }
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        let manifest_name = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        );
        if meta.is_dir() {
            if !hidden {
                walk(&path, files, diagnostics);
            }
        } else if !manifest_name || hidden {
        } else if meta.is_file() {
            files.push(path);
        } else {
            // A symlink, FIFO, device or socket with a manifest's name: only a link to a
            // regular file is read; a linked directory is not followed, like any other.
            match std::fs::metadata(&path) {
                Ok(target) if target.is_file() => files.push(path),
                Ok(target) if target.is_dir() => {}
                Ok(target) => diagnostics.push(not_regular(&path, &target)),
                Err(e) => diagnostics.push(unreadable(&path, &e)),
            }
        }
    }
}

/// A path that is neither a regular file nor a directory (`meta` is what it leads to).
fn not_regular(path: &Path, meta: &Metadata) -> Diagnostic {
    let through = match std::fs::read_link(path) {
        Ok(target) => format!(", reached through a symlink to {}", target.display()),
        Err(_) => String::new(),
    };
    file_error(
        path,
        START,
        format!("not a regular file: {}{through}", file_kind(meta)),
        "manifests are read only from regular files and directories (a FIFO or a device could block or never end); remove it, or replace it with the file it stands for",
    )
}

fn file_kind(meta: &Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        } else if t.is_char_device() {
            return "a character device";
        } else if t.is_block_device() {
            return "a block device";
        } else if t.is_socket() {
            return "a socket";
        }
    }
    if meta.is_dir() {
        "a directory"
    } else {
        "a special file"
    }
}

fn read_text(file: &Path, diagnostics: &mut Vec<Diagnostic>) -> Option<String> {
    let bytes = match read_bounded(file) {
        Ok(bytes) => bytes,
        Err(diagnostic) => {
            diagnostics.push(diagnostic);
            return None;
        }
    };
    match String::from_utf8(bytes) {
        Ok(text) => Some(text),
        Err(e) => {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let line = 1 + valid.iter().filter(|b| **b == b'\n').count();
            let line_start = valid.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            let column = 1 + String::from_utf8_lossy(&valid[line_start..])
                .chars()
                .count();
            diagnostics.push(file_error(
                file,
                Pos { line, column },
                "file is not valid UTF-8".into(),
                "save the file as UTF-8",
            ));
            None
        }
    }
}

/// The bytes of a regular file of at most [`MAX_FILE_BYTES`]. Opened non-blocking (a FIFO
/// put in place after `collect_files` looked must not hang the open), checked again as opened,
/// and read through a limit: never more than one byte past the maximum, whatever the
/// metadata claims (files in `/proc` say 0 and have content).
fn read_bounded(file: &Path) -> Result<Vec<u8>, Diagnostic> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let opened = options.open(file).map_err(|e| unreadable(file, &e))?;
    let meta = opened.metadata().map_err(|e| unreadable(file, &e))?;
    if !meta.is_file() {
        return Err(not_regular(file, &meta));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_large(file, format!("is {} bytes", meta.len())));
    }
    match read_at_most(opened, MAX_FILE_BYTES, meta.len()) {
        Ok(Some(bytes)) => Ok(bytes),
        Ok(None) => Err(too_large(
            file,
            format!(
                "has more than {MAX_FILE_BYTES} bytes (its metadata said {})",
                meta.len()
            ),
        )),
        Err(e) => Err(unreadable(file, &e)),
    }
}

/// Everything `reader` holds if that is at most `limit` bytes, else `None`; reads at most
/// `limit + 1` bytes, and allocates for no more than that whatever `size_hint` says.
fn read_at_most(reader: impl Read, limit: u64, size_hint: u64) -> std::io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::with_capacity(size_hint.min(limit + 1) as usize);
    reader.take(limit + 1).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

fn too_large(file: &Path, size: String) -> Diagnostic {
    file_error(
        file,
        START,
        format!("file {size}: a manifest may have at most {MAX_FILE_BYTES} bytes (4 MiB)"),
        "split the documents over several files",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_reader_is_cut_one_byte_past_the_limit() {
        let endless = std::io::repeat(0);
        assert_eq!(read_at_most(endless, 10, 0).unwrap(), None);
        let mut counted = CountingReader(std::io::repeat(7), 0);
        assert_eq!(read_at_most(&mut counted, 10, u64::MAX).unwrap(), None);
        assert_eq!(counted.1, 11, "read exactly limit + 1 bytes");
        let small: &[u8] = b"kind: Target\n";
        assert_eq!(read_at_most(small, 13, 0).unwrap().as_deref(), Some(small));
    }

    struct CountingReader<R>(R, usize);

    impl<R: Read> Read for CountingReader<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.read(buf)?;
            self.1 += n;
            Ok(n)
        }
    }

    /// A FIFO that appears after the path was checked: the non-blocking open returns at once
    /// and the opened file is refused by its type, with no writer ever coming.
    #[cfg(unix)]
    #[test]
    fn a_fifo_opened_directly_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("m.yaml");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo runs");
        assert!(status.success());
        let refused = read_bounded(&fifo).unwrap_err();
        assert!(refused.message.contains("FIFO"), "{}", refused.message);
    }
}
