//! What Mist manifests declare: the `mist` settings of a Target (with their defaults) and
//! `kind: OrgApiToken`, as serde + schemars types, and the rules they follow beyond their
//! shape.

use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CLOUDS, KIND, cloud_base_url};
use crate::manifest::{self, Doc, KeySinkSpec, Seg::I, Seg::K};
use crate::model::{Adopt, Kind};

/// A Juniper Mist organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("oneOf" = [
    {"required": ["cloud"], "not": {"required": ["baseUrl"]}},
    {"required": ["baseUrl"], "not": {"required": ["cloud"]}}
]))]
pub struct MistTarget {
    /// A Mist cloud name such as `global01`, `emea01`, `apac01`, `govcloud`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "cloud_schema")]
    pub cloud: Option<String>,
    /// Explicit API base URL, instead of `cloud`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = manifest::BASE_URL_PATTERN))]
    pub base_url: Option<String>,
    /// Organization id (UUID).
    #[schemars(regex(pattern = manifest::UUID_PATTERN))]
    pub org_id: String,
    /// Environment variable holding the org API token used by warrant.
    #[serde(default = "default_mist_token_env")]
    #[schemars(regex(pattern = manifest::ENV_NAME_PATTERN))]
    pub api_token_env: String,
    /// Client-side rate limit (Mist allows 5000 per hour per token).
    #[serde(default = "default_mist_rph")]
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub requests_per_hour: u32,
    /// Separate read-only credentials (an org token with the `read` role): `plan`, `drift`
    /// and `export` use them when set; `apply` always uses `apiTokenEnv`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<MistRead>,
}

/// The read-only credentials of a Mist Target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MistRead {
    /// Environment variable holding an org API token that can read the org's tokens.
    pub api_token_env: String,
}

/// `cloud`: one of the names of [`CLOUDS`], the one list the client also resolves them from.
fn cloud_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let names: Vec<&str> = CLOUDS.iter().map(|(name, _)| *name).collect();
    schemars::json_schema!({
        "description": "A Mist cloud name such as `global01`, `emea01`, `apac01`, `govcloud`.",
        "type": "string",
        "enum": names,
    })
}

fn default_mist_token_env() -> String {
    "MIST_API_TOKEN".into()
}

fn default_mist_rph() -> u32 {
    5000
}

/// `kind: OrgApiToken`: an org API token of a Mist organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrgApiTokenSpec {
    /// Name of a `mist` Target.
    #[schemars(regex(pattern = manifest::NOT_BLANK_PATTERN))]
    pub target: String,
    /// Token name; defaults to `metadata.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = manifest::NOT_BLANK_PATTERN))]
    pub name: Option<String>,
    /// 1 to 10 privileges.
    #[schemars(length(min = 1, max = super::MAX_PRIVILEGES), extend("uniqueItems" = true))]
    pub privileges: Vec<PrivilegeSpec>,
    /// 0 to 10 addresses or CIDRs the token may be used from; fixed at creation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 10),
        inner(regex(pattern = SRC_IP_PATTERN)),
        extend("uniqueItems" = true)
    )]
    pub src_ips: Vec<String>,
    /// Where the key goes when the token is created.
    pub key_sink: KeySinkSpec,
    /// What to do when a live token of this name was created outside warrant (its
    /// `created_by` is a person other than the token warrant uses): `always` (the default)
    /// takes it over, and the plan says so (warrant never had its key, so keySink is not
    /// written); `never` makes it a conflict that blocks apply for this token.
    #[serde(default, skip_serializing_if = "Adopt::is_always")]
    pub adopt: Adopt,
}

/// One Mist privilege.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("allOf" = [
    {
        "if": {"required": ["scope"], "properties": {"scope": {"const": "site"}}},
        "then": {"required": ["siteId"]},
        "else": {"not": {"required": ["siteId"]}}
    },
    {
        "if": {"required": ["scope"], "properties": {"scope": {"const": "sitegroup"}}},
        "then": {"required": ["sitegroupId"]},
        "else": {"not": {"required": ["sitegroupId"]}}
    }
]))]
pub struct PrivilegeSpec {
    pub role: MistRole,
    pub scope: MistScope,
    /// Required exactly when `scope: site`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = manifest::UUID_PATTERN))]
    pub site_id: Option<String>,
    /// Required exactly when `scope: sitegroup`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = manifest::UUID_PATTERN))]
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

impl manifest::Settings for MistTarget {
    fn platform_name(&self) -> &'static str {
        super::NAME
    }

    fn credential_variables(&self) -> Vec<&str> {
        let mut variables = vec![self.api_token_env.as_str()];
        variables.extend(self.read.iter().map(|r| r.api_token_env.as_str()));
        variables
    }

    fn check(&self, doc: &mut Doc) {
        let p = |f| [K("spec"), K("mist"), K(f)];
        match (&self.cloud, &self.base_url) {
            (Some(cloud), None) => {
                if cloud_base_url(cloud).is_none() {
                    let names: Vec<String> =
                        CLOUDS.iter().map(|(n, _)| format!("\"{n}\"")).collect();
                    doc.error(
                        &p("cloud"),
                        format!("unknown Mist cloud \"{cloud}\""),
                        Some(format!("one of {}", names.join(", "))),
                    );
                }
            }
            (None, Some(url)) => doc.base_url(&p("baseUrl"), url),
            (Some(_), Some(_)) => doc.error(
                &p("baseUrl"),
                "a mist Target takes either cloud or baseUrl, not both".into(),
                Some("keep `cloud` for a Mist cloud, or `baseUrl` for any other endpoint".into()),
            ),
            (None, None) => doc.error(
                &[K("spec"), K("mist")],
                "a mist Target needs cloud (e.g. global01) or baseUrl".into(),
                Some("add the cloud your organization lives in, e.g. `cloud: global01`".into()),
            ),
        }
        doc.uuid(&p("orgId"), "orgId", &self.org_id);
        doc.env_name(&p("apiTokenEnv"), "apiTokenEnv", &self.api_token_env);
        if let Some(read) = &self.read {
            doc.read_env_name(
                &[K("spec"), K("mist"), K("read"), K("apiTokenEnv")],
                "apiTokenEnv",
                &read.api_token_env,
                &[&self.api_token_env],
            );
        }
        doc.positive(
            &p("requestsPerHour"),
            "requestsPerHour",
            self.requests_per_hour,
        );
    }
}

impl manifest::Spec for OrgApiTokenSpec {
    fn kind(&self) -> Kind {
        KIND
    }

    fn target(&self) -> &str {
        &self.target
    }

    fn remote_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn check(&mut self, doc: &mut Doc, repository: &Path) {
        let count = self.privileges.len();
        if !(1..=super::MAX_PRIVILEGES).contains(&count) {
            doc.error(
                &[K("spec"), K("privileges")],
                format!("privileges must list 1 to 10 entries, found {count}"),
                Some(if count == 0 {
                    "add one, e.g. `- {role: read, scope: org}`".into()
                } else {
                    "a Mist token holds at most 10 privileges; split them over several tokens"
                        .into()
                }),
            );
        }
        for (i, p) in self.privileges.iter().enumerate() {
            let path = |f| [K("spec"), K("privileges"), I(i), K(f)];
            let needs_site = p.scope == MistScope::Site;
            let needs_group = p.scope == MistScope::Sitegroup;
            match (&p.site_id, needs_site) {
                (None, true) => doc.error(
                    &path("scope"),
                    "scope site needs siteId".into(),
                    Some("add `siteId: <UUID>`".into()),
                ),
                (Some(_), false) => doc.error(
                    &path("siteId"),
                    "siteId is only allowed with scope site".into(),
                    Some("remove siteId, or write `scope: site`".into()),
                ),
                (Some(id), true) => doc.uuid(&path("siteId"), "siteId", id),
                (None, false) => {}
            }
            match (&p.sitegroup_id, needs_group) {
                (None, true) => doc.error(
                    &path("scope"),
                    "scope sitegroup needs sitegroupId".into(),
                    Some("add `sitegroupId: <UUID>`".into()),
                ),
                (Some(_), false) => doc.error(
                    &path("sitegroupId"),
                    "sitegroupId is only allowed with scope sitegroup".into(),
                    Some("remove sitegroupId, or write `scope: sitegroup`".into()),
                ),
                (Some(id), true) => doc.uuid(&path("sitegroupId"), "sitegroupId", id),
                (None, false) => {}
            }
        }
        doc.no_duplicates("privileges", &self.privileges, "privilege");
        if self.src_ips.len() > 10 {
            doc.error(
                &[K("spec"), K("srcIps")],
                format!(
                    "srcIps may list at most 10 entries, found {}",
                    self.src_ips.len()
                ),
                Some("Mist accepts at most 10; cover neighbouring addresses with one CIDR".into()),
            );
        }
        let mut nets = Vec::new();
        for (i, ip) in self.src_ips.iter().enumerate() {
            let path = [K("spec"), K("srcIps"), I(i)];
            match parse_src_ip(ip) {
                Ok(net) => nets.push(net),
                Err((message, hint)) => doc.error(&path, message, hint),
            }
        }
        if nets.len() == self.src_ips.len() {
            doc.no_duplicates("srcIps", &nets, "address");
        }
        doc.key_sink(&mut self.key_sink, repository);
    }

    fn canonical(&self) -> serde_json::Value {
        let mut spec = self.clone();
        spec.privileges = manifest::sorted(&spec.privileges);
        spec.src_ips = manifest::sorted(&spec.src_ips);
        manifest::to_value(&spec)
    }

    fn key_sink_mut(&mut self) -> Option<&mut KeySinkSpec> {
        Some(&mut self.key_sink)
    }

    fn set_remote_name(&mut self, name: Option<String>) {
        self.name = name;
    }
}

/// The schema's form of [`parse_src_ip`]: an IPv4 address or CIDR, or (loosely) an IPv6 one.
/// Whether a CIDR's address is its network's base only `warrant validate` checks.
const SRC_IP_PATTERN: &str = r"^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(/(3[0-2]|[12]?[0-9]))?$|^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(/(12[0-8]|1[01][0-9]|[1-9]?[0-9]))?$";

/// An address or a CIDR whose address is its network's base; a bare address is a host net.
fn parse_src_ip(text: &str) -> Result<IpNet, (String, Option<String>)> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(IpNet::from(ip));
    }
    match text.parse::<IpNet>() {
        Ok(net) if net.trunc() == net => Ok(net),
        Ok(net) => Err((
            format!("srcIps entry \"{text}\" is not the base address of its network"),
            Some(format!("write {}", net.trunc())),
        )),
        Err(_) => Err((
            format!("srcIps entry \"{text}\" is not an IPv4/IPv6 address or CIDR"),
            Some("like 63.3.56.0/24 or 63.3.55.4".into()),
        )),
    }
}

/// An address in its normal form, or a CIDR as `network/prefix`. A host network (`/32`, or
/// `/128` for IPv6) is the address alone: `63.3.55.4/32` and `63.3.55.4` allow exactly the
/// same callers, so a live `/32` against a declared bare address is the same value, not a
/// change. IPv6 is written in its canonical (RFC 5952) form, so `2001:0db8::0001` is
/// `2001:db8::1`.
pub(super) fn canonical_ip(text: &str) -> Option<String> {
    let text = text.trim();
    if let Ok(addr) = text.parse::<IpAddr>() {
        return Some(addr.to_string());
    }
    let net = text.parse::<IpNet>().ok()?.trunc();
    if net.prefix_len() == net.max_prefix_len() {
        Some(net.addr().to_string())
    } else {
        Some(net.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_networks_are_canonical() {
        assert_eq!(canonical_ip("63.3.55.4").as_deref(), Some("63.3.55.4"));
        assert_eq!(
            canonical_ip("63.3.56.0/24").as_deref(),
            Some("63.3.56.0/24")
        );
        assert_eq!(canonical_ip("10.1.2.3/8").as_deref(), Some("10.0.0.0/8"));
        assert_eq!(
            canonical_ip("2001:0db8:0000::0001").as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(canonical_ip("63.3.55.4/32").as_deref(), Some("63.3.55.4"));
        assert_eq!(
            canonical_ip("2001:DB8:0:0::1/128").as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(
            canonical_ip("2001:db8:0:0:0:0:0:0/32").as_deref(),
            Some("2001:db8::/32")
        );
        assert_eq!(canonical_ip("0.0.0.0/0").as_deref(), Some("0.0.0.0/0"));
        assert_eq!(canonical_ip("not-an-ip"), None);
        assert_eq!(canonical_ip("10.0.0.1/33"), None);
    }
}
