//! How the platform clients build an update, over real HTTP against the sandbox. None of the
//! three APIs offers a conditional write, so a client narrows the window in which another
//! writer's change can be overwritten: it builds each body from a read made right before the
//! write, from that read ∪ the additions only. Here another writer changes the object between
//! the applier's read and the client's write, and the result must keep that change.

use std::collections::BTreeMap;

use crate::support::*;
use serde_json::{Value, json};
use warrant::model::{DesiredObject, LiveObject, LiveState, Values, WriteOp};
use warrant::plan::gather::open_session;
use warrant::platform::{LiveOptions, LiveTarget, Session};

const ASSET_RULE_RUNNER: &str = "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c01";
const TENANT_VIEWER: &str = "9b1e2c3d-4f5a-4b6c-8d7e-0f1a2b3c4d05";
const BRANCH_SITE: &str = "e2a7c0f4-1b3d-4c5e-8f9a-0b1c2d3e4f5a";

async fn world() -> World {
    let g = generated(30, 4, 4);
    World::start(g.seed, &g.files).await
}

/// The desired objects of the plan whose address names are `names`, in that order.
async fn desired(world: &World, session: &Session, names: &[String]) -> Vec<DesiredObject> {
    let plan = world.plan(session).await;
    names
        .iter()
        .map(|n| {
            plan.changes
                .iter()
                .find(|c| &c.address.name == n)
                .unwrap_or_else(|| panic!("{n} is not in the plan"))
                .desired
                .clone()
        })
        .collect()
}

async fn read_one(client: &dyn LiveTarget, object: &DesiredObject) -> LiveObject {
    match client
        .read(std::slice::from_ref(object))
        .await
        .unwrap()
        .remove(0)
    {
        LiveState::Present { object } => object,
        other => panic!("{} is not live: {other:?}", object.address),
    }
}

/// The update the applier would send after reading `live`: these additions per field.
fn update(object: &DesiredObject, live: &LiveObject, add: &[(&str, &[&str])]) -> WriteOp {
    let additions = add
        .iter()
        .map(|(field, values)| {
            let values = values.iter().map(|v| v.to_string()).collect();
            (field.to_string(), values)
        })
        .collect();
    WriteOp::Update {
        address: object.address.clone(),
        live: live.clone(),
        additions,
    }
}

fn strings(value: &Value) -> Vec<String> {
    let mut out: Vec<String> = value
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_string())
        .collect();
    out.sort();
    out
}

fn sorted(values: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = values.iter().map(|v| v.to_string()).collect();
    out.sort();
    out
}

/// Another writer replaces lists of a CONNECT identity.
async fn connect_put(world: &World, id: &str, body: Value) {
    reqwest::Client::new()
        .put(format!(
            "{}/api/v1/Tenants/{TENANT}/AutomationIdentities/{id}",
            world.sandbox.connect
        ))
        .bearer_auth(world.connect_token().await)
        .json(&body)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
}

fn identity<'a>(world: &World, state: &'a Value, name: &str) -> &'a Value {
    let _ = world;
    find_object(state, "name", name).unwrap_or_else(|| panic!("{name} is gone"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_updates_only_the_lists_that_gain_values_over_a_fresh_read() {
    let world = world().await;
    let session = world.session();
    let client = session.client("connect-prod").unwrap();
    let names = ["gen-identity-0".to_string(), "gen-identity-2".to_string()];
    let objects = desired(&world, &session, &names).await;
    let (a, b) = (
        read_one(client, &objects[0]).await,
        read_one(client, &objects[1]).await,
    );
    let gets_before = world.sandbox.request_counts();

    // After the applier's read, someone else changes both lists of both identities.
    connect_put(
        &world,
        &a.id,
        json!({"Tags": ["foreign:a"], "RoleIds": [TENANT_MEMBER, TENANT_VIEWER]}),
    )
    .await;
    connect_put(
        &world,
        &b.id,
        json!({"Tags": ["foreign:b"], "RoleIds": [TENANT_VIEWER]}),
    )
    .await;

    let results = client
        .write(vec![
            update(&objects[0], &a, &[("roleIds", &[ASSET_RULE_RUNNER])]),
            update(&objects[1], &b, &[("tags", &["managed-by:warrant"])]),
        ])
        .await;
    for r in &results {
        assert!(r.is_ok(), "{r:?}");
    }

    let state = world.sandbox.state();
    let a_now = identity(&world, &state, "gen-identity-0");
    // The role is added to the roles as they are now; a role-only update sends Tags as null,
    // so the other writer's tags stand as they are.
    assert_eq!(
        strings(&a_now["roleIds"]),
        sorted(&[ASSET_RULE_RUNNER, TENANT_MEMBER, TENANT_VIEWER])
    );
    assert_eq!(strings(&a_now["tags"]), ["foreign:a"]);
    let b_now = identity(&world, &state, "gen-identity-2");
    // The tag is added to the tags as they are now, without writing back the owner:2 that
    // was removed since the read; the roles are left alone.
    assert_eq!(
        strings(&b_now["tags"]),
        sorted(&["foreign:b", "managed-by:warrant"])
    );
    assert_eq!(strings(&b_now["roleIds"]), [TENANT_VIEWER]);

    // One single-identity read per update, right before it.
    let route =
        "connect GET /api/v1/Tenants/{tenantId}/AutomationIdentities/{automationIdentityId}";
    let gets = |c: &BTreeMap<String, u64>| {
        c.iter()
            .filter(|(k, _)| k.starts_with("connect GET ") && k.ends_with('}'))
            .map(|(_, n)| *n)
            .sum::<u64>()
    };
    assert_eq!(
        gets(&world.sandbox.request_counts()) - gets(&gets_before),
        2,
        "expected two {route}: {:?}",
        world.sandbox.request_counts()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mist_adds_privileges_to_the_token_as_it_is_right_before_the_put() {
    let world = world().await;
    let session = world.session();
    let client = session.client("mist-prod").unwrap();
    let objects = desired(&world, &session, &["gen-token-0".to_string()]).await;
    let live = read_one(client, &objects[0]).await;

    // After the applier's read, someone replaces the token's privileges.
    reqwest::Client::new()
        .put(format!(
            "{}/api/v1/orgs/{ORG}/apitokens/{}",
            world.sandbox.mist, live.id
        ))
        .header("authorization", format!("Token {MIST_KEY}"))
        .json(&json!({"privileges": [
            {"role": "helpdesk", "scope": "site", "site_id": BRANCH_SITE}
        ]}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();

    let wanted = format!("write:site:{HQ_SITE}");
    let results = client
        .write(vec![update(
            &objects[0],
            &live,
            &[("privileges", &[wanted.as_str()])],
        )])
        .await;
    results.into_iter().next().unwrap().unwrap();

    let now = read_one(client, &objects[0]).await;
    let expected: Values = [format!("helpdesk:site:{BRANCH_SITE}"), wanted]
        .into_iter()
        .collect();
    // The other writer's privilege is kept and the read:org it removed is not written back.
    assert_eq!(now.fields["privileges"], expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_atlan_batch_that_waited_is_rebuilt_from_a_fresh_read() {
    let world = world().await;
    // One request at a time: the second bulk batch of 20 waits for the first.
    let live_options = LiveOptions {
        client: warrant::platform::ClientOptions {
            parallelism: 1,
            ..quick_client()
        },
        ..world.live.clone()
    };
    let session = open_session(&world.manifests, &[], &live_options).unwrap();
    let client = session.client("atlan-prod").unwrap();
    let names: Vec<String> = (0..21).map(|i| format!("gen-{i}")).collect();
    let objects = desired(&world, &session, &names).await;
    let states = client.read(&objects).await.unwrap();
    let lives: Vec<LiveObject> = states
        .into_iter()
        .map(|s| s.object().cloned().unwrap())
        .collect();
    let searches_before = world.sandbox.request_counts();

    // After the read, someone replaces the admins of gen-20, which is in the second batch.
    reqwest::Client::new()
        .post(format!("{}/api/meta/entity/bulk", world.sandbox.atlan))
        .bearer_auth(ATLAN_KEY)
        .json(&json!({"entities": [{
            "typeName": "Connection",
            "guid": "-1",
            "attributes": {
                "qualifiedName": objects[20].address.remote_key,
                "name": "gen-20",
                "adminUsers": ["foreign-admin"],
            },
        }]}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();

    let ops = objects
        .iter()
        .zip(&lives)
        .map(|(o, l)| update(o, l, &[("adminUsers", &[DBT_CLOUD, AIRFLOW])]))
        .collect();
    for r in client.write(ops).await {
        assert!(r.is_ok(), "{r:?}");
    }

    let state = world.sandbox.state();
    let admins = |i: usize| {
        let qn = &objects[i].address.remote_key;
        strings(&find_object(&state, "qualifiedName", qn).unwrap()["adminUsers"])
    };
    assert_eq!(admins(20), sorted(&[AIRFLOW, DBT_CLOUD, "foreign-admin"]));
    assert_eq!(
        admins(0),
        sorted(&[AIRFLOW, CI_PIPELINE, DBT_CLOUD, "owner-0"]),
        "the first batch is written from the applier's read"
    );
    let reads = |c: &BTreeMap<String, u64>, route: &str| {
        c.iter()
            .filter(|(k, _)| k.contains(route))
            .map(|(_, n)| *n)
            .sum::<u64>()
    };
    let after = world.sandbox.request_counts();
    // The batch that waited reads its connections again from the entity store (the search
    // index may lag behind a write made a moment ago), in one request.
    assert_eq!(
        reads(&after, "GET /api/meta/entity/bulk")
            - reads(&searches_before, "GET /api/meta/entity/bulk"),
        1,
        "only the batch that waited reads again"
    );
    assert_eq!(
        reads(&after, "indexsearch"),
        reads(&searches_before, "indexsearch"),
        "no read before a write goes through the search index"
    );
}
