//! CONNECT and Mist as the real services behave, from warrant's side (issue 15, items 5–13):
//! the role-subset rule and a read-only Mist token predicted at plan time, the 403 that names
//! the missing roles, tags compared exactly, a 409 on create that adopts only the one
//! identity of that name, complete listings under a page clamp, a Mist PUT that keeps the
//! token's `src_ips` even where PUT replaces, a verification that no value was lost, host
//! networks compared as addresses, credentials with a trailing newline, and writes whose
//! answer is lost.

use axum::http::Method;
use serde_json::{Value, json};
use warrant::apply::{ReportOutcome, Status};
use warrant::plan::Action;
use warrant::plan::gather::open_session;
use warrant::platform::{Environment, LiveOptions, Session};
use warrant::sandbox::seed::{MistPrivilege, MistToken};
use warrant::sandbox::{Faults, Seed};

use crate::fake_server::{FakeServer, answer, rewrite_forward};
use crate::hostile_scripts::{IDENTITIES, TOKEN};
use crate::support::acme::values;
use crate::support::*;

const TARGETS: &str = "targets.yaml";

/// The example Target documents and one more file.
fn with_targets(name: &str, text: &str) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = example_manifests()
        .into_iter()
        .filter(|(n, _)| n == TARGETS)
        .collect();
    files.push((name.into(), text.into()));
    files
}

/// The example manifests' targets and CONNECT identities only.
fn connect_manifests() -> Vec<(String, String)> {
    example_manifests()
        .into_iter()
        .filter(|(n, _)| n == TARGETS || n == "connect.yaml")
        .collect()
}

/// The example manifests' targets and Mist tokens only.
fn mist_manifests() -> Vec<(String, String)> {
    example_manifests()
        .into_iter()
        .filter(|(n, _)| n == TARGETS || n == "mist.yaml")
        .collect()
}

/// A session of `world` whose credentials are the example ones with `changes` applied.
fn session_with(world: &World, changes: &[(&str, &str)]) -> Session {
    let mut vars: Vec<(&str, &str)> = variables(ATLAN_KEY).to_vec();
    for (name, value) in changes {
        vars.retain(|(n, _)| n != name);
        vars.push((name, value));
    }
    let live = LiveOptions {
        environment: Environment::given(vars),
        ..world.live.clone()
    };
    open_session(&world.manifests, &[], &live).unwrap()
}

/// The session's world again, with `target`'s requests going through `proxy`.
fn session_through(world: &World, target: &str, proxy: &FakeServer) -> Session {
    let mut live = world.live.clone();
    live.endpoints.insert(target.into(), proxy.url.clone());
    open_session(&world.manifests, &[], &live).unwrap()
}

fn change<'p>(plan: &'p warrant::plan::Plan, name: &str) -> &'p warrant::plan::Change {
    plan.changes
        .iter()
        .find(|c| c.address.name == name)
        .unwrap_or_else(|| panic!("no change for {name}"))
}

fn requests(plan: &warrant::plan::file::PlanFile, target: &str, endpoint: &str) -> u64 {
    plan.requests[target]
        .by_endpoint
        .get(endpoint)
        .copied()
        .unwrap_or(0)
}

// ------------------------------------------------------------------ CONNECT: role-subset rule

const OWN_ROLES: &str = "GET /api/v1/Tenants/{tenantId}/ClientCredentialClients/{clientId}/Roles";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_administrator_plan_shows_the_roles_it_cannot_give_by_name() {
    let world = World::start(Seed::example(), &connect_manifests()).await;
    let member = session_with(
        &world,
        &[
            ("CONNECT_CLIENT_ID", CONNECT_MEMBER_ID),
            ("CONNECT_CLIENT_SECRET", CONNECT_MEMBER_SECRET),
        ],
    );
    let plan = world.plan(&member).await;
    // A create assigning roles the member lacks, and an update of an identity gaining one.
    for (name, lacking) in [
        ("ingress-pipeline", vec!["\"Data Ingress\""]),
        ("asset-rule-runner", vec!["\"Asset Rule Runner\""]),
        (
            "reporting-bot",
            vec!["\"Report Publisher\"", "\"Tenant Viewer\""],
        ),
    ] {
        let c = change(&plan, name);
        assert_eq!(c.action, Action::Conflict, "{c:#?}");
        let reasons = words(&c.reasons);
        assert_eq!(reasons.len(), 1, "{reasons:?}");
        for role in lacking {
            assert!(reasons[0].contains(role), "{name}: {reasons:?}");
        }
        assert!(
            reasons[0].contains("a Tenant Administrator must apply this"),
            "{reasons:?}"
        );
        assert!(!reasons[0].contains("Tenant Member"), "{reasons:?}");
    }
    // One read of the caller's own roles for the target.
    assert_eq!(requests(&plan, "connect-prod", OWN_ROLES), 1);

    // The Tenant Administrator plans the same manifests without a conflict, with one read.
    let admin = world.plan(&world.session()).await;
    assert!(
        admin.changes.iter().all(|c| c.action != Action::Conflict),
        "{:#?}",
        admin.changes
    );
    assert_eq!(requests(&admin, "connect-prod", OWN_ROLES), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_identity_is_a_no_op_for_a_caller_without_its_roles() {
    // legacy-ingest holds Data Ingress, which the member lacks; declared as it is, it is no
    // conflict: nothing is written.
    let manifest = "apiVersion: warrant/v1\nkind: AutomationIdentity\nmetadata: {name: legacy-ingest}\nspec:\n  target: connect-prod\n  roles: [Tenant Member, Data Ingress]\n  tags: [team:legacy]\n";
    let world = World::start(Seed::example(), &with_targets("legacy.yaml", manifest)).await;
    let member = session_with(
        &world,
        &[
            ("CONNECT_CLIENT_ID", CONNECT_MEMBER_ID),
            ("CONNECT_CLIENT_SECRET", CONNECT_MEMBER_SECRET),
        ],
    );
    let plan = world.plan(&member).await;
    assert_eq!(change(&plan, "legacy-ingest").action, Action::NoOp);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_write_names_the_missing_roles_when_the_plan_could_not_tell() {
    // The caller's own roles cannot be read (a proxy answers 403), so the plan predicts
    // nothing; CONNECT refuses the create at apply, and the error names the roles.
    let world = World::start(Seed::example(), &connect_manifests()).await;
    let proxy = FakeServer::start(&world.sandbox.connect).await;
    proxy.on(
        Method::GET,
        "/api/v1/Tenants/*/ClientCredentialClients/*/Roles",
        answer(403, &[], r#"{"OperationId":"x","Error":"Forbidden."}"#),
    );
    let mut live = world.live.clone();
    live.endpoints
        .insert("connect-prod".into(), proxy.url.clone());
    live.environment = Environment::given([
        ("ATLAN_API_KEY", ATLAN_KEY),
        ("CONNECT_CLIENT_ID", CONNECT_MEMBER_ID),
        ("CONNECT_CLIENT_SECRET", CONNECT_MEMBER_SECRET),
        ("MIST_API_TOKEN", MIST_KEY),
    ]);
    let member = open_session(&world.manifests, &[], &live).unwrap();
    let plan = world.plan(&member).await;
    assert_eq!(change(&plan, "ingress-pipeline").action, Action::Create);
    let report = world.apply(&plan, &member).await;
    let object = object_of(&report, "ingress-pipeline");
    assert_eq!(object.status, Status::Failed, "{object:#?}");
    let error = object.error.as_deref().unwrap();
    assert!(
        error.contains("Missing roles: \"Data Ingress\" (5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c02)."),
        "{error}"
    );
    assert!(error.contains("HTTP 403"), "{error}");
    let names: Vec<Value> = world.sandbox.state()["connect"]["tenants"][0]["automationIdentities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].clone())
        .collect();
    assert!(!names.contains(&json!("ingress-pipeline")), "{names:?}");
}

// ------------------------------------------------------------------ CONNECT: names and tags

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_are_compared_exactly_so_another_case_is_another_tag() {
    let manifest = "apiVersion: warrant/v1\nkind: AutomationIdentity\nmetadata: {name: legacy-ingest}\nspec:\n  target: connect-prod\n  roles: [Tenant Member, Data Ingress]\n  tags: [Team:Legacy]\n";
    let world = World::start(Seed::example(), &with_targets("legacy.yaml", manifest)).await;
    let session = world.session();
    let plan = world.plan(&session).await;
    let c = change(&plan, "legacy-ingest");
    assert_eq!(c.action, Action::Update, "{c:#?}");
    assert_eq!(c.additions["tags"], values(&["Team:Legacy"]));
    assert_eq!(c.drift["tags"], values(&["team:legacy"]));
    let report = world.apply(&plan, &session).await;
    assert_eq!(report.outcome, ReportOutcome::Success, "{report:#?}");
    let live = &world.sandbox.state()["connect"]["tenants"][0]["automationIdentities"][1];
    assert_eq!(live["tags"], json!(["Team:Legacy", "team:legacy"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_409_with_no_identity_of_that_name_is_a_clear_conflict() {
    // CONNECT says "Already exists", but no identity of the name is listed (in any case):
    // nothing is adopted, nothing is created, and the error says so.
    let manifest = "apiVersion: warrant/v1\nkind: AutomationIdentity\nmetadata: {name: brand-new}\nspec:\n  target: connect-prod\n  roles: [Tenant Member]\n";
    let world = World::start(Seed::example(), &with_targets("new.yaml", manifest)).await;
    let proxy = FakeServer::start(&world.sandbox.connect).await;
    proxy.on(
        Method::POST,
        IDENTITIES,
        answer(
            409,
            &[],
            r#"{"OperationId":"op-409","Error":"Already exists.","Reason":"An automation identity with the same name already exists in the tenant."}"#,
        ),
    );
    let session = session_through(&world, "connect-prod", &proxy);
    let plan = world.plan(&session).await;
    assert_eq!(change(&plan, "brand-new").action, Action::Create);
    let report = world.apply(&plan, &session).await;
    let object = object_of(&report, "brand-new");
    assert_eq!(object.status, Status::Failed, "{object:#?}");
    let error = object.error.as_deref().unwrap();
    assert!(
        error.contains("no identity of that name (in any case) is listed; not created"),
        "{error}"
    );
    assert_eq!(object.id, None);
}

// ------------------------------------------------------------------ CONNECT: complete listings

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_clamp_is_followed_to_the_stated_total() {
    let mut seed = Seed::example();
    seed.connect.max_page_size = Some(2);
    let clamped = World::start(seed, &connect_manifests()).await;
    let plan = clamped.plan(&clamped.session()).await;
    let unclamped = World::start(Seed::example(), &connect_manifests()).await;
    let reference = unclamped.plan(&unclamped.session()).await;
    let actions = |p: &warrant::plan::Plan| -> Vec<(String, Action, String)> {
        p.changes
            .iter()
            .map(|c| (c.address.name.clone(), c.action, c.fingerprint.clone()))
            .collect()
    };
    assert_eq!(actions(&plan), actions(&reference));
    // The tenant's 8 roles came in pages of at most 2, and were all read: at least 4 pages.
    let roles = clamped.sandbox.state()["connect"]["tenants"][0]["roles"]
        .as_array()
        .unwrap()
        .len() as u64;
    assert_eq!(roles, 8);
    assert!(
        requests(
            &plan,
            "connect-prod",
            "GET /api/v1/Tenants/{tenantId}/Roles"
        ) >= roles / 2,
        "{:?}",
        plan.requests["connect-prod"]
    );
    assert_eq!(
        requests(
            &reference,
            "connect-prod",
            "GET /api/v1/Tenants/{tenantId}/Roles"
        ),
        1
    );
}

// ------------------------------------------------------------------ Mist: plan-time write permission

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_mist_token_is_a_conflict_at_plan_time() {
    let mut files = mist_manifests();
    // monitoring-ro exists with read/org; declare one more privilege, an update.
    files[1].1 = files[1].1.replacen(
        "    - {role: read, scope: org}\n  keySink: {file: ../keys/monitoring-ro.key}",
        "    - {role: read, scope: org}\n    - {role: read, scope: site, siteId: d96e3952-53e8-4266-959a-45acd55f5114}\n  keySink: {file: ../keys/monitoring-ro.key}",
        1,
    );
    let world = World::start(Seed::example(), &files).await;
    let read_only = session_with(&world, &[("MIST_API_TOKEN", MIST_READ_KEY)]);
    let plan = world.plan(&read_only).await;
    for (name, verb) in [
        ("noc-automation", "create"),
        ("installer-app", "create"),
        ("monitoring-ro", "change"),
    ] {
        let c = change(&plan, name);
        assert_eq!(c.action, Action::Conflict, "{c:#?}");
        assert_eq!(
            words(&c.reasons),
            [format!(
                "this token can read but not {verb} tokens: it holds no write or admin privilege on the org; apply with a token that does"
            )]
        );
    }
    assert_eq!(requests(&plan, "mist-prod", "GET /api/v1/self"), 1);

    // The admin token plans the same without a conflict.
    let admin = world.plan(&world.session()).await;
    assert!(admin.changes.iter().all(|c| c.action != Action::Conflict));
    assert_eq!(requests(&admin, "mist-prod", "GET /api/v1/self"), 1);
}

// ------------------------------------------------------------------ Mist: addresses, PUT, verification

/// The example org with `noc-automation` live: write/site hq only, and these source IPs.
fn noc_seed(src_ips: &[&str], put_clears: bool) -> Seed {
    let mut seed = Seed::example();
    seed.mist.put_clears_missing_src_ips = put_clears;
    seed.mist.orgs[0].api_tokens.push(MistToken {
        id: "6f1e2d3c-4b5a-4968-8776-5a4b3c2d1e0f".into(),
        name: "noc-automation".into(),
        key: "SbxMistNocAutomationKey000000000000004".into(),
        privileges: vec![MistPrivilege {
            role: "write".into(),
            scope: "site".into(),
            site_id: Some(HQ_SITE.into()),
            sitegroup_id: None,
            views: Vec::new(),
        }],
        src_ips: src_ips.iter().map(|s| s.to_string()).collect(),
        created_by: None,
        created_time: 1_700_000_000,
        last_used: None,
        requests_per_hour: None,
        user_email: None,
    });
    seed
}

fn noc_manifest() -> Vec<(String, String)> {
    let mist = example_manifests()
        .into_iter()
        .find(|(n, _)| n == "mist.yaml")
        .unwrap()
        .1;
    let noc = mist
        .split("---\n")
        .find(|d| d.contains("noc-automation"))
        .unwrap()
        .to_string();
    with_targets("noc.yaml", &noc)
}

fn live_src_ips(world: &World) -> Value {
    world.sandbox.state()["mist"]["orgs"][0]["apiTokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "noc-automation")
        .map(|t| t["srcIps"].clone())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_host_network_is_the_declared_bare_address() {
    // Declared `63.3.55.4`, live `63.3.55.4/32`: the same address, no conflict and no drift.
    let world = World::start(
        noc_seed(&["63.3.56.0/24", "63.3.55.4/32"], false),
        &noc_manifest(),
    )
    .await;
    let plan = world.plan(&world.session()).await;
    let c = change(&plan, "noc-automation");
    assert_eq!(c.action, Action::Update, "{c:#?}");
    assert!(c.reasons.is_empty(), "{:?}", words(&c.reasons));
    assert!(c.drift.get("srcIps").is_none(), "{:?}", c.drift);
    assert_eq!(c.before["srcIps"], values(&["63.3.55.4", "63.3.56.0/24"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_keeps_src_ips_where_a_put_replaces_the_token() {
    // The server clears src_ips that a PUT leaves out; warrant sends them back as read (with
    // the live `/32` form, which the server compares as written).
    let world = World::start(
        noc_seed(&["63.3.56.0/24", "63.3.55.4/32"], true),
        &noc_manifest(),
    )
    .await;
    let proxy = FakeServer::start(&world.sandbox.mist).await;
    let session = session_through(&world, "mist-prod", &proxy);
    let plan = world.plan(&session).await;
    let report = world.apply(&plan, &session).await;
    assert_eq!(report.outcome, ReportOutcome::Success, "{report:#?}");
    assert_eq!(
        live_src_ips(&world),
        json!(["63.3.56.0/24", "63.3.55.4/32"])
    );
    let privileges = &world.sandbox.state()["mist"]["orgs"][0]["apiTokens"][3]["privileges"];
    assert_eq!(privileges.as_array().unwrap().len(), 2, "{privileges}");
    assert_converged(&world.plan(&session).await.plan);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_loses_a_value_fails_its_verification() {
    // A proxy strips src_ips from the PUT, and the server clears what a PUT leaves out: the
    // privileges arrive, the source IPs are gone. The read-back says so; nothing is retried.
    let world = World::start(
        noc_seed(&["63.3.56.0/24", "63.3.55.4"], true),
        &noc_manifest(),
    )
    .await;
    let proxy = FakeServer::start(&world.sandbox.mist).await;
    proxy.on(
        Method::PUT,
        TOKEN,
        rewrite_forward(
            |exchange| {
                let mut body = exchange.json();
                body.as_object_mut().unwrap().remove("src_ips");
                exchange.set_json(&body);
            },
            |_, _| {},
        ),
    );
    let session = session_through(&world, "mist-prod", &proxy);
    let plan = world.plan(&session).await;
    let report = world.apply(&plan, &session).await;
    let object = object_of(&report, "noc-automation");
    assert_eq!(object.status, Status::Failed, "{object:#?}");
    let error = object.error.as_deref().unwrap();
    assert!(
        error.contains(
            "values live right before it are gone after it (srcIps: 63.3.55.4, 63.3.56.0/24)"
        ),
        "{error}"
    );
    assert_eq!(object.retries, 0);
    let puts = proxy.seen().iter().filter(|r| r.starts_with("PUT")).count();
    assert_eq!(puts, 1, "{:?}", proxy.seen());
}

// ------------------------------------------------------------------ credentials

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_ending_in_a_newline_is_trimmed() {
    let world = World::example().await;
    let mist_key = format!("{MIST_KEY}\n");
    let secret = format!("{CONNECT_SECRET}\r\n");
    let session = session_with(
        &world,
        &[
            ("MIST_API_TOKEN", &mist_key),
            ("CONNECT_CLIENT_SECRET", &secret),
        ],
    );
    let plan = world.plan(&session).await;
    assert_eq!(plan.changes.len(), 9);
    assert!(plan.requests["mist-prod"].total >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_with_a_line_break_inside_is_refused_by_name() {
    let world = World::example().await;
    let broken = format!("{}\nsecond-line", &MIST_KEY[..20]);
    let live = LiveOptions {
        environment: Environment::given(variables(ATLAN_KEY).into_iter().map(|(n, v)| {
            (
                n,
                if n == "MIST_API_TOKEN" {
                    broken.as_str()
                } else {
                    v
                },
            )
        })),
        ..world.live.clone()
    };
    let error = match open_session(&world.manifests, &[], &live) {
        Ok(_) => panic!("a credential with a line break was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(
        error.contains("environment variable MIST_API_TOKEN holds a control character"),
        "{error}"
    );
    assert!(!error.contains("second-line"), "{error}");
    assert!(!error.contains(&MIST_KEY[..20]), "{error}");
    assert!(!error.contains("builder error"), "{error}");
}

// ------------------------------------------------------------------ lost responses

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connect_create_whose_answer_is_lost_is_adopted_once() {
    let manifest = "apiVersion: warrant/v1\nkind: AutomationIdentity\nmetadata: {name: brand-new}\nspec:\n  target: connect-prod\n  roles: [Tenant Member, Data Ingress]\n  tags: [managed-by:warrant]\n";
    let world = World::start_with(
        Seed::example(),
        "connect.lostResponse=1".parse::<Faults>().unwrap(),
        &with_targets("new.yaml", manifest),
    )
    .await;
    let session = world.session();
    let plan = world.plan(&session).await;
    assert_eq!(change(&plan, "brand-new").action, Action::Create);
    let report = world.apply(&plan, &session).await;
    let object = object_of(&report, "brand-new");
    assert_eq!(object.status, Status::Applied, "{object:#?}");
    let made: Vec<Value> = world.sandbox.state()["connect"]["tenants"][0]["automationIdentities"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["name"] == "brand-new")
        .cloned()
        .collect();
    assert_eq!(made.len(), 1, "{made:#?}");
    assert_eq!(
        object.id.as_ref(),
        made[0]["id"].as_str().map(String::from).as_ref()
    );
    assert_eq!(made[0]["tags"], json!(["managed-by:warrant"]));
    assert_eq!(made[0]["roleIds"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mist_create_whose_answer_is_lost_is_not_made_twice_and_says_the_key_is_lost() {
    let world = World::start_with(
        Seed::example(),
        "mist.lostResponse=1".parse::<Faults>().unwrap(),
        &noc_manifest(),
    )
    .await;
    let session = world.session();
    let plan = world.plan(&session).await;
    assert_eq!(change(&plan, "noc-automation").action, Action::Create);
    let journal_path = world.dir().join(".warrant/journal.jsonl");
    let journal =
        std::sync::Arc::new(warrant::apply::journal::Journal::open(&journal_path).unwrap());
    let options = warrant::apply::ApplyOptions {
        journal: Some(journal),
        ..world.options(64)
    };
    let report = world
        .apply_with(&plan, &session, &options, &warrant::apply::Silent)
        .await;
    let object = object_of(&report, "noc-automation");
    assert_eq!(object.status, Status::Failed, "{object:#?}");
    let error = object.error.as_deref().unwrap();
    assert!(
        error.contains("the response was lost, so its key is unknown"),
        "{error}"
    );
    assert!(
        object
            .action_required
            .as_deref()
            .is_some_and(|a| a.contains("warrant journal resolve mist-prod/noc-automation")),
        "{object:#?}"
    );
    let tokens: Vec<Value> = world.sandbox.state()["mist"]["orgs"][0]["apiTokens"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["name"] == "noc-automation")
        .cloned()
        .collect();
    assert_eq!(tokens.len(), 1, "no duplicate: {tokens:#?}");
    assert!(!world.keys().join("noc-automation.key").exists());
    // The journal keeps the create open, so the next plan names it as a conflict.
    let records = warrant::apply::journal::read(&journal_path).unwrap();
    assert_eq!(records.open.len(), 1, "{:?}", records.open);
}
