//! Making a plan: the I/O around the pure [`diff`](super::diff).
//!
//! [`make_plan`] is the library entry point used by `plan`, `drift`, `apply MANIFESTS`, the
//! demo, export and the benchmarks:
//!
//! ```text
//! manifests ─ --only filters ─▶ resources per target
//!     ─ per target, all targets at once: target.resolve ─▶ desired objects
//!                                        target.read    ─▶ live states
//!     ─ diff each ─▶ Plan (sorted by target, kind, name; summary)
//!     ─ with the request counts per target ─▶ PlanFile (sealed: its plan id is set)
//! ```
//!
//! Typical use (tests and the demo pass endpoints and credentials in [`LiveOptions`]):
//!
//! ```no_run
//! # async fn f(manifests: warrant::platform::Manifests) -> Result<(), warrant::plan::gather::PlanError> {
//! use warrant::plan::gather::{make_plan, open_session, Only};
//! use warrant::platform::LiveOptions;
//! let only: Vec<Only> = Vec::new();
//! let session = open_session(&manifests, &only, &LiveOptions::default())?;
//! let made = make_plan(&manifests, &only, &session).await?;
//! println!("{} changes, {} requests", made.plan.changes.len(), made.request_total());
//! # Ok(()) }
//! ```
//!
//! Any platform error fails the whole plan (an incomplete read is never "absent"); errors of
//! every target are collected and returned together.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::file::PlanFile;
use super::{Change, Plan, PlanMeta, diff_owned};
use crate::manifest::Spec;
use crate::model::Kind;
use crate::platform::{
    ErrorKind, LiveOptions, LiveTarget, Manifests, PlatformError, RequestCounts, Resource,
    ResourceSpec, Session, TargetPlatform,
};

/// One `--only` filter.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Only {
    /// `KIND/NAME`: one declared object.
    Object { kind: Kind, name: String },
    /// `target=NAME`: every object of one target.
    Target(String),
}

impl Only {
    /// Parses `KIND/NAME` or `target=NAME`.
    pub fn parse(text: &str) -> Result<Only, PlanError> {
        let bad = |why: String| PlanError::Filter(format!("--only {text:?}: {why}"));
        if let Some(target) = text.strip_prefix("target=") {
            if target.is_empty() {
                return Err(bad("the target name is empty".into()));
            }
            return Ok(Only::Target(target.to_string()));
        }
        let kinds = crate::platform::kinds()
            .map(Kind::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        match text.split_once('/') {
            Some((kind, name)) if !name.is_empty() => {
                match crate::platform::kinds().find(|k| k.as_str() == kind) {
                    Some(kind) => Ok(Only::Object {
                        kind,
                        name: name.to_string(),
                    }),
                    None => Err(bad(format!("unknown kind {kind:?}; kinds are {kinds}"))),
                }
            }
            _ => Err(bad(format!(
                "expected KIND/NAME (kinds are {kinds}) or target=NAME"
            ))),
        }
    }

    /// Parses every filter, reporting all bad ones at once.
    pub fn parse_all(texts: &[String]) -> Result<Vec<Only>, PlanError> {
        let mut filters = Vec::new();
        let mut errors = Vec::new();
        for text in texts {
            match Only::parse(text) {
                Ok(f) => filters.push(f),
                Err(PlanError::Filter(e)) => errors.push(e),
                Err(e) => errors.push(e.to_string()),
            }
        }
        if errors.is_empty() {
            Ok(filters)
        } else {
            Err(PlanError::Filter(errors.join("; ")))
        }
    }

    fn matches(&self, resource: &Resource) -> bool {
        match self {
            Only::Object { kind, name } => resource.kind() == *kind && resource.name == *name,
            Only::Target(target) => resource.target() == target,
        }
    }
}

impl fmt::Display for Only {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Only::Object { kind, name } => write!(f, "{kind}/{name}"),
            Only::Target(t) => write!(f, "target={t}"),
        }
    }
}

/// Why a plan could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// A bad `--only` filter, or one that matches nothing.
    #[error("{0}")]
    Filter(String),
    /// Platform errors (credentials, failed reads…), of every target that failed.
    #[error("{}", render_platform_errors(.0))]
    Platform(Vec<PlatformError>),
}

fn render_platform_errors(errors: &[PlatformError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The resources the filters select (all of them without filters). A filter that matches
/// nothing is an error: a typo must not silently plan nothing.
pub(crate) fn select<'m>(
    manifests: &'m Manifests,
    only: &[Only],
) -> Result<Vec<&'m Resource>, PlanError> {
    if only.is_empty() {
        return Ok(manifests.resources.iter().collect());
    }
    let unmatched: Vec<String> = only
        .iter()
        .filter(|f| !manifests.resources.iter().any(|r| f.matches(r)))
        .map(ToString::to_string)
        .collect();
    if !unmatched.is_empty() {
        return Err(PlanError::Filter(format!(
            "--only {} matches no declared object",
            unmatched.join(", --only ")
        )));
    }
    Ok(manifests
        .resources
        .iter()
        .filter(|r| only.iter().any(|f| f.matches(r)))
        .collect())
}

/// The targets the selected resources live in: what [`Session::open`] needs.
pub fn targets_in_use(
    manifests: &Manifests,
    only: &[Only],
) -> Result<BTreeMap<String, TargetPlatform>, PlanError> {
    let names: BTreeSet<&str> = select(manifests, only)?
        .into_iter()
        .map(Resource::target)
        .collect();
    let mut targets = BTreeMap::new();
    let mut errors = Vec::new();
    for name in names {
        match manifests.target(name) {
            Some(t) => {
                targets.insert(name.to_string(), t.platform.clone());
            }
            None => errors.push(PlatformError::new(
                name,
                ErrorKind::Other,
                "no Target document declares this target",
            )),
        }
    }
    if errors.is_empty() {
        Ok(targets)
    } else {
        Err(PlanError::Platform(errors))
    }
}

/// Opens one client per target in use (credentials from `live` or the environment).
///
/// An `--endpoint` for a declared target that `--only` leaves out is not a mistake (CI passes
/// the same endpoints to every run), so it is dropped; one naming no declared target is still
/// an error.
pub fn open_session(
    manifests: &Manifests,
    only: &[Only],
    live: &LiveOptions,
) -> Result<Session, PlanError> {
    let targets = targets_in_use(manifests, only)?;
    Session::open(&targets, &live.for_targets(&targets, manifests)).map_err(PlanError::Platform)
}

/// Makes the plan of the selected resources against the session's live targets, in its
/// file: with the requests made per target, sealed.
///
/// Targets are planned concurrently; the result does not depend on which finishes first.
/// The request counts are only those of this call, so a session can be reused (plan, apply,
/// plan again).
pub async fn make_plan(
    manifests: &Manifests,
    only: &[Only],
    session: &Session,
) -> Result<PlanFile, PlanError> {
    let selected = select(manifests, only)?;
    let platforms = targets_in_use(manifests, only)?;
    let mut per_target: BTreeMap<&str, Vec<&Resource>> = BTreeMap::new();
    for r in selected {
        per_target.entry(r.target()).or_default().push(r);
    }

    let runs = per_target.iter().map(|(target, resources)| async move {
        let live = session.live(target)?;
        let before = live.request_counts();
        let result = plan_target(target, live, resources).await;
        let used = subtract(&live.request_counts(), &before);
        result.map(|(changes, others)| (target.to_string(), changes, others, used))
    });
    let results = futures::future::join_all(runs).await;

    let total: usize = results
        .iter()
        .map(|r| r.as_ref().map_or(0, |(_, c, _, _)| c.len()))
        .sum();
    // Grow one target's changes into the whole list rather than copying every target's into
    // a new one: at 100,000 objects that copy would briefly hold all changes twice.
    let mut changes: Vec<Change> = Vec::new();
    let mut requests = BTreeMap::new();
    let mut undeclared_live = BTreeMap::new();
    let mut errors = Vec::new();
    for result in results {
        match result {
            Ok((target, c, others, used)) => {
                undeclared_live.insert(target.clone(), others);
                if changes.is_empty() {
                    changes = c;
                    changes.reserve_exact(total - changes.len());
                } else {
                    changes.extend(c);
                }
                requests.insert(target, used);
            }
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(PlanError::Platform(errors));
    }

    let targets = platforms
        .into_iter()
        .map(|(name, platform)| {
            let used = platform.as_used(session.endpoints.get(&name).map(String::as_str));
            (name, used)
        })
        .collect();
    let meta = PlanMeta {
        created_at: now_rfc3339(),
        git_commit: git_commit(manifest_dir(manifests)),
        desired_digest: desired_digest(manifests),
        manifests: manifests
            .paths
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect(),
        targets,
        only: only.iter().map(ToString::to_string).collect(),
    };
    let mut plan = Plan::new(meta, changes);
    plan.warnings = super::lookalike::name_warnings(&plan.changes, &undeclared_live);
    Ok(PlanFile::new(plan, requests))
}

/// The target's changes, and the names of its live objects that no change is about.
async fn plan_target(
    target: &str,
    live: &dyn LiveTarget,
    resources: &[&Resource],
) -> Result<(Vec<Change>, Vec<String>), PlatformError> {
    let desired = live.resolve(resources).await?;
    if desired.len() != resources.len() {
        return Err(count_mismatch(
            target,
            "resolve",
            resources.len(),
            desired.len(),
        ));
    }
    let (states, others) = live.read_noting(&desired, true).await?;
    if states.len() != desired.len() {
        return Err(count_mismatch(target, "read", desired.len(), states.len()));
    }
    // Both consumed: each live object is freed as soon as its change exists, so a target's
    // live state and its changes are not all held at once.
    let changes = desired
        .into_iter()
        .zip(states)
        .map(|(d, l)| diff_owned(d, &l))
        .collect();
    Ok((changes, others))
}

fn count_mismatch(target: &str, step: &str, asked: usize, got: usize) -> PlatformError {
    PlatformError::new(
        target,
        ErrorKind::Malformed,
        format!("{step} returned {got} results for {asked} objects"),
    )
}

fn subtract(after: &RequestCounts, before: &RequestCounts) -> RequestCounts {
    let by_endpoint = after
        .by_endpoint
        .iter()
        .map(|(k, n)| {
            (
                k.clone(),
                n.saturating_sub(before.by_endpoint.get(k).copied().unwrap_or(0)),
            )
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    RequestCounts {
        total: after.total.saturating_sub(before.total),
        by_endpoint,
    }
}

/// sha256 over a canonical form of every declared target and resource: sorted by name (and
/// kind), set-like lists sorted, source locations left out. Reordering documents, files or
/// list items, or reformatting YAML, leaves it unchanged; `apply --manifests` compares it.
/// It covers all manifests, whatever `--only` selected.
pub fn desired_digest(manifests: &Manifests) -> String {
    let mut targets: Vec<(&str, &TargetPlatform)> = manifests
        .targets
        .iter()
        .map(|t| (t.name.as_str(), &t.platform))
        .collect();
    targets.sort_by(|a, b| a.0.cmp(b.0));
    let mut resources: Vec<(Kind, &str, CanonicalSpec)> = manifests
        .resources
        .iter()
        .map(|r| (r.kind(), r.name.as_str(), CanonicalSpec(&r.spec)))
        .collect();
    // Kinds in the order of the list of platforms.
    let order = |kind: Kind| crate::platform::kind_order(kind);
    resources.sort_by(|a, b| (order(a.0), a.1).cmp(&(order(b.0), b.1)));
    // Streamed into the hash: the canonical text of 100,000 resources is never held whole.
    // Same bytes as the earlier `{"targets": [...], "resources": [...]}` value.
    #[derive(serde::Serialize)]
    struct Canonical<'a> {
        targets: Vec<(&'a str, &'a TargetPlatform)>,
        resources: Vec<(Kind, &'a str, CanonicalSpec<'a>)>,
    }
    let mut h = Sha256::new();
    // Writing into a hash cannot fail, and plain manifest data always serializes.
    let _ = serde_json::to_writer(&mut h, &Canonical { targets, resources });
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// Serializes as the spec's canonical form (`crate::manifest::Spec::canonical`), one
/// resource at a time.
struct CanonicalSpec<'a>(&'a ResourceSpec);

impl serde::Serialize for CanonicalSpec<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.canonical().serialize(serializer)
    }
}

/// The directory of the first manifest file, where `git` is asked for the commit.
fn manifest_dir(manifests: &Manifests) -> &Path {
    manifests
        .targets
        .iter()
        .map(|t| &t.location.file)
        .chain(manifests.resources.iter().map(|r| &r.location.file))
        .next()
        .and_then(|f| f.parent())
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// `GITHUB_SHA` in CI, else `git rev-parse HEAD` in `dir`; `None` outside a repository or
/// without git.
pub(crate) fn git_commit(dir: &Path) -> Option<String> {
    if let Ok(sha) = std::env::var("GITHUB_SHA")
        && !sha.trim().is_empty()
    {
        return Some(sha.trim().to_string());
    }
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let sha = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !sha.is_empty()).then_some(sha)
}

/// Now, RFC 3339 in UTC to the second.
pub(crate) fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
