//! Plans and drift for machines. `plan --format json` prints exactly the plan file's content
//! (its `warnings` list the look-alike names); `drift --format json` prints a versioned `DriftReport`:
//! the undeclared access (live, not declared) and the missing access (declared, not live) of
//! every object that has some, in two lists. Hidden characters in values are
//! written as `\uXXXX` escapes (`crate::text::write_json_pretty`).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;

use crate::model::{Address, Reason, SmallMap, Values};
use crate::plan::Action;
use crate::plan::file::PlanFile;
use crate::platform::RequestCounts;

/// The plan file's content.
pub fn plan(file: &PlanFile) -> String {
    crate::plan::file::to_json(file)
}

/// Version of the drift report (`drift --format json`). 2: undeclared and missing access in
/// separate lists (1 had only `drift`, the undeclared access).
pub const DRIFT_REPORT_VERSION: u32 = 2;

/// What `drift --format json` prints: the drift of the manifests in both directions.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "DriftReport")]
pub(crate) struct DriftReport<'a> {
    /// The report format's version ([`DRIFT_REPORT_VERSION`]).
    pub format_version: u32,
    pub warrant_version: &'a str,
    /// RFC 3339, UTC.
    pub created_at: &'a str,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<&'a str>,
    /// `--only` filters: the report covers only the objects they select.
    #[serde(default, skip_serializing_if = "<[String]>::is_empty")]
    pub only: &'a [String],
    /// Declared objects examined.
    pub objects: usize,
    pub summary: DriftSummary,
    /// Live access the manifests do not declare (reported, never removed), per object.
    pub undeclared: Vec<Undeclared<'a>>,
    /// Declared access that is not live, per object: what `warrant plan` would add, or
    /// cannot add (a conflict).
    pub missing: Vec<Missing<'a>>,
    /// The objects whose live state is unknown, with why.
    pub unknown: Vec<Unknown<'a>>,
    /// API requests made, per target.
    pub requests: &'a BTreeMap<String, RequestCounts>,
}

/// How many objects have drift of each direction; `drift --fail-on-drift` fails when either
/// is not zero.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct DriftSummary {
    /// Objects with live access the manifests do not declare.
    pub undeclared: usize,
    /// Objects with declared access that is not live (absent objects included).
    pub missing: usize,
    /// Objects whose live state is unknown (unreadable, or a name of several objects), for
    /// which drift cannot be judged; `drift --fail-on-drift` fails on them too (exit 1).
    pub unknown: usize,
}

/// The undeclared access of one object.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Undeclared<'a> {
    pub address: &'a Address,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_id: Option<&'a str>,
    /// Per field, the live values no manifest declares.
    pub values: &'a SmallMap<Values>,
    /// Labels of the values that have one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<&'a str, &'a str>,
}

/// The missing access of one object.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Missing<'a> {
    pub address: &'a Address,
    /// The live object's id; absent when the object itself does not exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_id: Option<&'a str>,
    /// Whether the object itself does not exist.
    pub absent: bool,
    /// What the plan would do about it: `create`, `update`, or `conflict` (cannot be applied;
    /// `reasons` say why).
    pub action: Action,
    /// Per field, the declared values that are not live.
    pub values: SmallMap<Values>,
    #[serde(default, skip_serializing_if = "<[Reason]>::is_empty")]
    pub reasons: &'a [Reason],
    /// Labels of the values that have one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<&'a str, &'a str>,
}

/// An object whose live state is unknown.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Unknown<'a> {
    pub address: &'a Address,
    pub reasons: &'a [Reason],
}

/// The labels of `values` that `labels` has.
fn labels_of<'a>(
    values: &SmallMap<Values>,
    labels: &'a SmallMap<String>,
) -> BTreeMap<&'a str, &'a str> {
    values
        .values()
        .flatten()
        .filter_map(|v| labels.get_key_value(v))
        .map(|(k, l)| (k.as_str(), l.as_str()))
        .collect()
}

/// The drift report of a plan, pretty JSON with a final newline.
pub fn drift(file: &PlanFile) -> String {
    let plan = &file.plan;
    let undeclared: Vec<Undeclared> = plan
        .changes
        .iter()
        .filter(|c| c.has_drift())
        .map(|c| Undeclared {
            address: &c.address,
            live_id: c.live_id.as_deref(),
            values: &c.drift,
            labels: labels_of(&c.drift, &c.labels),
        })
        .collect();
    let missing: Vec<Missing> = plan
        .changes
        .iter()
        .filter(|c| c.is_missing())
        .map(|c| {
            let values = c.missing().unwrap_or_default();
            Missing {
                address: &c.address,
                live_id: c.live_id.as_deref(),
                absent: c.live_id.is_none(),
                action: c.action,
                labels: labels_of(&values, &c.labels),
                values,
                reasons: &c.reasons,
            }
        })
        .collect();
    let unknown: Vec<Unknown> = plan
        .changes
        .iter()
        .filter(|c| c.missing().is_none())
        .map(|c| Unknown {
            address: &c.address,
            reasons: &c.reasons,
        })
        .collect();
    let report = DriftReport {
        format_version: DRIFT_REPORT_VERSION,
        warrant_version: &plan.warrant_version,
        created_at: &plan.created_at,
        git_commit: plan.git_commit.as_deref(),
        only: &plan.only,
        objects: plan.changes.len(),
        summary: DriftSummary {
            undeclared: undeclared.len(),
            missing: missing.len(),
            unknown: unknown.len(),
        },
        undeclared,
        missing,
        unknown,
        requests: &file.requests,
    };
    let mut text = crate::text::to_json_string_pretty(&report).unwrap_or_else(|_| "{}".to_string());
    text.push('\n');
    text
}

/// The JSON Schema of the drift report (`schemas/drift.schema.json`).
pub(crate) fn drift_schema() -> serde_json::Value {
    crate::plan::file::with_kinds(schemars::schema_for!(DriftReport<'static>).to_value())
}
