//! Atlan (contracts/atlan.md): API tokens as connection admins.
//!
//! Everything warrant knows about Atlan lives here: the `atlan` Target settings and
//! `kind: ConnectionAdmins` with their rules (`spec.rs`), the client that resolves token
//! names, reads connections and adds admins (`client.rs`), and the other route of adding them,
//! the API token connection admin package run as a workflow (`workflow.rs`, `via: workflow`). Its simulator is
//! `crate::sandbox::atlan`. A connection is found by its qualifiedName, exactly; warrant never
//! creates one.

mod client;
mod spec;
mod workflow;

use super::{
    ClientOptions, Definition, Environment, LiveTarget, PlatformError, ResourceSpec,
    TargetPlatform, TargetSettings,
};
use crate::manifest::RemoteKey;
use crate::model::Kind;

pub use spec::{AtlanTarget, ConnectionAdminsSpec, TokenRef, Via};

/// The key of Atlan under a Target's `spec:`.
const NAME: &str = "atlan";
/// The kind Atlan manages.
pub(crate) const KIND: Kind = Kind::new("ConnectionAdmins");

/// Atlan, in the list of platforms.
pub(crate) static PLATFORM: Definition<AtlanTarget, ConnectionAdminsSpec> = Definition {
    name: NAME,
    kind: KIND,
    noun: "connection",
    short_noun: "connection admin list",
    remote_key: RemoteKey::Field("connection"),
    same_object: str::to_string,
    has_key_sink: false,
    target_example: "atlan: {baseUrl: https://<tenant>.atlan.com}",
    schema_file: "connection-admins.schema.json",
    export_file: "connection-admins.yaml",
    target: TargetPlatform::Atlan,
    spec: ResourceSpec::ConnectionAdmins,
};

impl TargetSettings for AtlanTarget {
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
