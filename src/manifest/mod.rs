//! Manifests: loading YAML files into typed documents with source locations, and validating
//! them, reporting every problem at once with file, line and column.
//!
//! `load` → [`Manifests`] (targets and resources, each with its [`Location`]) or a list of
//! [`Diagnostic`]s. The rest of warrant consumes only validated `Manifests`.

mod de;
mod diagnostics;
pub mod kinds;
mod load;
mod schema;
mod validate;
pub mod yaml;

use std::path::PathBuf;

use serde::Serialize;

pub use diagnostics::{render_github, render_json, render_text};
pub use kinds::*;
pub use load::{MAX_FILE_BYTES, lexically_normal, load, load_str, load_under, repository_root};
pub use schema::schemas;
pub use validate::{BaseUrlProblem, base_url_problems};

/// A position in a manifest file (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

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

/// A validated Target document.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub name: String,
    pub platform: TargetPlatform,
    pub location: Location,
}

/// The one platform a Target points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum TargetPlatform {
    Atlan(AtlanTarget),
    Connect(ConnectTarget),
    Mist(MistTarget),
}

/// A validated resource document.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// `metadata.name`.
    pub name: String,
    pub spec: ResourceSpec,
    pub location: Location,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ResourceSpec {
    ConnectionAdmins(ConnectionAdminsSpec),
    AutomationIdentity(AutomationIdentitySpec),
    OrgApiToken(OrgApiTokenSpec),
}

impl Resource {
    pub fn kind(&self) -> crate::model::Kind {
        match &self.spec {
            ResourceSpec::ConnectionAdmins(_) => crate::model::Kind::ConnectionAdmins,
            ResourceSpec::AutomationIdentity(_) => crate::model::Kind::AutomationIdentity,
            ResourceSpec::OrgApiToken(_) => crate::model::Kind::OrgApiToken,
        }
    }

    pub fn target(&self) -> &str {
        match &self.spec {
            ResourceSpec::ConnectionAdmins(s) => &s.target,
            ResourceSpec::AutomationIdentity(s) => &s.target,
            ResourceSpec::OrgApiToken(s) => &s.target,
        }
    }

    /// The remote key: connection qualifiedName, identity name, token name.
    pub fn remote_key(&self) -> &str {
        match &self.spec {
            ResourceSpec::ConnectionAdmins(s) => &s.connection,
            ResourceSpec::AutomationIdentity(s) => s.name.as_deref().unwrap_or(&self.name),
            ResourceSpec::OrgApiToken(s) => s.name.as_deref().unwrap_or(&self.name),
        }
    }

    pub fn address(&self) -> crate::model::Address {
        crate::model::Address {
            kind: self.kind(),
            name: self.name.clone(),
            target: self.target().to_string(),
            remote_key: self.remote_key().to_string(),
        }
    }
}

/// Everything the manifests declare, validated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Manifests {
    pub targets: Vec<Target>,
    pub resources: Vec<Resource>,
    /// The repository root they were loaded under: key-sink files are relative to it.
    pub root: PathBuf,
    /// The paths they were loaded from, relative to `root` where they lie inside it (a plan
    /// records them, so `apply PLANFILE` can load the same ones).
    pub paths: Vec<PathBuf>,
}

impl Manifests {
    pub fn target(&self, name: &str) -> Option<&Target> {
        self.targets.iter().find(|t| t.name == name)
    }
}
