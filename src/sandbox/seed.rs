//! The sandbox seed: the live objects and the callers (credentials and who they are) of each
//! platform, loaded from YAML. The simulators keep their state in these same types, so
//! `GET /_sandbox/state` shows the seed's shape (with credentials left out).
//!
//! Field names are camelCase in every platform section, whatever the wire format of the API.

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::SandboxError;

/// Everything the three simulators start from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Seed {
    #[serde(default)]
    pub atlan: AtlanSeed,
    #[serde(default)]
    pub connect: ConnectSeed,
    #[serde(default)]
    pub mist: MistSeed,
}

impl Seed {
    /// Parses and checks a seed: YAML errors carry line and column; duplicate ids and dangling
    /// references are reported by name.
    pub fn from_yaml(text: &str) -> Result<Seed, SandboxError> {
        let seed: Seed =
            serde_yaml::from_str(text).map_err(|e| SandboxError::Seed(e.to_string()))?;
        seed.check()?;
        Ok(seed)
    }

    /// The ACME example world (`examples/sandbox/seed.yaml`), compiled into the binary.
    pub fn example() -> Seed {
        // The example is part of the program and covered by a test; failing to parse it is a
        // build defect, not bad input.
        Seed::from_yaml(include_str!("../../examples/sandbox/seed.yaml"))
            .expect("the embedded examples/sandbox/seed.yaml is valid")
    }

    fn check(&self) -> Result<(), SandboxError> {
        let mut problems = Vec::new();
        let a = &self.atlan;
        unique(
            &mut problems,
            "atlan caller apiKey",
            a.callers.iter().map(|c| &c.api_key),
        );
        unique(
            &mut problems,
            "atlan apiToken guid",
            a.api_tokens.iter().map(|t| &t.guid),
        );
        unique(
            &mut problems,
            "atlan apiToken clientId",
            a.api_tokens.iter().map(|t| &t.client_id),
        );
        unique(
            &mut problems,
            "atlan connection guid",
            a.connections
                .iter()
                .chain(&a.archived_connections)
                .map(|c| &c.guid),
        );
        unique(
            &mut problems,
            "atlan connection qualifiedName",
            a.connections.iter().map(|c| &c.qualified_name),
        );
        let roles = a.all_roles();
        unique(&mut problems, "atlan role id", roles.iter().map(|r| &r.id));
        unique(
            &mut problems,
            "atlan role name",
            roles.iter().map(|r| &r.name),
        );
        for c in &a.callers {
            for r in &c.roles {
                if !roles.iter().any(|known| &known.name == r) {
                    problems.push(format!(
                        "atlan caller {}: role {r} is not a workspace role (list it under atlan.roles)",
                        c.username
                    ));
                }
            }
        }
        check_seconds(&mut problems, "atlan indexLagSeconds", a.index_lag_seconds);
        check_workflows(&a.workflows, &mut problems);
        if self.connect.max_page_size == Some(0) {
            problems.push("connect maxPageSize must be at least 1".to_string());
        }
        unique(
            &mut problems,
            "connect tenant id",
            self.connect.tenants.iter().map(|t| &t.id),
        );
        for t in &self.connect.tenants {
            unique(
                &mut problems,
                "connect role id",
                t.roles.iter().map(|r| &r.id),
            );
            unique(
                &mut problems,
                "connect automation identity id",
                t.automation_identities.iter().map(|i| &i.id),
            );
            unique(
                &mut problems,
                "connect client id",
                t.clients.iter().map(|c| &c.client_id),
            );
            let roles: BTreeSet<String> = t.roles.iter().map(|r| r.id.to_lowercase()).collect();
            let holders = t
                .automation_identities
                .iter()
                .map(|i| (&i.name, &i.role_ids))
                .chain(t.clients.iter().map(|c| (&c.client_id, &c.role_ids)));
            for (who, ids) in holders {
                for id in ids {
                    if !roles.contains(&id.to_lowercase()) {
                        problems.push(format!(
                            "connect tenant {}: {who} holds role id {id}, which is not a role of the tenant",
                            t.id
                        ));
                    }
                }
            }
        }
        unique(
            &mut problems,
            "mist org id",
            self.mist.orgs.iter().map(|o| &o.id),
        );
        unique(
            &mut problems,
            "mist apiToken key",
            self.mist
                .orgs
                .iter()
                .flat_map(|o| o.api_tokens.iter().map(|t| &t.key)),
        );
        for o in &self.mist.orgs {
            unique(
                &mut problems,
                "mist apiToken id",
                o.api_tokens.iter().map(|t| &t.id),
            );
            for t in &o.api_tokens {
                for p in &t.privileges {
                    if let Some(site) = &p.site_id
                        && !o.sites.iter().any(|s| s.id.eq_ignore_ascii_case(site))
                    {
                        problems.push(format!(
                            "mist token {}: site {site} is not a site of org {}",
                            t.name, o.id
                        ));
                    }
                    if let Some(group) = &p.sitegroup_id
                        && !o
                            .sitegroups
                            .iter()
                            .any(|s| s.id.eq_ignore_ascii_case(group))
                    {
                        problems.push(format!(
                            "mist token {}: sitegroup {group} is not a sitegroup of org {}",
                            t.name, o.id
                        ));
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SandboxError::Seed(problems.join("; ")))
        }
    }
}

fn unique<'a>(problems: &mut Vec<String>, what: &str, values: impl Iterator<Item = &'a String>) {
    let mut seen = BTreeSet::new();
    for v in values {
        if !seen.insert(v.to_lowercase()) {
            problems.push(format!("duplicate {what}: {v}"));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Atlan

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AtlanSeed {
    /// Who may call the API: `Authorization: Bearer <apiKey>`.
    #[serde(default)]
    pub callers: Vec<AtlanCaller>,
    /// Human users (served by `GET /api/service/users`).
    #[serde(default)]
    pub users: Vec<AtlanUser>,
    #[serde(default)]
    pub api_tokens: Vec<AtlanApiToken>,
    #[serde(default)]
    pub connections: Vec<AtlanConnection>,
    /// Archived connections (`status: DELETED`, `__state: DELETED` in search): readable by
    /// GUID and by a search that does not filter on `__state: ACTIVE`, never written. A
    /// qualifiedName lookup finds only active connections, so an archived one may share its
    /// qualifiedName with an active one.
    #[serde(default)]
    pub archived_connections: Vec<AtlanConnection>,
    /// Workspace roles with their ids (`$admin`, `$member`, `$guest` and
    /// `$api-token-default-access` exist with sandbox ids unless listed here). A caller's
    /// `roles` name these; `whoami` reports each as `{"id", "name"}`, and a connection's
    /// `adminRoles` hold the ids.
    #[serde(default)]
    pub roles: Vec<AtlanRole>,
    /// Seconds before a connection write shows in `indexsearch`: the search index shows each
    /// connection as it was this long ago (a new one not at all), while the entity GETs
    /// (`entity/guid/{guid}`, `entity/bulk?guid=`, `entity/uniqueAttribute`) and `entity/bulk`
    /// itself see every write at once.
    #[serde(default)]
    pub index_lag_seconds: f64,
    /// Who may change an existing connection: `atlan` (the default, Atlan's rule) or `legacy`.
    #[serde(default)]
    pub connection_admin_rule: ConnectionAdminRule,
    /// Under `connectionAdminRule: atlan`, workspace `$admin` may change any connection, as
    /// one Atlan FAQ says some tenants allow. Default false: `$admin` counts only through a
    /// connection's `adminRoles`.
    #[serde(default)]
    pub workspace_admins_may_change_connections: bool,
    /// An API token list without a filter from a caller without `$admin` is 403; filtered
    /// lookups work for everyone. Default false (every caller may list all tokens).
    #[serde(default)]
    pub unfiltered_token_list_needs_admin: bool,
    /// The workflow engine that runs the API token connection admin package.
    #[serde(default)]
    pub workflows: AtlanWorkflows,
}

/// Who may change an existing connection (its admins or any other attribute) through
/// `entity/bulk` or a package workflow run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ConnectionAdminRule {
    /// The sandbox's rule before issue 15, kept to test a tenant that answers so: workspace
    /// `$admin`, a user in `adminUsers` or a member of a group in `adminGroups` (`adminRoles`
    /// is ignored); the check comes before the NOOP check; a refusal is 403
    /// `ATLAS-403-00-002` "<user> is not admin for connection <qualifiedName>".
    Legacy,
    /// Atlan's rule (contracts/atlan-workflows.md §5): a user in `adminUsers`, a member of a
    /// group in `adminGroups`, or a holder of a role whose id is in `adminRoles` (workspace
    /// `$admin` only through `adminRoles`, unless `workspaceAdminsMayChangeConnections`); an
    /// unchanged save is a 200 NOOP for anyone; a refusal is 403 `ATLAS-403-00-001`
    /// "<user> is not authorized to perform update entity: Connection:<qualifiedName>".
    #[default]
    Atlan,
}

/// A workspace role of the Atlan tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AtlanRole {
    pub id: String,
    /// Such as `$admin`.
    pub name: String,
}

/// The workspace roles every tenant has, with the ids the sandbox gives them.
pub(crate) const BUILT_IN_ATLAN_ROLES: [(&str, &str); 4] = [
    ("$admin", "0c54f4e3-4ff0-4b8b-9a7e-5d2c1b0a9f01"),
    ("$member", "0c54f4e3-4ff0-4b8b-9a7e-5d2c1b0a9f02"),
    ("$guest", "0c54f4e3-4ff0-4b8b-9a7e-5d2c1b0a9f03"),
    (
        "$api-token-default-access",
        "0c54f4e3-4ff0-4b8b-9a7e-5d2c1b0a9f04",
    ),
];

impl AtlanSeed {
    /// Every workspace role: the seeded ones, then the built-ins the seed does not name.
    pub(crate) fn all_roles(&self) -> Vec<AtlanRole> {
        let mut roles = self.roles.clone();
        for (name, id) in BUILT_IN_ATLAN_ROLES {
            if !roles.iter().any(|r| r.name == name) {
                roles.push(AtlanRole {
                    id: id.to_string(),
                    name: name.to_string(),
                });
            }
        }
        roles
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AtlanCaller {
    pub api_key: String,
    /// The username the key acts as, e.g. `service-account-apikey-<uuid>` for an API token.
    pub username: String,
    /// Role names, e.g. `$admin` (an admin of every connection).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Group names; membership in a connection's adminGroups makes the caller its admin.
    #[serde(default)]
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AtlanUser {
    pub username: String,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AtlanApiToken {
    /// The token's GUID (`id` on the wire).
    pub guid: String,
    /// `apikey-<uuid>`; the token's username is `service-account-` + clientId.
    pub client_id: String,
    pub display_name: String,
    #[serde(default)]
    pub description: String,
    /// Epoch milliseconds.
    #[serde(default)]
    pub created_at: i64,
    #[serde(default)]
    pub created_by: String,
    #[serde(default = "default_lifespan")]
    pub lifespan_seconds: u64,
}

fn default_lifespan() -> u64 {
    157_680_000
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AtlanConnection {
    pub guid: String,
    pub qualified_name: String,
    pub name: String,
    pub connector_name: String,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub admin_users: Vec<String>,
    #[serde(default)]
    pub admin_groups: Vec<String>,
    /// Role GUIDs.
    #[serde(default)]
    pub admin_roles: Vec<String>,
    #[serde(default)]
    pub created_by: String,
    #[serde(default)]
    pub updated_by: String,
    /// Epoch milliseconds.
    #[serde(default)]
    pub create_time: i64,
    #[serde(default)]
    pub update_time: i64,
    #[serde(default)]
    pub version: u64,
}

/// Atlan's (legacy, Argo-based) workflow engine as far as the API token connection admin package
/// needs it: the package's workflow templates, their runs, and how long runs and the search index
/// take. See `contracts/atlan-workflows.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AtlanWorkflows {
    /// `false`: the tenant does not have the package; every workflow route answers 404.
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// Seconds from a run's submission to its final phase (when the package does its work).
    #[serde(default = "default_run_seconds")]
    pub run_seconds: f64,
    /// Seconds a new run stays `Pending` before `Running` (at most `runSeconds`).
    #[serde(default = "default_pending_seconds")]
    pub pending_seconds: f64,
    /// Seconds before a change shows in `workflows/indexsearch` and `runs/indexsearch`: the
    /// indexes show the templates and runs as they were this long ago.
    #[serde(default)]
    pub index_lag_seconds: f64,
    /// Workflow templates that exist already (as if created earlier in the UI), with their runs.
    #[serde(default)]
    pub templates: Vec<AtlanWorkflowTemplate>,
}

impl Default for AtlanWorkflows {
    fn default() -> Self {
        AtlanWorkflows {
            enabled: true,
            run_seconds: default_run_seconds(),
            pending_seconds: default_pending_seconds(),
            index_lag_seconds: 0.0,
            templates: Vec::new(),
        }
    }
}

fn enabled() -> bool {
    true
}

fn default_run_seconds() -> f64 {
    1.0
}

fn default_pending_seconds() -> f64 {
    0.25
}

/// The package every seeded template runs unless it says otherwise.
pub(crate) const API_TOKEN_CONNECTION_ADMIN: &str = "csa-api-token-connection-admin";

fn default_package() -> String {
    API_TOKEN_CONNECTION_ADMIN.to_string()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AtlanWorkflowTemplate {
    /// The template (workflow) name, e.g. `csa-api-token-connection-admin-1700000100`.
    pub name: String,
    /// The package's cluster template the workflow runs (`templateRef.name`).
    #[serde(default = "default_package")]
    pub package: String,
    /// The run's parameters by name, e.g. `connection_qualified_name` (a qualifiedName or a
    /// JSON-array string of them, as the UI sends) and `api_token_guid`.
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
    /// Username of whoever created the template; its seeded runs act as them by default.
    #[serde(default)]
    pub created_by: String,
    /// RFC 3339 (`2023-11-14T22:15:00Z`). Default: the 10-digit epoch that ends the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<String>,
    #[serde(default)]
    pub runs: Vec<AtlanWorkflowRun>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AtlanWorkflowRun {
    /// Default: `<template>-s<4 digits>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub phase: WorkflowPhase,
    /// RFC 3339. Default: the template's creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// RFC 3339, for a finished run. Default: `startedAt` + `runSeconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Username of the submitter. Default: the template's `createdBy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// For a `Pending` or `Running` run only: it finishes this many seconds after the sandbox
    /// starts (or is reset), doing the package's work as its submitter. Default: `runSeconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining_seconds: Option<f64>,
}

/// An Argo workflow phase, as pyatlan's `AtlanWorkflowPhase` accepts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum WorkflowPhase {
    Pending,
    Running,
    Succeeded,
    Failed,
    Error,
}

impl WorkflowPhase {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            WorkflowPhase::Pending => "Pending",
            WorkflowPhase::Running => "Running",
            WorkflowPhase::Succeeded => "Succeeded",
            WorkflowPhase::Failed => "Failed",
            WorkflowPhase::Error => "Error",
        }
    }

    pub(crate) fn is_final(self) -> bool {
        !matches!(self, WorkflowPhase::Pending | WorkflowPhase::Running)
    }
}

/// Whether `name` can name an Argo workflow template: a lowercase RFC 1123 subdomain label
/// sequence (`a-z`, `0-9`, `-`, `.`), at most 200 characters so that a run name (`-xxxxx`
/// appended) stays within Kubernetes' 253.
pub(crate) fn valid_workflow_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 200
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'.')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// Epoch milliseconds of an RFC 3339 timestamp (`2023-11-14T22:15:00Z`).
pub(crate) fn rfc3339_millis(text: &str) -> Option<i64> {
    let t = humantime::parse_rfc3339(text).ok()?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(d.as_millis()).ok()
}

/// The creation time a template's name implies: pyatlan names a package's workflow
/// `<package>-<10-digit epoch seconds>`.
pub(crate) fn name_epoch_millis(name: &str) -> Option<i64> {
    let (_, digits) = name.rsplit_once('-')?;
    (digits.len() == 10 && digits.bytes().all(|c| c.is_ascii_digit()))
        .then(|| digits.parse::<i64>().ok().map(|s| s * 1000))
        .flatten()
}

/// The longest time, in seconds, a seed may give a run or the index lag (a year).
pub(crate) const MAX_WORKFLOW_SECONDS: f64 = 31_536_000.0;

/// A duration in seconds a seed may give: finite, between 0 and a year.
fn check_seconds(problems: &mut Vec<String>, what: &str, v: f64) {
    if !(v.is_finite() && (0.0..=MAX_WORKFLOW_SECONDS).contains(&v)) {
        problems.push(format!(
            "{what} must be between 0 and {MAX_WORKFLOW_SECONDS} seconds, got {v}"
        ));
    }
}

fn check_workflows(w: &AtlanWorkflows, problems: &mut Vec<String>) {
    let seconds = |problems: &mut Vec<String>, what: &str, v: f64| {
        check_seconds(problems, &format!("atlan workflows {what}"), v);
    };
    seconds(problems, "runSeconds", w.run_seconds);
    seconds(problems, "pendingSeconds", w.pending_seconds);
    seconds(problems, "indexLagSeconds", w.index_lag_seconds);
    unique(
        problems,
        "atlan workflow template name",
        w.templates.iter().map(|t| &t.name),
    );
    for t in &w.templates {
        if !valid_workflow_name(&t.name) {
            problems.push(format!(
                "atlan workflow template name {:?} is not a lowercase name of a-z, 0-9, - and . (at most 200 characters)",
                t.name
            ));
        }
        match &t.creation_timestamp {
            Some(ts) if rfc3339_millis(ts).is_none() => problems.push(format!(
                "atlan workflow template {}: creationTimestamp {ts:?} is not RFC 3339 (like 2023-11-14T22:15:00Z)",
                t.name
            )),
            None if name_epoch_millis(&t.name).is_none() => problems.push(format!(
                "atlan workflow template {}: creationTimestamp is required when the name does not end in a 10-digit epoch",
                t.name
            )),
            _ => {}
        }
        for r in &t.runs {
            let who = format!(
                "atlan workflow run {} of {}",
                r.name.as_deref().unwrap_or("(unnamed)"),
                t.name
            );
            if let Some(name) = &r.name
                && !(valid_workflow_name(name)
                    && name.len() > t.name.len() + 1
                    && name.starts_with(&format!("{}-", t.name)))
            {
                problems.push(format!(
                    "{who}: a run name is the template name, `-` and a suffix of a-z, 0-9"
                ));
            }
            for (field, value) in [("startedAt", &r.started_at), ("finishedAt", &r.finished_at)] {
                if let Some(ts) = value
                    && rfc3339_millis(ts).is_none()
                {
                    problems.push(format!("{who}: {field} {ts:?} is not RFC 3339"));
                }
            }
            match (r.phase.is_final(), r.remaining_seconds) {
                (true, Some(_)) => problems.push(format!(
                    "{who}: remainingSeconds is for Pending or Running runs only"
                )),
                (false, Some(v)) => seconds(problems, &format!("{who} remainingSeconds"), v),
                _ => {}
            }
            if !r.phase.is_final() && r.finished_at.is_some() {
                problems.push(format!(
                    "{who}: a {} run has no finishedAt",
                    r.phase.as_str()
                ));
            }
        }
    }
    let mut run_names = BTreeSet::new();
    for t in &w.templates {
        for r in &t.runs {
            if let Some(n) = &r.name
                && !run_names.insert(n.clone())
            {
                problems.push(format!("duplicate atlan workflow run name: {n}"));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// CONNECT

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectSeed {
    /// The most items a list page holds, whatever `count` asks (1–1000): the server returns
    /// shorter pages than requested, with the full `Total-Count`, as a server with a lower
    /// page limit would. Unset: a page holds `count` items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_page_size: Option<u32>,
    #[serde(default)]
    pub tenants: Vec<ConnectTenant>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectTenant {
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// When true, creating an automation identity whose name exists (case-insensitively) is
    /// 409; when false duplicates are allowed (the API does not document which holds).
    #[serde(default)]
    pub unique_identity_names: bool,
    #[serde(default)]
    pub roles: Vec<ConnectRole>,
    #[serde(default)]
    pub automation_identities: Vec<ConnectIdentity>,
    /// OAuth client-credentials clients that may call the API for this tenant.
    #[serde(default)]
    pub clients: Vec<ConnectClient>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectRole {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// 0 None, 1 Tenant, 2 Community, 3 Cluster.
    #[serde(default = "tenant_scope")]
    pub role_scope: u8,
    /// Set for built-in roles (e.g. Tenant Administrator `2dc742ab-…`), absent for custom ones.
    #[serde(default)]
    pub role_type_id: Option<String>,
    #[serde(default)]
    pub community_id: Option<String>,
}

fn tenant_scope() -> u8 {
    1
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectIdentity {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub role_ids: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectClient {
    pub client_id: String,
    pub client_secret: String,
    /// The caller's roles: Tenant Administrator bypasses the role-subset rule.
    #[serde(default)]
    pub role_ids: Vec<String>,
    #[serde(default = "default_token_lifetime")]
    pub token_lifetime_seconds: u64,
}

fn default_token_lifetime() -> u64 {
    3600
}

// ---------------------------------------------------------------------------------------------
// Mist

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MistSeed {
    /// Requests per token per clock hour before 429 (Mist: 5000).
    #[serde(default = "default_requests_per_hour")]
    pub requests_per_hour: u32,
    /// Leave `privileges` out of the create response, as the real service may.
    #[serde(default)]
    pub omit_privileges_on_create: bool,
    /// Page the API token list with this many tokens per page even when the request does not
    /// ask for paging, with `X-Page-Total/Limit/Page` response headers (contracts/mist.md
    /// allows it; whether the real list pages is unknown). Unset: one array, unless asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_limit: Option<u32>,
    /// A PUT replaces `src_ips` too: a PUT body without `src_ips` (or with null) clears the
    /// token's source IP restriction, as a literal "PUT replaces" reading of the spec would.
    /// Default false: an absent `src_ips` keeps them (contracts/mist.md §1).
    #[serde(default)]
    pub put_clears_missing_src_ips: bool,
    #[serde(default)]
    pub orgs: Vec<MistOrg>,
}

impl Default for MistSeed {
    fn default() -> Self {
        MistSeed {
            requests_per_hour: default_requests_per_hour(),
            omit_privileges_on_create: false,
            page_limit: None,
            put_clears_missing_src_ips: false,
            orgs: Vec::new(),
        }
    }
}

fn default_requests_per_hour() -> u32 {
    5000
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MistOrg {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub sites: Vec<MistPlace>,
    #[serde(default)]
    pub sitegroups: Vec<MistPlace>,
    /// The org's API tokens; callers authenticate with one of their keys.
    #[serde(default)]
    pub api_tokens: Vec<MistToken>,
}

/// A site or a sitegroup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MistPlace {
    pub id: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MistToken {
    pub id: String,
    pub name: String,
    /// The full key (shown masked by the API except in the create response).
    pub key: String,
    #[serde(default)]
    pub privileges: Vec<MistPrivilege>,
    #[serde(default)]
    pub src_ips: Vec<String>,
    #[serde(default)]
    pub created_by: Option<String>,
    /// Epoch seconds.
    #[serde(default)]
    pub created_time: i64,
    #[serde(default)]
    pub last_used: Option<i64>,
    /// Overrides `mist.requestsPerHour` for this token.
    #[serde(default)]
    pub requests_per_hour: Option<u32>,
    /// Makes this key a person's own API token (a user token) rather than an org token: its
    /// `/api/v1/self` shows this email, and tokens it creates record it as `created_by` (an
    /// org token's creates record null). A simulator shortcut: the key still sits in the
    /// org's token list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MistPrivilege {
    /// admin, helpdesk, installer, read or write.
    pub role: String,
    /// org, site, sitegroup or orgsites.
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sitegroup_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub views: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_seed_parses_and_checks() {
        let seed = Seed::example();
        assert!(!seed.atlan.connections.is_empty());
        assert!(!seed.connect.tenants.is_empty());
        assert!(!seed.mist.orgs.is_empty());
    }

    #[test]
    fn unknown_fields_and_dangling_references_are_errors() {
        let unknown = "atlan:\n  conections: []\n";
        assert!(Seed::from_yaml(unknown).is_err());
        let dangling = "connect:\n  tenants:\n    - id: t\n      automationIdentities:\n        - {id: a, name: x, roleIds: [nope]}\n";
        let err = Seed::from_yaml(dangling).unwrap_err().to_string();
        assert!(err.contains("nope"), "{err}");
    }

    #[test]
    fn workflow_seeds_are_checked() {
        let workflows = |body: &str| Seed::from_yaml(&format!("atlan:\n  workflows:\n{body}"));
        let ok = "    runSeconds: 0.5\n    templates:\n      - name: csa-api-token-connection-admin-1700000500\n        runs: [{phase: Running, remainingSeconds: 2}, {name: csa-api-token-connection-admin-1700000500-abcde, phase: Failed}]\n";
        let seed = workflows(ok).expect("valid");
        assert_eq!(seed.atlan.workflows.templates[0].runs.len(), 2);
        for (bad, expected) in [
            ("    runSeconds: -1\n", "runSeconds"),
            ("    indexLagSeconds: 1e12\n", "indexLagSeconds"),
            (
                "    templates: [{name: Not-Lowercase-1700000500}]\n",
                "lowercase",
            ),
            (
                "    templates: [{name: no-epoch}]\n",
                "creationTimestamp is required",
            ),
            (
                "    templates: [{name: a-1700000500, creationTimestamp: yesterday}]\n",
                "RFC 3339",
            ),
            (
                "    templates: [{name: a-1700000500}, {name: a-1700000500}]\n",
                "duplicate",
            ),
            (
                "    templates: [{name: a-1700000500, runs: [{name: b-1700000500-x, phase: Failed}]}]\n",
                "run name",
            ),
            (
                "    templates: [{name: a-1700000500, runs: [{phase: Succeeded, remainingSeconds: 1}]}]\n",
                "remainingSeconds",
            ),
            (
                "    templates: [{name: a-1700000500, runs: [{phase: Running, finishedAt: '2023-11-14T22:15:00Z'}]}]\n",
                "finishedAt",
            ),
            (
                "    templates: [{name: a-1700000500, runs: [{phase: Done}]}]\n",
                "Done",
            ),
        ] {
            let err = workflows(bad).expect_err(bad).to_string();
            assert!(err.contains(expected), "{bad}: {err}");
        }
    }
}
