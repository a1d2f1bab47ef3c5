//! Reading manifest files: which files, how big, which encoding, split into documents.
//!
//! `load` is the one entry point the rest of warrant uses. It gathers files (directories are
//! walked recursively for `*.yaml`/`*.yml` in sorted order), refuses what cannot be a manifest
//! (over 4 MiB, not UTF-8), parses each into located documents (`yaml.rs`), and hands them all
//! to `validate.rs`, so that every problem of every file is reported in one run.
//!
//! Manifests are loaded under a repository root ([`repository_root`]: the nearest directory
//! holding `.git`, else the working directory). A key sink's file is resolved relative to its
//! manifest and must stay under that root; the paths a plan records are relative to it.

use std::path::{Path, PathBuf};

use super::validate::Validator;
use super::yaml::{self, Pos};
use super::{Diagnostic, Location, Manifests, Severity};

/// Largest manifest file accepted.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Loads and validates the manifests in `paths` (files or directories) under the
/// [`repository_root`]. Returns every diagnostic, sorted by file, line and column, when
/// anything is wrong.
pub fn load(paths: &[PathBuf]) -> Result<Manifests, Vec<Diagnostic>> {
    load_under(paths, &repository_root())
}

/// [`load`] under an explicit repository root.
pub fn load_under(paths: &[PathBuf], root: &Path) -> Result<Manifests, Vec<Diagnostic>> {
    let root = absolute(root);
    let mut diagnostics = Vec::new();
    let files = collect_files(paths, &mut diagnostics);
    let mut validator = Validator::new(root.clone());
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
pub fn load_str(file: &Path, text: &str) -> Result<Manifests, Vec<Diagnostic>> {
    let root = repository_root();
    let mut validator = Validator::new(root.clone());
    load_text(&mut validator, file, text);
    let mut manifests = validator.finish(Vec::new())?;
    manifests.paths = vec![under_root(file, &root)];
    manifests.root = root;
    Ok(manifests)
}

/// The repository root: the nearest directory from the working directory up that holds
/// `.git` (a directory, or the file of a worktree); the working directory when there is none.
pub fn repository_root() -> PathBuf {
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
pub fn lexically_normal(path: &Path) -> PathBuf {
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

fn load_text(validator: &mut Validator, file: &Path, text: &str) {
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
                let before = files.len();
                walk(path, &mut files, diagnostics);
                if files.len() == before {
                    diagnostics.push(file_error(
                        path,
                        START,
                        "no *.yaml or *.yml manifest files in this directory".into(),
                        "pass the directory that holds the manifests, or the files themselves",
                    ));
                }
            }
            Ok(_) => files.push(path.clone()),
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
        if meta.is_dir() {
            if !hidden {
                walk(&path, files, diagnostics);
            }
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) && !hidden
        {
            files.push(path);
        }
    }
}

fn read_text(file: &Path, diagnostics: &mut Vec<Diagnostic>) -> Option<String> {
    match std::fs::metadata(file) {
        Ok(meta) if meta.len() > MAX_FILE_BYTES => {
            diagnostics.push(file_error(
                file,
                START,
                format!(
                    "file is {} bytes, larger than the {MAX_FILE_BYTES} bytes (4 MiB) a manifest may have",
                    meta.len()
                ),
                "split the documents over several files",
            ));
            return None;
        }
        Ok(_) => {}
        Err(e) => {
            diagnostics.push(unreadable(file, &e));
            return None;
        }
    }
    let bytes = match std::fs::read(file) {
        Ok(bytes) => bytes,
        Err(e) => {
            diagnostics.push(unreadable(file, &e));
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
