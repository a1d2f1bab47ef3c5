//! Validation: the rules a manifest must follow beyond its YAML shape.
//!
//! [`Validator`] receives located documents one by one (`load.rs` feeds it), checks the
//! envelope, has the platform whose kind (or Target key) it is deserialize the spec
//! ([`Dialect`], `de.rs`) and check its field rules ([`Settings::check`], [`Spec::check`],
//! through the helpers of [`Doc`]), and, in [`Validator::finish`], runs the rules across
//! documents: unique names per kind, one document per remote object, and targets that exist
//! and are of the right platform. Problems are collected, never returned early, so one run
//! reports them all. No message ever contains the value of a field that could hold a secret.
//!
//! Every string of a document — names, tags, token names, URLs, paths, keys — may hold only
//! visible characters: a control character, a bidirectional control or a zero-width character
//! ([`crate::text::is_hidden`]) makes two different names look alike in review and in every
//! output, so it is an error wherever it appears.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::de::{self, DeError};
use super::document::{API_VERSION, KeySinkSpec, Metadata};
use super::yaml::{Node, Pos, Resolved, Value};
use super::{
    Diagnostic, Dialect, Location, Manifests, RemoteKey, Resource, Settings, Severity, Spec, Target,
};

/// The `kind:` of a Target document; the platforms name the other kinds.
const TARGET: &str = "Target";

const ENVELOPE_FIELDS: &[&str] = &["apiVersion", "kind", "metadata", "spec"];
const SINK_FIELDS: &[&str] = &["file", "command", "env"];

/// One step of a path into a document: the value of a key, or an item of a list.
#[derive(Clone, Copy)]
pub(crate) enum Seg<'s> {
    K(&'s str),
    I(usize),
}
use Seg::{I, K};

/// Where a document's names were written, for the rules across documents.
struct Placed {
    kind: &'static str,
    /// `metadata.name`.
    name: String,
    name_at: Location,
    /// A resource's `spec.target`.
    target: Option<(String, Location)>,
    /// A resource's remote key (connection, identity name, token name) and where it is written.
    key: Option<(String, Location)>,
}

/// Where a scalar sits, as a message names it.
#[derive(Clone, Copy)]
enum Holder<'a> {
    Document,
    Key,
    /// The value of this key.
    Value(&'a str),
    /// An entry of this key's sequence (at any depth).
    Entry(&'a str),
}

impl std::fmt::Display for Holder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Holder::Document => f.write_str("the document"),
            Holder::Key => f.write_str("a key"),
            Holder::Value(key) => write!(f, "\"{key}\""),
            Holder::Entry(key) => write!(f, "an entry of \"{key}\""),
        }
    }
}

/// A Target document as the rule "targets exist" sees it.
struct DefinedTarget {
    name: String,
    /// `None` when the Target has errors of its own: it exists, but which platform it means
    /// is not known, so resources using it are not checked against it.
    platform: Option<&'static str>,
    location: Location,
}

/// Collects documents and diagnostics; `finish` runs the rules across documents.
pub(super) struct Validator<'d, T, S> {
    /// The platforms, in the order they are listed.
    dialects: &'d [&'d dyn Dialect<T, S>],
    /// `Target` and the platforms' kinds, in the order they are listed in messages.
    kinds: Vec<&'static str>,
    /// The repository root: key-sink files must stay under it.
    root: PathBuf,
    diagnostics: Vec<Diagnostic>,
    manifests: Manifests<T, S>,
    /// Every document whose `metadata.name` is readable, valid or not, in input order.
    places: Vec<Placed>,
    /// Every Target document whose `metadata.name` is readable, valid or not.
    targets: Vec<DefinedTarget>,
    /// Every variable a key-sink command is to get, and where it is named.
    sink_env: Vec<(String, Location)>,
}

fn location(file: &Path, pos: Pos) -> Location {
    Location {
        file: file.to_path_buf(),
        line: pos.line,
        column: pos.column,
    }
}

fn at(loc: &Location) -> String {
    format!("{}:{}:{}", loc.file.display(), loc.line, loc.column)
}

impl<'d, T: Settings, S: Spec> Validator<'d, T, S> {
    /// A validator for manifests of these platforms under the repository `root` (absolute).
    pub(super) fn new(root: PathBuf, dialects: &'d [&'d dyn Dialect<T, S>]) -> Self {
        let kinds = std::iter::once(TARGET)
            .chain(dialects.iter().map(|d| d.kind().as_str()))
            .collect();
        Validator {
            dialects,
            kinds,
            root,
            diagnostics: Vec::new(),
            manifests: Manifests::default(),
            places: Vec::new(),
            targets: Vec::new(),
            sink_env: Vec::new(),
        }
    }

    pub(super) fn report(&mut self, file: &Path, pos: Pos, message: String, hint: Option<String>) {
        self.diagnostics.push(Diagnostic {
            location: location(file, pos),
            severity: Severity::Error,
            message,
            hint,
        });
    }

    fn report_de(&mut self, file: &Path, fallback: Pos, e: DeError) {
        self.report(file, e.pos.unwrap_or(fallback), e.message, e.hint);
    }

    /// Checks one non-empty document and keeps it if it is valid.
    pub(super) fn document(&mut self, file: &Path, root: &Node) {
        let errors_before = self.diagnostics.len();
        self.secrets_anywhere(file, root);
        self.hidden_anywhere(file, root, Holder::Document);
        let Value::Map(entries) = &root.value else {
            self.report(
                file,
                root.pos,
                format!(
                    "a manifest document must be a mapping with apiVersion, kind, metadata and spec, found {}",
                    root.type_name()
                ),
                Some("start each document with `apiVersion: warrant/v1` and `kind:` at the left margin; separate documents with `---`".into()),
            );
            return;
        };
        for (key, _) in entries {
            let name = key.text();
            // A credential-named key was reported by `secrets_anywhere` already.
            if !name.is_some_and(|k| ENVELOPE_FIELDS.contains(&k))
                && name.and_then(de::secret_key_replacement).is_none()
            {
                self.report_de(file, key.pos, unknown_envelope_field(key));
            }
        }
        match root.get("apiVersion") {
            None => self.missing(file, root, "apiVersion", "add `apiVersion: warrant/v1`"),
            Some(v) if v.text() == Some(API_VERSION) && v.type_name() == "a string" => {}
            Some(v) => self.report(
                file,
                v.pos,
                format!("unsupported apiVersion, expected \"{API_VERSION}\""),
                Some(format!(
                    "write `apiVersion: {API_VERSION}`, the only version there is"
                )),
            ),
        }
        let kind = match root.get("kind") {
            None => {
                self.missing(file, root, "kind", "add e.g. `kind: Target`");
                return;
            }
            Some(v) => match v
                .text()
                .and_then(|k| self.kinds.iter().find(|known| **known == k))
            {
                Some(kind) => *kind,
                None => {
                    self.report(
                        file,
                        v.pos,
                        format!(
                            "unknown kind \"{}\", expected one of {}",
                            v.text().unwrap_or_default(),
                            quoted(&self.kinds)
                        ),
                        Some(match v.text().and_then(|k| de::closest(k, &self.kinds)) {
                            Some(kind) => format!("did you mean \"{kind}\"?"),
                            None => "kinds are case-sensitive and written in full".into(),
                        }),
                    );
                    return;
                }
            },
        };
        let unknown = RefCell::new(Vec::new());
        let metadata = match root.get("metadata") {
            None => {
                self.missing(file, root, "metadata", "add `metadata: {name: …}`");
                None
            }
            Some(node) => match de::from_node::<Metadata>(node, &unknown) {
                Ok(m) => Some(m),
                Err(e) => {
                    self.report_de(file, node.pos, e);
                    None
                }
            },
        };
        let Some(spec_node) = root.get("spec") else {
            self.missing(file, root, "spec", "add the `spec:` of the document");
            self.flush_unknown(file, unknown);
            self.record(file, root, kind, None);
            return;
        };
        let mut doc = Doc {
            file,
            root,
            errors: Vec::new(),
        };
        let dialect = self
            .dialects
            .iter()
            .copied()
            .find(|d| d.kind().as_str() == kind);
        let parsed = match dialect {
            None => read_target(self.dialects, spec_node, &unknown)
                .map(|found| doc.target(self.dialects, found).map(Parsed::Target)),
            Some(dialect) => dialect.read_spec(spec_node, &unknown).map(|mut spec| {
                let before = doc.error_count();
                doc.non_empty(&[K("spec"), K("target")], "target", spec.target());
                if let Some(name) = spec.remote_name() {
                    doc.non_empty(&[K("spec"), K("name")], "name", name);
                }
                spec.check(&mut doc, &self.root);
                (doc.error_count() == before).then_some(Parsed::Resource(spec))
            }),
        };
        if dialect.is_some_and(|d| d.has_key_sink()) {
            // Read from the YAML tree, so a document with other errors is checked too.
            let env = spec_node.get("keySink").and_then(|sink| sink.get("env"));
            if let Some(Node {
                value: Value::Seq(items),
                ..
            }) = env
            {
                for item in items {
                    if let Some(Resolved::Str(name)) = item.resolve() {
                        self.sink_env
                            .push((name.to_string(), location(file, item.pos)));
                    }
                }
            }
        }
        if let Some(m) = &metadata
            && m.name.trim().is_empty()
        {
            doc.error(
                &[K("metadata"), K("name")],
                "metadata.name must not be empty".into(),
                Some("give the document a name, unique among documents of its kind".into()),
            );
        }
        let mut errors = std::mem::take(&mut doc.errors);
        self.diagnostics.append(&mut errors);
        self.flush_unknown(file, unknown);
        let parsed = match parsed {
            Ok(p) => p,
            Err(e) => {
                self.report_de(file, spec_node.pos, e);
                None
            }
        };
        let valid = self.diagnostics.len() == errors_before;
        let (Some(parsed), Some(metadata), true) = (parsed, metadata, valid) else {
            self.record(file, root, kind, None);
            return;
        };
        let location = location(file, root.pos);
        match parsed {
            Parsed::Target(platform) => {
                self.record(file, root, kind, Some(platform.platform_name()));
                self.manifests.targets.push(Target {
                    name: metadata.name,
                    platform,
                    location,
                });
            }
            Parsed::Resource(spec) => {
                self.record(file, root, kind, None);
                self.manifests.resources.push(Resource {
                    name: metadata.name,
                    spec,
                    location,
                });
            }
        }
    }

    /// Records where a document's names are, for the rules across documents, reading them
    /// from the YAML tree so that a document with other errors still takes part: its
    /// duplicates and missing targets are reported in the same run. A name that is not a
    /// non-empty string has its own error and is left out. `platform` is the platform of a
    /// valid Target; a Target without one is defined but invalid.
    fn record(
        &mut self,
        file: &Path,
        root: &Node,
        kind: &'static str,
        platform: Option<&'static str>,
    ) {
        let doc = Doc {
            file,
            root,
            errors: Vec::new(),
        };
        let text_at = |path: &[Seg]| -> Option<(String, Location)> {
            let mut node = root;
            for seg in path {
                let K(key) = seg else { return None };
                node = node.get(key)?;
            }
            match node.resolve() {
                Some(Resolved::Str(s)) if !s.trim().is_empty() => {
                    Some((s.to_string(), doc.loc(path)))
                }
                _ => None,
            }
        };
        let Some((name, name_at)) = text_at(&[K("metadata"), K("name")]) else {
            return;
        };
        let Some(dialect) = self.dialect(kind) else {
            self.targets.push(DefinedTarget {
                name: name.clone(),
                platform,
                location: location(file, root.pos),
            });
            self.places.push(Placed {
                kind,
                name,
                name_at,
                target: None,
                key: None,
            });
            return;
        };
        let target = text_at(&[K("spec"), K("target")]);
        let key = match dialect.remote_key() {
            RemoteKey::Field(field) => text_at(&[K("spec"), K(field)]),
            // The field defaults to `metadata.name`; one that is present but unreadable has
            // its own error.
            RemoteKey::FieldOrName(field) => match root.get("spec").and_then(|s| s.get(field)) {
                Some(_) => text_at(&[K("spec"), K(field)]),
                None => Some((name.clone(), name_at.clone())),
            },
        };
        self.places.push(Placed {
            kind,
            name,
            name_at,
            target,
            key,
        });
    }

    /// The platform of a resource kind; `None` for `Target`.
    fn dialect(&self, kind: &str) -> Option<&'d dyn Dialect<T, S>> {
        self.dialects
            .iter()
            .copied()
            .find(|d| d.kind().as_str() == kind)
    }

    fn missing(&mut self, file: &Path, node: &Node, field: &str, hint: &str) {
        self.report(
            file,
            node.pos,
            format!("missing field \"{field}\""),
            Some(hint.into()),
        );
    }

    fn flush_unknown(&mut self, file: &Path, unknown: RefCell<Vec<DeError>>) {
        for e in unknown.into_inner() {
            let pos = e.pos.unwrap_or(Pos { line: 1, column: 1 });
            self.report_de(file, pos, e);
        }
    }

    /// A key that names a credential is an error wherever it appears, known field or not.
    fn secrets_anywhere(&mut self, file: &Path, node: &Node) {
        match &node.value {
            Value::Scalar { .. } => {}
            Value::Seq(items) => items.iter().for_each(|n| self.secrets_anywhere(file, n)),
            Value::Map(entries) => {
                for (key, value) in entries {
                    if key.text().and_then(de::secret_key_replacement).is_some() {
                        let e = de::literal_secret_error(key);
                        self.report_de(file, key.pos, e);
                    }
                    self.secrets_anywhere(file, value);
                }
            }
        }
    }

    /// Every scalar, key or value, at any depth: one with a hidden character is an error at
    /// its position, naming the character (never the value, which may be a secret pasted in
    /// the wrong place).
    fn hidden_anywhere(&mut self, file: &Path, node: &Node, holder: Holder) {
        match &node.value {
            Value::Scalar { text, .. } => {
                let mut hidden = text
                    .chars()
                    .enumerate()
                    .filter_map(|(i, c)| Some((i, c, crate::text::hidden_kind(c)?)));
                let Some((index, c, kind)) = hidden.next() else {
                    return;
                };
                let more = match hidden.count() {
                    0 => String::new(),
                    n => format!(", and {n} more"),
                };
                self.report(
                    file,
                    node.pos,
                    format!(
                        "{holder} contains U+{:04X} ({kind}) at character {}{more}",
                        u32::from(c),
                        index + 1,
                    ),
                    Some("names, tags and every other string may hold only visible characters on one line: retype the value without it (an editor or a diff may not show it at all)".into()),
                );
            }
            Value::Seq(items) => {
                let holder = match holder {
                    Holder::Value(key) | Holder::Entry(key) => Holder::Entry(key),
                    other => other,
                };
                for item in items {
                    self.hidden_anywhere(file, item, holder);
                }
            }
            Value::Map(entries) => {
                for (key, value) in entries {
                    self.hidden_anywhere(file, key, Holder::Key);
                    let holder = key.text().map_or(Holder::Document, Holder::Value);
                    self.hidden_anywhere(file, value, holder);
                }
            }
        }
    }

    /// Runs the rules across documents and returns the result: the manifests, or every
    /// diagnostic (of all files) sorted by file, line and column.
    pub(super) fn finish(
        mut self,
        earlier: Vec<Diagnostic>,
    ) -> Result<Manifests<T, S>, Vec<Diagnostic>> {
        self.diagnostics.extend(earlier);
        self.unique_names();
        self.one_document_per_remote_object();
        self.targets_exist();
        self.no_credentials_to_sinks();
        let mut diagnostics = self.diagnostics;
        if diagnostics.is_empty() {
            return Ok(self.manifests);
        }
        diagnostics.sort_by(|a, b| {
            (&a.location, &a.message, a.severity).cmp(&(&b.location, &b.message, b.severity))
        });
        diagnostics.dedup();
        Err(diagnostics)
    }

    fn unique_names(&mut self) {
        let mut first: HashMap<(&str, &str), &Location> = HashMap::new();
        let mut found = Vec::new();
        for place in &self.places {
            match first.get(&(place.kind, place.name.as_str())) {
                Some(earlier) => found.push(Diagnostic {
                    location: place.name_at.clone(),
                    severity: Severity::Error,
                    message: format!(
                        "duplicate {} name \"{}\", already defined at {}",
                        place.kind,
                        place.name,
                        at(earlier)
                    ),
                    hint: Some("metadata.name must be unique among documents of a kind".into()),
                }),
                None => {
                    first.insert((place.kind, &place.name), &place.name_at);
                }
            }
        }
        self.diagnostics.extend(found);
    }

    fn one_document_per_remote_object(&mut self) {
        let mut first: HashMap<(&str, &str, String), (&Placed, &str, &Location)> = HashMap::new();
        let mut found = Vec::new();
        for place in &self.places {
            let (Some((target, _)), Some((key, key_at))) = (&place.target, &place.key) else {
                continue;
            };
            let Some(dialect) = self.dialect(place.kind) else {
                continue;
            };
            let compared = dialect.same_object(key);
            let Some((other, other_key, other_at)) =
                first.get(&(place.kind, target, compared.clone()))
            else {
                first.insert((place.kind, target, compared), (place, key, key_at));
                continue;
            };
            let what = dialect.noun();
            let (message, hint) = if key == other_key {
                (
                    format!(
                        "{} \"{}\" manages the same {what} \"{key}\" of target \"{target}\" as {} \"{}\" at {}",
                        place.kind,
                        place.name,
                        other.kind,
                        other.name,
                        at(other_at)
                    ),
                    "merge the two documents into one".to_string(),
                )
            } else {
                (
                    format!(
                        "{} \"{}\" manages {what} \"{key}\" of target \"{target}\", the same identity as \"{other_key}\" of {} \"{}\" at {}: names differing only in case are taken as one identity",
                        place.kind,
                        place.name,
                        other.kind,
                        other.name,
                        at(other_at)
                    ),
                    "merge the two documents into one, or give the identities names that differ by more than case".to_string(),
                )
            };
            found.push(Diagnostic {
                location: key_at.clone(),
                severity: Severity::Error,
                message,
                hint: Some(hint),
            });
        }
        self.diagnostics.extend(found);
    }

    /// A key-sink command runs with a cleared environment; handing it a Target's credential
    /// would give a program that only needs to store a key the power to act as warrant.
    fn no_credentials_to_sinks(&mut self) {
        let mut found = Vec::new();
        for (name, at) in &self.sink_env {
            let owner = self
                .manifests
                .targets
                .iter()
                .find(|t| t.platform.credential_variables().iter().any(|v| v == name));
            if let Some(target) = owner {
                found.push(Diagnostic {
                    location: at.clone(),
                    severity: Severity::Error,
                    message: format!(
                        "keySink env must not pass {name}: it holds a credential of target \"{}\"",
                        target.name
                    ),
                    hint: Some("a key sink gets only what it needs to store the key (e.g. GH_TOKEN for `gh secret set`); remove the credential variable".into()),
                });
            }
        }
        self.diagnostics.extend(found);
    }

    fn targets_exist(&mut self) {
        let mut defined: HashMap<&str, &DefinedTarget> = HashMap::new();
        for t in &self.targets {
            defined.entry(&t.name).or_insert(t);
        }
        let mut found = Vec::new();
        for place in &self.places {
            let Some((name, target_at)) = &place.target else {
                continue;
            };
            let Some(dialect) = self.dialect(place.kind) else {
                continue;
            };
            let wanted = dialect.name();
            let platform_name = article(wanted);
            match defined
                .get(name.as_str())
                .map(|t| (t.platform, &t.location))
            {
                None => {
                    let known: Vec<&str> = self
                        .targets
                        .iter()
                        .filter(|t| t.platform == Some(wanted))
                        .map(|t| t.name.as_str())
                        .collect();
                    found.push(Diagnostic {
                        location: target_at.clone(),
                        severity: Severity::Error,
                        message: format!("target \"{name}\" is not defined"),
                        hint: Some(if known.is_empty() {
                            format!("define a Target with `{wanted}:` in the files being validated")
                        } else {
                            format!("{platform_name} Target: {}", quoted(&known))
                        }),
                    });
                }
                // The Target has errors of its own, reported there; which platform it means
                // is unknown, so there is nothing more to say here.
                Some((None, _)) => {}
                Some((Some(platform), target_location)) if platform != wanted => {
                    found.push(Diagnostic {
                        location: target_at.clone(),
                        severity: Severity::Error,
                        message: format!(
                            "target \"{name}\" is {} Target, but {} needs {platform_name} Target",
                            article(platform),
                            place.kind
                        ),
                        hint: Some(format!("target defined at {}", at(target_location))),
                    });
                }
                Some(_) => {}
            }
        }
        self.diagnostics.extend(found);
    }
}

fn unknown_envelope_field(key: &Node) -> DeError {
    DeError {
        pos: Some(key.pos),
        message: format!(
            "unknown field \"{}\", expected one of {}",
            key.text().unwrap_or_default(),
            quoted(ENVELOPE_FIELDS)
        ),
        hint: Some("the fields of a kind go under `spec:`".into()),
    }
}

/// `an atlan`, `a connect`: a platform's name after its article.
fn article(platform: &str) -> String {
    let vowel = platform.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("a{} {platform}", if vowel { "n" } else { "" })
}

fn quoted(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("\"{i}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

enum Parsed<T, S> {
    Target(T),
    Resource(S),
}

/// The settings of the platforms a Target's `spec` names (`None` for a null one), with the
/// index of each in `dialects`: as a derived struct of optional fields would read them, so
/// every unknown key is collected and the first value that cannot be read ends the reading.
fn read_target<T, S>(
    dialects: &[&dyn Dialect<T, S>],
    spec: &Node,
    unknown: &RefCell<Vec<DeError>>,
) -> Result<Vec<(usize, T)>, DeError> {
    let Value::Map(entries) = &spec.value else {
        return Err(de::expected_mapping(spec));
    };
    let names: Vec<&str> = dialects.iter().map(|d| d.name()).collect();
    let mut known = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        match key
            .text()
            .and_then(|k| names.iter().position(|name| *name == k))
        {
            Some(i) => known.push((i, value)),
            None => unknown
                .borrow_mut()
                .push(de::unknown_field_error(key, &names)),
        }
    }
    let mut found = Vec::new();
    for (i, value) in known {
        let read = dialects[i]
            .read_target(value, unknown)
            .map_err(|e| e.at(value.pos).at(spec.pos))?;
        found.extend(read.map(|settings| (i, settings)));
    }
    Ok(found)
}

/// One document being checked: its errors, and a way to find the node a rule concerns.
pub(crate) struct Doc<'a> {
    file: &'a Path,
    root: &'a Node,
    errors: Vec<Diagnostic>,
}

impl Doc<'_> {
    /// The node at `path`, or its deepest existing ancestor (a rule about a missing field is
    /// reported at the mapping that lacks it).
    fn node(&self, path: &[Seg]) -> &Node {
        let mut node = self.root;
        for seg in path {
            let next = match (seg, &node.value) {
                (K(key), Value::Map(_)) => node.get(key),
                (I(i), Value::Seq(items)) => items.get(*i),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => break,
            }
        }
        node
    }

    fn loc(&self, path: &[Seg]) -> Location {
        location(self.file, self.node(path).pos)
    }

    pub(crate) fn error(&mut self, path: &[Seg], message: String, hint: Option<String>) {
        let location = self.loc(path);
        self.errors.push(Diagnostic {
            location,
            severity: Severity::Error,
            message,
            hint,
        });
    }

    pub(crate) fn error_count(&self) -> usize {
        self.errors.len()
    }

    pub(crate) fn env_name(&mut self, path: &[Seg], field: &str, value: &str) {
        let valid = value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            self.error(
                path,
                format!(
                    "{field} must be the name of an environment variable (letters, digits and _)"
                ),
                Some(
                    "put the credential itself in that environment variable, never in the manifest"
                        .into(),
                ),
            );
        }
    }

    /// A variable of a Target's separate read credentials (`read:`): a variable name, and not
    /// one of the write credentials' variables (`write`), or the "read-only" credential would
    /// be the write credential under another heading.
    pub(crate) fn read_env_name(&mut self, path: &[Seg], field: &str, value: &str, write: &[&str]) {
        self.env_name(path, field, value);
        if write.contains(&value) {
            self.error(
                path,
                format!("read.{field} names {value}, a variable of the write credentials"),
                Some(
                    "name a variable holding a read-only credential, or remove `read` to plan with the write credentials".into(),
                ),
            );
        }
    }

    pub(crate) fn base_url(&mut self, path: &[Seg], value: &str) {
        for problem in base_url_problems(value) {
            let message = match &problem {
                BaseUrlProblem::UserInfo => format!("literal secret in baseUrl: {problem}"),
                _ => format!("baseUrl {problem}"),
            };
            self.error(path, message, Some(problem.hint().into()));
        }
    }

    pub(crate) fn uuid(&mut self, path: &[Seg], field: &str, value: &str) {
        let hyphenated = value.len() == 36 && uuid::Uuid::try_parse(value).is_ok();
        if !hyphenated {
            self.error(
                path,
                format!("{field} must be a UUID"),
                Some("like 7fc97c8b-8f60-4f29-af71-3178c414e7a0".into()),
            );
        }
    }

    pub(crate) fn non_empty(&mut self, path: &[Seg], field: &str, value: &str) {
        if value.trim().is_empty() {
            let hint = match field {
                "target" => "name a Target document (its metadata.name)".to_string(),
                "name" => "write a name, or remove the field to use metadata.name".to_string(),
                _ => format!("write the {field}, or remove the empty entry"),
            };
            self.error(path, format!("{field} must not be empty"), Some(hint));
        }
    }

    pub(crate) fn positive(&mut self, path: &[Seg], field: &str, value: u32) {
        if value == 0 {
            self.error(
                path,
                format!("{field} must be greater than 0"),
                Some(format!("remove {field} to use the default limit")),
            );
        }
    }

    /// Reports the second and later occurrence of each repeated item, naming the first line.
    pub(crate) fn no_duplicates<T: Ord>(&mut self, list: &str, items: &[T], what: &str) {
        let mut seen: Vec<(&T, usize)> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if let Some((_, first)) = seen.iter().find(|(s, _)| *s == item) {
                let first_line = self.node(&[K("spec"), K(list), I(*first)]).pos.line;
                self.error(
                    &[K("spec"), K(list), I(i)],
                    format!("duplicate {what} in {list} (also at line {first_line})"),
                    Some(format!(
                        "remove the repeated {what}: listing it twice means the same as once"
                    )),
                );
            } else {
                seen.push((item, i));
            }
        }
    }

    /// Checks the settings of a Target's platforms (as [`read_target`] found them): each by
    /// its own rules, in the order the platforms are listed, and that there is exactly one.
    fn target<T: Settings, S>(
        &mut self,
        dialects: &[&dyn Dialect<T, S>],
        mut found: Vec<(usize, T)>,
    ) -> Option<T> {
        let before = self.error_count();
        found.sort_by_key(|(i, _)| *i);
        for (_, settings) in &found {
            settings.check(self);
        }
        let names: Vec<&str> = found.iter().map(|(i, _)| dialects[*i].name()).collect();
        if let [_, second, ..] = names.as_slice() {
            self.error(
                &[K("spec"), K(second)],
                format!(
                    "a Target has exactly one platform, found {}",
                    quoted(&names)
                ),
                Some("write one Target document per platform".into()),
            );
        }
        if let Some(first) = dialects.first().filter(|_| found.is_empty()) {
            let all: Vec<&str> = dialects.iter().map(|d| d.name()).collect();
            self.error(
                &[K("spec")],
                format!("a Target needs exactly one of {}", quoted(&all)),
                Some(format!(
                    "add e.g. `{}` under `spec:`",
                    first.target_example()
                )),
            );
        }
        if self.error_count() > before {
            return None;
        }
        found.pop().map(|(_, settings)| settings)
    }
}

impl Doc<'_> {
    /// Exactly one of `file` and `command`; `env` only with `command`; a file relative to the
    /// manifest and inside the repository, rewritten relative to the repository root.
    pub(crate) fn key_sink(&mut self, sink: &mut KeySinkSpec, repository: &Path) {
        let at = |f| [K("spec"), K("keySink"), K(f)];
        match (&sink.file, &sink.command) {
            (Some(_), Some(_)) => self.error(
                &[K("spec"), K("keySink")],
                "keySink takes exactly one of \"file\", \"command\", found both".into(),
                Some("keep exactly one of the fields".into()),
            ),
            // A misspelt key (`files:`) has its own error, with a suggestion; saying that
            // neither is there would only repeat it.
            (None, None) if !self.has_unknown_keys(&[K("spec"), K("keySink")], SINK_FIELDS) => {
                self.error(
                    &[K("spec"), K("keySink")],
                    "keySink needs \"file\" or \"command\"".into(),
                    Some("like `{file: ../keys/ci-token.key}` or `{command: [gh, secret, set, MIST_KEY], env: [GH_TOKEN]}`".into()),
                )
            }
            (None, None) => {}
            (Some(path), None) => {
                if !sink.env.is_empty() {
                    self.error(
                        &at("env"),
                        "keySink env only applies to a command sink".into(),
                        Some("remove env: a file sink runs no program".into()),
                    );
                }
                match self.confine(path, repository) {
                    Ok(relative) => sink.file = Some(relative),
                    Err((message, hint)) => self.error(&at("file"), message, Some(hint)),
                }
            }
            (None, Some(argv)) => {
                if argv.first().is_none_or(|a| a.trim().is_empty()) {
                    self.error(
                        &at("command"),
                        "keySink command must be a non-empty argv list".into(),
                        Some("like [gh, secret, set, MIST_KEY]".into()),
                    );
                }
                for (i, name) in sink.env.iter().enumerate() {
                    self.env_name(&[K("spec"), K("keySink"), K("env"), I(i)], "keySink env", name);
                }
                let mut seen = std::collections::BTreeSet::new();
                for (i, name) in sink.env.iter().enumerate() {
                    if !seen.insert(name) {
                        self.error(
                            &[K("spec"), K("keySink"), K("env"), I(i)],
                            format!("duplicate variable {name} in keySink env"),
                            Some("list each variable once".into()),
                        );
                    }
                }
            }
        }
    }

    /// Whether the mapping at `path` has a key outside `known`.
    fn has_unknown_keys(&self, path: &[Seg], known: &[&str]) -> bool {
        match &self.node(path).value {
            Value::Map(entries) => entries
                .iter()
                .any(|(k, _)| !k.text().is_some_and(|k| known.contains(&k))),
            _ => false,
        }
    }

    /// A key file, given relative to this manifest, as a path relative to the repository
    /// root; refused when absolute or leaving the root (by `..` or a symbolic link).
    fn confine(&self, path: &Path, repository: &Path) -> Result<PathBuf, (String, String)> {
        let shown = path.display();
        if path.as_os_str().is_empty() {
            return Err((
                "keySink file must be a path".into(),
                "like `{file: ../keys/ci-token.key}` (relative to this manifest file)".into(),
            ));
        }
        if path.is_absolute() {
            return Err((
                format!("keySink file {shown} must be a relative path"),
                "give the path relative to this manifest file, inside the repository".into(),
            ));
        }
        let manifest_dir = super::load::absolute(self.file);
        let manifest_dir = manifest_dir.parent().unwrap_or(Path::new("/"));
        let full = super::load::lexically_normal(&manifest_dir.join(path));
        let root = repository.display();
        let outside = (
            format!("keySink file {shown} leaves the repository root"),
            format!(
                "keys go to a directory inside the repository {root} (kept out of git, e.g. by .gitignore); the path is relative to this manifest file"
            ),
        );
        let relative = match full.strip_prefix(repository) {
            Ok(rel) if !rel.as_os_str().is_empty() => rel.to_path_buf(),
            _ => return Err(outside),
        };
        if !crate::secret::resolves_inside(repository, &full) {
            return Err((
                format!(
                    "keySink file {shown} leads out of the repository root through a symbolic link"
                ),
                format!("point the key file at a real directory inside {root}"),
            ));
        }
        Ok(relative)
    }
}

/// What makes a URL unfit to receive credentials. Its `Display` never quotes the URL: a user
/// part would be a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BaseUrlProblem {
    #[error("is not a valid URL: {0}")]
    Invalid(String),
    #[error("credentials (user:password@) never belong in a manifest")]
    UserInfo,
    #[error("has no host")]
    NoHost,
    #[error("must use https (plain http only for loopback hosts)")]
    PlainHttp,
    #[error("must be an https URL")]
    NotHttps,
}

impl BaseUrlProblem {
    pub(crate) fn hint(&self) -> &'static str {
        match self {
            BaseUrlProblem::Invalid(_) => {
                "write the full URL with its scheme, like https://host.example.com"
            }
            BaseUrlProblem::UserInfo => {
                "remove the user and password from the URL; warrant reads credentials from the environment variables named on the Target; rotate the secret if this file was ever committed"
            }
            BaseUrlProblem::PlainHttp => "credentials would cross the network unencrypted",
            BaseUrlProblem::NoHost | BaseUrlProblem::NotHttps => "like https://host.example.com",
        }
    }
}

/// The rule for every URL warrant sends credentials to — a Target's `baseUrl` and an
/// `--endpoint` alike: https, or plain http to a loopback host (127.0.0.0/8, `::1`,
/// `localhost`), and no user part. Empty when the URL is fit.
pub(crate) fn base_url_problems(value: &str) -> Vec<BaseUrlProblem> {
    let url = match reqwest::Url::parse(value) {
        Ok(url) => url,
        Err(e) => return vec![BaseUrlProblem::Invalid(e.to_string())],
    };
    let mut problems = Vec::new();
    if !url.username().is_empty() || url.password().is_some() {
        problems.push(BaseUrlProblem::UserInfo);
    }
    let host = url.host_str().unwrap_or_default();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if host.is_empty() {
        problems.push(BaseUrlProblem::NoHost);
    } else if url.scheme() == "http" && !loopback {
        problems.push(BaseUrlProblem::PlainHttp);
    } else if url.scheme() != "https" && url.scheme() != "http" {
        problems.push(BaseUrlProblem::NotHttps);
    }
    problems
}
