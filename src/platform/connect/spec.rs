//! What CONNECT manifests declare: the `connect` settings of a Target (with their defaults)
//! and `kind: AutomationIdentity`, as serde + schemars types, and the rules they follow beyond
//! their shape.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::KIND;
use crate::manifest::{self, Doc, Seg::I, Seg::K};
use crate::model::Kind;

/// An AVEVA CONNECT data services tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectTarget {
    /// The global base URL (identity writes are only accepted there).
    #[serde(default = "default_connect_base_url")]
    #[schemars(regex(pattern = manifest::BASE_URL_PATTERN))]
    pub base_url: String,
    /// Tenant id (UUID).
    #[schemars(regex(pattern = manifest::UUID_PATTERN))]
    pub tenant_id: String,
    /// Environment variable holding the client-credentials client id.
    #[serde(default = "default_connect_client_id_env")]
    #[schemars(regex(pattern = manifest::ENV_NAME_PATTERN))]
    pub client_id_env: String,
    /// Environment variable holding the client secret.
    #[serde(default = "default_connect_client_secret_env")]
    #[schemars(regex(pattern = manifest::ENV_NAME_PATTERN))]
    pub client_secret_env: String,
    /// Separate read-only credentials (a client whose roles can only read identities and
    /// roles): `plan`, `drift` and `export` use them when set; `apply` always uses
    /// `clientIdEnv`/`clientSecretEnv`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<ConnectRead>,
}

/// The read-only credentials of a CONNECT Target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectRead {
    /// Environment variable holding the read-only client's id.
    pub client_id_env: String,
    /// Environment variable holding the read-only client's secret.
    pub client_secret_env: String,
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

/// `kind: AutomationIdentity`: an automation identity of a CONNECT tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AutomationIdentitySpec {
    /// Name of a `connect` Target.
    #[schemars(regex(pattern = manifest::NOT_BLANK_PATTERN))]
    pub target: String,
    /// Identity name; defaults to `metadata.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = manifest::NOT_BLANK_PATTERN))]
    pub name: Option<String>,
    /// Roles, by name or `{id: <uuid>}`.
    #[schemars(length(min = 1), extend("uniqueItems" = true))]
    pub roles: Vec<RoleRef>,
    /// Free-form tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        inner(regex(pattern = manifest::NOT_BLANK_PATTERN)),
        extend("uniqueItems" = true)
    )]
    pub tags: Vec<String>,
}

/// A CONNECT role, by name or by id.
// Deserialized by hand: a derived untagged enum would silently ignore unknown keys in
// `{id: …}` and could only say "did not match any variant" about any mistake.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[serde(untagged, deny_unknown_fields)]
pub enum RoleRef {
    /// A role name (built-in roles are matched by their role type).
    Name(#[schemars(regex(pattern = manifest::NOT_BLANK_PATTERN))] String),
    /// A role id.
    Id {
        /// Role id (UUID).
        #[schemars(regex(pattern = manifest::UUID_PATTERN))]
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

impl manifest::Settings for ConnectTarget {
    fn platform_name(&self) -> &'static str {
        super::NAME
    }

    fn credential_variables(&self) -> Vec<&str> {
        let mut variables = vec![self.client_id_env.as_str(), self.client_secret_env.as_str()];
        if let Some(read) = &self.read {
            variables.extend([read.client_id_env.as_str(), read.client_secret_env.as_str()]);
        }
        variables
    }

    fn check(&self, doc: &mut Doc) {
        let at = |field| [K("spec"), K("connect"), K(field)];
        doc.base_url(&at("baseUrl"), &self.base_url);
        doc.uuid(&at("tenantId"), "tenantId", &self.tenant_id);
        doc.env_name(&at("clientIdEnv"), "clientIdEnv", &self.client_id_env);
        doc.env_name(
            &at("clientSecretEnv"),
            "clientSecretEnv",
            &self.client_secret_env,
        );
        if let Some(read) = &self.read {
            let write = [self.client_id_env.as_str(), self.client_secret_env.as_str()];
            let at = |field| [K("spec"), K("connect"), K("read"), K(field)];
            doc.read_env_name(
                &at("clientIdEnv"),
                "clientIdEnv",
                &read.client_id_env,
                &write,
            );
            doc.read_env_name(
                &at("clientSecretEnv"),
                "clientSecretEnv",
                &read.client_secret_env,
                &write,
            );
        }
    }
}

impl manifest::Spec for AutomationIdentitySpec {
    fn kind(&self) -> Kind {
        KIND
    }

    fn target(&self) -> &str {
        &self.target
    }

    fn remote_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn check(&mut self, doc: &mut Doc, _repository: &Path) {
        if self.roles.is_empty() {
            doc.error(
                &[K("spec"), K("roles")],
                "roles must list at least one role".into(),
                Some("a role is a role name or {id: <UUID>}".into()),
            );
        }
        for (i, role) in self.roles.iter().enumerate() {
            match role {
                RoleRef::Id { id } => {
                    doc.uuid(&[K("spec"), K("roles"), I(i), K("id")], "role id", id)
                }
                RoleRef::Name(n) => doc.non_empty(&[K("spec"), K("roles"), I(i)], "role", n),
            }
        }
        doc.no_duplicates("roles", &self.roles, "role");
        for (i, tag) in self.tags.iter().enumerate() {
            doc.non_empty(&[K("spec"), K("tags"), I(i)], "tag", tag);
        }
        doc.no_duplicates("tags", &self.tags, "tag");
    }

    fn canonical(&self) -> serde_json::Value {
        let mut spec = self.clone();
        spec.roles = manifest::sorted(&spec.roles);
        spec.tags = manifest::sorted(&spec.tags);
        manifest::to_value(&spec)
    }

    fn set_remote_name(&mut self, name: Option<String>) {
        self.name = name;
    }
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
