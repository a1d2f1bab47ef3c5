//! The three platform clients against the sandbox over real HTTP on 127.0.0.1: every read
//! and write path, the error mappings, retries under injected faults, the CONNECT token
//! refresh, Atlan batch isolation, and that no seeded secret is ever printed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use warrant::manifest::Location;
use warrant::model::{DesiredObject, LiveObject, LiveState, Reason, Values, WriteOp};
use warrant::platform::{
    AtlanTarget, AutomationIdentitySpec, ClientOptions, ConnectTarget, ConnectionAdminsSpec,
    Environment, ErrorKind, LiveTarget, MistRole, MistScope, MistTarget, OrgApiTokenSpec,
    PrivilegeSpec, Resource, ResourceSpec, RoleRef, TargetPlatform, TokenRef,
};
use warrant::sandbox::{self, Faults, SandboxHandle, Seed};

/// A client of one target of the test seed.
type Client = Box<dyn LiveTarget>;

const TENANT: &str = "7fc97c8b-8f60-4f29-af71-3178c414e7a0";
const ORG: &str = "a40f5d1f-d889-42e9-94ea-b9b33585fc6b";
const SITE: &str = "d96e3952-53e8-4266-959a-45acd55f5114";
const ATLAN_ADMIN_KEY: &str = "atlan-admin-key-Zq81";
const ATLAN_LIMITED_KEY: &str = "atlan-limited-key-Pw42";
const CONNECT_SECRET: &str = "connect-secret-Hk77";
const CONNECT_SHORT_SECRET: &str = "connect-short-secret-Lm09";
/// A Tenant Member, not an administrator: bound by the role-subset rule.
const CONNECT_MEMBER_SECRET: &str = "connect-member-secret-Jj55";
const MIST_KEY: &str = "mistOrgKey0123456789abcdefWXYZ";
const SEEDED_MIST_KEY: &str = "mistSeededKeyAAAABBBBCCCCDDDD";

const SEED: &str = r#"
atlan:
  callers:
    - {apiKey: atlan-admin-key-Zq81, username: service-account-apikey-warrant, roles: [$admin]}
    - {apiKey: atlan-limited-key-Pw42, username: service-account-apikey-limited, roles: [$member]}
  apiTokens:
    - {guid: 11111111-0000-0000-0000-000000000001, clientId: apikey-ci, displayName: ci-pipeline, createdAt: 1}
    - {guid: 11111111-0000-0000-0000-000000000002, clientId: apikey-dbt, displayName: dbt-cloud, createdAt: 2}
    - {guid: 11111111-0000-0000-0000-000000000003, clientId: apikey-bot1, displayName: shared-bot, createdAt: 3}
    - {guid: 11111111-0000-0000-0000-000000000004, clientId: apikey-bot2, displayName: shared-bot, createdAt: 4}
  # The warrant caller is a workspace admin; Atlan's rule makes it a connection admin only
  # through a connection's adminRoles, which name the $admin role here.
  connectionAdminRule: atlan
  connections:
    - {guid: c0000000-0000-0000-0000-000000000001, qualifiedName: default/snowflake/1, name: snow, connectorName: snowflake,
       adminUsers: [jsmith, service-account-apikey-limited], adminRoles: [0c54f4e3-4ff0-4b8b-9a7e-5d2c1b0a9f01]}
    - {guid: c0000000-0000-0000-0000-000000000002, qualifiedName: default/bigquery/2, name: bq, connectorName: bigquery,
       adminUsers: [jsmith, service-account-apikey-limited], adminGroups: [data-engineers], adminRoles: [0c54f4e3-4ff0-4b8b-9a7e-5d2c1b0a9f01]}
    - {guid: c0000000-0000-0000-0000-000000000003, qualifiedName: default/databricks/3, name: dbx, connectorName: databricks,
       adminUsers: [jsmith], adminRoles: [0c54f4e3-4ff0-4b8b-9a7e-5d2c1b0a9f01]}
connect:
  tenants:
    - id: 7fc97c8b-8f60-4f29-af71-3178c414e7a0
      uniqueIdentityNames: true
      roles:
        - {id: aaaaaaaa-0000-4000-8000-000000000001, name: Tenant Administrator, roleTypeId: 2dc742ab-39ea-4fc0-a39e-2bcb71c26a5f}
        - {id: aaaaaaaa-0000-4000-8000-000000000002, name: Tenant Member, roleTypeId: 7ad2b9ef-5386-4ead-ac9f-ad99c5c5b977}
        - {id: aaaaaaaa-0000-4000-8000-000000000003, name: Viewers (renamed), roleTypeId: e6cbf91e-0be8-4858-92b5-f88ecafd5574}
        - {id: aaaaaaaa-0000-4000-8000-000000000004, name: A Community Member, roleScope: 2, roleTypeId: f79a55da-7c76-4600-a809-0f62ca9971d9, communityId: ca}
        - {id: aaaaaaaa-0000-4000-8000-000000000005, name: B Community Member, roleScope: 2, roleTypeId: f79a55da-7c76-4600-a809-0f62ca9971d9, communityId: cb}
        - {id: aaaaaaaa-0000-4000-8000-000000000006, name: Asset Rule Runner}
      automationIdentities:
        - {id: bbbbbbbb-0000-4000-8000-000000000001, name: asset-rule-runner, roleIds: [aaaaaaaa-0000-4000-8000-000000000002], tags: ["managed-by:warrant"]}
        - {id: bbbbbbbb-0000-4000-8000-000000000002, name: legacy-ingest, roleIds: [aaaaaaaa-0000-4000-8000-000000000002]}
      clients:
        - {clientId: warrant-client, clientSecret: connect-secret-Hk77, roleIds: [aaaaaaaa-0000-4000-8000-000000000001, aaaaaaaa-0000-4000-8000-000000000002]}
        - {clientId: short-client, clientSecret: connect-short-secret-Lm09, roleIds: [aaaaaaaa-0000-4000-8000-000000000001], tokenLifetimeSeconds: 2}
        - {clientId: member-client, clientSecret: connect-member-secret-Jj55, roleIds: [aaaaaaaa-0000-4000-8000-000000000002]}
mist:
  orgs:
    - id: a40f5d1f-d889-42e9-94ea-b9b33585fc6b
      sites: [{id: d96e3952-53e8-4266-959a-45acd55f5114, name: hq}]
      apiTokens:
        - {id: 00000000-0000-0000-0000-0000000000aa, name: warrant, key: mistOrgKey0123456789abcdefWXYZ,
           privileges: [{role: admin, scope: org}]}
        - {id: 00000000-0000-0000-0000-0000000000bb, name: monitoring-ro, key: mistSeededKeyAAAABBBBCCCCDDDD,
           privileges: [{role: read, scope: org, views: [reporting]}], srcIps: [63.3.55.4, 63.3.56.0/24]}
        - {id: 00000000-0000-0000-0000-0000000000cc, name: twin, key: mistTwinKey1111111111111111111}
        - {id: 00000000-0000-0000-0000-0000000000dd, name: twin, key: mistTwinKey2222222222222222222}
"#;

const ALL_SECRETS: &[&str] = &[
    ATLAN_ADMIN_KEY,
    ATLAN_LIMITED_KEY,
    CONNECT_SECRET,
    CONNECT_SHORT_SECRET,
    CONNECT_MEMBER_SECRET,
    MIST_KEY,
    SEEDED_MIST_KEY,
];

fn options() -> ClientOptions {
    ClientOptions {
        backoff_base: Duration::from_millis(2),
        backoff_cap: Duration::from_millis(20),
        max_attempts: 10,
        ..ClientOptions::default()
    }
}

async fn start(faults: &str) -> SandboxHandle {
    start_seed(Seed::from_yaml(SEED).expect("test seed"), faults).await
}

async fn start_seed(seed: Seed, faults: &str) -> SandboxHandle {
    let faults: Faults = faults.parse().expect("fault spec");
    sandbox::start(seed, faults).await.expect("sandbox starts")
}

fn location() -> Location {
    Location {
        file: PathBuf::from("test.yaml"),
        line: 1,
        column: 1,
    }
}

fn atlan(sb: &SandboxHandle, key: &str) -> Client {
    TargetPlatform::Atlan(AtlanTarget {
        read: None,
        base_url: "https://acme.atlan.com".into(),
        api_key_env: "ATLAN_API_KEY".into(),
        requests_per_minute: 6000,
        grant_via: Default::default(),
        workspace_admins_may_change_connections: false,
    })
    .open(
        "atlan-prod",
        Some(&sb.atlan),
        &Environment::given([("ATLAN_API_KEY", key)]),
        &options(),
    )
    .expect("client")
}

fn connect(sb: &SandboxHandle, client_id: &str, secret: &str) -> Client {
    TargetPlatform::Connect(ConnectTarget {
        read: None,
        base_url: "https://uswe.datahub.connect.aveva.com".into(),
        tenant_id: TENANT.into(),
        client_id_env: "CONNECT_CLIENT_ID".into(),
        client_secret_env: "CONNECT_CLIENT_SECRET".into(),
    })
    .open(
        "connect-prod",
        Some(&sb.connect),
        &Environment::given([
            ("CONNECT_CLIENT_ID", client_id),
            ("CONNECT_CLIENT_SECRET", secret),
        ]),
        &options(),
    )
    .expect("client")
}

fn mist(sb: &SandboxHandle, key: &str) -> Client {
    mist_with(sb, key, &options())
}

fn mist_with(sb: &SandboxHandle, key: &str, options: &ClientOptions) -> Client {
    TargetPlatform::Mist(MistTarget {
        read: None,
        cloud: Some("global01".into()),
        base_url: None,
        org_id: ORG.into(),
        api_token_env: "MIST_API_TOKEN".into(),
        requests_per_hour: 100_000,
    })
    .open(
        "mist-prod",
        Some(&sb.mist),
        &Environment::given([("MIST_API_TOKEN", key)]),
        options,
    )
    .expect("client")
}

fn admins(name: &str, connection: &str, tokens: Vec<TokenRef>) -> Resource {
    Resource {
        name: name.into(),
        spec: ResourceSpec::ConnectionAdmins(ConnectionAdminsSpec {
            target: "atlan-prod".into(),
            connection: connection.into(),
            api_tokens: tokens,
            via: None,
        }),
        location: location(),
    }
}

fn identity(name: &str, roles: Vec<RoleRef>, tags: &[&str]) -> Resource {
    Resource {
        name: name.into(),
        spec: ResourceSpec::AutomationIdentity(AutomationIdentitySpec {
            target: "connect-prod".into(),
            name: None,
            roles,
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }),
        location: location(),
    }
}

fn token(name: &str, privileges: Vec<PrivilegeSpec>, src_ips: &[&str]) -> Resource {
    Resource {
        name: name.into(),
        spec: ResourceSpec::OrgApiToken(OrgApiTokenSpec {
            target: "mist-prod".into(),
            name: None,
            privileges,
            src_ips: src_ips.iter().map(|s| s.to_string()).collect(),
            key_sink: warrant::manifest::KeySinkSpec::file("/tmp/never-written"),
            adopt: Default::default(),
        }),
        location: location(),
    }
}

fn privilege(role: MistRole, scope: MistScope, site: Option<&str>) -> PrivilegeSpec {
    PrivilegeSpec {
        role,
        scope,
        site_id: site.map(str::to_string),
        sitegroup_id: None,
    }
}

fn values(items: &[&str]) -> Values {
    items.iter().map(|s| s.to_string()).collect()
}

fn present(state: &LiveState) -> &LiveObject {
    state
        .object()
        .unwrap_or_else(|| panic!("expected present, got {state:?}"))
}

/// The update the applier would send: the desired values of each field that are not live.
fn update(desired: &DesiredObject, live: &LiveState) -> WriteOp {
    let live = present(live).clone();
    let additions = desired
        .fields
        .iter()
        .filter(|(_, f)| f.policy == warrant::model::FieldPolicy::Append)
        .map(|(k, f)| {
            let had = live.fields.get(k).cloned().unwrap_or_default();
            (k.clone(), f.values.difference(&had).cloned().collect())
        })
        .collect();
    WriteOp::Update {
        address: desired.address.clone(),
        live,
        additions,
    }
}

fn create(desired: &DesiredObject) -> WriteOp {
    WriteOp::Create {
        desired: desired.clone(),
        fields: desired
            .fields
            .iter()
            .map(|(k, f)| (k.clone(), f.values.clone()))
            .collect(),
    }
}

/// The words of reasons.
fn words(reasons: &[warrant::model::Reason]) -> Vec<String> {
    reasons.iter().map(ToString::to_string).collect()
}

fn assert_no_secret(text: &str) {
    for s in ALL_SECRETS {
        assert!(!text.contains(s), "a secret was printed: {text}");
    }
}

// ---------------------------------------------------------------------------------- Atlan

#[tokio::test]
async fn atlan_resolves_reads_and_appends_admins() {
    let sb = start("").await;
    let client = atlan(&sb, ATLAN_ADMIN_KEY);
    let resources = [
        admins(
            "snow",
            "default/snowflake/1",
            vec![
                TokenRef::Name("ci-pipeline".into()),
                TokenRef::Guid("11111111-0000-0000-0000-000000000002".into()),
            ],
        ),
        admins(
            "bq",
            "default/bigquery/2",
            vec![TokenRef::Name("shared-bot".into())],
        ),
        admins(
            "bq-by-guid",
            "default/bigquery/2",
            vec![
                TokenRef::Guid("11111111-0000-0000-0000-000000000004".into()),
                TokenRef::Name("no-such-token".into()),
            ],
        ),
        admins(
            "missing",
            "default/snowflake/404",
            vec![TokenRef::Name("ci-pipeline".into())],
        ),
    ];
    let refs: Vec<&Resource> = resources.iter().collect();
    let desired = client.resolve(&refs).await.expect("resolve");
    assert_eq!(desired.len(), 4);
    assert_eq!(
        desired[0].fields["adminUsers"].values,
        values(&["service-account-apikey-ci", "service-account-apikey-dbt"])
    );
    assert_eq!(
        desired[0].labels["service-account-apikey-ci"],
        "ci-pipeline"
    );
    assert!(desired[0].problems.is_empty());
    assert_eq!(
        words(&desired[1].problems),
        vec!["ambiguous: 2 tokens named shared-bot; use guid".to_string()]
    );
    assert!(
        desired[2].fields["adminUsers"]
            .values
            .contains("service-account-apikey-bot2")
    );
    assert_eq!(desired[2].problems.len(), 1);
    assert!(desired[2].problems[0].to_string().contains("no-such-token"));

    let live = client.read(&desired).await.expect("read");
    let snow = present(&live[0]);
    assert_eq!(snow.id, "c0000000-0000-0000-0000-000000000001");
    assert_eq!(
        snow.fields["adminUsers"],
        values(&["jsmith", "service-account-apikey-limited"])
    );
    assert_eq!(snow.extra["name"], "snow");
    assert_eq!(snow.write_denied, None);
    assert_eq!(
        present(&live[1]).fields["adminGroups"],
        values(&["data-engineers"])
    );
    assert_eq!(live[3], LiveState::Absent);
    // One search for every connection, one whoami, and the token list.
    let counts = client.request_counts();
    assert_eq!(counts.by_endpoint["POST /api/meta/search/indexsearch"], 1);
    assert_eq!(counts.by_endpoint["GET /api/service/whoami"], 1);

    // Update: the union is written; a second identical write is a NOOP.
    let results = client.write(vec![update(&desired[0], &live[0])]).await;
    results.into_iter().next().unwrap().expect("update");
    let after = client.read(&desired[..1]).await.expect("read back");
    assert_eq!(
        present(&after[0]).fields["adminUsers"],
        values(&[
            "jsmith",
            "service-account-apikey-ci",
            "service-account-apikey-dbt",
            "service-account-apikey-limited"
        ])
    );
    let again = client.read(&desired[..1]).await.expect("read");
    let noop = client.write(vec![update(&desired[0], &again[0])]).await;
    let noop = noop.into_iter().next().unwrap().expect("noop");
    assert!(noop.created_id.is_none());

    // Groups are never touched by a write.
    let bq = client.write(vec![update(&desired[2], &live[2])]).await;
    bq.into_iter().next().unwrap().expect("bq update");
    let fresh = client.read(&desired[2..3]).await.expect("read");
    assert_eq!(
        present(&fresh[0]).fields["adminGroups"],
        values(&["data-engineers"])
    );

    // A create is refused without a request.
    let before = client.request_counts().total;
    let created = client.write(vec![create(&desired[3])]).await;
    let error = created.into_iter().next().unwrap().unwrap_err();
    assert!(
        error.message.contains("never creates connections"),
        "{error}"
    );
    assert_eq!(client.request_counts().total, before);
}

#[tokio::test]
async fn atlan_batch_isolates_the_forbidden_connection_and_writes_the_rest() {
    let sb = start("").await;
    let client = atlan(&sb, ATLAN_LIMITED_KEY);
    let resources = [
        admins(
            "a",
            "default/snowflake/1",
            vec![TokenRef::Name("ci-pipeline".into())],
        ),
        admins(
            "b",
            "default/databricks/3",
            vec![TokenRef::Name("ci-pipeline".into())],
        ),
        admins(
            "c",
            "default/bigquery/2",
            vec![TokenRef::Name("ci-pipeline".into())],
        ),
    ];
    let refs: Vec<&Resource> = resources.iter().collect();
    let desired = client.resolve(&refs).await.expect("resolve");
    let live = client.read(&desired).await.expect("read");
    // The plan can predict the refusal: the caller is not an admin of databricks.
    assert_eq!(present(&live[0]).write_denied, None);
    let denied = present(&live[1])
        .write_denied
        .as_ref()
        .expect("predicted")
        .to_string();
    assert!(
        denied.contains("service-account-apikey-limited")
            && denied.contains("default/databricks/3")
            && denied.contains("cannot be used to bypass security"),
        "{denied}"
    );

    let ops = desired
        .iter()
        .zip(&live)
        .map(|(d, l)| update(d, l))
        .collect();
    let results = client.write(ops).await;
    assert!(results[0].is_ok(), "{:?}", results[0]);
    assert!(results[2].is_ok(), "{:?}", results[2]);
    let error = results[1].as_ref().unwrap_err();
    assert_eq!(error.kind, ErrorKind::Forbidden);
    assert_eq!(error.status, Some(403));
    assert_eq!(error.code.as_deref(), Some("ATLAS-403-00-001"));
    // The refusal carries its typed reason, which the applier reports.
    assert!(
        matches!(error.reason.as_deref(), Some(Reason::NotConnectionAdmin { caller, connection })
            if caller == "service-account-apikey-limited" && connection == "default/databricks/3"),
        "{:?}",
        error.reason
    );
    let text = error.to_string();
    assert!(
        text.starts_with("target atlan-prod: the credential (service-account-apikey-limited) is not an admin of connection default/databricks/3, so it cannot add admins"),
        "{text}"
    );
    assert!(
        text.contains(
            "a connection admin must apply this, or run it with `via: workflow` as one (this cannot be used to bypass security)"
        )
    );

    let state = sb.state().to_string();
    assert!(state.contains("service-account-apikey-ci"));
    let fresh = client.read(&desired).await.expect("read");
    assert!(present(&fresh[0]).fields["adminUsers"].contains("service-account-apikey-ci"));
    assert!(present(&fresh[2]).fields["adminUsers"].contains("service-account-apikey-ci"));
    assert!(!present(&fresh[1]).fields["adminUsers"].contains("service-account-apikey-ci"));
}

#[tokio::test]
async fn atlan_refused_credentials_are_reported() {
    let sb = start("").await;
    let client = atlan(&sb, "wrong-key-Xx99");
    let resources = [admins(
        "a",
        "default/snowflake/1",
        vec![TokenRef::Name("ci-pipeline".into())],
    )];
    let refs: Vec<&Resource> = resources.iter().collect();
    let error = client.resolve(&refs).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Credentials);
    assert_eq!(error.status, Some(401));
    assert!(!error.to_string().contains("wrong-key-Xx99"));
}

// ---------------------------------------------------------------------------------- CONNECT

#[tokio::test]
async fn connect_resolves_roles_reads_creates_and_updates() {
    let sb = start("").await;
    let client = connect(&sb, "warrant-client", CONNECT_SECRET);
    let resources = [
        identity(
            "asset-rule-runner",
            vec![
                RoleRef::Name("Tenant Member".into()),
                RoleRef::Name("Asset Rule Runner".into()),
            ],
            &["managed-by:warrant", "env:prod"],
        ),
        identity(
            "new-bot",
            vec![
                RoleRef::Name("Tenant Viewer".into()),
                RoleRef::Id {
                    id: "aaaaaaaa-0000-4000-8000-000000000006".into(),
                },
            ],
            &["managed-by:warrant"],
        ),
        identity(
            "broken",
            vec![
                RoleRef::Name("Community Member".into()),
                RoleRef::Name("Nobody".into()),
                RoleRef::Id {
                    id: "aaaaaaaa-0000-4000-8000-000000000099".into(),
                },
            ],
            &[],
        ),
    ];
    let refs: Vec<&Resource> = resources.iter().collect();
    let desired = client.resolve(&refs).await.expect("resolve");
    assert_eq!(
        desired[0].fields["roleIds"].values,
        values(&[
            "aaaaaaaa-0000-4000-8000-000000000002",
            "aaaaaaaa-0000-4000-8000-000000000006"
        ])
    );
    // A built-in role is found by its role type, whatever its name in the tenant.
    assert_eq!(
        desired[1].fields["roleIds"].values,
        values(&[
            "aaaaaaaa-0000-4000-8000-000000000006",
            "aaaaaaaa-0000-4000-8000-000000000003"
        ])
    );
    assert_eq!(
        desired[1].labels["aaaaaaaa-0000-4000-8000-000000000003"],
        "Tenant Viewer"
    );
    assert_eq!(desired[2].problems.len(), 3, "{:?}", desired[2].problems);

    let live = client.read(&desired).await.expect("read");
    let runner = present(&live[0]);
    assert_eq!(runner.id, "bbbbbbbb-0000-4000-8000-000000000001");
    assert_eq!(runner.fields["tags"], values(&["managed-by:warrant"]));
    assert_eq!(
        runner.labels["aaaaaaaa-0000-4000-8000-000000000002"],
        "Tenant Member"
    );
    assert_eq!(live[1], LiveState::Absent);

    let results = client
        .write(vec![update(&desired[0], &live[0]), create(&desired[1])])
        .await;
    results[0].as_ref().expect("update");
    let read_back = client.read(&desired[..2]).await.expect("read back");
    let after = present(&read_back[0]);
    assert_eq!(
        after.fields["roleIds"],
        values(&[
            "aaaaaaaa-0000-4000-8000-000000000002",
            "aaaaaaaa-0000-4000-8000-000000000006"
        ])
    );
    assert_eq!(
        after.fields["tags"],
        values(&["env:prod", "managed-by:warrant"])
    );
    let created = results[1].as_ref().expect("create");
    let id = created.created_id.clone().expect("id");
    assert_eq!(present(&read_back[1]).id, id);

    // Creating it again: 409, re-listed, and the one identity of that name adopted.
    let again = client.write(vec![create(&desired[1])]).await;
    let adopted = again[0].as_ref().expect("adopted");
    assert_eq!(adopted.created_id.as_deref(), Some(id.as_str()));
    assert_eq!(
        client.request_counts().by_endpoint["POST /api/v1/Tenants/{tenantId}/AutomationIdentities"],
        2
    );

    let fresh = client.read(&desired[..2]).await.expect("read");
    assert_eq!(present(&fresh[1]).id, id);
    let pages =
        client.request_counts().by_endpoint["GET /api/v1/Tenants/{tenantId}/AutomationIdentities"];
    assert!(pages >= 2);
}

#[tokio::test]
async fn connect_refreshes_a_short_lived_token() {
    let sb = start("").await;
    let client = connect(&sb, "short-client", CONNECT_SHORT_SECRET);
    let resources = [identity(
        "asset-rule-runner",
        vec![RoleRef::Name("Tenant Member".into())],
        &[],
    )];
    let refs: Vec<&Resource> = resources.iter().collect();
    let desired = client.resolve(&refs).await.expect("resolve");
    client.read(&desired).await.expect("read");
    let tokens = |c: &Client| c.request_counts().by_endpoint["POST /identity/connect/token"];
    assert_eq!(tokens(&client), 1, "the token is cached");
    // The 2 s token is refreshed after half its lifetime, before the server would refuse it.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    client.read(&desired).await.expect("read after refresh");
    assert_eq!(tokens(&client), 2);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    client.read(&desired).await.expect("read after expiry");
}

#[tokio::test]
async fn connect_refused_client_is_a_credentials_error() {
    let sb = start("").await;
    let client = connect(&sb, "warrant-client", "not-the-secret-Qq11");
    let resources = [identity("x", vec![], &[])];
    let refs: Vec<&Resource> = resources.iter().collect();
    let error = client.resolve(&refs).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Credentials);
    assert!(error.code.is_some(), "{error:?}");
    assert!(!format!("{error} {error:?}").contains("not-the-secret-Qq11"));
}

// ---------------------------------------------------------------------------------- Mist

#[tokio::test]
async fn mist_reads_creates_with_a_secret_key_and_appends_privileges() {
    let sb = start("").await;
    let client = mist(&sb, MIST_KEY);
    let resources = [
        token(
            "monitoring-ro",
            vec![
                privilege(MistRole::Read, MistScope::Org, None),
                privilege(MistRole::Write, MistScope::Site, Some(SITE)),
            ],
            &["63.3.56.0/24", "63.3.55.4"],
        ),
        token(
            "noc-automation",
            vec![privilege(MistRole::Write, MistScope::Site, Some(SITE))],
            &["10.1.2.3/8"],
        ),
        token(
            "twin",
            vec![privilege(MistRole::Read, MistScope::Org, None)],
            &[],
        ),
    ];
    let refs: Vec<&Resource> = resources.iter().collect();
    let desired = client.resolve(&refs).await.expect("resolve");
    // Resolving is local but for one read of the token's own privileges.
    assert_eq!(client.request_counts().total, 1);
    assert_eq!(client.request_counts().by_endpoint["GET /api/v1/self"], 1);
    assert_eq!(
        desired[0].fields["privileges"].values,
        values(&["read:org", &format!("write:site:{SITE}")])
    );
    assert_eq!(desired[0].fields["privileges"].max_items, Some(10));
    assert_eq!(desired[1].fields["srcIps"].values, values(&["10.0.0.0/8"]));

    let live = client.read(&desired).await.expect("read");
    let ro = present(&live[0]);
    assert_eq!(ro.fields["privileges"], values(&["read:org"]));
    assert_eq!(ro.fields["srcIps"], values(&["63.3.55.4", "63.3.56.0/24"]));
    assert_eq!(live[1], LiveState::Absent);
    assert!(matches!(&live[2], LiveState::Ambiguous { ids } if ids.len() == 2));
    assert_eq!(client.request_counts().total, 2);

    let results = client
        .write(vec![update(&desired[0], &live[0]), create(&desired[1])])
        .await;
    results[0].as_ref().expect("update");
    let created = results[1].as_ref().expect("create");
    let key = created.secret.as_ref().expect("the key");
    assert!(key.expose().len() >= 8);
    let read_back = client.read(&desired[..2]).await.expect("read back");
    assert_eq!(
        present(&read_back[1]).fields["privileges"],
        values(&[&format!("write:site:{SITE}")])
    );
    let shown = format!("{:?} {:?} {:?}", results, client, sb);
    assert!(!shown.contains(key.expose()), "the new key was printed");
    assert_no_secret(&shown);

    let fresh = client.read(&desired[..2]).await.expect("read");
    assert_eq!(
        present(&fresh[0]).fields["privileges"],
        values(&["read:org", &format!("write:site:{SITE}")])
    );
    // The live privilege kept its views and the source IPs did not change.
    let state = sb.state().to_string();
    assert!(state.contains("reporting"));
    assert_eq!(
        present(&fresh[0]).fields["srcIps"],
        values(&["63.3.55.4", "63.3.56.0/24"])
    );
    assert_eq!(present(&fresh[1]).id, created.created_id.clone().unwrap());
}

#[tokio::test]
async fn mist_errors_carry_the_detail() {
    let sb = start("").await;
    let client = mist(&sb, "unknownKey000000000000000000");
    let error = client.read(&[]).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Credentials);
    assert_eq!(error.status, Some(401));
    // The sandbox's DRF body is {"detail": "Invalid token."}: its text reaches the error.
    assert!(error.message.contains("Invalid token."), "{error}");
    assert!(error.to_string().contains("Invalid token."), "{error}");
}

// ---------------------------------------------------------------------------------- faults

/// Reads and writes every platform three times; returns the requests the clients made and the
/// sandbox state afterwards.
async fn busy_scenario(faults: &str) -> (u64, SandboxHandle) {
    let sb = start(faults).await;
    let atlan = atlan(&sb, ATLAN_ADMIN_KEY);
    let connect = connect(&sb, "warrant-client", CONNECT_SECRET);
    let mist = mist(&sb, MIST_KEY);

    let a = [admins(
        "a",
        "default/databricks/3",
        vec![TokenRef::Name("dbt-cloud".into())],
    )];
    let c = [
        identity(
            "asset-rule-runner",
            vec![RoleRef::Name("Asset Rule Runner".into())],
            &[],
        ),
        identity(
            "fresh-one",
            vec![RoleRef::Name("Tenant Member".into())],
            &["x"],
        ),
    ];
    let m = [token(
        "made-under-faults",
        vec![privilege(MistRole::Read, MistScope::Org, None)],
        &[],
    )];
    for _ in 0..3 {
        let d = atlan
            .resolve(&a.iter().collect::<Vec<_>>())
            .await
            .expect("atlan resolve");
        let l = atlan.read(&d).await.expect("atlan read");
        let r = atlan.write(vec![update(&d[0], &l[0])]).await;
        r[0].as_ref().expect("atlan write");

        let d = connect
            .resolve(&c.iter().collect::<Vec<_>>())
            .await
            .expect("connect resolve");
        let l = connect.read(&d).await.expect("connect read");
        let mut ops = vec![update(&d[0], &l[0])];
        if l[1] == LiveState::Absent {
            ops.push(create(&d[1]));
        }
        for r in connect.write(ops).await {
            r.expect("connect write");
        }
    }
    let d = mist
        .resolve(&m.iter().collect::<Vec<_>>())
        .await
        .expect("mist resolve");
    let l = mist.read(&d).await.expect("mist read");
    assert_eq!(l[0], LiveState::Absent);
    // A create whose response is lost cannot recover its key: then it is an error, never a
    // duplicate.
    let _ = mist.write(vec![create(&d[0])]).await;

    let d = atlan.resolve(&a.iter().collect::<Vec<_>>()).await.unwrap();
    let l = atlan.read(&d).await.unwrap();
    assert_eq!(
        present(&l[0]).fields["adminUsers"],
        values(&["jsmith", "service-account-apikey-dbt"])
    );
    let requests =
        atlan.request_counts().total + connect.request_counts().total + mist.request_counts().total;
    (requests, sb)
}

#[tokio::test]
async fn reads_and_writes_survive_injected_faults() {
    let (clean, _) = busy_scenario("").await;
    let (faulty, sb) =
        busy_scenario("p500=0.15,p502=0.05,p503=0.05,p408=0.05,drop=0.1,seed=7").await;
    assert!(
        faulty > clean,
        "faults were injected and retried ({faulty} vs {clean} requests)"
    );
    let text = sb.state().to_string();
    assert_eq!(
        text.matches("\"fresh-one\"").count(),
        1,
        "exactly one identity created"
    );
    assert_eq!(
        text.matches("\"made-under-faults\"").count(),
        1,
        "exactly one token created"
    );
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out() {
    let sb = start("p429=0.5,retry_after=1,seed=3").await;
    let client = mist(&sb, MIST_KEY);
    let started = std::time::Instant::now();
    for _ in 0..4 {
        client.read(&[]).await.expect("read after waiting");
    }
    let requests = client.request_counts().total;
    assert!(requests > 4, "some 429s were injected ({requests})");
    assert!(started.elapsed() >= Duration::from_secs(requests - 4));
}

#[tokio::test]
async fn a_read_that_keeps_failing_is_an_error_not_absent() {
    let sb = start("p503=1.0").await;
    let client = connect(&sb, "warrant-client", CONNECT_SECRET);
    let error = client.read(&[]).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Unavailable);
    assert!(error.message.contains("gave up"), "{error}");
}

#[tokio::test]
async fn no_secret_appears_in_any_printed_form() {
    let sb = start("").await;
    let clients = [
        atlan(&sb, ATLAN_ADMIN_KEY),
        connect(&sb, "warrant-client", CONNECT_SECRET),
        mist(&sb, MIST_KEY),
    ];
    let mut shown = String::new();
    for c in &clients {
        shown.push_str(&format!("{c:?}\n"));
        match c.read(&[]).await {
            Ok(v) => shown.push_str(&format!("{v:?}\n")),
            Err(e) => shown.push_str(&format!("{e} {e:?}\n")),
        }
        shown.push_str(&format!("{:?}\n", c.request_counts()));
    }
    let environment = Environment::given([
        ("ATLAN_API_KEY", ATLAN_ADMIN_KEY),
        ("CONNECT_CLIENT_ID", "warrant-client"),
        ("CONNECT_CLIENT_SECRET", CONNECT_SECRET),
        ("MIST_API_TOKEN", MIST_KEY),
    ]);
    shown.push_str(&format!("{environment:?}"));
    let bad = [
        atlan(&sb, ATLAN_LIMITED_KEY),
        connect(&sb, "warrant-client", "x"),
        mist(&sb, "y"),
    ];
    for c in &bad {
        if let Err(e) = c.read(&[]).await {
            shown.push_str(&format!("{e} {e:?}\n"));
        }
    }
    assert!(shown.contains("warrant-client"));
    assert_no_secret(&shown);
    let _ = BTreeMap::<String, String>::new();
}

// ---------------------------------------------------------------------------------- more paths

/// The test seed with `n` more Atlan API tokens `bulk-<i>` (GUID `22222222-…-<i>`), created
/// after the seeded ones.
fn seed_with_atlan_tokens(n: usize) -> Seed {
    let mut seed = Seed::from_yaml(SEED).expect("test seed");
    seed.atlan
        .api_tokens
        .extend((0..n).map(|i| warrant::sandbox::seed::AtlanApiToken {
            guid: format!("22222222-0000-0000-0000-{i:012}"),
            client_id: format!("apikey-bulk-{i}"),
            display_name: format!("bulk-{i}"),
            description: String::new(),
            created_at: 100 + i as i64,
            created_by: "jsmith".into(),
            lifespan_seconds: 3600,
        }));
    seed
}

#[tokio::test]
async fn atlan_resolves_tokens_by_filtered_lookups_only() {
    // 2,000 tokens, and a tenant that refuses an unfiltered token list to a caller without
    // $admin: the limited credential resolves by filtered lookups alone, names and GUIDs each
    // batched with $in (120 names: 3 lookups of at most 50; 2 GUIDs: 1 lookup).
    let mut seed = seed_with_atlan_tokens(1996);
    seed.atlan.unfiltered_token_list_needs_admin = true;
    let sb = start_seed(seed, "").await;
    let client = atlan(&sb, ATLAN_LIMITED_KEY);
    let many: Vec<TokenRef> = (1000..1120)
        .map(|i| TokenRef::Name(format!("bulk-{i}")))
        .collect();
    let resources = [
        admins("many-by-name", "default/snowflake/1", many),
        admins(
            "by-guid",
            "default/bigquery/2",
            vec![
                TokenRef::Guid("22222222-0000-0000-0000-000000001900".into()),
                TokenRef::Guid("11111111-0000-0000-0000-000000000002".into()),
                // The same token by name and by GUID counts once.
                TokenRef::Name("dbt-cloud".into()),
                // Two tokens have this name: ambiguous, however it is looked up.
                TokenRef::Name("shared-bot".into()),
            ],
        ),
    ];
    let refs: Vec<&Resource> = resources.iter().collect();
    let desired = client.resolve(&refs).await.expect("resolve");
    assert!(desired[0].problems.is_empty(), "{:?}", desired[0].problems);
    assert_eq!(desired[0].fields["adminUsers"].values.iter().count(), 120);
    assert!(
        desired[0].fields["adminUsers"]
            .values
            .contains("service-account-apikey-bulk-1119")
    );
    assert_eq!(
        desired[1].fields["adminUsers"].values,
        values(&[
            "service-account-apikey-bulk-1900",
            "service-account-apikey-dbt"
        ])
    );
    assert_eq!(
        desired[1]
            .problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        vec!["ambiguous: 2 tokens named shared-bot; use guid".to_string()]
    );
    assert_eq!(
        desired[0].labels["service-account-apikey-bulk-1000"],
        "bulk-1000"
    );
    let counts = client.request_counts();
    // Names: 122 in batches of 50 (3); GUIDs: 1.
    assert_eq!(
        counts.by_endpoint["GET /api/service/apikeys"], 4,
        "{counts:?}"
    );
    assert_eq!(counts.total, 4);

    // The same tenant refuses this credential the whole list: a client that listed every
    // token would have failed above.
    let refused = reqwest::Client::new()
        .get(format!("{}/api/service/apikeys?limit=10", sb.atlan))
        .bearer_auth(ATLAN_LIMITED_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
}

#[tokio::test]
async fn mist_reads_every_token_across_x_page_pages() {
    let mut seed = Seed::from_yaml(SEED).expect("test seed");
    let org = &mut seed.mist.orgs[0];
    org.api_tokens
        .extend((0..6).map(|i| warrant::sandbox::seed::MistToken {
            id: format!("00000000-0000-0000-0000-0000000001{i:02}"),
            name: format!("bulk-{i}"),
            key: format!("mistBulkKey{i:020}"),
            privileges: vec![warrant::sandbox::seed::MistPrivilege {
                role: "read".into(),
                scope: "org".into(),
                site_id: None,
                sitegroup_id: None,
                views: Vec::new(),
            }],
            src_ips: Vec::new(),
            created_by: None,
            created_time: 0,
            last_used: None,
            requests_per_hour: None,
            user_email: None,
        }));
    // 10 tokens, 3 per page: 4 pages; the twins straddle pages 1 and 2.
    seed.mist.page_limit = Some(3);
    let sb = start_seed(seed, "").await;
    let client = mist(&sb, MIST_KEY);
    let read_org = || vec![privilege(MistRole::Read, MistScope::Org, None)];
    let resources = [
        token("monitoring-ro", read_org(), &[]),
        token("twin", read_org(), &[]),
        token("bulk-5", read_org(), &[]),
        token("bulk-6", read_org(), &[]),
    ];
    let refs: Vec<&Resource> = resources.iter().collect();
    let desired = client.resolve(&refs).await.expect("resolve");
    let live = client.read(&desired).await.expect("read");
    assert_eq!(present(&live[0]).id, "00000000-0000-0000-0000-0000000000bb");
    match &live[1] {
        LiveState::Ambiguous { ids } => assert_eq!(
            ids,
            &[
                "00000000-0000-0000-0000-0000000000cc".to_string(),
                "00000000-0000-0000-0000-0000000000dd".to_string()
            ]
        ),
        other => panic!("twin: {other:?}"),
    }
    // On the last page.
    assert_eq!(present(&live[2]).id, "00000000-0000-0000-0000-000000000105");
    assert_eq!(
        present(&live[2]).fields["privileges"],
        values(&["read:org"])
    );
    assert_eq!(live[3], LiveState::Absent);
    let counts = client.request_counts();
    assert_eq!(counts.total, 5, "4 pages and /self: {counts:?}");
    assert_eq!(
        sb.request_counts()["mist GET /api/v1/orgs/{org_id}/apitokens"],
        4
    );
}

#[tokio::test]
async fn connect_a_refused_update_is_forbidden_with_the_operation_id_and_a_hint() {
    let sb = start("").await;
    let client = connect(&sb, "member-client", CONNECT_MEMBER_SECRET);
    let resources = [identity(
        "asset-rule-runner",
        vec![
            RoleRef::Name("Tenant Member".into()),
            RoleRef::Name("Asset Rule Runner".into()),
        ],
        &[],
    )];
    let refs: Vec<&Resource> = resources.iter().collect();
    let desired = client.resolve(&refs).await.expect("resolve");
    let live = client.read(&desired).await.expect("read");
    // The read predicts the refusal from the caller's own roles, naming the role it lacks.
    let denied = present(&live[0])
        .write_denied
        .as_ref()
        .expect("predicted")
        .to_string();
    assert!(
        denied.contains("does not hold role \"Asset Rule Runner\";"),
        "{denied}"
    );
    // Written anyway (the applier would not), the server refuses it and names the role.
    let results = client.write(vec![update(&desired[0], &live[0])]).await;
    let error = results[0].as_ref().unwrap_err();
    assert!(
        error.message.contains(
            "Missing roles: \"Asset Rule Runner\" (aaaaaaaa-0000-4000-8000-000000000006)."
        ),
        "{error}"
    );
    assert_eq!(error.kind, ErrorKind::Forbidden);
    assert_eq!(error.status, Some(403));
    let code = error.code.as_deref().expect("the OperationId");
    assert!(uuid::Uuid::parse_str(code).is_ok(), "{code}");
    assert!(
        error
            .message
            .contains("A non-administrator caller must have all roles"),
        "{error}"
    );
    let hint = error.hint.as_deref().expect("a hint");
    assert!(
        hint.contains("a Tenant Administrator must apply this"),
        "{hint}"
    );
    let text = error.to_string();
    assert!(text.starts_with("target connect-prod: "), "{text}");
    assert!(text.contains(&format!("(HTTP 403, {code})")), "{text}");
    // Refused once, not retried, nothing changed.
    assert_eq!(
        sb.request_counts()["connect PUT /api/v1/Tenants/{tenant_id}/AutomationIdentities/{id}"],
        1
    );
    let roles = &sb.state()["connect"]["tenants"][0]["automationIdentities"][0]["roleIds"];
    assert_eq!(
        roles,
        &serde_json::json!(["aaaaaaaa-0000-4000-8000-000000000002"])
    );
}

#[tokio::test]
async fn mist_a_refused_update_is_forbidden_with_the_detail_and_a_hint() {
    let sb = start("").await;
    // monitoring-ro's own key: read on the org, so it may list but not write.
    let client = mist(&sb, SEEDED_MIST_KEY);
    let resources = [token(
        "monitoring-ro",
        vec![
            privilege(MistRole::Read, MistScope::Org, None),
            privilege(MistRole::Write, MistScope::Site, Some(SITE)),
        ],
        &["63.3.56.0/24", "63.3.55.4"],
    )];
    let refs: Vec<&Resource> = resources.iter().collect();
    let desired = client.resolve(&refs).await.expect("resolve");
    let live = client.read(&desired).await.expect("read");
    // The read predicts the refusal from the token's own privileges (`/self`).
    let denied = present(&live[0])
        .write_denied
        .as_ref()
        .expect("predicted")
        .to_string();
    assert!(
        denied.starts_with("this token can read but not change tokens"),
        "{denied}"
    );
    // Written anyway (the applier would not), the server refuses it.
    let results = client.write(vec![update(&desired[0], &live[0])]).await;
    let error = results[0].as_ref().unwrap_err();
    assert_eq!(error.kind, ErrorKind::Forbidden);
    assert_eq!(error.status, Some(403));
    assert!(
        error
            .message
            .contains("You do not have permission to perform this action."),
        "{error}"
    );
    let hint = error.hint.as_deref().expect("a hint");
    assert!(hint.contains("write or admin role"), "{hint}");
    assert_no_secret(&format!("{error} {error:?}"));
    assert_eq!(
        sb.request_counts()["mist PUT /api/v1/orgs/{org_id}/apitokens/{apitoken_id}"],
        1
    );
    let state = sb.state();
    let privileges = &state["mist"]["orgs"][0]["apiTokens"][1]["privileges"];
    assert_eq!(privileges.as_array().map(Vec::len), Some(1), "{privileges}");
}

#[tokio::test]
async fn a_request_that_times_out_is_retried_then_reported() {
    // Every Mist reply takes 2 s; the client waits 100 ms per attempt.
    let sb = start("mist.latency=2s").await;
    let options = ClientOptions {
        request_timeout: Duration::from_millis(100),
        max_attempts: 3,
        ..options()
    };
    let client = mist_with(&sb, MIST_KEY, &options);
    let error = client.read(&[]).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Unavailable);
    let text = error.to_string();
    assert!(text.starts_with("target mist-prod: GET "), "{text}");
    assert!(text.contains("/apitokens"), "{text}");
    assert!(text.contains("timed out"), "{text}");
    assert!(text.contains("gave up after 3 attempts"), "{text}");
    assert_eq!(client.request_counts().total, 3);
    assert_no_secret(&format!("{text} {error:?}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_reports_a_missing_credential_before_any_request() {
    let sb = sandbox::start(Seed::example(), Faults::default())
        .await
        .expect("sandbox starts");
    let endpoints = [
        ("atlan-prod", sb.atlan.clone()),
        ("connect-prod", sb.connect.clone()),
        ("mist-prod", sb.mist.clone()),
    ];
    let out = tokio::task::spawn_blocking(move || {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_warrant"));
        command
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["plan", "examples/manifests"])
            .env("NO_COLOR", "1")
            .envs(crate::support::variables(crate::support::ATLAN_KEY))
            .env_remove("MIST_API_TOKEN");
        for (t, url) in &endpoints {
            command.args(["--endpoint", &format!("{t}={url}")]);
        }
        command.output().expect("warrant runs")
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("MIST_API_TOKEN"), "{stderr}");
    assert!(stderr.contains("mist-prod"), "{stderr}");
    assert!(
        sb.request_counts().is_empty(),
        "requests were made: {:?}",
        sb.request_counts()
    );
}

#[tokio::test]
async fn atlan_looks_tokens_up_one_at_a_time_where_in_filters_are_refused() {
    // A tenant whose token list takes only `key: value` filters answers 400 to `$in`: the
    // client asks once per name instead, and resolves the same.
    let sb = start("").await;
    let fake = crate::fake_server::FakeServer::start(&sb.atlan).await;
    fake.on(
        axum::http::Method::GET,
        "/api/service/apikeys",
        crate::fake_server::rewrite(|exchange, upstream| {
            if exchange
                .query_value("filter")
                .is_some_and(|f| f.contains("$in"))
            {
                upstream.status = axum::http::StatusCode::BAD_REQUEST;
                upstream.set_json(&serde_json::json!({
                    "errorCode": "ATLAS-400-00-001", "errorMessage": "Unsupported filter"}));
            }
        }),
    );
    let client = TargetPlatform::Atlan(AtlanTarget {
        base_url: "https://acme.atlan.com".into(),
        api_key_env: "ATLAN_API_KEY".into(),
        requests_per_minute: 6000,
        grant_via: Default::default(),
        workspace_admins_may_change_connections: false,
        read: None,
    })
    .open(
        "atlan-prod",
        Some(&fake.url),
        &Environment::given([("ATLAN_API_KEY", ATLAN_ADMIN_KEY)]),
        &options(),
    )
    .expect("client");
    let resources = [admins(
        "three",
        "default/snowflake/1",
        vec![
            TokenRef::Name("ci-pipeline".into()),
            TokenRef::Name("dbt-cloud".into()),
            TokenRef::Name("shared-bot".into()),
        ],
    )];
    let refs: Vec<&Resource> = resources.iter().collect();
    let desired = client.resolve(&refs).await.expect("resolve");
    assert_eq!(
        desired[0].fields["adminUsers"].values,
        values(&["service-account-apikey-ci", "service-account-apikey-dbt"])
    );
    assert_eq!(
        desired[0]
            .problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        vec!["ambiguous: 2 tokens named shared-bot; use guid".to_string()]
    );
    // The refused $in lookup, then one per name.
    assert_eq!(
        client.request_counts().by_endpoint["GET /api/service/apikeys"],
        4
    );
}
