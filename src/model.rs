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
mod reason;

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::secret::KeySink;

/// The kind of a managed object, as manifests name it (`ConnectionAdmins`). Each platform
/// defines the kind it manages (`crate::platform`); the model only carries its name. There is
/// deliberately no kind for anything warrant could delete.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Kind(&'static str);

impl Kind {
    pub const fn new(name: &'static str) -> Kind {
        Kind(name)
    }

    pub(crate) fn as_str(self) -> &'static str {
        self.0
    }

    /// The kind named `name` as read from a file. Names are interned, so a kind stays a
    /// plain `&'static str` however many objects name it; a name that is not a word of at
    /// most [`MAX_KIND_NAME`] ASCII letters and digits, or one name more than
    /// [`MAX_KIND_NAMES`] distinct ones, is refused (whether a platform manages the kind is
    /// for the reader to check: `crate::plan::file`).
    fn read(name: &str) -> Option<Kind> {
        static NAMES: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
        let word = !name.is_empty()
            && name.len() <= MAX_KIND_NAME
            && name.bytes().all(|b| b.is_ascii_alphanumeric());
        if !word {
            return None;
        }
        let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(known) = names.iter().find(|n| **n == name) {
            return Some(Kind(known));
        }
        if names.len() >= MAX_KIND_NAMES {
            return None;
        }
        let interned: &'static str = Box::leak(name.to_string().into_boxed_str());
        names.push(interned);
        Some(Kind(interned))
    }
}

/// The longest kind name read from a file.
const MAX_KIND_NAME: usize = 64;
/// The most distinct kind names one process reads from files (there are three kinds).
const MAX_KIND_NAMES: usize = 32;

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl fmt::Debug for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Serialize for Kind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Kind, D::Error> {
        let name = std::borrow::Cow::<str>::deserialize(deserializer)?;
        Kind::read(&name).ok_or_else(|| {
            serde::de::Error::custom(format_args!("{name:?} is not a kind of object"))
        })
    }
}

/// A kind is a string in schemas; the plan file's schema lists the kinds the platforms manage
/// (`crate::plan::file::schema`).
impl JsonSchema for Kind {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Kind".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "The kinds of object warrant manages. There is deliberately no kind for anything warrant\ncould delete."
        })
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

pub use compact::{SmallMap, Values};
pub(crate) use known::{KnownList, UnreadableField};
pub use reason::{CreateEnded, Note, OpenCreate, Reason, Refused};

/// Whether a declaration may take over a live object that someone outside warrant made
/// (`adopt:` of a Mist token). Two-valued on purpose: adopting is either shown and allowed,
/// or refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Adopt {
    /// A live object made outside warrant is taken over, with a note in the plan.
    #[default]
    Always,
    /// A live object made outside warrant is a conflict that blocks apply for it.
    Never,
}

impl Adopt {
    pub(crate) fn is_always(&self) -> bool {
        *self == Adopt::Always
    }
}

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
    Never(Reason),
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
    pub problems: Vec<Reason>,
    /// Where a secret returned at creation goes (Mist keys). Not itself secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_sink: Option<KeySink>,
    /// How the platform makes this object's writes when not through its own write API
    /// (Atlan's package workflow); `None` for the direct route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<Route>,
    /// Whether a live object made outside warrant may be taken over (the default) or is a
    /// conflict. Part of the declaration.
    #[serde(default, skip_serializing_if = "Adopt::is_always")]
    pub adopt: Adopt,
}

/// A write route other than the platform's direct write (Atlan's package workflow). The
/// route is part of the declaration (a plan reviewed for one route is stale for another); the
/// notes are only shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Route {
    /// The route in a reader's words, after `via` (`package workflow`).
    pub via: String,
    /// Value → how it would be written that way, as the platform found it when resolving
    /// (`re-runs package workflow csa-…-1700000500`).
    #[serde(default, skip_serializing_if = "SmallMap::is_empty")]
    pub notes: SmallMap<String>,
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
    pub write_denied: Option<Reason>,
    /// Platform-private attributes needed to write the object (e.g. the connection's `name`).
    #[serde(default, skip_serializing_if = "SmallMap::is_empty")]
    pub extra: SmallMap<String>,
    /// Who made the live object, when the platform can tell that it was made outside warrant
    /// and by someone other than the credential in use (a Mist token's `created_by` email):
    /// declaring it adopts it. Text from the server, escaped wherever it is shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub made_outside_by: Option<String>,
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
    /// (see `UnreadableField::reason`); nothing is written to it.
    Unreadable {
        id: String,
        reasons: Vec<Reason>,
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
    /// Add these reviewed values, per field, to the live object. The platform writes each
    /// listed field as *fresh live ∪ additions* (`KnownList::union`) from the freshest read
    /// it holds — the applier's `live` read, or its own read right before the request — so a
    /// value removed since is never written back. Fields not listed are not sent.
    Update {
        address: Address,
        /// The applier's read of the object: its id and the attributes a write needs.
        live: LiveObject,
        additions: SmallMap<Values>,
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
    pub(crate) fn already_there() -> WriteOutcome {
        WriteOutcome {
            created_id: None,
            secret: None,
            runs: Vec::new(),
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
    /// The runs a write on a route other than the direct one was made with (Atlan's package
    /// workflow), for the apply report.
    pub runs: Vec<RouteRun>,
}

/// One run that made a write on a route (a package workflow run), as the apply report
/// records it. Server text in it was redacted where it was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouteRun {
    /// The value the run added (a token's username).
    pub value: String,
    /// The workflow template that was run.
    pub template: String,
    /// The run: an existing one joined, or one submitted.
    pub run: String,
    /// Whether the run was joined (already pending or running) rather than submitted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub joined: bool,
    /// Whether the template was created for this write rather than re-run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub created: bool,
    /// The run's final phase as the platform reported it (never trusted alone).
    pub phase: String,
    /// The run's message, which is where the package says what it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Whether reading the object after the run showed the value: the result.
    pub verified: bool,
}
