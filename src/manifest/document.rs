//! The parts of a manifest document that every kind shares, as serde + schemars types: the
//! envelope's `metadata` and `apiVersion`, and the `keySink` of kinds whose create returns a
//! secret.
//!
//! The platforms' own types (Target settings, resource specs: `crate::platform`) are plain
//! serde types too; the loader deserializes into them (unknown fields are errors), and
//! `warrant schema` generates `schemas/` from them.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `apiVersion` every document must carry.
pub const API_VERSION: &str = "warrant/v1";

/// `metadata` of every document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// Unique among documents of the same kind.
    #[schemars(regex(pattern = super::NOT_BLANK_PATTERN))]
    pub name: String,
}

/// `keySink`: where a new token's key goes — exactly one of `file` and `command`. Validation
/// turns it into a `crate::secret::KeySink`.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("oneOf" = [
    {"required": ["file"], "not": {"required": ["env"]}},
    {"required": ["command"]}
]))]
pub struct KeySinkSpec {
    /// A new file (mode 0600, never overwritten), relative to the manifest file that declares
    /// it; it must stay inside the repository. After validation: relative to the repository
    /// root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = super::NOT_BLANK_PATTERN))]
    pub file: Option<PathBuf>,
    /// A program and its arguments (run without a shell) that receives the key on stdin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1), extend("prefixItems" = [{"type": "string", "pattern": "\\S"}]))]
    pub command: Option<Vec<String>>,
    /// With `command`: environment variables the program gets besides `PATH`, `HOME`, `LANG`
    /// and `TMPDIR` (it gets nothing else; never a Target's credential variable).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        inner(regex(pattern = super::ENV_NAME_PATTERN)),
        extend("uniqueItems" = true)
    )]
    pub env: Vec<String>,
}

impl KeySinkSpec {
    /// A file sink.
    pub fn file(path: impl Into<PathBuf>) -> KeySinkSpec {
        KeySinkSpec {
            file: Some(path.into()),
            ..KeySinkSpec::default()
        }
    }

    /// The sink this spec declares; `None` unless it names exactly one of `file` and `command`
    /// (which validation guarantees).
    pub(crate) fn sink(&self) -> Option<crate::secret::KeySink> {
        use crate::secret::KeySink;
        match (&self.file, &self.command) {
            (Some(path), None) if self.env.is_empty() => Some(KeySink::File(path.clone())),
            (None, Some(argv)) => Some(KeySink::Command {
                argv: argv.clone(),
                env: self.env.clone(),
            }),
            _ => None,
        }
    }
}
