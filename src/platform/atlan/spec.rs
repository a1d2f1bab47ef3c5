//! What Atlan manifests declare: the `atlan` settings of a Target (with their defaults) and
//! `kind: ConnectionAdmins`, as serde + schemars types, and the rules they follow beyond
//! their shape.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::KIND;
use crate::manifest::{self, Doc, Seg::I, Seg::K};
use crate::model::Kind;

/// An Atlan tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AtlanTarget {
    /// `https://<tenant>.atlan.com` (plain http only for loopback hosts).
    #[schemars(regex(pattern = manifest::BASE_URL_PATTERN))]
    pub base_url: String,
    /// Environment variable holding the API token.
    #[serde(default = "default_atlan_key_env")]
    #[schemars(regex(pattern = manifest::ENV_NAME_PATTERN))]
    pub api_key_env: String,
    /// Client-side rate limit.
    #[serde(default = "default_atlan_rpm")]
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub requests_per_minute: u32,
    /// How the connections of this target are granted unless a `ConnectionAdmins` says
    /// otherwise (`spec.via`): `direct` (the default) or `workflow`.
    #[serde(default, skip_serializing_if = "Via::is_direct")]
    pub grant_via: Via,
    /// Whether workspace `$admin` may change any connection's admins on this tenant, as one
    /// Atlan FAQ says some tenants allow. Default false: `$admin` counts only where a
    /// connection's `adminRoles` holds the `$admin` role (docs/atlan.md).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub workspace_admins_may_change_connections: bool,
    /// Separate read-only credentials: `plan`, `drift` and `export` use them when set, so a
    /// pull request's plan job never holds a credential that can write; `apply` always uses
    /// `apiKeyEnv`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<AtlanRead>,
}

/// The read-only credentials of an Atlan Target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AtlanRead {
    /// Environment variable holding an API token that can read the connections and tokens.
    pub api_key_env: String,
}

/// How warrant makes an API token a connection admin (docs/atlan-workflows.md).
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum Via {
    /// Update the connection's `adminUsers` through `entity/bulk`.
    #[default]
    Direct,
    /// Run Atlan's API token connection admin package as a workflow (re-running an existing
    /// one for the same connection and token), then verify by reading the connection.
    Workflow,
}

impl Via {
    pub(crate) fn is_direct(&self) -> bool {
        *self == Via::Direct
    }
}

fn default_atlan_key_env() -> String {
    "ATLAN_API_KEY".into()
}

fn default_atlan_rpm() -> u32 {
    1800
}

/// `kind: ConnectionAdmins`: API tokens that must be admins of an Atlan connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectionAdminsSpec {
    /// Name of an `atlan` Target.
    #[schemars(regex(pattern = manifest::NOT_BLANK_PATTERN))]
    pub target: String,
    /// The connection's qualifiedName, e.g. `default/snowflake/1234567890`.
    #[schemars(regex(pattern = r"^\S+$"))]
    pub connection: String,
    /// The API tokens, by display name or GUID.
    #[schemars(length(min = 1), extend("uniqueItems" = true))]
    pub api_tokens: Vec<TokenRef>,
    /// How the tokens are made admins: `direct` or `workflow` (Atlan's API token connection
    /// admin package). Default: the Target's `grantVia`, else `direct`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<Via>,
}

/// An Atlan API token, by display name or by GUID.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum TokenRef {
    /// The token's display name (must match exactly one token).
    Name(#[schemars(regex(pattern = manifest::NOT_BLANK_PATTERN))] String),
    /// The token's GUID.
    Guid(#[schemars(regex(pattern = manifest::UUID_PATTERN))] String),
}

impl manifest::Settings for AtlanTarget {
    fn platform_name(&self) -> &'static str {
        super::NAME
    }

    fn credential_variables(&self) -> Vec<&str> {
        let mut variables = vec![self.api_key_env.as_str()];
        variables.extend(self.read.iter().map(|r| r.api_key_env.as_str()));
        variables
    }

    fn check(&self, doc: &mut Doc) {
        let at = |field| [K("spec"), K("atlan"), K(field)];
        doc.base_url(&at("baseUrl"), &self.base_url);
        doc.env_name(&at("apiKeyEnv"), "apiKeyEnv", &self.api_key_env);
        if let Some(read) = &self.read {
            doc.read_env_name(
                &[K("spec"), K("atlan"), K("read"), K("apiKeyEnv")],
                "apiKeyEnv",
                &read.api_key_env,
                &[&self.api_key_env],
            );
        }
        doc.positive(
            &at("requestsPerMinute"),
            "requestsPerMinute",
            self.requests_per_minute,
        );
    }
}

impl manifest::Spec for ConnectionAdminsSpec {
    fn kind(&self) -> Kind {
        KIND
    }

    fn target(&self) -> &str {
        &self.target
    }

    fn remote_name(&self) -> Option<&str> {
        None
    }

    /// The connection's qualified name, whatever the document is called.
    fn remote_key<'a>(&'a self, _name: &'a str) -> &'a str {
        &self.connection
    }

    fn check(&mut self, doc: &mut Doc, _repository: &Path) {
        if self.connection.is_empty() || self.connection.chars().any(char::is_whitespace) {
            doc.error(
                &[K("spec"), K("connection")],
                "connection must be a qualifiedName without whitespace".into(),
                Some("like default/snowflake/1700000001".into()),
            );
        }
        if self.api_tokens.is_empty() {
            doc.error(
                &[K("spec"), K("apiTokens")],
                "apiTokens must list at least one token".into(),
                Some("each is {name: <display name>} or {guid: <UUID>}".into()),
            );
        }
        for (i, token) in self.api_tokens.iter().enumerate() {
            match token {
                TokenRef::Guid(g) => {
                    doc.uuid(&[K("spec"), K("apiTokens"), I(i), K("guid")], "guid", g)
                }
                TokenRef::Name(n) => {
                    doc.non_empty(&[K("spec"), K("apiTokens"), I(i), K("name")], "name", n)
                }
            }
        }
        doc.no_duplicates("apiTokens", &self.api_tokens, "token");
    }

    fn canonical(&self) -> serde_json::Value {
        let mut spec = self.clone();
        spec.api_tokens = manifest::sorted(&spec.api_tokens);
        manifest::to_value(&spec)
    }
}
