//! Juniper Mist (contracts/mist.md): org API tokens with their privileges and source-IP
//! limits.
//!
//! Everything warrant knows about Mist lives here: the `mist` Target settings and
//! `kind: OrgApiToken` with their rules (`spec.rs`), the Mist clouds and the base URL each
//! implies ([`CLOUDS`]), the privilege (`privilege.rs`), and the client that reads tokens,
//! creates them (their key goes to the manifest's key sink) and adds privileges
//! (`client.rs`). Its simulator is `crate::sandbox::mist`.

mod client;
mod privilege;
mod spec;

use super::{
    ClientOptions, Definition, Environment, ErrorKind, LiveTarget, PlatformError, ResourceSpec,
    TargetPlatform, TargetSettings,
};
use crate::manifest::RemoteKey;
use crate::model::Kind;

pub use spec::{MistRead, MistRole, MistScope, MistTarget, OrgApiTokenSpec, PrivilegeSpec};

/// The key of Mist under a Target's `spec:`.
const NAME: &str = "mist";
/// The kind Mist manages.
pub(crate) const KIND: Kind = Kind::new("OrgApiToken");
/// Mist allows at most 10 privileges per token.
const MAX_PRIVILEGES: usize = 10;

/// Mist cloud names accepted by `Target.spec.mist.cloud`, with their API base URLs
/// (contracts/mist.md §4).
const CLOUDS: &[(&str, &str)] = &[
    ("global01", "https://api.mist.com"),
    ("global02", "https://api.gc1.mist.com"),
    ("global03", "https://api.ac2.mist.com"),
    ("global04", "https://api.gc2.mist.com"),
    ("global05", "https://api.gc4.mist.com"),
    ("emea01", "https://api.eu.mist.com"),
    ("emea02", "https://api.gc3.mist.com"),
    ("emea03", "https://api.ac6.mist.com"),
    ("emea04", "https://api.gc6.mist.com"),
    ("apac01", "https://api.ac5.mist.com"),
    ("apac02", "https://api.gc5.mist.com"),
    ("apac03", "https://api.gc7.mist.com"),
    ("govcloud", "https://api.us.mist-federal.com"),
];

/// The API base URL of a Mist cloud name.
fn cloud_base_url(cloud: &str) -> Option<&'static str> {
    CLOUDS.iter().find(|(n, _)| *n == cloud).map(|(_, u)| *u)
}

/// Mist, in the list of platforms.
pub(crate) static PLATFORM: Definition<MistTarget, OrgApiTokenSpec> = Definition {
    name: NAME,
    kind: KIND,
    noun: "org API token",
    short_noun: "token",
    remote_key: RemoteKey::FieldOrName("name"),
    same_object: str::to_string,
    has_key_sink: true,
    target_example: "mist: {cloud: global01, orgId: <UUID>}",
    schema_file: "org-api-token.schema.json",
    export_file: "org-api-tokens.yaml",
    target: TargetPlatform::Mist,
    spec: ResourceSpec::OrgApiToken,
};

impl TargetSettings for MistTarget {
    /// A cloud name becomes the base URL it stands for.
    fn as_used(&self, endpoint: Option<&str>) -> TargetPlatform {
        let mut used = self.clone();
        let cloud_url = self.cloud.as_deref().and_then(cloud_base_url);
        if let Some(url) = endpoint.or(cloud_url) {
            used.base_url = Some(url.to_string());
            used.cloud = None;
        }
        TargetPlatform::Mist(used)
    }

    fn for_reading(&self) -> Option<TargetPlatform> {
        let read = self.read.as_ref()?;
        Some(TargetPlatform::Mist(MistTarget {
            api_token_env: read.api_token_env.clone(),
            read: None,
            ..self.clone()
        }))
    }

    fn identity(&self) -> Vec<(&'static str, Option<&str>)> {
        vec![
            ("baseUrl", self.base_url.as_deref()),
            ("cloud", self.cloud.as_deref()),
            ("orgId", Some(&self.org_id)),
            ("apiTokenEnv", Some(&self.api_token_env)),
        ]
    }

    fn heading(&self) -> String {
        let url = self
            .base_url
            .as_deref()
            .or(self.cloud.as_deref())
            .unwrap_or("?");
        format!("{NAME}, {url}")
    }

    fn open(
        &self,
        name: &str,
        endpoint: Option<&str>,
        environment: &Environment,
        options: &ClientOptions,
    ) -> Result<Box<dyn LiveTarget>, PlatformError> {
        let api_token = environment.variable(name, &self.api_token_env)?;
        api_token.mask();
        let base = endpoint
            .or(self.base_url.as_deref())
            .or_else(|| self.cloud.as_deref().and_then(cloud_base_url))
            .ok_or_else(|| {
                PlatformError::new(
                    name,
                    ErrorKind::Other,
                    format!(
                        "no base URL: cloud {:?} is not a known Mist cloud and no baseUrl is set",
                        self.cloud.as_deref().unwrap_or("")
                    ),
                )
            })?;
        let client = client::MistClient::new(name, self, base, api_token, options)?;
        Ok(Box::new(client))
    }
}
