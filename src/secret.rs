//! Secrets that cannot be printed, and the sinks a newly created key is delivered to.
//!
//! Credentials come only from environment variables and live in a [`Secret`] from the moment
//! they are read. `Secret` has no `Display`, its `Debug` prints a fixed placeholder, and it is
//! not `Serialize`, so it cannot reach stdout, logs, plan files or reports by accident. The
//! only way to the bytes is [`Secret::expose`], used where a header is built or a key sink is
//! fed.

use std::fmt;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A credential or key. Deliberately not `Display`, not `Serialize`, and `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret's text. Call only where the value must leave the process on purpose
    /// (an Authorization header, a token request body, a key sink).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Where the key of a newly created Mist token goes. The manifest names it; the value is not
/// itself secret.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum KeySink {
    /// A new file created with mode 0600; an existing file is never overwritten.
    File(PathBuf),
    /// A program (argv, run without a shell) that receives the key on stdin.
    Command(Vec<String>),
}
