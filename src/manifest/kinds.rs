//! The manifest document kinds as serde + schemars types.
//!
//! These types are the single source of truth for the manifest format: the loader deserializes
//! into them (unknown fields are errors), `warrant schema` generates `schemas/` from them, and
//! the platform clients read the validated specs. Cross-field rules (exactly one platform per
//! Target, scope/site id pairing, CIDR base addresses…) live in `validate.rs`.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `apiVersion` every document must carry.
pub const API_VERSION: &str = "warrant/v1";

/// `metadata` of every document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// Unique among documents of the same kind.
    pub name: String,
}

/// `kind: Target`: where a platform lives and which environment variables hold its credentials.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
pub struct TargetSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atlan: Option<AtlanTarget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect: Option<ConnectTarget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mist: Option<MistTarget>,
}

/// An Atlan tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AtlanTarget {
    /// `https://<tenant>.atlan.com` (plain http only for loopback hosts).
    pub base_url: String,
    /// Environment variable holding the API token.
    #[serde(default = "default_atlan_key_env")]
    pub api_key_env: String,
    /// Client-side rate limit.
    #[serde(default = "default_atlan_rpm")]
    pub requests_per_minute: u32,
}

/// An AVEVA CONNECT data services tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectTarget {
    /// The global base URL (identity writes are only accepted there).
    #[serde(default = "default_connect_base_url")]
    pub base_url: String,
    /// Tenant id (UUID).
    pub tenant_id: String,
    /// Environment variable holding the client-credentials client id.
    #[serde(default = "default_connect_client_id_env")]
    pub client_id_env: String,
    /// Environment variable holding the client secret.
    #[serde(default = "default_connect_client_secret_env")]
    pub client_secret_env: String,
}

/// A Juniper Mist organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MistTarget {
    /// A Mist cloud name such as `global01`, `emea01`, `apac01`, `govcloud`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud: Option<String>,
    /// Explicit API base URL, instead of `cloud`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Organization id (UUID).
    pub org_id: String,
    /// Environment variable holding the org API token used by warrant.
    #[serde(default = "default_mist_token_env")]
    pub api_token_env: String,
    /// Client-side rate limit (Mist allows 5000 per hour per token).
    #[serde(default = "default_mist_rph")]
    pub requests_per_hour: u32,
}

/// `kind: ConnectionAdmins`: API tokens that must be admins of an Atlan connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectionAdminsSpec {
    /// Name of an `atlan` Target.
    pub target: String,
    /// The connection's qualifiedName, e.g. `default/snowflake/1234567890`.
    pub connection: String,
    /// The API tokens, by display name or GUID.
    pub api_tokens: Vec<TokenRef>,
}

/// An Atlan API token, by display name or by GUID.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum TokenRef {
    /// The token's display name (must match exactly one token).
    Name(String),
    /// The token's GUID.
    Guid(String),
}

/// `kind: AutomationIdentity`: an automation identity of a CONNECT tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AutomationIdentitySpec {
    /// Name of a `connect` Target.
    pub target: String,
    /// Identity name; defaults to `metadata.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Roles, by name or `{id: <uuid>}`.
    pub roles: Vec<RoleRef>,
    /// Free-form tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// A CONNECT role, by name or by id.
// Deserialized by hand: a derived untagged enum would silently ignore unknown keys in
// `{id: …}` and could only say "did not match any variant" about any mistake.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[serde(untagged, deny_unknown_fields)]
pub enum RoleRef {
    /// A role name (built-in roles are matched by their role type).
    Name(String),
    /// A role id.
    Id {
        /// Role id (UUID).
        id: String,
    },
}

impl<'de> Deserialize<'de> for RoleRef {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RoleRefVisitor)
    }
}

struct RoleRefVisitor;

impl<'de> serde::de::Visitor<'de> for RoleRefVisitor {
    type Value = RoleRef;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a role name or {id: <UUID>}")
    }

    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<RoleRef, E> {
        Ok(RoleRef::Name(name.to_string()))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<RoleRef, A::Error> {
        /// `{id: …}` and nothing else.
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct ById {
            id: String,
        }
        let ById { id } = ById::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        Ok(RoleRef::Id { id })
    }
}

/// `kind: OrgApiToken`: an org API token of a Mist organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrgApiTokenSpec {
    /// Name of a `mist` Target.
    pub target: String,
    /// Token name; defaults to `metadata.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// 1 to 10 privileges.
    pub privileges: Vec<PrivilegeSpec>,
    /// 0 to 10 addresses or CIDRs the token may be used from; fixed at creation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub src_ips: Vec<String>,
    /// Where the key goes when the token is created.
    pub key_sink: KeySinkSpec,
}

/// `keySink`: where a new token's key goes — exactly one of `file` and `command`. Validation
/// turns it into a `crate::secret::KeySink`.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("oneOf" = [
    {"required": ["file"], "not": {"required": ["env"]}},
    {"required": ["command"]}
]))]
pub struct KeySinkSpec {
    /// A new file (mode 0600, never overwritten), relative to the manifest file that declares
    /// it; it must stay inside the repository. After validation: relative to the repository
    /// root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// A program and its arguments (run without a shell) that receives the key on stdin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// With `command`: environment variables the program gets besides `PATH`, `HOME`, `LANG`
    /// and `TMPDIR` (it gets nothing else; never a Target's credential variable).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
}

impl KeySinkSpec {
    /// A file sink.
    pub fn file(path: impl Into<PathBuf>) -> KeySinkSpec {
        KeySinkSpec {
            file: Some(path.into()),
            ..KeySinkSpec::default()
        }
    }

    /// The sink this spec declares; `None` unless it names exactly one of `file` and `command`
    /// (which validation guarantees).
    pub fn sink(&self) -> Option<crate::secret::KeySink> {
        use crate::secret::KeySink;
        match (&self.file, &self.command) {
            (Some(path), None) if self.env.is_empty() => Some(KeySink::File(path.clone())),
            (None, Some(argv)) => Some(KeySink::Command {
                argv: argv.clone(),
                env: self.env.clone(),
            }),
            _ => None,
        }
    }
}

/// One Mist privilege.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrivilegeSpec {
    pub role: MistRole,
    pub scope: MistScope,
    /// Required exactly when `scope: site`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_id: Option<String>,
    /// Required exactly when `scope: sitegroup`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sitegroup_id: Option<String>,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum MistRole {
    Admin,
    Helpdesk,
    Installer,
    Read,
    Write,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum MistScope {
    Org,
    Site,
    Sitegroup,
    Orgsites,
}

fn default_atlan_key_env() -> String {
    "ATLAN_API_KEY".into()
}
fn default_atlan_rpm() -> u32 {
    1800
}
fn default_connect_base_url() -> String {
    "https://uswe.datahub.connect.aveva.com".into()
}
fn default_connect_client_id_env() -> String {
    "CONNECT_CLIENT_ID".into()
}
fn default_connect_client_secret_env() -> String {
    "CONNECT_CLIENT_SECRET".into()
}
fn default_mist_token_env() -> String {
    "MIST_API_TOKEN".into()
}
fn default_mist_rph() -> u32 {
    5000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_refs_round_trip_through_json_and_refuse_unknown_keys() {
        let roles = vec![
            RoleRef::Name("Tenant Member".into()),
            RoleRef::Id {
                id: "0b4f2b8e-3a55-4c34-9d0e-6a3c1f6f7a21".into(),
            },
        ];
        let text = serde_json::to_string(&roles).expect("serializes");
        assert_eq!(
            text,
            r#"["Tenant Member",{"id":"0b4f2b8e-3a55-4c34-9d0e-6a3c1f6f7a21"}]"#
        );
        let back: Vec<RoleRef> = serde_json::from_str(&text).expect("deserializes");
        assert_eq!(back, roles);
        let err = serde_json::from_str::<RoleRef>(r#"{"id":"x","bogus":1}"#).unwrap_err();
        assert!(err.to_string().contains("bogus"), "{err}");
        assert!(serde_json::from_str::<RoleRef>("{}").is_err());
        assert!(serde_json::from_str::<RoleRef>("7").is_err());
    }
}
