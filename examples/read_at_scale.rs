//! Measures how many requests and how much wall time the platform clients need to resolve
//! and read a large world from the sandbox with 20 ms latency per request:
//! 10,000 Atlan connections referenced by 30,000 grants, 10,000 CONNECT automation identities
//! and 1,000 Mist org tokens. The seed is built here, in code.
//!
//! Run: `cargo run --release --example read_at_scale` (optionally `-- LATENCY` such as `5ms`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use serde_json::json;
use warrant::manifest::{KeySinkSpec, Location};
use warrant::platform::{
    AtlanTarget, AutomationIdentitySpec, ClientOptions, ConnectTarget, ConnectionAdminsSpec,
    Environment, LiveOptions, LiveTarget, MistRole, MistScope, MistTarget, OrgApiTokenSpec,
    PrivilegeSpec, Resource, ResourceSpec, RoleRef, Session, TargetPlatform, TokenRef,
};
use warrant::sandbox::{self, Seed};

const CONNECTIONS: usize = 10_000;
const GRANTS_PER_CONNECTION: usize = 3;
const TOKENS: usize = 300;
const IDENTITIES: usize = 10_000;
const MIST_TOKENS: usize = 1_000;
const TENANT: &str = "7fc97c8b-8f60-4f29-af71-3178c414e7a0";
const ORG: &str = "a40f5d1f-d889-42e9-94ea-b9b33585fc6b";

fn uuid(prefix: u32, n: usize) -> String {
    format!("{prefix:08x}-0000-4000-8000-{n:012x}")
}

fn seed() -> Seed {
    let tokens: Vec<_> = (0..TOKENS)
        .map(|i| {
            json!({"guid": uuid(1, i), "clientId": format!("apikey-{}", uuid(2, i)),
                   "displayName": format!("token-{i}"), "createdAt": i})
        })
        .collect();
    let connections: Vec<_> = (0..CONNECTIONS)
        .map(|i| {
            json!({"guid": uuid(3, i), "qualifiedName": format!("default/snowflake/{i}"),
                   "name": format!("conn-{i}"), "connectorName": "snowflake",
                   "adminUsers": ["jsmith"]})
        })
        .collect();
    let roles = json!([
        {"id": uuid(4, 1), "name": "Tenant Administrator", "roleTypeId": "2dc742ab-39ea-4fc0-a39e-2bcb71c26a5f"},
        {"id": uuid(4, 2), "name": "Tenant Member", "roleTypeId": "7ad2b9ef-5386-4ead-ac9f-ad99c5c5b977"},
    ]);
    let identities: Vec<_> = (0..IDENTITIES)
        .map(|i| json!({"id": uuid(5, i), "name": format!("identity-{i}"), "roleIds": [uuid(4, 2)], "tags": ["env:prod"]}))
        .collect();
    let mut mist_tokens: Vec<_> = (0..MIST_TOKENS)
        .map(|i| {
            json!({"id": uuid(6, i), "name": format!("mist-token-{i}"),
                   "key": format!("mistKey{i:024}"), "privileges": [{"role": "read", "scope": "org"}]})
        })
        .collect();
    mist_tokens.push(
        json!({"id": uuid(7, 0), "name": "warrant", "key": "benchMistKeyWarrant0000000000",
                            "privileges": [{"role": "admin", "scope": "org"}]}),
    );
    let seed = json!({
        "atlan": {
            "callers": [{"apiKey": "bench-atlan-key", "username": "service-account-apikey-warrant", "roles": ["$admin"]}],
            "apiTokens": tokens,
            "connections": connections,
        },
        "connect": {"tenants": [{
            "id": TENANT, "roles": roles, "automationIdentities": identities,
            "clients": [{"clientId": "bench-client", "clientSecret": "bench-secret", "roleIds": [uuid(4, 1)]}],
        }]},
        "mist": {"requestsPerHour": 1_000_000, "orgs": [{"id": ORG, "apiTokens": mist_tokens}]},
    });
    Seed::from_yaml(&seed.to_string()).expect("the generated seed is valid")
}

fn location() -> Location {
    Location {
        file: PathBuf::from("bench"),
        line: 0,
        column: 0,
    }
}

fn resource(name: String, spec: ResourceSpec) -> Resource {
    Resource {
        name,
        spec,
        location: location(),
    }
}

async fn measure(label: &str, client: &dyn LiveTarget, resources: &[Resource]) {
    let refs: Vec<&Resource> = resources.iter().collect();
    let started = Instant::now();
    let desired = client.resolve(&refs).await.expect("resolve");
    let resolved = started.elapsed();
    let live = client.read(&desired).await.expect("read");
    let total = started.elapsed();
    let present = live.iter().filter(|l| l.object().is_some()).count();
    let counts = client.request_counts();
    println!(
        "{label}: {} objects ({present} present), {} requests, resolve {:.2}s, total {:.2}s",
        resources.len(),
        counts.total,
        resolved.as_secs_f64(),
        total.as_secs_f64()
    );
    for (endpoint, n) in &counts.by_endpoint {
        println!("    {n:>6}  {endpoint}");
    }
}

#[tokio::main]
async fn main() {
    let latency = std::env::args().nth(1).unwrap_or_else(|| "20ms".into());
    let faults = format!("latency={latency}").parse().expect("fault spec");
    let sb = sandbox::start(seed(), faults).await.expect("sandbox");
    let options = ClientOptions::default();
    println!(
        "sandbox latency {latency}, parallelism {}",
        options.parallelism
    );

    let targets = BTreeMap::from([
        (
            "atlan".to_string(),
            TargetPlatform::Atlan(AtlanTarget {
                read: None,
                base_url: sb.atlan.clone(),
                api_key_env: "ATLAN_API_KEY".into(),
                requests_per_minute: 1800,
                grant_via: Default::default(),
                workspace_admins_may_change_connections: false,
            }),
        ),
        (
            "connect".to_string(),
            TargetPlatform::Connect(ConnectTarget {
                read: None,
                base_url: sb.connect.clone(),
                tenant_id: TENANT.into(),
                client_id_env: "CONNECT_CLIENT_ID".into(),
                client_secret_env: "CONNECT_CLIENT_SECRET".into(),
            }),
        ),
        (
            "mist".to_string(),
            TargetPlatform::Mist(MistTarget {
                read: None,
                cloud: None,
                base_url: Some(sb.mist.clone()),
                org_id: ORG.into(),
                api_token_env: "MIST_API_TOKEN".into(),
                requests_per_hour: 5000,
            }),
        ),
    ]);
    let live = LiveOptions {
        credentials: Default::default(),
        endpoints: BTreeMap::new(),
        environment: Environment::given([
            ("ATLAN_API_KEY", "bench-atlan-key"),
            ("CONNECT_CLIENT_ID", "bench-client"),
            ("CONNECT_CLIENT_SECRET", "bench-secret"),
            ("MIST_API_TOKEN", "benchMistKeyWarrant0000000000"),
        ]),
        client: options,
    };
    let session = Session::open(&targets, &live).expect("clients");
    let client = |name: &str| session.client(name).expect("a client per target");
    let grants: Vec<Resource> = (0..CONNECTIONS)
        .map(|i| {
            let tokens = (0..GRANTS_PER_CONNECTION)
                .map(|g| TokenRef::Name(format!("token-{}", (i * 7 + g * 101) % TOKENS)))
                .collect();
            resource(
                format!("grant-{i}"),
                ResourceSpec::ConnectionAdmins(ConnectionAdminsSpec {
                    target: "atlan".into(),
                    connection: format!("default/snowflake/{i}"),
                    api_tokens: tokens,
                    via: None,
                }),
            )
        })
        .collect();
    measure(
        &format!("atlan ({} grants)", CONNECTIONS * GRANTS_PER_CONNECTION),
        client("atlan"),
        &grants,
    )
    .await;

    let identities: Vec<Resource> = (0..IDENTITIES)
        .map(|i| {
            resource(
                format!("identity-{i}"),
                ResourceSpec::AutomationIdentity(AutomationIdentitySpec {
                    target: "connect".into(),
                    name: None,
                    roles: vec![RoleRef::Name("Tenant Member".into())],
                    tags: vec!["env:prod".into()],
                }),
            )
        })
        .collect();
    measure("connect", client("connect"), &identities).await;

    let tokens: Vec<Resource> = (0..MIST_TOKENS)
        .map(|i| {
            resource(
                format!("mist-token-{i}"),
                ResourceSpec::OrgApiToken(OrgApiTokenSpec {
                    target: "mist".into(),
                    name: None,
                    privileges: vec![PrivilegeSpec {
                        role: MistRole::Read,
                        scope: MistScope::Org,
                        site_id: None,
                        sitegroup_id: None,
                    }],
                    src_ips: vec![],
                    key_sink: KeySinkSpec::file("/dev/null"),
                    adopt: Default::default(),
                }),
            )
        })
        .collect();
    measure("mist", client("mist"), &tokens).await;
}
