//! Manifests: loading YAML files into typed documents with source locations, and validating
//! them, reporting every problem at once with file, line and column.
//!
//! This layer is generic. It knows files, multi-document YAML, spans, the envelope every
//! document shares (`apiVersion`, `kind`, `metadata`, `spec`), diagnostics, and the rules
//! across documents (unique names, targets that exist and are of the right platform, one
//! document per remote object, no credential handed to a key sink). What a platform's Target
//! settings and resource specs are, and how they are checked, it asks the platforms through
//! `Dialect`, `Settings` and `Spec`, which each platform implements
//! (`crate::platform`, where they are listed once). So the validated [`Manifests`] are generic
//! over the platforms' settings and specs; `crate::platform::Manifests` is the one instance.
//!
//! `load` → [`Manifests`] (targets and resources, each with its [`Location`]) or a list of
//! [`Diagnostic`]s. The rest of warrant consumes only validated `Manifests`.

mod de;
mod diagnostics;
mod document;
mod load;
mod schema;
mod validate;
mod yaml;

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use schemars::{Schema, SchemaGenerator};
use serde::Serialize;

use crate::model::Kind;

pub(crate) use de::{DeError, from_node};
pub use diagnostics::{render_github, render_json, render_text};
pub use document::{API_VERSION, KeySinkSpec, Metadata};
pub(crate) use load::repository_root;
pub(crate) use load::{lexically_normal, load, load_str, load_under};
pub(crate) use schema::{
    BASE_URL_PATTERN, ENV_NAME_PATTERN, NOT_BLANK_PATTERN, UUID_PATTERN, documents_schemas,
};
pub(crate) use validate::{BaseUrlProblem, base_url_problems};
pub(crate) use validate::{Doc, Seg};
pub(crate) use yaml::Node;

/// A position in a manifest file (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

/// How bad a diagnostic is. Every rule of the manifests is an error: warrant refuses
/// manifests rather than guess (what a reviewer should look at twice is a plan's warning).
/// A warning is advice about where the manifests are used, never about the manifests alone:
/// `validate --ci` warns of a file key sink, whose key a CI runner loses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem found in the manifests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub location: Location,
    pub severity: Severity,
    pub message: String,
    /// A suggestion, e.g. "use `apiKeyEnv` to name an environment variable instead".
    pub hint: Option<String>,
}

/// A validated Target document: `T` holds the settings of its one platform.
#[derive(Debug, Clone, PartialEq)]
pub struct Target<T> {
    pub name: String,
    pub platform: T,
    pub location: Location,
}

/// A validated resource document: `S` is the spec of its kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource<S> {
    /// `metadata.name`.
    pub name: String,
    pub spec: S,
    pub location: Location,
}

/// Everything the manifests declare, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifests<T, S> {
    pub targets: Vec<Target<T>>,
    pub resources: Vec<Resource<S>>,
    /// The repository root they were loaded under: key-sink files are relative to it.
    pub root: PathBuf,
    /// The paths they were loaded from, relative to `root` where they lie inside it (a plan
    /// records them, so `apply PLANFILE` can load the same ones).
    pub paths: Vec<PathBuf>,
}

impl<T, S> Default for Manifests<T, S> {
    fn default() -> Self {
        Manifests {
            targets: Vec::new(),
            resources: Vec::new(),
            root: PathBuf::new(),
            paths: Vec::new(),
        }
    }
}

impl<T, S> Manifests<T, S> {
    pub fn target(&self, name: &str) -> Option<&Target<T>> {
        self.targets.iter().find(|t| t.name == name)
    }

    /// The files the documents were read from, each once, in the order first met.
    pub(crate) fn files(&self) -> Vec<&Path> {
        let mut files: Vec<&Path> = Vec::new();
        let all = self.targets.iter().map(|t| &t.location.file);
        for file in all.chain(self.resources.iter().map(|r| &r.location.file)) {
            if !files.contains(&file.as_path()) {
                files.push(file);
            }
        }
        files
    }
}

/// What the manifest layer asks of one platform: the Target settings it reads under its name
/// and the resource kind it reads. Each platform implements it (`crate::platform`).
pub(crate) trait Dialect<T, S>: Sync {
    /// The key of the platform under a Target's `spec:` (`atlan`).
    fn name(&self) -> &'static str;
    /// The kind of resource document the platform manages.
    fn kind(&self) -> Kind;
    /// What one remote object of that kind is, in messages (`connection`).
    fn noun(&self) -> &'static str;
    /// Where a document of the kind writes its remote key.
    fn remote_key(&self) -> RemoteKey;
    /// The form in which two remote keys are the same remote object; two documents whose keys
    /// have the same form manage one object (`crate::platform::connect`: names that differ
    /// only in case).
    fn same_object(&self, key: &str) -> String {
        key.to_string()
    }
    /// Whether documents of the kind have a `keySink`, whose `env` must not name a credential.
    fn has_key_sink(&self) -> bool {
        false
    }
    /// A Target's `spec.<name>` as an example in hints
    /// (`atlan: {baseUrl: https://<tenant>.atlan.com}`).
    fn target_example(&self) -> &'static str;
    /// The platform's Target settings from `spec.<name>` (`None` when it is null); only
    /// deserialized: [`Settings::check`] checks them.
    fn read_target(
        &self,
        node: &Node,
        unknown: &RefCell<Vec<DeError>>,
    ) -> Result<Option<T>, DeError>;
    /// A resource document's `spec`, deserialized; [`Spec::check`] checks it.
    fn read_spec(&self, node: &Node, unknown: &RefCell<Vec<DeError>>) -> Result<S, DeError>;
    /// The schema of `spec.<name>` of a Target (null allowed, as for an absent key).
    fn target_schema(&self, generator: &mut SchemaGenerator) -> Schema;
    /// The schema of the `spec` of the kind.
    fn spec_schema(&self, generator: &mut SchemaGenerator) -> Schema;
    /// The schema file of the kind (`connection-admins.schema.json`).
    fn schema_file(&self) -> &'static str;
}

/// Where a resource kind writes its remote key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RemoteKey {
    /// In this field of the spec (`connection`).
    Field(&'static str),
    /// In this field of the spec, `metadata.name` when it is absent (`name`).
    FieldOrName(&'static str),
}

/// A platform's Target settings, as the manifest layer checks them.
pub(crate) trait Settings {
    /// The name of the platform (the key under `spec:`).
    fn platform_name(&self) -> &'static str;
    /// The environment variables holding the target's credentials.
    fn credential_variables(&self) -> Vec<&str>;
    /// Checks the settings; problems go to `doc`, at paths under `spec.<name>`.
    fn check(&self, doc: &mut Doc);
}

/// A resource spec, as the manifest layer checks and reads it.
pub(crate) trait Spec {
    fn kind(&self) -> Kind;
    /// `spec.target`.
    fn target(&self) -> &str;
    /// `spec.name`, for a kind whose remote key is a name that defaults to `metadata.name`.
    fn remote_name(&self) -> Option<&str>;
    /// The remote key, given the document's `metadata.name`.
    fn remote_key<'a>(&'a self, name: &'a str) -> &'a str {
        self.remote_name().unwrap_or(name)
    }
    /// Checks the spec beyond `spec.target` and `spec.name`, which are checked not to be
    /// empty before; problems go to `doc`. A key sink's file is rewritten relative to the
    /// `repository` root.
    fn check(&mut self, doc: &mut Doc, repository: &Path);
    /// The spec with its set-like lists sorted and deduplicated: two specs that declare the
    /// same have the same canonical form (`crate::plan::gather::desired_digest`).
    fn canonical(&self) -> serde_json::Value;
    /// The key sink, for a kind that has one.
    fn key_sink_mut(&mut self) -> Option<&mut KeySinkSpec> {
        None
    }
    /// Sets `spec.name` when the kind has one (an export naming a document differently from
    /// its remote object).
    fn set_remote_name(&mut self, _name: Option<String>) {}
}

/// A list in its canonical form: sorted, without duplicates.
pub(crate) fn sorted<T: Ord + Clone>(items: &[T]) -> Vec<T> {
    let set: std::collections::BTreeSet<T> = items.iter().cloned().collect();
    set.into_iter().collect()
}

/// A serializable manifest value as JSON; plain manifest data always serializes (Null keeps a
/// digest total should it not).
pub(crate) fn to_value<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}
