//! `warrant export`: manifests written from live state, to adopt warrant on an existing tenant.
//!
//! The platforms list what is live ([`crate::platform::LiveTarget::export`]) as manifest
//! spec types; this module turns those into documents a team can commit: a valid, unique
//! `metadata.name` for each (with `spec.name` kept exact when it had to differ from the remote
//! name), a placeholder key sink for Mist tokens, comments that tell the adopter what the
//! manifests cannot say, and YAML rendered by serde from the same types the loader reads, so
//! the output is exactly the manifest format. Planning the output against the same live state
//! shows no changes (tests/it/export_roundtrip.rs).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::manifest::{API_VERSION, KeySinkSpec, Metadata};
use crate::model::Kind;
use crate::platform::{Export, ExportedObject, PlatformError, Session};

/// The manifests of one kind, rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedFile {
    pub kind: Kind,
    /// `connection-admins.yaml`, `automation-identities.yaml` or `org-api-tokens.yaml`.
    pub file_name: &'static str,
    /// Number of documents in `text`.
    pub documents: usize,
    /// The YAML stream, starting with the header comment.
    pub text: String,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("target {0} is not open in this session")]
    UnknownTarget(String),
    #[error(transparent)]
    Platform(#[from] PlatformError),
    #[error("cannot render {kind} {name} as YAML: {message}")]
    Render {
        kind: Kind,
        name: String,
        message: String,
    },
    #[error("{} already exists; export never overwrites a file", .0.display())]
    Exists(PathBuf),
    #[error("cannot write {}: {message}", path.display())]
    Io { path: PathBuf, message: String },
}

/// Reads the target's live objects and renders them, one file per kind (no file for a kind
/// without objects). `now` is the time written in the header (RFC 3339).
pub async fn export_target(
    session: &Session,
    target: &str,
    now: &str,
) -> Result<Vec<ExportedFile>, ExportError> {
    let client = session
        .client(target)
        .ok_or_else(|| ExportError::UnknownTarget(target.to_string()))?;
    let export = client.export().await?;
    render(target, export, now)
}

/// Names, orders and renders what a client exported.
pub(crate) fn render(
    target: &str,
    export: Export,
    now: &str,
) -> Result<Vec<ExportedFile>, ExportError> {
    let documents = name_documents(export.objects);
    let mut files = Vec::new();
    for kind in crate::platform::kinds() {
        let of_kind: Vec<&Named> = documents.iter().filter(|d| d.kind == kind).collect();
        if of_kind.is_empty() {
            continue;
        }
        let mut text = header(target, now, &export.notes);
        for (i, doc) in of_kind.iter().enumerate() {
            if i > 0 {
                text.push_str("---\n");
            }
            text.push_str(&comment(&doc.object.comments));
            text.push_str(&document_yaml(doc)?);
        }
        files.push(ExportedFile {
            kind,
            file_name: file_name(kind),
            documents: of_kind.len(),
            text,
        });
    }
    Ok(files)
}

/// Writes each file into `dir` (created if missing). Refuses, before writing anything, when
/// any of the files exists: adopted manifests are edited by hand and must not be clobbered.
pub fn write_files(dir: &Path, files: &[ExportedFile]) -> Result<Vec<PathBuf>, ExportError> {
    let paths: Vec<PathBuf> = files.iter().map(|f| dir.join(f.file_name)).collect();
    if let Some(existing) = paths.iter().find(|p| p.exists()) {
        return Err(ExportError::Exists(existing.clone()));
    }
    std::fs::create_dir_all(dir).map_err(|e| ExportError::Io {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    for (file, path) in files.iter().zip(&paths) {
        let io = |e: std::io::Error| match e.kind() {
            std::io::ErrorKind::AlreadyExists => ExportError::Exists(path.clone()),
            _ => ExportError::Io {
                path: path.clone(),
                message: e.to_string(),
            },
        };
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(io)?;
        out.write_all(file.text.as_bytes()).map_err(io)?;
    }
    Ok(paths)
}

/// The file objects of `kind` are exported to.
pub(crate) fn file_name(kind: Kind) -> &'static str {
    crate::platform::of_kind(kind).map_or("other.yaml", |p| p.export_file())
}

/// `metadata.name` derived from a remote name: lowercase ASCII letters and digits, every run
/// of anything else one `-`, no leading or trailing `-`.
pub(crate) fn manifest_name(remote: &str) -> String {
    let mut name = String::new();
    for c in remote.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            name.push(c);
        } else if !name.is_empty() && !name.ends_with('-') {
            name.push('-');
        }
    }
    while name.ends_with('-') {
        name.pop();
    }
    if name.is_empty() {
        "unnamed".to_string()
    } else {
        name
    }
}

/// An exported object with its document name.
struct Named {
    kind: Kind,
    name: String,
    object: ExportedObject,
}

/// Gives every object a unique `metadata.name` per kind, deterministically: objects whose
/// remote name is already a valid name keep it; the others get the derived name, with `-2`,
/// `-3`… when it is taken. Identities and tokens whose name changed get `spec.name`, so the
/// remote key stays exact; tokens get their placeholder key sink under the document name.
fn name_documents(mut objects: Vec<ExportedObject>) -> Vec<Named> {
    objects.sort_by(|a, b| (&a.remote_name, &a.id).cmp(&(&b.remote_name, &b.id)));
    let kind_of = |o: &ExportedObject| o.spec.kind();
    let mut taken: BTreeSet<(Kind, String)> = BTreeSet::new();
    let mut names: Vec<Option<String>> = vec![None; objects.len()];
    for (i, o) in objects.iter().enumerate() {
        let exact = manifest_name(&o.remote_name) == o.remote_name;
        if exact && taken.insert((kind_of(o), o.remote_name.clone())) {
            names[i] = Some(o.remote_name.clone());
        }
    }
    for (i, o) in objects.iter().enumerate() {
        if names[i].is_some() {
            continue;
        }
        let base = manifest_name(&o.remote_name);
        let mut candidate = base.clone();
        let mut n = 2;
        while !taken.insert((kind_of(o), candidate.clone())) {
            candidate = format!("{base}-{n}");
            n += 1;
        }
        names[i] = Some(candidate);
    }
    let mut named: Vec<Named> = objects
        .into_iter()
        .zip(names)
        .map(|(mut object, name)| {
            let name = name.unwrap_or_default();
            let renamed = (name != object.remote_name).then(|| object.remote_name.clone());
            crate::manifest::Spec::set_remote_name(&mut object.spec, renamed);
            if let Some(sink) = object.spec.key_sink_mut() {
                *sink = KeySinkSpec::file(format!("CHANGE-ME/{name}.key"));
            }
            Named {
                kind: kind_of(&object),
                name,
                object,
            }
        })
        .collect();
    named.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    named
}

/// One manifest document, in the order the format documents its fields.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Document<'a, S: Serialize> {
    api_version: &'static str,
    kind: Kind,
    metadata: Metadata,
    spec: &'a S,
}

/// Renders through `serde_json::Value` first: serde_norway would write an externally tagged
/// enum (`TokenRef`) as a YAML tag (`!name x`), while the manifest format, like
/// JSON, writes it as a one-key map (`name: x`). Field order is kept.
fn document_yaml(doc: &Named) -> Result<String, ExportError> {
    let failed = |message: String| ExportError::Render {
        kind: doc.kind,
        name: doc.name.clone(),
        message,
    };
    let metadata = Metadata {
        name: doc.name.clone(),
    };
    let value =
        document_value(doc.kind, metadata, &doc.object.spec).map_err(|e| failed(e.to_string()))?;
    serde_yaml::to_string(&value).map_err(|e| failed(e.to_string()))
}

fn document_value<S: Serialize>(
    kind: Kind,
    metadata: Metadata,
    spec: &S,
) -> Result<serde_json::Value, serde_json::Error> {
    serde_json::to_value(Document {
        api_version: API_VERSION,
        kind,
        metadata,
        spec,
    })
}

fn header(target: &str, now: &str, notes: &[String]) -> String {
    let mut lines = vec![
        format!("Exported by `warrant export --target {target}` from live state at {now}."),
        "Review before committing: these documents declare the access that exists today."
            .to_string(),
    ];
    lines.extend(notes.iter().cloned());
    comment(&lines)
}

/// `# `-prefixed lines. Every character YAML may read as a line break starts a new comment
/// line, so a hostile remote name cannot end the comment and inject YAML; other hidden
/// characters are escaped (`crate::text::escape`), comments being for people only.
fn comment(lines: &[String]) -> String {
    lines
        .iter()
        .flat_map(|l| l.split(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}']))
        .map(|l| format!("# {}\n", crate::text::escape(l)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lowercase_dashes_without_edges() {
        assert_eq!(manifest_name("snowflake-prod"), "snowflake-prod");
        assert_eq!(
            manifest_name("default/snowflake/1700000001"),
            "default-snowflake-1700000001"
        );
        assert_eq!(manifest_name("  Legacy ETL (old)!  "), "legacy-etl-old");
        assert_eq!(manifest_name("Ünïcode"), "n-code");
        assert_eq!(manifest_name("///"), "unnamed");
    }

    #[test]
    fn comments_cannot_be_broken_out_of() {
        let text = comment(&["a\nkind: Target\rspec: {}\u{1b}[2J\u{202e}".to_string()]);
        assert_eq!(text, "# a\n# kind: Target\n# spec: {}\\u{1b}[2J\\u{202e}\n");
    }
}
