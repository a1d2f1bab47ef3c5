//! Plans and drift for machines. `plan --format json` prints exactly the plan file's content
//! (its `warnings` list the look-alike names); `drift --format json` prints a `DriftReport`,
//! the undeclared access of every object that has some. Hidden characters in values are
//! written as `\uXXXX` escapes (`crate::text::write_json_pretty`).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::{Address, SmallMap, Values};
use crate::plan::file::PlanFile;
use crate::platform::RequestCounts;

/// The plan file's content.
pub fn plan(file: &PlanFile) -> String {
    crate::plan::file::to_json(file)
}

/// What `drift --format json` prints.
#[derive(Debug, Serialize)]
pub(crate) struct DriftReport<'a> {
    pub warrant_version: &'a str,
    pub created_at: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub only: &'a [String],
    /// Objects examined.
    pub objects: usize,
    /// Objects with undeclared access.
    pub objects_with_drift: usize,
    pub drift: Vec<DriftEntry<'a>>,
    pub requests: &'a BTreeMap<String, RequestCounts>,
}

/// The undeclared access of one object.
#[derive(Debug, Serialize)]
pub(crate) struct DriftEntry<'a> {
    pub address: &'a Address,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_id: Option<&'a str>,
    pub drift: &'a SmallMap<Values>,
    /// Labels of the drift values that have one.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<&'a str, &'a str>,
}

/// The drift report of a plan, pretty JSON with a final newline.
pub fn drift(file: &PlanFile) -> String {
    let plan = &file.plan;
    let entries: Vec<DriftEntry> = plan
        .changes
        .iter()
        .filter(|c| c.has_drift())
        .map(|c| DriftEntry {
            address: &c.address,
            live_id: c.live_id.as_deref(),
            drift: &c.drift,
            labels: c
                .drift
                .values()
                .flatten()
                .filter_map(|v| c.labels.get_key_value(v))
                .map(|(k, l)| (k.as_str(), l.as_str()))
                .collect(),
        })
        .collect();
    let report = DriftReport {
        warrant_version: &plan.warrant_version,
        created_at: &plan.created_at,
        git_commit: plan.git_commit.as_deref(),
        only: &plan.only,
        objects: plan.changes.len(),
        objects_with_drift: entries.len(),
        drift: entries,
        requests: &file.requests,
    };
    let mut text = crate::text::to_json_string_pretty(&report).unwrap_or_else(|_| "{}".to_string());
    text.push('\n');
    text
}
