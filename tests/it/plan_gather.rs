//! Making a plan around the pure diff, against fake live targets: filters, ordering,
//! per-target request counts, error collection, the recorded targets and the desired digest.

use std::collections::BTreeMap;
use std::sync::Mutex;

use futures::future::BoxFuture;
use warrant::manifest::Location;
use warrant::model::{CreateRule, DesiredField, DesiredObject, FieldPolicy, LiveState, SmallMap};
use warrant::plan::file::PlanFile;
use warrant::plan::gather::{Only, PlanError, desired_digest, make_plan};
use warrant::platform::{
    AtlanTarget, AutomationIdentitySpec, ConnectionAdminsSpec, ErrorKind, Export, LiveTarget,
    Manifests, MistTarget, Noted, PlatformError, RequestCounts, Resource, ResourceSpec, RoleRef,
    Session, Target, TargetPlatform, TokenRef,
};

fn at() -> Location {
    Location {
        file: "m.yaml".into(),
        line: 1,
        column: 1,
    }
}

fn manifests() -> Manifests {
    let atlan = |name: &str, tokens: &[&str]| Resource {
        name: name.into(),
        spec: ResourceSpec::ConnectionAdmins(ConnectionAdminsSpec {
            target: "atlan-prod".into(),
            connection: format!("default/x/{name}"),
            api_tokens: tokens
                .iter()
                .map(|t| TokenRef::Name(t.to_string()))
                .collect(),
            via: None,
        }),
        location: at(),
    };
    let identity = |name: &str| Resource {
        name: name.into(),
        spec: ResourceSpec::AutomationIdentity(AutomationIdentitySpec {
            target: "atlan-b".into(),
            name: None,
            roles: vec![
                RoleRef::Name("Tenant Member".into()),
                RoleRef::Id { id: "r-1".into() },
            ],
            tags: vec!["b".into(), "a".into()],
        }),
        location: at(),
    };
    Manifests {
        targets: vec![
            Target {
                name: "atlan-prod".into(),
                platform: TargetPlatform::Atlan(AtlanTarget {
                    read: None,
                    base_url: "https://acme.atlan.com".into(),
                    api_key_env: "ATLAN_API_KEY".into(),
                    requests_per_minute: 1800,
                    grant_via: Default::default(),
                    workspace_admins_may_change_connections: false,
                }),
                location: at(),
            },
            Target {
                name: "atlan-b".into(),
                platform: TargetPlatform::Mist(MistTarget {
                    read: None,
                    cloud: Some("emea01".into()),
                    base_url: None,
                    org_id: "o".into(),
                    api_token_env: "MIST_API_TOKEN".into(),
                    requests_per_hour: 5000,
                }),
                location: at(),
            },
        ],
        resources: vec![
            atlan("zeta", &["ci", "dbt"]),
            identity("runner"),
            atlan("alpha", &["ci"]),
        ],
        ..Manifests::default()
    }
}

/// Answers every resolve with one field holding the resource's name, reads everything as
/// absent (or fails), and counts one request per call.
#[derive(Debug)]
struct Fake {
    requests: Mutex<u64>,
    fail: bool,
}

impl Fake {
    fn new(fail: bool) -> Fake {
        Fake {
            requests: Mutex::new(10),
            fail,
        }
    }
    fn count(&self) {
        *self.requests.lock().unwrap() += 1;
    }
}

impl LiveTarget for Fake {
    fn resolve<'a>(
        &'a self,
        resources: &'a [&'a Resource],
    ) -> BoxFuture<'a, Result<Vec<DesiredObject>, PlatformError>> {
        self.count();
        let desired = resources
            .iter()
            .map(|r| DesiredObject {
                address: r.address(),
                fields: SmallMap::from([(
                    "f".to_string(),
                    DesiredField {
                        policy: FieldPolicy::Append,
                        values: [r.name.clone()].into(),
                        max_items: None,
                    },
                )]),
                create: CreateRule::Allowed,
                labels: SmallMap::new(),
                problems: vec![],
                key_sink: None,
                route: None,
                adopt: Default::default(),
            })
            .collect();
        Box::pin(async move { Ok(desired) })
    }
    fn read_noting<'a>(
        &'a self,
        objects: &'a [DesiredObject],
        _note_others: bool,
    ) -> BoxFuture<'a, Result<Noted, PlatformError>> {
        self.count();
        let states = if self.fail {
            Err(
                PlatformError::new("atlan-b", ErrorKind::Unavailable, "page 2 failed")
                    .with_status(503)
                    .with_hint("try again later"),
            )
        } else {
            Ok((
                objects.iter().map(|_| LiveState::Absent).collect(),
                Vec::new(),
            ))
        };
        Box::pin(async move { states })
    }
    fn write(
        &self,
        _ops: Vec<warrant::model::WriteOp>,
    ) -> BoxFuture<'_, Vec<Result<warrant::model::WriteOutcome, PlatformError>>> {
        unreachable!("planning never writes")
    }
    fn export(&self) -> BoxFuture<'_, Result<Export, PlatformError>> {
        unreachable!("planning never exports")
    }
    fn request_counts(&self) -> RequestCounts {
        let total = *self.requests.lock().unwrap();
        RequestCounts {
            total,
            by_endpoint: BTreeMap::from([("GET /x".to_string(), total)]),
        }
    }
}

/// A session of the two fake targets, with these `--endpoint` overrides.
fn session(fail_b: bool, endpoints: BTreeMap<String, String>) -> Session {
    let mut session = Session::of(BTreeMap::from([
        (
            "atlan-prod".to_string(),
            Box::new(Fake::new(false)) as Box<dyn LiveTarget>,
        ),
        ("atlan-b".to_string(), Box::new(Fake::new(fail_b))),
    ]));
    session.endpoints = endpoints;
    session
}

fn plan(
    only: &[Only],
    fail_b: bool,
    endpoints: BTreeMap<String, String>,
) -> Result<PlanFile, PlanError> {
    block(make_plan(&manifests(), only, &session(fail_b, endpoints)))
}

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn plan_is_ordered_by_target_kind_name_and_counts_only_its_own_requests() {
    let endpoints = BTreeMap::from([("atlan-prod".to_string(), "http://127.0.0.1:9".to_string())]);
    let made = plan(&[], false, endpoints).unwrap();
    let plan = &made.plan;
    let order: Vec<String> = plan
        .changes
        .iter()
        .map(|c| format!("{}:{}", c.address.target, c.address.short()))
        .collect();
    assert_eq!(
        order,
        [
            "atlan-b:AutomationIdentity/runner",
            "atlan-prod:ConnectionAdmins/alpha",
            "atlan-prod:ConnectionAdmins/zeta",
        ]
    );
    assert_eq!(plan.summary.create, 3);
    // Each fake started at 10 requests; the plan made 2 per target.
    assert_eq!(made.requests["atlan-prod"].total, 2);
    assert_eq!(made.requests["atlan-b"].by_endpoint["GET /x"], 2);
    assert_eq!(made.request_total(), 4);
    // The base URL actually used is recorded: the override, and the Mist cloud's URL.
    match &plan.targets["atlan-prod"] {
        TargetPlatform::Atlan(a) => assert_eq!(a.base_url, "http://127.0.0.1:9"),
        other => panic!("{other:?}"),
    }
    match &plan.targets["atlan-b"] {
        TargetPlatform::Mist(m) => {
            assert_eq!(m.base_url.as_deref(), Some("https://api.eu.mist.com"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(plan.warrant_version, env!("CARGO_PKG_VERSION"));
    assert!(
        plan.created_at.ends_with('Z') && plan.created_at.contains('T'),
        "{}",
        plan.created_at
    );
}

#[test]
fn only_filters_select_objects_and_are_recorded() {
    let only = Only::parse_all(&["ConnectionAdmins/zeta".into(), "target=atlan-b".into()]).unwrap();
    let plan = plan(&only, false, BTreeMap::new()).unwrap().plan;
    let names: Vec<&str> = plan
        .changes
        .iter()
        .map(|c| c.address.name.as_str())
        .collect();
    assert_eq!(names, ["runner", "zeta"]);
    assert_eq!(plan.only, ["ConnectionAdmins/zeta", "target=atlan-b"]);
}

#[test]
fn filters_that_match_nothing_or_do_not_parse_are_errors() {
    let only = Only::parse_all(&["ConnectionAdmins/nope".into()]).unwrap();
    let err = plan(&only, false, BTreeMap::new()).unwrap_err();
    assert!(
        err.to_string()
            .contains("--only ConnectionAdmins/nope matches no declared object"),
        "{err}"
    );
    for bad in ["Connection/x", "target=", "nokind", "OrgApiToken/"] {
        let err = Only::parse(bad).unwrap_err();
        assert!(
            matches!(err, PlanError::Filter(_)) && err.to_string().contains(bad),
            "{err}"
        );
    }
}

#[test]
fn a_failed_read_fails_the_plan_with_the_platform_error() {
    let err = plan(&[], true, BTreeMap::new()).unwrap_err();
    let PlanError::Platform(errors) = &err else {
        panic!("{err}")
    };
    assert_eq!(errors.len(), 1);
    assert!(
        err.to_string()
            .contains("target atlan-b: page 2 failed (HTTP 503); try again later"),
        "{err}"
    );
}

#[test]
fn digest_ignores_order_and_locations_but_not_content() {
    let m = manifests();
    let base = desired_digest(&m);
    assert!(base.starts_with("sha256:") && base.len() == 71);

    let mut reordered = m.clone();
    reordered.resources.reverse();
    reordered.targets.reverse();
    for r in &mut reordered.resources {
        r.location = Location {
            file: "other.yaml".into(),
            line: 40,
            column: 3,
        };
        if let ResourceSpec::AutomationIdentity(s) = &mut r.spec {
            s.tags.reverse();
            s.roles.reverse();
        }
    }
    assert_eq!(desired_digest(&reordered), base);

    let mut changed = m.clone();
    if let ResourceSpec::ConnectionAdmins(s) = &mut changed.resources[0].spec {
        s.api_tokens.push(TokenRef::Guid("g-1".into()));
    }
    assert_ne!(desired_digest(&changed), base);
    let mut retargeted = m;
    if let TargetPlatform::Atlan(a) = &mut retargeted.targets[0].platform {
        a.base_url = "https://other.atlan.com".into();
    }
    assert_ne!(desired_digest(&retargeted), base);
}
