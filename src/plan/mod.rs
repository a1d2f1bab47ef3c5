//! The plan: a pure, append-only diff of desired objects against live state, as plain data.
//!
//! [`diff`] is the one function that decides what changes; it does no I/O. Its result,
//! [`Change`], records the action, the additions per field, the live values before, the drift
//! (live values the manifests do not declare), why it cannot be applied (typed
//! [`Reason`]s) and a fingerprint of the live managed fields. A [`Plan`] wraps the changes with
//! what `apply` needs to check it is still valid. [`file`](mod@file) writes it as versioned
//! JSON, together with the requests it took to make ([`file::PlanFile`]), and `crate::render`
//! renders it, deciding nothing. [`gather`] is the I/O around the diff: it resolves and reads
//! live state through a `crate::platform::Session` and assembles the plan. [`lookalike`] finds
//! the names in it a reviewer could misread.

pub mod file;
pub mod gather;
pub mod lookalike;

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::{
    Address, Adopt, CreateRule, DesiredObject, FieldPolicy, Kind, LiveObject, LiveState, Note,
    Reason, SmallMap, Values,
};
use crate::platform::TargetPlatform;

/// Version of the plan file format; `apply` refuses any other. 2: `plan_id`, `manifests` and
/// each change's `declaration`.
pub const FORMAT_VERSION: u32 = 2;

/// A whole plan: what `apply PLANFILE` executes, and with the requests made to make it what
/// `plan --out` writes ([`file::PlanFile`]). Contains no secret; see `PlanFile` for what apply
/// takes from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Plan {
    /// sha256 (hex) over the plan file's bytes with this field left out, computed by
    /// [`file::PlanFile::seal`]; apply recomputes it from the file it reads
    /// ([`file::id_of_text`]) and `apply --plan-id` compares it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub plan_id: String,
    pub format_version: u32,
    /// The warrant version that made the plan; apply refuses a plan from another version.
    pub warrant_version: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// `GITHUB_SHA`, or the repository's HEAD, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<String>,
    /// sha256 over the validated manifests: information only (apply binds each object to its
    /// own `declaration` instead).
    pub desired_digest: String,
    /// The manifest paths the plan was made from, relative to the repository root; what
    /// `apply PLANFILE` loads when no `--manifests` is given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manifests: Vec<String>,
    /// Non-secret settings of every target touched, with the base URL actually used.
    pub targets: BTreeMap<String, TargetPlatform>,
    /// `--only` filters the plan was made with (a warning in every rendering).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub only: Vec<String>,
    /// Names a reviewer could misread: mixed scripts, look-alikes of other names (a warning in
    /// every rendering).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<lookalike::NameWarning>,
    /// Every declared object, in a deterministic order (target, kind, name).
    pub changes: Vec<Change>,
    pub summary: Summary,
}

/// What applying a change will do. No variant removes anything.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Create,
    Update,
    NoOp,
    /// Cannot be reached append-only, or would be refused; never applied.
    Conflict,
}

/// The diff of one declared object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Change {
    pub address: Address,
    pub action: Action,
    /// Values to add, per field (for a create: every desired value). Empty for no-op/conflict.
    #[serde(default, skip_serializing_if = "SmallMap::is_empty")]
    pub additions: SmallMap<Values>,
    /// Live values of every field before the change (empty when absent).
    #[serde(default, skip_serializing_if = "SmallMap::is_empty")]
    pub before: SmallMap<Values>,
    /// Live values not declared by the manifests: reported, never removed.
    #[serde(default, skip_serializing_if = "SmallMap::is_empty")]
    pub drift: SmallMap<Values>,
    /// Why the change is a conflict.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<Reason>,
    /// What a reviewer should know that does not block the change (it adopts a token made
    /// outside warrant).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<Note>,
    /// The live object's id, when it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_id: Option<String>,
    /// sha256 over the live managed fields (or over "absent"); apply compares it.
    pub fingerprint: String,
    /// sha256 over the object's declaration (the canonical resolved desired object, see
    /// [`declaration_digest`]); apply refuses the object as stale when it changed since.
    pub declaration: String,
    /// The resolved desired object; apply re-diffs fresh live state against it.
    pub desired: DesiredObject,
    /// Canonical value → human label, for desired and live values alike.
    #[serde(default, skip_serializing_if = "SmallMap::is_empty")]
    pub labels: SmallMap<String>,
}

impl Change {
    pub fn has_drift(&self) -> bool {
        self.drift.values().any(|v| !v.is_empty())
    }

    /// The declared access that is not live: per field, the declared values the live object
    /// lacks (every declared value when it is absent). What `warrant drift` reports as
    /// *missing*, the opposite direction of [`drift`](Change::drift). `None` when the live
    /// state is unknown — unreadable, or the name matches several objects — since nothing can
    /// be said to be missing from an object that could not be read.
    pub fn missing(&self) -> Option<SmallMap<Values>> {
        let unknown = self
            .reasons
            .iter()
            .any(|r| matches!(r, Reason::AmbiguousName { .. } | Reason::Unreadable { .. }));
        if unknown {
            return None;
        }
        let mut missing = SmallMap::new();
        for (name, field) in &self.desired.fields {
            let live = self.before.get(name);
            let lacking: Values = field
                .values
                .iter()
                .filter(|v| live.is_none_or(|l| !l.contains(v)))
                .cloned()
                .collect();
            if !lacking.is_empty() {
                missing.insert(name.clone(), lacking);
            }
        }
        Some(missing)
    }

    /// Whether declared access is not live: the object is absent, or a declared value is
    /// missing from it ([`missing`](Change::missing)).
    pub fn is_missing(&self) -> bool {
        self.missing()
            .is_some_and(|m| self.live_id.is_none() || !m.is_empty())
    }

    /// The value sets after the change: `before ∪ additions` for every field.
    pub fn after(&self) -> SmallMap<Values> {
        let mut after = self.before.clone();
        for (field, add) in &self.additions {
            after
                .entry(field.clone())
                .or_default()
                .extend(add.iter().cloned());
        }
        after
    }
}

/// The one function that decides: diff a desired object against its live state.
pub fn diff(desired: &DesiredObject, live: &LiveState) -> Change {
    diff_owned(desired.clone(), live)
}

/// [`diff`] taking the desired object by value, so the change can keep it without a copy:
/// planning 100,000 objects would otherwise hold every desired object twice at its peak.
pub(crate) fn diff_owned(desired: DesiredObject, live: &LiveState) -> Change {
    // The change gets `desired` at the end; until then it holds an empty stand-in (no
    // allocation) so the decisions below can borrow `desired` while filling `change`.
    let stand_in = DesiredObject {
        address: Address {
            kind: desired.address.kind,
            name: String::new(),
            target: String::new(),
            remote_key: String::new(),
        },
        fields: SmallMap::new(),
        create: CreateRule::Allowed,
        labels: SmallMap::new(),
        problems: Vec::new(),
        key_sink: None,
        route: None,
        adopt: Default::default(),
    };
    let mut change = Change {
        address: desired.address.clone(),
        action: Action::NoOp,
        additions: SmallMap::new(),
        before: SmallMap::new(),
        drift: SmallMap::new(),
        reasons: desired.problems.clone(),
        notes: Vec::new(),
        live_id: None,
        fingerprint: fingerprint(&desired, live),
        declaration: declaration_digest(&desired),
        desired: stand_in,
        labels: SmallMap::new(),
    };

    match live {
        LiveState::Ambiguous { ids } => {
            change.reasons.push(Reason::AmbiguousName {
                name: desired.address.remote_key.clone(),
                ids: ids.clone(),
            });
        }
        LiveState::Unreadable { id, reasons } => {
            change.live_id = Some(id.clone());
            change.reasons.extend(reasons.iter().cloned());
        }
        LiveState::Absent => match &desired.create {
            CreateRule::Never(reason) => change.reasons.push(reason.clone()),
            CreateRule::Allowed => {
                for (name, field) in &desired.fields {
                    if let Some(max) = field.max_items
                        && field.values.len() > max
                    {
                        change.reasons.push(Reason::TooManyValues {
                            field: name.clone(),
                            declared: field.values.len(),
                            max,
                        });
                    }
                    if !field.values.is_empty() {
                        change.additions.insert(name.clone(), field.values.clone());
                    }
                }
                change.action = Action::Create;
            }
        },
        LiveState::Present { object } => {
            diff_present(&desired, object, &mut change);
        }
    }

    if !change.reasons.is_empty() {
        change.action = Action::Conflict;
        change.additions.clear();
    }
    // Keep only the labels of values that appear in this change: plans stay small and exact.
    let mentioned: BTreeSet<&String> = change
        .before
        .values()
        .chain(change.additions.values())
        .chain(desired.fields.values().map(|f| &f.values))
        .flatten()
        .collect();
    // Live labels win over desired ones for the same value (later entries replace earlier).
    let live_labels = match live {
        LiveState::Present { object } => Some(&object.labels),
        _ => None,
    };
    let labels = desired
        .labels
        .iter()
        .chain(live_labels.into_iter().flatten())
        .filter(|(k, _)| mentioned.contains(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    change.labels = labels;
    change.desired = desired;
    change
}

fn diff_present(desired: &DesiredObject, object: &LiveObject, change: &mut Change) {
    change.live_id = Some(object.id.clone());
    change.before = object
        .fields
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let empty = Values::new();

    // A live object someone outside warrant made is taken over by declaring it: shown, or
    // refused with `adopt: never`. Apply re-diffs, so the refusal holds there too.
    if let Some(by) = &object.made_outside_by {
        match desired.adopt {
            Adopt::Always => change.notes.push(Note::Adopts { by: by.clone() }),
            Adopt::Never => change.reasons.push(Reason::AdoptRefused { by: by.clone() }),
        }
    }

    for (name, field) in &desired.fields {
        let live = object.fields.get(name).unwrap_or(&empty);
        match field.policy {
            FieldPolicy::Append => {
                let add: Values = field.values.difference(live).cloned().collect();
                // A limit only matters when something would be added: a live object already over
                // the limit (set by hand) is not a conflict while warrant leaves it alone.
                if let Some(max) = field.max_items
                    && !add.is_empty()
                    && live.len() + add.len() > max
                {
                    change.reasons.push(Reason::LimitExceeded {
                        field: name.clone(),
                        adding: add.len(),
                        live: live.len(),
                        max,
                    });
                }
                if !add.is_empty() {
                    change.additions.insert(name.clone(), add);
                }
            }
            FieldPolicy::Immutable => {
                if live != &field.values {
                    change.reasons.push(Reason::ImmutableField {
                        field: name.clone(),
                        what: noun(desired.address.kind),
                        live: live.clone(),
                        declared: field.values.clone(),
                    });
                }
            }
        }
    }

    // Drift: every live value a managed field does not declare, and every value of the
    // fields the manifests do not manage at all. Immutable fields too: a live srcIps the
    // manifests do not declare is access they do not describe, even though the conflict above
    // already says the field cannot be brought in line.
    for (name, live) in &object.fields {
        let extra: Values = match desired.fields.get(name) {
            Some(field) => live.difference(&field.values).cloned().collect(),
            None => live.clone(),
        };
        if !extra.is_empty() {
            change.drift.insert(name.clone(), extra);
        }
    }

    if change.reasons.is_empty() && !change.additions.is_empty() {
        if let Some(denied) = &object.write_denied {
            change.reasons.push(denied.clone());
        } else {
            change.action = Action::Update;
        }
    }
}

/// What a reader calls a new object of this kind in a sentence (`token`).
fn noun(kind: Kind) -> &'static str {
    crate::platform::of_kind(kind).map_or("object", |p| p.short_noun())
}

/// sha256 over the live values of the fields the desired object manages, or over "absent" /
/// the ambiguous ids. Foreign changes to unmanaged fields do not make a plan stale.
pub(crate) fn fingerprint(desired: &DesiredObject, live: &LiveState) -> String {
    let mut h = Sha256::new();
    match live {
        LiveState::Absent => h.update(b"absent"),
        LiveState::Ambiguous { ids } => {
            h.update(b"ambiguous");
            for id in ids {
                h.update(id.as_bytes());
                h.update([0]);
            }
        }
        LiveState::Unreadable { id, reasons } => {
            h.update(b"unreadable\0");
            h.update(id.as_bytes());
            for r in reasons {
                h.update([0]);
                h.update(r.to_string().as_bytes());
            }
        }
        LiveState::Present { object } => {
            h.update(b"present\0");
            h.update(object.id.as_bytes());
            for name in desired.fields.keys() {
                h.update([1]);
                h.update(name.as_bytes());
                for v in object.fields.get(name).into_iter().flatten() {
                    h.update([0]);
                    h.update(v.as_bytes());
                }
            }
        }
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// sha256 over what the manifests declare for one object once resolved: its address, its
/// fields (policy, values, limit), its create rule, its key sink, its write route (when
/// not direct) and its adopt rule (when `never`). Not the labels (names shown to people), the route's notes, nor resolution
/// problems (which make the object a conflict anyway). The serialization is canonical: values
/// and fields are sorted sets and maps.
pub fn declaration_digest(desired: &DesiredObject) -> String {
    #[derive(Serialize)]
    struct Declaration<'a> {
        address: &'a Address,
        fields: &'a SmallMap<crate::model::DesiredField>,
        create: &'a CreateRule,
        key_sink: &'a Option<crate::secret::KeySink>,
        // Left out for the direct route, so digests of direct objects are what they were.
        #[serde(skip_serializing_if = "Option::is_none")]
        via: Option<&'a str>,
        // Left out unless `never`, so digests of other objects are what they were.
        #[serde(skip_serializing_if = "Adopt::is_always")]
        adopt: Adopt,
    }
    let mut h = Sha256::new();
    // Writing plain data into a hash cannot fail.
    let _ = serde_json::to_writer(
        &mut h,
        &Declaration {
            address: &desired.address,
            fields: &desired.fields,
            create: &desired.create,
            key_sink: &desired.key_sink,
            via: desired.route.as_ref().map(|r| r.via.as_str()),
            adopt: desired.adopt,
        },
    );
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// What a plan records about how it was made; everything but the changes and their counts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PlanMeta {
    pub created_at: String,
    pub git_commit: Option<String>,
    pub desired_digest: String,
    /// Manifest paths relative to the repository root.
    pub manifests: Vec<String>,
    pub targets: BTreeMap<String, TargetPlatform>,
    pub only: Vec<String>,
}

impl Plan {
    /// Assembles a plan from changes in any order: sorts them by (target, kind, name) and
    /// computes the summary, so equal inputs always give byte-identical plan files. Its
    /// `plan_id` is set when its file is sealed ([`file::PlanFile::new`]).
    pub fn new(meta: PlanMeta, mut changes: Vec<Change>) -> Plan {
        // Unstable: it needs no buffer of half the changes. Ties (none in a valid plan, since
        // names are unique per kind) fall back to the whole address, so order stays total.
        changes.sort_unstable_by(|a, b| {
            order_key(&a.address)
                .cmp(&order_key(&b.address))
                .then_with(|| a.address.cmp(&b.address))
        });
        let summary = Summary::of(&changes);
        Plan {
            plan_id: String::new(),
            format_version: FORMAT_VERSION,
            warrant_version: env!("CARGO_PKG_VERSION").to_string(),
            created_at: meta.created_at,
            git_commit: meta.git_commit,
            desired_digest: meta.desired_digest,
            manifests: meta.manifests,
            targets: meta.targets,
            only: meta.only,
            warnings: Vec::new(),
            changes,
            summary,
        }
    }

    /// The first 12 hex characters of the plan id: enough to tell plans apart on screen.
    pub fn short_id(&self) -> &str {
        self.plan_id.get(..12).unwrap_or(&self.plan_id)
    }
}

/// The one order of changes in plans and every rendering: target, kind, name.
pub(crate) fn order_key(address: &Address) -> (&str, crate::model::Kind, &str) {
    (&address.target, address.kind, &address.name)
}

/// Counts for summaries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub no_op: usize,
    pub conflict: usize,
    /// Objects with undeclared live access.
    pub drift: usize,
}

impl Summary {
    pub fn of(changes: &[Change]) -> Summary {
        let mut s = Summary::default();
        for c in changes {
            match c.action {
                Action::Create => s.create += 1,
                Action::Update => s.update += 1,
                Action::NoOp => s.no_op += 1,
                Action::Conflict => s.conflict += 1,
            }
            if c.has_drift() {
                s.drift += 1;
            }
        }
        s
    }

    pub fn has_changes(&self) -> bool {
        self.create + self.update > 0
    }
}
