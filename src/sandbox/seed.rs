//! The sandbox seed: the live objects and the callers (credentials and who they are) of each
//! platform, loaded from YAML. The simulators keep their state in these same types, so
//! `GET /_sandbox/state` shows the seed's shape (with credentials left out).
//!
//! Field names are camelCase in every platform section, whatever the wire format of the API.

use std::collections::BTreeSet;

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
            a.connections.iter().map(|c| &c.guid),
        );
        unique(
            &mut problems,
            "atlan connection qualifiedName",
            a.connections.iter().map(|c| &c.qualified_name),
        );
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

// ---------------------------------------------------------------------------------------------
// CONNECT

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectSeed {
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
    #[serde(default)]
    pub orgs: Vec<MistOrg>,
}

impl Default for MistSeed {
    fn default() -> Self {
        MistSeed {
            requests_per_hour: default_requests_per_hour(),
            omit_privileges_on_create: false,
            page_limit: None,
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
}
