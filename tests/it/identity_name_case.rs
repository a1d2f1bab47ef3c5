//! The CONNECT case rule of automation identity names, where a name meets a live one: a
//! declared `legacy-ingest` is the live `Legacy-Ingest` (CONNECT refuses a second identity
//! whose name differs only in case, as the sandbox does). The plan says update or no-op,
//! never create; apply adds to the live identity; and when a create meets an identity that
//! appeared since the read (a 409), that one identity is adopted.

use axum::http::Method;
use serde_json::{Value, json};
use warrant::apply::{ReportOutcome, Status};
use warrant::plan::Action;
use warrant::sandbox::Seed;

use crate::fake_server::{FakeServer, rewrite};
use crate::hostile_scripts::IDENTITIES;
use crate::support::*;

/// The identity the example seed calls `legacy-ingest`, as CONNECT stores it here.
const LIVE_NAME: &str = "Legacy-Ingest";
const LEGACY_INGEST_ID: &str = "c0a8e1f2-3b4c-4d5e-9f6a-7b8c9d0e1f02";
const DATA_INGRESS: &str = "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c02";

/// The example seed with `legacy-ingest` renamed `Legacy-Ingest`.
fn seed() -> Seed {
    let mut seed = Seed::example();
    let legacy = seed.connect.tenants[0]
        .automation_identities
        .iter_mut()
        .find(|i| i.id == LEGACY_INGEST_ID)
        .expect("the example seed has legacy-ingest");
    legacy.name = LIVE_NAME.into();
    seed
}

/// The example targets and `legacy-ingest` declared in lower case, with these tags.
fn manifests(tags: &str) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = example_manifests()
        .into_iter()
        .filter(|(name, _)| name == "targets.yaml")
        .collect();
    files.push((
        "legacy.yaml".into(),
        format!(
            "apiVersion: warrant/v1\nkind: AutomationIdentity\nmetadata: {{name: legacy-ingest}}\nspec:\n  target: connect-prod\n  roles: [Tenant Member, Data Ingress]\n  tags: {tags}\n"
        ),
    ));
    files
}

/// The live identities whose name is `legacy-ingest` in any case.
fn legacy_identities(state: &Value) -> Vec<Value> {
    state["connect"]["tenants"][0]["automationIdentities"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| {
            i["name"]
                .as_str()
                .unwrap_or("")
                .eq_ignore_ascii_case("legacy-ingest")
        })
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_name_finds_the_live_identity_that_differs_only_in_case() {
    // Declared as it is live: nothing to do.
    let world = World::start(seed(), &manifests("[team:legacy]")).await;
    let plan = world.plan(&world.session()).await;
    let change = &plan.changes[0];
    assert_eq!(change.address.remote_key, "legacy-ingest");
    assert_eq!(change.action, Action::NoOp, "{change:#?}");
    assert_eq!(change.live_id.as_deref(), Some(LEGACY_INGEST_ID));

    // Declared with one more tag: an update of the live identity, applied to it.
    let world = World::start(seed(), &manifests("[team:legacy, managed-by:warrant]")).await;
    let session = world.session();
    let plan = world.plan(&session).await;
    let change = &plan.changes[0];
    assert_eq!(change.action, Action::Update, "{change:#?}");
    assert_eq!(
        change.additions["tags"],
        ["managed-by:warrant".to_string()].into()
    );
    let report = world.apply(&plan, &session).await;
    assert_eq!(report.outcome, ReportOutcome::Success, "{report:#?}");
    let live = legacy_identities(&world.sandbox.state());
    assert_eq!(live.len(), 1, "{live:#?}");
    assert_eq!(live[0]["name"], LIVE_NAME);
    assert_eq!(live[0]["id"], LEGACY_INGEST_ID);
    assert_eq!(
        live[0]["tags"],
        json!(["managed-by:warrant", "team:legacy"])
    );
    assert_eq!(live[0]["roleIds"].as_array().unwrap().len(), 2);
    assert!(live[0]["roleIds"].to_string().contains(DATA_INGRESS));
    assert_converged(&world.plan(&session).await.plan);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_that_meets_the_identity_under_another_case_adopts_it() {
    // The identity is live as `Legacy-Ingest`, but the reads of the plan and of apply do not
    // show it (a proxy leaves it out of the first two listings): warrant creates
    // `legacy-ingest`, CONNECT answers 409, and the recovery's own read finds the one
    // identity of that name under the case rule, which is adopted: the name is the key.
    let world = World::start(seed(), &manifests("[team:legacy]")).await;
    let connect = FakeServer::start(&world.sandbox.connect).await;
    connect.on_times(
        2,
        Method::GET,
        IDENTITIES,
        rewrite(|_, answer| {
            let mut identities = answer.json();
            let items = identities.as_array_mut().expect("a list");
            let before = items.len();
            items.retain(|i| i["Name"] != LIVE_NAME);
            let hidden = (before - items.len()) as u64;
            answer.set_json(&identities);
            if let Some(total) = answer.header("Total-Count") {
                let total: u64 = total.parse().unwrap();
                answer.set_header("Total-Count", total - hidden);
            }
        }),
    );
    let mut live = world.live.clone();
    live.endpoints
        .insert("connect-prod".into(), connect.url.clone());
    let session = warrant::plan::gather::open_session(&world.manifests, &[], &live).unwrap();
    let plan = world.plan(&session).await;
    assert_eq!(plan.changes[0].action, Action::Create, "the proxy hid it");

    let report = world.apply(&plan, &session).await;
    let object = &report.objects[0];
    assert_eq!(object.status, Status::Applied, "{object:#?}");
    assert_eq!(object.id.as_deref(), Some(LEGACY_INGEST_ID));
    assert!(
        connect.seen().iter().any(|r| r.starts_with("POST")),
        "{:?}",
        connect.seen()
    );
    // No second identity, and no write to the adopted one: it already holds what is declared.
    let live = legacy_identities(&world.sandbox.state());
    assert_eq!(live.len(), 1, "{live:#?}");
    assert_eq!(live[0]["tags"], json!(["team:legacy"]));
    assert!(
        connect.seen().iter().all(|r| !r.starts_with("PUT")),
        "{:?}",
        connect.seen()
    );
}
