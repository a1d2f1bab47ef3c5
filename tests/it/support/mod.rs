//! The one harness of the integration tests.
//!
//! - The credentials of the example seed (examples/sandbox/seed.yaml, examples/WORLD.md),
//!   defined here once, with the environment variables examples/manifests/targets.yaml names
//!   for them ([`variables`]): the same for the library ([`environment`]) and for the
//!   `warrant` binary (its process environment).
//! - [`World`] (`world.rs`): the one sandbox world builder — a sandbox over real HTTP on
//!   loopback, manifests in a scratch directory, a library session, the binary as a
//!   subprocess — and what tests check of a sandbox's state (nothing lost, foreign writes
//!   kept).
//! - [`acme`]: a fixed plan over the ACME example world made with the real `diff`, and the
//!   golden-file comparison.
#![allow(dead_code)]

pub mod acme;
mod world;

pub use world::*;

use warrant::platform::Environment;
use warrant::sandbox::Seed;
use warrant::sandbox::seed::{ConnectIdentity, MistToken};

/// The `warrant-bot` API token: `$admin` of the Atlan tenant.
pub const ATLAN_KEY: &str = "sandbox-atlan-key-warrant-bot";
/// `jsmith`: not `$admin`, admin of the snowflake, bigquery and postgres connections only.
pub const JSMITH_KEY: &str = "sandbox-atlan-key-jsmith";
/// The id the sandbox gives the `$admin` workspace role: a connection whose `adminRoles` holds
/// it has every workspace admin (warrant-bot among them) as its admin.
pub const ADMIN_ROLE: &str = "0c54f4e3-4ff0-4b8b-9a7e-5d2c1b0a9f01";

/// The example seed where warrant-bot is also an admin of databricks (through the `$admin`
/// role), for tests that have it write there; in the example world it is not.
pub fn seed_with_bot_admin_of_databricks() -> warrant::sandbox::Seed {
    let mut seed = warrant::sandbox::Seed::example();
    let databricks = seed
        .atlan
        .connections
        .iter_mut()
        .find(|c| c.qualified_name == "default/databricks/1700000003")
        .expect("the example seed has databricks");
    databricks.admin_roles = vec![ADMIN_ROLE.into()];
    seed
}
/// warrant's CONNECT client: Tenant Administrator and Tenant Member.
pub const CONNECT_ID: &str = "2b7d4e9f-1c3a-4b5d-8e6f-0a9b8c7d6e5f";
pub const CONNECT_SECRET: &str = "sandbox-connect-secret-warrant";
/// A CONNECT client that is a Tenant Member only (the role-subset rule applies to it).
pub const CONNECT_MEMBER_ID: &str = "6e5d4c3b-2a19-4807-b6a5-948372615a0b";
pub const CONNECT_MEMBER_SECRET: &str = "sandbox-connect-secret-member";
/// warrant's Mist org token: admin/org.
pub const MIST_KEY: &str = "SbxMistWarrantAdminKey0000000000000001";
/// The `monitoring-ro` org token: read/org.
pub const MIST_READ_KEY: &str = "SbxMistMonitoringReadKey00000000000002";
/// The `old-script` org token: write on the hq site.
pub const MIST_SITE_KEY: &str = "SbxMistOldScriptKey0000000000000000003";

pub const TENANT: &str = "7fc97c8b-8f60-4f29-af71-3178c414e7a0";
pub const ORG: &str = "a40f5d1f-d889-42e9-94ea-b9b33585fc6b";
pub const HQ_SITE: &str = "d96e3952-53e8-4266-959a-45acd55f5114";
pub const TENANT_MEMBER: &str = "9b1e2c3d-4f5a-4b6c-8d7e-0f1a2b3c4d04";
pub const CI_PIPELINE: &str = "service-account-apikey-ac69de56-6529-4c8f-b53c-791cb5346308";
pub const DBT_CLOUD: &str = "service-account-apikey-4e1f7a2b-9c3d-4b8e-a5f6-0d1c2b3a4e5f";
pub const AIRFLOW: &str = "service-account-apikey-8d2c6b1a-3f4e-4a5b-9c6d-7e8f9a0b1c2d";

/// The variables examples/manifests/targets.yaml names, holding warrant's credentials in the
/// example seed, the Atlan one being `atlan_key`.
pub fn variables(atlan_key: &str) -> [(&'static str, &str); 4] {
    [
        ("ATLAN_API_KEY", atlan_key),
        ("CONNECT_CLIENT_ID", CONNECT_ID),
        ("CONNECT_CLIENT_SECRET", CONNECT_SECRET),
        ("MIST_API_TOKEN", MIST_KEY),
    ]
}

/// [`variables`] as the environment a library session reads credentials from.
pub fn environment(atlan_key: &str) -> Environment {
    Environment::given(variables(atlan_key))
}

/// The words of reasons, as every rendering shows them.
pub fn words(reasons: &[warrant::model::Reason]) -> Vec<String> {
    reasons.iter().map(ToString::to_string).collect()
}

/// `plan` in a file of its own (no request counts), sealed: its plan id set from its content.
/// What a test that edits a plan writes.
pub fn sealed(plan: warrant::plan::Plan) -> warrant::plan::file::PlanFile {
    warrant::plan::file::PlanFile::new(plan, Default::default())
}

/// Gives the example tenant a second automation identity named `asset-rule-runner` (the
/// tenant's names are not kept unique), so the name matches two live objects.
pub fn twin_identity(seed: &mut Seed) {
    let tenant = &mut seed.connect.tenants[0];
    tenant.unique_identity_names = false;
    let twin = ConnectIdentity {
        id: "c0a8e1f2-3b4c-4d5e-9f6a-7b8c9d0e1f99".into(),
        ..tenant.automation_identities[0].clone()
    };
    assert_eq!(twin.name, "asset-rule-runner");
    tenant.automation_identities.push(twin);
}

/// Gives the example org a second API token named `monitoring-ro`.
pub fn twin_mist_token(seed: &mut Seed) {
    let org = &mut seed.mist.orgs[0];
    let twin = MistToken {
        id: "497f6eca-6276-4993-bfeb-53efbbba6f99".into(),
        key: "SbxMistTwinKey000000000000000000000099".into(),
        ..org.api_tokens[1].clone()
    };
    assert_eq!(twin.name, "monitoring-ro");
    org.api_tokens.push(twin);
}

/// `text` (a plan file, or a rendering of one) with what differs from run to run replaced by
/// placeholders: each URL of `urls` by its name, and the values on the `plan_id`,
/// `created_at` and `git_commit` lines; `other` rewrites every other line.
pub fn per_run_hidden(text: &str, urls: &[(&str, &str)], other: impl Fn(&str) -> String) -> String {
    let mut text = text.to_string();
    for (url, name) in urls {
        text = text.replace(url, name);
    }
    let mut out = text
        .lines()
        .map(|line| {
            for key in ["plan_id", "created_at", "git_commit"] {
                let prefix = format!("\"{key}\": ");
                if let Some(at) = line.find(&prefix) {
                    let comma = if line.ends_with(',') { "," } else { "" };
                    return format!("{}{prefix}\"<{key}>\"{comma}", &line[..at]);
                }
            }
            other(line)
        })
        .collect::<Vec<_>>()
        .join("\n");
    out.push('\n');
    out
}
