//! The plan file: a [`Plan`] and the requests made to make it ([`PlanFile`]), as versioned,
//! pretty, deterministic JSON (`plan --out`), read back by `apply PLANFILE`.
//!
//! The same bytes are printed by `plan --format json` ([`to_json`]). The plan id is the sha256
//! of those bytes with the `plan_id` line left out ([`PlanFile::seal`], [`id_of_text`]).
//! Reading checks the format version before anything else, so a file from a future format
//! gets "unsupported format version", not a confusing parse error, and refuses a plan made by
//! another warrant version: the diff rules may differ between versions. The `Plan` types hold
//! no secret, so neither can the file.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{FORMAT_VERSION, Plan};
use crate::platform::RequestCounts;

/// A whole plan: what `plan --out` writes and `apply PLANFILE` executes. Contains no secret.
///
/// To `apply` a plan file is untrusted (it travels through CI artifact storage): apply takes
/// targets, key sinks and desired objects from the manifests, and from the plan only the
/// reviewed set of changes — addresses, additions, live fingerprints and declaration digests —
/// so a plan can narrow what apply does, never widen it.
// The file holds the plan, then the requests made while planning. The telemetry is the
// file's, not the plan's: two plans of the same manifests against the same live state are
// equal however many requests they took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(rename = "Plan")]
pub struct PlanFile {
    #[serde(flatten)]
    pub plan: Plan,
    /// API requests made while planning, per target.
    #[serde(default)]
    pub requests: BTreeMap<String, RequestCounts>,
}

impl PlanFile {
    /// The file of `plan`, sealed: its `plan_id` is set from its content.
    pub fn new(plan: Plan, requests: BTreeMap<String, RequestCounts>) -> PlanFile {
        let mut file = PlanFile { plan, requests };
        file.seal();
        file
    }

    /// sha256 (hex) over the file's canonical content: exactly the bytes of [`write_json`]
    /// with `plan_id` left out, whatever `plan_id` holds now. Streamed into the hash: the JSON
    /// of 100,000 objects is never held. Hashing the bytes, not a re-serialization of what a
    /// reader parsed, means any edit gives another id — and the id covers what the file shows
    /// (secrets masked, hidden characters escaped), which parsing could not reproduce (a
    /// masked value sorts differently from the value it hides).
    pub(crate) fn content_id(&mut self) -> String {
        let claimed = std::mem::take(&mut self.plan.plan_id);
        let mut h = Sha256::new();
        // Writing plain data into a hash cannot fail.
        let _ = write_json(&mut h, self);
        self.plan.plan_id = claimed;
        hex::encode(h.finalize())
    }

    /// Sets `plan_id` from the content: called once every field is final.
    pub fn seal(&mut self) {
        self.plan.plan_id = self.content_id();
    }

    /// API requests made while planning, over all targets.
    pub fn request_total(&self) -> u64 {
        self.requests.values().map(|c| c.total).sum()
    }
}

/// A plan file is its plan, with the request counts beside it.
impl std::ops::Deref for PlanFile {
    type Target = Plan;

    fn deref(&self) -> &Plan {
        &self.plan
    }
}

impl std::ops::DerefMut for PlanFile {
    fn deref_mut(&mut self) -> &mut Plan {
        &mut self.plan
    }
}

/// The JSON Schema of the plan file, with the kinds of object the platforms manage.
pub(crate) fn schema() -> serde_json::Value {
    with_kinds(schemars::schema_for!(PlanFile).to_value())
}

/// A derived schema whose `Kind` lists the kinds of object the platforms manage (the type
/// itself is an open string, so schemars cannot know them).
pub(crate) fn with_kinds(mut schema: serde_json::Value) -> serde_json::Value {
    let kinds: Vec<&str> = crate::platform::kinds().map(|k| k.as_str()).collect();
    if let Some(kind) = schema
        .pointer_mut("/$defs/Kind")
        .and_then(serde_json::Value::as_object_mut)
    {
        // The list goes before the description, as a derived schema of an enum has it.
        let description = kind.remove("description");
        kind.insert("enum".into(), kinds.into());
        kind.extend(description.map(|d| ("description".to_string(), d)));
    }
    schema
}

/// Why a plan file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    #[error("cannot {action} plan file {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "plan file {} is not a valid warrant plan: {message} (line {line}, column {column}); make it again with `warrant plan --out`",
        path.display()
    )]
    Malformed {
        path: PathBuf,
        message: String,
        line: usize,
        column: usize,
    },
    #[error(
        "plan file {} has format_version {found}, this warrant reads only format_version {supported}; make the plan again with this warrant",
        path.display()
    )]
    UnsupportedFormat {
        path: PathBuf,
        found: String,
        supported: u32,
    },
    #[error(
        "plan file {} was made by warrant {found}, this is warrant {ours}; plan again with this version before applying",
        path.display()
    )]
    VersionMismatch {
        path: PathBuf,
        found: String,
        ours: String,
    },
}

/// The plan file's content: pretty JSON with a final newline. Field order is the declaration
/// order of the types and every map is ordered, so equal plans give equal bytes.
pub fn to_json(plan: &PlanFile) -> String {
    let mut bytes = Vec::new();
    // Writing plain data with string keys into memory cannot fail, and serde_json writes UTF-8;
    // fall back to an empty object rather than panicking should that ever change.
    match write_json(&mut bytes, plan) {
        Ok(()) => String::from_utf8(bytes).unwrap_or_else(|_| "{}\n".to_string()),
        Err(_) => "{}\n".to_string(),
    }
}

/// Writes the plan file atomically (a temporary file in the same directory, then a rename), so
/// a reader never sees half a plan.
pub fn write(path: &Path, plan: &PlanFile) -> Result<(), PlanFileError> {
    let io = |source| PlanFileError::Io {
        action: "write",
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    // Streamed: a plan of 100,000 objects is a few hundred MB of JSON, never held whole.
    let mut out = std::io::BufWriter::new(tmp);
    write_json(&mut out, plan).map_err(io)?;
    let tmp = out.into_inner().map_err(|e| io(e.into_error()))?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// Writes exactly the bytes of [`to_json`] to `out`. Hidden characters of live values are
/// written as `\uXXXX` escapes (`crate::text`): the same data, safe to print.
pub(crate) fn write_json(out: &mut impl Write, plan: &PlanFile) -> std::io::Result<()> {
    crate::text::write_json_pretty(&mut *out, plan).map_err(std::io::Error::from)?;
    out.write_all(b"\n")
}

/// What a plan file's first member looks like: `plan_id` is declared first in [`Plan`] and
/// written as pretty JSON, so the file begins with exactly this line.
const ID_LINE_START: &str = "{\n  \"plan_id\": \"";
const ID_LINE_END: &str = "\",\n";

/// The id a plan file's content has (`PlanFile::content_id` of what it holds): sha256 over its
/// bytes with the `plan_id` line left out. `None` when the file does not begin with a
/// `plan_id` line as warrant writes it — reformatted or not made by `warrant plan`.
pub fn id_of_text(text: &str) -> Option<String> {
    let rest = text.strip_prefix(ID_LINE_START)?;
    let end = rest.find(ID_LINE_END)?;
    let claimed = &rest[..end];
    if claimed.is_empty() || !claimed.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut h = Sha256::new();
    h.update(b"{\n");
    h.update(&rest.as_bytes()[end + ID_LINE_END.len()..]);
    Some(hex::encode(h.finalize()))
}

/// Reads and checks a plan file: the plan it holds (its request counts are not read).
pub fn read(path: &Path) -> Result<Plan, PlanFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| PlanFileError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// Checks and parses plan file content with its request counts: the whole [`PlanFile`], as
/// `warrant show` renders it again. `path` only names the file in errors.
pub fn parse_file(path: &Path, text: &str) -> Result<PlanFile, PlanFileError> {
    let plan = parse(path, text)?;
    #[derive(serde::Deserialize)]
    struct Requests {
        #[serde(default)]
        requests: BTreeMap<String, RequestCounts>,
    }
    let requests: Requests = serde_json::from_str(text).map_err(|e| PlanFileError::Malformed {
        path: path.to_path_buf(),
        message: e.to_string(),
        line: e.line(),
        column: e.column(),
    })?;
    Ok(PlanFile {
        plan,
        requests: requests.requests,
    })
}

/// Checks and parses plan file content; `path` only names the file in errors.
pub fn parse(path: &Path, text: &str) -> Result<Plan, PlanFileError> {
    let malformed = |e: serde_json::Error| PlanFileError::Malformed {
        path: path.to_path_buf(),
        message: e.to_string(),
        line: e.line(),
        column: e.column(),
    };
    // Only the two version fields first (everything else is skipped, not built): a plan of
    // 100,000 objects as a generic JSON tree would take several times the file's size.
    #[derive(serde::Deserialize)]
    struct Versions {
        format_version: Option<serde_json::Value>,
        warrant_version: Option<serde_json::Value>,
    }
    let versions: Versions = serde_json::from_str(text).map_err(malformed)?;
    let version = versions.format_version.as_ref();
    if version.and_then(|v| v.as_u64()) != Some(u64::from(FORMAT_VERSION)) {
        return Err(PlanFileError::UnsupportedFormat {
            path: path.to_path_buf(),
            found: version.map_or_else(|| "(missing)".to_string(), |v| v.to_string()),
            supported: FORMAT_VERSION,
        });
    }
    let ours = env!("CARGO_PKG_VERSION");
    match versions.warrant_version.as_ref().and_then(|v| v.as_str()) {
        Some(v) if v == ours => {}
        other => {
            return Err(PlanFileError::VersionMismatch {
                path: path.to_path_buf(),
                found: other.unwrap_or("(missing)").to_string(),
                ours: ours.to_string(),
            });
        }
    }
    // Re-parse from the text (not the Value) so errors carry line and column.
    let plan: Plan = serde_json::from_str(text).map_err(malformed)?;
    let known: Vec<crate::model::Kind> = crate::platform::kinds().collect();
    let addresses = plan
        .changes
        .iter()
        .flat_map(|c| [&c.address, &c.desired.address])
        .chain(plan.warnings.iter().map(|w| &w.address));
    if let Some(unknown) = addresses.map(|a| a.kind).find(|k| !known.contains(k)) {
        return Err(PlanFileError::Malformed {
            path: path.to_path_buf(),
            message: format!("\"{unknown}\" is not a kind of object warrant manages"),
            line: 0,
            column: 0,
        });
    }
    Ok(plan)
}
