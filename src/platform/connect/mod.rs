//! AVEVA CONNECT data services (contracts/connect.md): automation identities of a tenant, with
//! their roles and tags.
//!
//! Everything warrant knows about CONNECT lives here: the `connect` Target settings and
//! `kind: AutomationIdentity` with their rules (`spec.rs`), the case rule of identity names
//! ([`same_identity`]), and the client that resolves role names, reads identities, creates
//! them and adds roles and tags (`client.rs`). Its simulator is `crate::sandbox::connect`.

mod client;
mod spec;

use super::{
    ClientOptions, Definition, Environment, LiveTarget, PlatformError, ResourceSpec,
    TargetPlatform, TargetSettings,
};
use crate::manifest::RemoteKey;
use crate::model::Kind;

pub use spec::{AutomationIdentitySpec, ConnectRead, ConnectTarget, RoleRef};

/// The key of CONNECT under a Target's `spec:`.
const NAME: &str = "connect";
/// The kind CONNECT manages.
pub(crate) const KIND: Kind = Kind::new("AutomationIdentity");

/// The form in which two automation identity names are the same identity. The contract does
/// not say whether CONNECT's "Already exists" (409) on create ignores case; warrant assumes it
/// does, as the sandbox does (contracts/connect.md §7, gap 1). So the rule holds everywhere a
/// name is compared: `validate` refuses two documents whose names differ only in case, and
/// the client's read and its recovery from a 409 find a live identity by it, so a declared
/// `legacy-ingest` is the live `Legacy-Ingest` (an update or no-op, never a create).
fn same_identity(name: &str) -> String {
    name.to_lowercase()
}

/// CONNECT, in the list of platforms.
pub(crate) static PLATFORM: Definition<ConnectTarget, AutomationIdentitySpec> = Definition {
    name: NAME,
    kind: KIND,
    noun: "automation identity",
    short_noun: "identity",
    remote_key: RemoteKey::FieldOrName("name"),
    same_object: same_identity,
    has_key_sink: false,
    target_example: "connect: {tenantId: <UUID>}",
    schema_file: "automation-identity.schema.json",
    export_file: "automation-identities.yaml",
    target: TargetPlatform::Connect,
    spec: ResourceSpec::AutomationIdentity,
};

impl TargetSettings for ConnectTarget {
    fn as_used(&self, endpoint: Option<&str>) -> TargetPlatform {
        let mut used = self.clone();
        if let Some(url) = endpoint {
            used.base_url = url.to_string();
        }
        TargetPlatform::Connect(used)
    }

    fn for_reading(&self) -> Option<TargetPlatform> {
        let read = self.read.as_ref()?;
        Some(TargetPlatform::Connect(ConnectTarget {
            client_id_env: read.client_id_env.clone(),
            client_secret_env: read.client_secret_env.clone(),
            read: None,
            ..self.clone()
        }))
    }

    fn identity(&self) -> Vec<(&'static str, Option<&str>)> {
        vec![
            ("baseUrl", Some(&self.base_url)),
            ("tenantId", Some(&self.tenant_id)),
            ("clientIdEnv", Some(&self.client_id_env)),
            ("clientSecretEnv", Some(&self.client_secret_env)),
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
        let client_id = environment.variable(name, &self.client_id_env)?;
        let client_secret = environment.variable(name, &self.client_secret_env)?;
        client_secret.mask();
        let client = client::ConnectClient::new(
            name,
            self,
            endpoint,
            client_id.expose().to_string(),
            client_secret,
            options,
        )?;
        Ok(Box::new(client))
    }
}
