//! A fixed plan over the ACME example world, built with the real `diff` from hand-written
//! desired and live objects: the input of the expected-output tests; and the comparison with
//! golden files.

use std::collections::BTreeMap;

use warrant::model::{
    Address, CreateRule, DesiredField, DesiredObject, FieldPolicy, Kind, LiveObject, LiveState,
    Reason, SmallMap, Values,
};
use warrant::plan::file::PlanFile;
use warrant::plan::{Plan, PlanMeta, diff};
use warrant::platform::{AtlanTarget, ConnectTarget, MistTarget, RequestCounts, TargetPlatform};
use warrant::secret::KeySink;

/// The kinds the platforms manage.
pub const CONNECTION_ADMINS: Kind = Kind::new("ConnectionAdmins");
pub const AUTOMATION_IDENTITY: Kind = Kind::new("AutomationIdentity");
pub const ORG_API_TOKEN: Kind = Kind::new("OrgApiToken");

pub fn values(v: &[&str]) -> Values {
    v.iter().map(|s| s.to_string()).collect()
}

pub fn append(v: &[&str]) -> DesiredField {
    DesiredField {
        policy: FieldPolicy::Append,
        values: values(v),
        max_items: None,
    }
}

pub fn address(kind: Kind, name: &str, target: &str, key: &str) -> Address {
    Address {
        kind,
        name: name.into(),
        target: target.into(),
        remote_key: key.into(),
    }
}

pub fn desired(address: Address, fields: Vec<(&str, DesiredField)>) -> DesiredObject {
    DesiredObject {
        address,
        fields: fields
            .into_iter()
            .map(|(k, f)| (k.to_string(), f))
            .collect(),
        create: CreateRule::Allowed,
        labels: SmallMap::new(),
        problems: Vec::new(),
        key_sink: None,
        route: None,
        adopt: Default::default(),
    }
}

pub fn live(id: &str, fields: Vec<(&str, &[&str])>) -> LiveState {
    LiveState::Present {
        object: LiveObject {
            id: id.into(),
            fields: fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), values(v)))
                .collect(),
            labels: SmallMap::new(),
            write_denied: None,
            extra: SmallMap::new(),
            made_outside_by: None,
        },
    }
}

const CI: &str = "service-account-apikey-0b6c2d4e-1111-4a5b-8c9d-0e1f2a3b4c5d";
const DBT: &str = "service-account-apikey-7e8f9a0b-2222-4c3d-9e8f-1a2b3c4d5e6f";
const AIRFLOW: &str = "service-account-apikey-3c4d5e6f-3333-4a7b-8c9d-2e3f4a5b6c7d";
const LOOKER: &str = "service-account-apikey-5d3c1a9e-2b7f-4c1d-9e8a-6f4b2c0d1e3a";
const LEGACY: &str = "service-account-apikey-9a8b7c6d-4444-4e5f-8a9b-3c4d5e6f7a8b";

fn labelled(mut d: DesiredObject, labels: &[(&str, &str)]) -> DesiredObject {
    d.labels = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    d
}

fn with_live_labels(mut l: LiveState, labels: &[(&str, &str)]) -> LiveState {
    if let LiveState::Present { object } = &mut l {
        object.labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    }
    l
}

/// Every kind of change: update, create, no-op with drift, and three conflicts; in its file,
/// with [`acme_requests`].
pub fn acme_plan() -> PlanFile {
    let mut changes = Vec::new();

    // Atlan: snowflake gets dbt-cloud (update; jsmith is drift).
    let d = labelled(
        desired(
            address(
                CONNECTION_ADMINS,
                "snowflake-prod",
                "atlan-prod",
                "default/snowflake/1700000001",
            ),
            vec![("adminUsers", append(&[CI, DBT]))],
        ),
        &[(CI, "ci-pipeline"), (DBT, "dbt-cloud")],
    );
    changes.push(diff(
        &d,
        &live("b1f2a3c4-0001", vec![("adminUsers", &["jsmith", CI])]),
    ));
    // bigquery: update, with drift in adminUsers and adminGroups.
    let d = labelled(
        desired(
            address(
                CONNECTION_ADMINS,
                "bigquery-analytics",
                "atlan-prod",
                "default/bigquery/1700000002",
            ),
            vec![("adminUsers", append(&[AIRFLOW, LOOKER]))],
        ),
        &[(AIRFLOW, "airflow-prod"), (LOOKER, "looker-sync")],
    );
    let l = with_live_labels(
        live(
            "b1f2a3c4-0002",
            vec![
                ("adminUsers", &["jsmith", LEGACY]),
                ("adminGroups", &["data-engineers"]),
            ],
        ),
        &[(LEGACY, "legacy-etl")],
    );
    changes.push(diff(&d, &l));
    // databricks: no-op.
    let d = labelled(
        desired(
            address(
                CONNECTION_ADMINS,
                "databricks-lakehouse",
                "atlan-prod",
                "default/databricks/1700000003",
            ),
            vec![("adminUsers", append(&[CI]))],
        ),
        &[(CI, "ci-pipeline")],
    );
    changes.push(diff(
        &d,
        &live("b1f2a3c4-0003", vec![("adminUsers", &[CI])]),
    ));
    // A connection that does not exist: conflict, never created.
    let mut d = desired(
        address(
            CONNECTION_ADMINS,
            "redshift-old",
            "atlan-prod",
            "default/redshift/1699999999",
        ),
        vec![("adminUsers", append(&[CI]))],
    );
    d.create = CreateRule::Never(Reason::Recorded(
        "connection default/redshift/1699999999 does not exist; warrant never creates connections"
            .into(),
    ));
    changes.push(diff(&d, &LiveState::Absent));

    // CONNECT: asset-rule-runner update, ingress-pipeline create, reporting-bot with an
    // unresolvable role.
    let role = |id: &str| id.to_string();
    let member = role("11111111-aaaa-4bbb-8ccc-000000000001");
    let rule_runner = role("11111111-aaaa-4bbb-8ccc-000000000002");
    let ingress = role("11111111-aaaa-4bbb-8ccc-000000000003");
    let d = labelled(
        desired(
            address(
                AUTOMATION_IDENTITY,
                "asset-rule-runner",
                "connect-prod",
                "asset-rule-runner",
            ),
            vec![
                ("roleIds", append(&[&member, &rule_runner])),
                ("tags", append(&["managed-by:warrant", "env:prod"])),
            ],
        ),
        &[
            (&member, "Tenant Member"),
            (&rule_runner, "Asset Rule Runner"),
        ],
    );
    changes.push(diff(
        &d,
        &live(
            "c0ffee00-0001",
            vec![
                ("roleIds", &[&member]),
                ("tags", &["managed-by:warrant", "owner:legacy-team"]),
            ],
        ),
    ));
    let d = labelled(
        desired(
            address(
                AUTOMATION_IDENTITY,
                "ingress-pipeline",
                "connect-prod",
                "ingress-pipeline",
            ),
            vec![
                ("roleIds", append(&[&member, &ingress])),
                (
                    "tags",
                    append(&["managed-by:warrant", "team:data-platform"]),
                ),
            ],
        ),
        &[(&member, "Tenant Member"), (&ingress, "Data Ingress")],
    );
    changes.push(diff(&d, &LiveState::Absent));
    let mut d = desired(
        address(
            AUTOMATION_IDENTITY,
            "reporting-bot",
            "connect-prod",
            "reporting-bot",
        ),
        vec![("roleIds", append(&[&member]))],
    );
    d.problems.push(Reason::Unresolved(
        "role \"Tenant Veiwer\" does not exist in tenant 7fc97c8b-8f60-4f29-af71-3178c414e7a0"
            .into(),
    ));
    changes.push(diff(&d, &LiveState::Absent));

    // Mist: monitoring-ro no-op, noc-automation with different srcIps (conflict), installer-app
    // create, and a name matching two tokens.
    let token = |d: DesiredObject, sink: &str| DesiredObject {
        key_sink: Some(KeySink::File(sink.into())),
        route: None,
        adopt: Default::default(),
        ..d
    };
    let d = token(
        desired(
            address(ORG_API_TOKEN, "monitoring-ro", "mist-prod", "monitoring-ro"),
            vec![
                (
                    "privileges",
                    DesiredField {
                        policy: FieldPolicy::Append,
                        values: values(&["read:org"]),
                        max_items: Some(10),
                    },
                ),
                (
                    "srcIps",
                    DesiredField {
                        policy: FieldPolicy::Immutable,
                        values: values(&[]),
                        max_items: None,
                    },
                ),
            ],
        ),
        "keys/monitoring-ro.key",
    );
    changes.push(diff(
        &d,
        &live("e5a1-0001", vec![("privileges", &["read:org"])]),
    ));
    let d = token(
        desired(
            address(
                ORG_API_TOKEN,
                "noc-automation",
                "mist-prod",
                "noc-automation",
            ),
            vec![
                (
                    "privileges",
                    DesiredField {
                        policy: FieldPolicy::Append,
                        values: values(&[
                            "write:site:d96e3952-53e8-4266-959a-45acd55f5114",
                            "read:sitegroup:581328b6-e382-f54e-c9dc-999983183a34",
                        ]),
                        max_items: Some(10),
                    },
                ),
                (
                    "srcIps",
                    DesiredField {
                        policy: FieldPolicy::Immutable,
                        values: values(&["63.3.56.0/24", "63.3.55.4/32"]),
                        max_items: None,
                    },
                ),
            ],
        ),
        "keys/noc-automation.key",
    );
    changes.push(diff(
        &d,
        &live(
            "e5a1-0002",
            vec![
                (
                    "privileges",
                    &["write:site:d96e3952-53e8-4266-959a-45acd55f5114"],
                ),
                ("srcIps", &["63.3.56.0/24"]),
            ],
        ),
    ));
    let d = token(
        desired(
            address(ORG_API_TOKEN, "installer-app", "mist-prod", "installer-app"),
            vec![(
                "privileges",
                DesiredField {
                    policy: FieldPolicy::Append,
                    values: values(&["installer:orgsites"]),
                    max_items: Some(10),
                },
            )],
        ),
        "keys/installer-app.key",
    );
    changes.push(diff(&d, &LiveState::Absent));
    let d = token(
        desired(
            address(ORG_API_TOKEN, "shared-bot", "mist-prod", "shared-bot"),
            vec![("privileges", append(&["read:org"]))],
        ),
        "keys/shared-bot.key",
    );
    changes.push(diff(
        &d,
        &LiveState::Ambiguous {
            ids: vec!["e5a1-0010".into(), "e5a1-0011".into()],
        },
    ));

    // Reverse, so the test also shows that Plan::new orders the changes.
    changes.reverse();
    PlanFile::new(Plan::new(acme_meta(), changes), acme_requests())
}

pub fn acme_meta() -> PlanMeta {
    let mut targets = BTreeMap::new();
    targets.insert(
        "atlan-prod".to_string(),
        TargetPlatform::Atlan(AtlanTarget {
            read: None,
            base_url: "https://acme.atlan.com".into(),
            api_key_env: "ATLAN_API_KEY".into(),
            requests_per_minute: 1800,
            grant_via: Default::default(),
            workspace_admins_may_change_connections: false,
        }),
    );
    targets.insert(
        "connect-prod".to_string(),
        TargetPlatform::Connect(ConnectTarget {
            read: None,
            base_url: "https://uswe.datahub.connect.aveva.com".into(),
            tenant_id: "7fc97c8b-8f60-4f29-af71-3178c414e7a0".into(),
            client_id_env: "CONNECT_CLIENT_ID".into(),
            client_secret_env: "CONNECT_CLIENT_SECRET".into(),
        }),
    );
    targets.insert(
        "mist-prod".to_string(),
        TargetPlatform::Mist(MistTarget {
            read: None,
            cloud: None,
            base_url: Some("https://api.mist.com".into()),
            org_id: "a40f5d1f-d889-42e9-94ea-b9b33585fc6b".into(),
            api_token_env: "MIST_API_TOKEN".into(),
            requests_per_hour: 5000,
        }),
    );
    PlanMeta {
        created_at: "2025-01-02T03:04:05Z".into(),
        git_commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
        desired_digest: "sha256:0000000000000000000000000000000000000000000000000000000000000000"
            .into(),
        manifests: vec!["manifests".into()],
        targets,
        only: Vec::new(),
    }
}

pub fn acme_requests() -> BTreeMap<String, RequestCounts> {
    let counts = |pairs: &[(&str, u64)]| RequestCounts {
        total: pairs.iter().map(|(_, n)| n).sum(),
        by_endpoint: pairs.iter().map(|(k, n)| (k.to_string(), *n)).collect(),
    };
    BTreeMap::from([
        (
            "atlan-prod".to_string(),
            counts(&[
                ("GET /api/service/apikeys", 1),
                ("POST /api/meta/search/indexsearch", 1),
            ]),
        ),
        (
            "connect-prod".to_string(),
            counts(&[
                ("POST /identity/connect/token", 1),
                ("GET /api/v1/Tenants/{id}/AutomationIdentities", 1),
                ("GET /api/v1/Tenants/{id}/Roles", 1),
            ]),
        ),
        (
            "mist-prod".to_string(),
            counts(&[
                ("GET /api/v1/orgs/{id}/apitokens", 1),
                ("GET /api/v1/self", 1),
            ]),
        ),
    ])
}

/// Compares `actual` with tests/golden/NAME, or rewrites the file when UPDATE_GOLDEN=1.
pub fn golden(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var("UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {} ({e}); run with UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    assert_eq!(
        actual,
        expected,
        "output differs from {}; if the change is intended, run with UPDATE_GOLDEN=1",
        path.display()
    );
}
