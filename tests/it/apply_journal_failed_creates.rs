//! How a journalled create that fails is recorded, through the library with a journal, behind
//! a scripted proxy in front of the Mist sandbox: a refusal of the create itself created
//! nothing (closed); any other failure may have created the token and is settled by the read
//! after the writes — absent means nothing was created (closed), present means a token without
//! its key (open, reported as needing rotation, a conflict in the next plan). A 403 is settled
//! by the read too: it may come from the listing a create makes after an unclear attempt. The
//! key never reaches the journal.

use std::sync::Arc;

use axum::http::Method;

use crate::fake_server::{FakeServer, Handler, answer, forward_then, rewrite_json};
use crate::support::{World, find_object, object_of};
use warrant::apply::journal::{self, Journal, KeyOutcome, Records};
use warrant::apply::{self, ApplyOptions, ApplyReport, Declared, Silent, Status};
use warrant::model::{CreateEnded, OpenCreate, Reason};
use warrant::plan::Action;
use warrant::plan::gather::{make_plan, open_session};

const CREATES: &str = "/api/v1/orgs/*/apitokens";

/// Plans the example world, then applies it with a journal while `script` answers the Mist
/// creates; returns the report, the journal's records, and the world.
async fn apply_with(script: impl Fn(&FakeServer)) -> (ApplyReport, Records, World) {
    let world = World::example().await;
    let mist = FakeServer::start(&world.sandbox.mist).await;
    let mut live = world.live.clone();
    live.endpoints
        .insert("mist-prod".to_string(), mist.url.clone());
    let session = open_session(&world.manifests, &[], &live).unwrap();
    let plan = make_plan(&world.manifests, &[], &session).await.unwrap();
    script(&mist);
    let path = world.dir().join(".warrant/journal.jsonl");
    let options = ApplyOptions {
        journal: Some(Arc::new(Journal::open(&path).unwrap())),
        ..world.options(64)
    };
    let declared = Declared::new(&world.manifests, &session.endpoints);
    let report = apply::apply_plan(&plan, &declared, &session, &options, &Silent)
        .await
        .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        !text.contains("SbxMist"),
        "a key reached the journal: {text}"
    );
    (report, journal::read(&path).unwrap(), world)
}

/// installer-app failed, nothing was created, no one is told to rotate anything, and its
/// journal record is closed.
fn assert_failed_and_closed_with_nothing_created(
    report: &ApplyReport,
    records: &Records,
    world: &World,
) {
    let installer = object_of(report, "installer-app");
    assert_eq!(installer.status, Status::Failed, "{installer:#?}");
    assert!(installer.action_required.is_none(), "{installer:#?}");
    assert!(records.open.is_empty(), "{:#?}", records.open);
    assert!(find_object(&world.sandbox.state(), "name", "installer-app").is_none());
}

fn always(handler: Handler) -> impl Fn(&FakeServer) {
    move |mist| mist.on(Method::POST, CREATES, handler.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_create_closes_its_record() {
    let (report, records, world) = apply_with(always(answer(
        400,
        &[("content-type", "application/json")],
        r#"{"detail":"invalid privilege"}"#,
    )))
    .await;
    assert_failed_and_closed_with_nothing_created(&report, &records, &world);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_that_keeps_failing_and_made_nothing_is_closed_by_the_read_after_it() {
    let (report, records, world) = apply_with(always(answer(502, &[], "bad gateway"))).await;
    let error = object_of(&report, "installer-app").error.clone();
    assert!(error.as_deref().unwrap_or("").contains("502"), "{error:?}");
    assert_failed_and_closed_with_nothing_created(&report, &records, &world);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_whose_answer_is_unreadable_but_made_the_token_stays_open() {
    // The token is created, but the answer loses its key: nobody has it.
    let (report, records, world) = apply_with(always(rewrite_json(|_, body| {
        if let Some(token) = body.as_object_mut() {
            token.remove("key");
        }
    })))
    .await;
    let live = find_object(&world.sandbox.state(), "name", "installer-app")
        .expect("the proxy forwarded the create")
        .clone();
    let id = live["id"].as_str().unwrap();

    let installer = object_of(&report, "installer-app");
    assert_eq!(installer.status, Status::Failed, "{installer:#?}");
    assert_eq!(installer.id.as_deref(), Some(id));
    let todo = installer.action_required.as_deref().unwrap_or_default();
    assert!(
        todo.contains("exists (id ")
            && todo.contains(
                "although its create failed: if this apply made it, its key was not captured"
            )
            && todo.contains("run `warrant journal resolve mist-prod/installer-app`"),
        "{todo}"
    );
    assert!(!world.keys().join("installer-app.key").exists());

    let open: Vec<(&str, Option<KeyOutcome>, Option<&str>)> = records
        .open
        .iter()
        .map(|r| {
            (
                r.address.remote_key.as_str(),
                r.outcome,
                r.created_id.as_deref(),
            )
        })
        .collect();
    assert!(
        open.contains(&("installer-app", Some(KeyOutcome::NotDelivered), Some(id))),
        "{open:#?}"
    );

    // The next plan makes it a conflict that names the token's id.
    let session = world.session();
    let mut plan = world.plan(&session).await;
    let elsewhere = journal::hold(&mut plan, &records);
    assert!(elsewhere.is_empty());
    let change = plan
        .changes
        .iter()
        .find(|c| c.address.name == "installer-app")
        .unwrap();
    assert_eq!(change.action, Action::Conflict);
    assert!(
        change.reasons.iter().any(|r| matches!(
            r,
            Reason::KeyMayBeLost(OpenCreate {
                ended: CreateEnded::KeyNotDelivered { id: Some(created) },
                ..
            }) if created == id
        ) && r.to_string().contains(&format!(
            "token installer-app (id {id}) was created by an apply"
        )) && r
            .to_string()
            .contains("but its key did not reach its sink; rotate it")),
        "{:#?}",
        change.reasons
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_create_is_settled_by_the_read_and_closed_when_nothing_exists() {
    let (report, records, world) = apply_with(always(answer(
        403,
        &[("content-type", "application/json")],
        r#"{"detail":"You do not have permission to perform this action."}"#,
    )))
    .await;
    assert_failed_and_closed_with_nothing_created(&report, &records, &world);
}

/// Someone else creates a token of that name between apply's read and its re-list: the create
/// is refused before it is sent, the record is closed, and nobody is told to rotate a token
/// that is not ours.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_refused_because_the_name_appeared_is_closed_and_names_no_rotation() {
    let (report, records, world) = apply_with(|mist| {
        mist.on_times(
            1,
            Method::GET,
            CREATES,
            forward_then(|exchange| {
                Box::pin(async move {
                    let body = serde_json::json!({
                        "name": "installer-app",
                        "privileges": [{"role": "read", "scope": "org"}]
                    });
                    let created = exchange
                        .upstream_request(Method::POST, &exchange.path, Some(body))
                        .await;
                    assert!(created.status.is_success(), "{:?}", created.body);
                })
            }),
        )
    })
    .await;
    let installer = object_of(&report, "installer-app");
    assert_eq!(installer.status, Status::Failed, "{installer:#?}");
    assert!(
        installer
            .error
            .as_deref()
            .unwrap_or("")
            .contains("appeared since the plan"),
        "{installer:#?}"
    );
    assert!(installer.action_required.is_none(), "{installer:#?}");
    let open: Vec<String> = records.open.iter().map(|r| r.handle()).collect();
    assert!(
        !open.contains(&"mist-prod/installer-app".to_string()),
        "{open:?}"
    );
    let state = world.sandbox.state();
    let named = state["mist"]["orgs"][0]["apiTokens"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["name"] == "installer-app")
        .count();
    assert_eq!(named, 1, "a duplicate was created");
}
