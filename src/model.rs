//! The vocabulary shared by the planner, the platform clients and the applier.
//!
//! Every managed thing is an **object** with a key ([`Address`]) and a few **set-valued
//! fields**. Each field has a [`FieldPolicy`]. Platform code translates its API into this
//! model (resolving names to ids on the way); the planner (`crate::plan`) is one generic,
//! pure function over it; the applier (`crate::apply`) writes additions back through the
//! platform clients. Nothing here does I/O.
//!
//! Values are canonical strings: the exact thing written to the API (a username such as
//! `service-account-apikey-…`, a role id, a tag, a privilege rendered by the Mist client as
//! `role:scope[:id]`, a CIDR). What a human wrote in the manifest is kept beside the value in
//! `labels`, so renderers can say `ci-pipeline (service-account-apikey-…)`.

mod compact;
mod known;

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::secret::KeySink;

/// The kinds of object warrant manages. There is deliberately no kind for anything warrant
/// could delete.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum Kind {
    ConnectionAdmins,
    AutomationIdentity,
    OrgApiToken,
}

impl Kind {
    pub const ALL: [Kind; 3] = [
        Kind::ConnectionAdmins,
        Kind::AutomationIdentity,
        Kind::OrgApiToken,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ConnectionAdmins => "ConnectionAdmins",
            Kind::AutomationIdentity => "AutomationIdentity",
            Kind::OrgApiToken => "OrgApiToken",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an object lives: which manifest document declares it and which remote object it is.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub struct Address {
    pub kind: Kind,
    /// `metadata.name` of the manifest document.
    pub name: String,
    /// `metadata.name` of the Target the object lives in.
    pub target: String,
    /// The remote key: a connection qualifiedName, an identity name, a token name.
    pub remote_key: String,
}

impl Address {
    /// `Kind/name`, the form `--only` accepts.
    pub fn short(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{} ({}: {})",
            self.kind, self.name, self.target, self.remote_key
        )
    }
}

/// A field name as it appears in plans and reports (`adminUsers`, `roleIds`, `tags`,
/// `privileges`, `srcIps`, and observed-only fields such as `adminGroups`).
pub type FieldName = String;

pub use compact::{SmallMap, Values};
pub use known::{KnownList, UnreadableField};

/// How the planner may change a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldPolicy {
    /// Missing values are added; live values are never removed (`live ∪ additions`).
    Append,
    /// Set once at creation; afterwards a differing live value is a conflict.
    Immutable,
}

/// One declared field of a desired object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DesiredField {
    pub policy: FieldPolicy,
    pub values: Values,
    /// The most values the platform allows in this field (Mist: 10 privileges).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_items: Option<usize>,
}

/// What happens when the remote object does not exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", tag = "rule", content = "reason")]
pub enum CreateRule {
    /// The object may be created with all desired values.
    Allowed,
    /// The object is never created; its absence is a conflict with this reason
    /// (Atlan connections are never created by warrant).
    Never(String),
}

/// A desired object after the platform client resolved every name in it to an id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DesiredObject {
    pub address: Address,
    pub fields: SmallMap<DesiredField>,
    pub create: CreateRule,
    /// Canonical value → what the manifest said (token display name, role name), for output.
    #[serde(default, skip_serializing_if = "SmallMap::is_empty")]
    pub labels: SmallMap<String>,
    /// Resolution failures (token not found, ambiguous role name…). Any problem makes the
    /// change a conflict.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// Where a secret returned at creation goes (Mist keys). Not itself secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_sink: Option<KeySink>,
}

/// A live object as read from the platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LiveObject {
    /// The platform's id (connection GUID, identity Id, token id).
    pub id: String,
    /// Every access-granting field, managed or not. Fields the manifest does not declare
    /// (such as a connection's `adminGroups`) are reported entirely as drift.
    pub fields: SmallMap<Values>,
    /// Canonical value → human label for live values (e.g. a token's display name).
    #[serde(default, skip_serializing_if = "SmallMap::is_empty")]
    pub labels: SmallMap<String>,
    /// Set when the credential in use can read this object but would be refused a write
    /// (e.g. not an admin of the Atlan connection). Only matters when there is something to add.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_denied: Option<String>,
    /// Platform-private attributes needed to write the object (e.g. the connection's `name`).
    #[serde(default, skip_serializing_if = "SmallMap::is_empty")]
    pub extra: SmallMap<String>,
}

/// The live side of one address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum LiveState {
    Absent,
    Present {
        object: LiveObject,
    },
    /// The remote key matches several live objects (duplicate identity or token names).
    Ambiguous {
        ids: Vec<String>,
    },
    /// The object exists, but a list field came back missing, null or malformed: its value
    /// is unknown, never taken as empty. The plan makes it a conflict with these reasons
    /// (see [`UnreadableField::reason`]); nothing is written to it.
    Unreadable {
        id: String,
        reasons: Vec<String>,
    },
}

impl LiveState {
    pub fn object(&self) -> Option<&LiveObject> {
        match self {
            LiveState::Present { object } => Some(object),
            _ => None,
        }
    }
}

/// One write the applier asks a platform client to perform. There is no remove variant: the
/// type system is the first line of the append-only promise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    /// Create the object with these values for every field.
    Create {
        desired: DesiredObject,
        fields: SmallMap<Values>,
    },
    /// Set each listed field to exactly `values`, which the applier built as
    /// *fresh live ∪ additions* from a read made immediately before. Fields not listed are
    /// not sent.
    Update {
        address: Address,
        live: LiveObject,
        fields: SmallMap<Values>,
    },
}

impl WriteOp {
    pub fn address(&self) -> &Address {
        match self {
            WriteOp::Create { desired, .. } => &desired.address,
            WriteOp::Update { address, .. } => address,
        }
    }
}

impl WriteOutcome {
    /// Nothing was written because every value asked for was already live when read; the
    /// applier's read-back verifies it like any other write.
    pub fn already_there() -> WriteOutcome {
        WriteOutcome {
            created_id: None,
            secret: None,
        }
    }
}

/// What a successful write returned. It holds no view of the object after the write: a
/// write's response body proves nothing (a proxy can echo a write it never forwarded), so the
/// applier confirms every write with an independent read.
#[derive(Debug)]
pub struct WriteOutcome {
    /// The id of a created object.
    pub created_id: Option<String>,
    /// A secret returned once at creation (a Mist key). Goes only to the key sink.
    pub secret: Option<crate::secret::Secret>,
}
