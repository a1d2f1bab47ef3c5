//! Atlan (contracts/atlan.md): API tokens as connection admins.
//!
//! Everything warrant knows about Atlan lives here: the `atlan` Target settings and
//! `kind: ConnectionAdmins` with their rules (`spec.rs`), and the client that resolves token
//! names, reads connections and adds admins (`client.rs`). Its simulator is
//! `crate::sandbox::atlan`. A connection is found by its qualifiedName, exactly; warrant never
//! creates one.

mod client;
mod spec;

use std::cell::RefCell;

use schemars::{Schema, SchemaGenerator};

use super::{
    ClientOptions, Environment, LiveTarget, Platform, PlatformError, ResourceSpec, TargetPlatform,
    TargetSettings,
};
use crate::manifest::{self, DeError, Dialect, Node, RemoteKey};
use crate::model::Kind;

pub use spec::{AtlanTarget, ConnectionAdminsSpec, TokenRef};

/// The key of Atlan under a Target's `spec:`.
const NAME: &str = "atlan";
/// The kind Atlan manages.
pub(crate) const KIND: Kind = Kind::new("ConnectionAdmins");

/// Atlan, in the list of platforms.
pub(crate) struct Atlan;

impl Dialect<TargetPlatform, ResourceSpec> for Atlan {
    fn name(&self) -> &'static str {
        NAME
    }

    fn kind(&self) -> Kind {
        KIND
    }

    fn noun(&self) -> &'static str {
        "connection"
    }

    fn remote_key(&self) -> RemoteKey {
        RemoteKey::Field("connection")
    }

    fn target_example(&self) -> &'static str {
        "atlan: {baseUrl: https://<tenant>.atlan.com}"
    }

    fn read_target(
        &self,
        node: &Node,
        unknown: &RefCell<Vec<DeError>>,
    ) -> Result<Option<TargetPlatform>, DeError> {
        Ok(manifest::from_node::<Option<AtlanTarget>>(node, unknown)?.map(TargetPlatform::Atlan))
    }

    fn read_spec(
        &self,
        node: &Node,
        unknown: &RefCell<Vec<DeError>>,
    ) -> Result<ResourceSpec, DeError> {
        manifest::from_node(node, unknown).map(ResourceSpec::ConnectionAdmins)
    }

    fn target_schema(&self, generator: &mut SchemaGenerator) -> Schema {
        generator.subschema_for::<Option<AtlanTarget>>()
    }

    fn spec_schema(&self, generator: &mut SchemaGenerator) -> Schema {
        generator.subschema_for::<ConnectionAdminsSpec>()
    }

    fn schema_file(&self) -> &'static str {
        "connection-admins.schema.json"
    }
}

impl Platform for Atlan {
    fn short_noun(&self) -> &'static str {
        "connection admin list"
    }

    fn export_file(&self) -> &'static str {
        "connection-admins.yaml"
    }
}

impl TargetSettings for AtlanTarget {
    fn platform(&self) -> &'static dyn Platform {
        &Atlan
    }

    fn as_used(&self, endpoint: Option<&str>) -> TargetPlatform {
        let mut used = self.clone();
        if let Some(url) = endpoint {
            used.base_url = url.to_string();
        }
        TargetPlatform::Atlan(used)
    }

    fn identity(&self) -> Vec<(&'static str, Option<&str>)> {
        vec![
            ("baseUrl", Some(&self.base_url)),
            ("apiKeyEnv", Some(&self.api_key_env)),
        ]
    }

    fn heading(&self) -> String {
        format!("{NAME}, {}", self.base_url)
    }

    fn open(
        &self,
        name: &str,
        endpoint: Option<&str>,
        environment: &Environment,
        options: &ClientOptions,
    ) -> Result<Box<dyn LiveTarget>, PlatformError> {
        let api_key = environment.variable(name, &self.api_key_env)?;
        api_key.mask();
        let client = client::AtlanClient::new(name, self, endpoint, api_key, options)?;
        Ok(Box::new(client))
    }
}
