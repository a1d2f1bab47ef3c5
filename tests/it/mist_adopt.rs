//! Adopting a Mist token that warrant did not create (issue 15 item 10), over real HTTP to the
//! sandbox: a live token whose `created_by` is a person other than the planning credential is
//! a typed note in every rendering, and `adopt: never` makes it a conflict that apply refuses
//! on its own read, whatever the plan file says.

use warrant::apply::{ReportOutcome, Status};
use warrant::plan::Action;
use warrant::plan::gather::open_session;
use warrant::platform::{Environment, LiveOptions, Session};
use warrant::sandbox::Seed;
use warrant::sandbox::seed::{MistPrivilege, MistToken};

use crate::support::*;

/// A user token of jane@acme.example, admin of the org.
const JANE_KEY: &str = "SbxMistJaneUserKey00000000000000000009";
const JANE: &str = "jane@acme.example";
const NOTE: &str = "adopts an existing token created outside warrant (by netops@acme.example): its key is not held by warrant and keySink will not be written";

/// The example targets and these Mist documents.
fn manifests(mist: &str) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = example_manifests()
        .into_iter()
        .filter(|(n, _)| n == "targets.yaml")
        .collect();
    files.push(("mist.yaml".into(), mist.into()));
    files
}

/// `monitoring-ro` (live, made by netops@acme.example in the example seed) with `extra` lines
/// in its spec, and `noc-automation` (absent) with a file sink.
fn declared(extra: &str) -> String {
    format!(
        "apiVersion: warrant/v1\nkind: OrgApiToken\nmetadata: {{name: monitoring-ro}}\nspec:\n  target: mist-prod\n  privileges:\n    - {{role: read, scope: org}}\n    - {{role: read, scope: site, siteId: {HQ_SITE}}}\n  keySink: {{file: ../keys/monitoring-ro.key}}\n{extra}---\napiVersion: warrant/v1\nkind: OrgApiToken\nmetadata: {{name: noc-automation}}\nspec:\n  target: mist-prod\n  privileges:\n    - {{role: write, scope: site, siteId: {HQ_SITE}}}\n  keySink: {{file: ../keys/noc-automation.key}}\n"
    )
}

/// The example seed with Jane's user token.
fn seed_with_jane() -> Seed {
    let mut seed = Seed::example();
    seed.mist.orgs[0].api_tokens.push(MistToken {
        id: "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d".into(),
        name: "jane-personal".into(),
        key: JANE_KEY.into(),
        privileges: vec![MistPrivilege {
            role: "admin".into(),
            scope: "org".into(),
            site_id: None,
            sitegroup_id: None,
            views: Vec::new(),
        }],
        src_ips: Vec::new(),
        created_by: None,
        created_time: 1_700_000_000,
        last_used: None,
        requests_per_hour: None,
        user_email: Some(JANE.into()),
    });
    seed
}

/// A session whose Mist credential is `mist_key`.
fn session_as_mist(world: &World, mist_key: &str) -> Session {
    let mut vars: Vec<(&str, &str)> = variables(ATLAN_KEY).to_vec();
    vars.retain(|(n, _)| *n != "MIST_API_TOKEN");
    vars.push(("MIST_API_TOKEN", mist_key));
    let live = LiveOptions {
        environment: Environment::given(vars),
        ..world.live.clone()
    };
    open_session(&world.manifests, &[], &live).unwrap()
}

fn change<'p>(plan: &'p warrant::plan::Plan, name: &str) -> &'p warrant::plan::Change {
    plan.changes
        .iter()
        .find(|c| c.address.name == name)
        .unwrap_or_else(|| panic!("no change for {name}"))
}

fn notes(c: &warrant::plan::Change) -> Vec<String> {
    c.notes.iter().map(ToString::to_string).collect()
}

/// The Mist writes the sandbox has answered so far.
fn mist_writes(world: &World) -> u64 {
    world
        .sandbox
        .request_counts()
        .iter()
        .filter(|(k, _)| k.starts_with("mist PUT") || k.starts_with("mist POST"))
        .map(|(_, n)| n)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_made_in_the_ui_is_an_adoption_in_every_rendering_and_does_not_block() {
    let world = World::start(Seed::example(), &manifests(&declared(""))).await;

    let text = world.warrant_live(&["plan", "manifests"]);
    assert_eq!(text.code, 0, "{text:#?}");
    assert!(
        text.stdout.contains(&format!(
            "  +       read:site:{HQ_SITE}\n      note: {NOTE}"
        )),
        "{}",
        text.stdout
    );
    assert_eq!(text.stdout.matches("adopts an existing token").count(), 1);
    let markdown = world.warrant_live(&["plan", "manifests", "--format", "markdown"]);
    assert!(
        markdown.stdout.contains(&format!("    note: {NOTE}")),
        "{}",
        markdown.stdout
    );
    let json = world.warrant_live(&["plan", "manifests", "--format", "json"]);
    let plan: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let ro = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"]["name"] == "monitoring-ro")
        .unwrap();
    assert_eq!(ro["notes"], serde_json::json!([NOTE]));
    assert_eq!(ro["action"], "update");

    // The note blocks nothing: the privilege is added, and no key reaches the sink.
    let session = world.session();
    let plan = world.plan(&session).await;
    assert_eq!(notes(change(&plan, "monitoring-ro")), [NOTE]);
    assert!(change(&plan, "noc-automation").notes.is_empty());
    let report = world.apply(&plan, &session).await;
    assert_eq!(report.outcome, ReportOutcome::Success, "{report:#?}");
    assert_eq!(status_of(&report, "monitoring-ro"), Status::Applied);
    assert!(!world.keys().join("monitoring-ro.key").exists());
    assert!(world.keys().join("noc-automation.key").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creator_shown_by_the_server_is_escaped() {
    let mut seed = Seed::example();
    seed.mist.orgs[0].api_tokens[1].created_by = Some("evil\u{1b}[2J@acme.example".into());
    let world = World::start(seed, &manifests(&declared(""))).await;
    let text = world.warrant_live(&["plan", "manifests"]);
    assert!(!text.stdout.contains('\u{1b}'), "{:?}", text.stdout);
    assert!(
        text.stdout.contains("created outside warrant (by evil"),
        "{}",
        text.stdout
    );
    assert_no_hidden("plan text", &text.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_warrant_created_is_not_an_adoption() {
    // warrant's org token creates noc-automation: Mist records no creator (null).
    let world = World::start(Seed::example(), &manifests(&declared(""))).await;
    let session = world.session();
    let plan = world.plan(&session).await;
    assert_eq!(change(&plan, "noc-automation").action, Action::Create);
    let report = world.apply(&plan, &session).await;
    assert_eq!(report.outcome, ReportOutcome::Success, "{report:#?}");
    let live = find_object(&world.sandbox.state(), "name", "noc-automation")
        .cloned()
        .unwrap();
    assert!(live["createdBy"].is_null(), "{live}");

    let again = world.plan(&session).await;
    let noc = change(&again, "noc-automation");
    assert_eq!(noc.action, Action::NoOp, "{noc:#?}");
    assert!(noc.notes.is_empty(), "{:?}", notes(noc));
    // The token made in the UI still is one.
    assert_eq!(notes(change(&again, "monitoring-ro")), [NOTE]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_made_by_the_planning_credential_itself_is_not_an_adoption() {
    // Jane's user token creates noc-automation: Mist records her email as its creator.
    let world = World::start(seed_with_jane(), &manifests(&declared(""))).await;
    let jane = session_as_mist(&world, JANE_KEY);
    let plan = world.plan(&jane).await;
    let report = world.apply(&plan, &jane).await;
    assert_eq!(report.outcome, ReportOutcome::Success, "{report:#?}");
    let live = find_object(&world.sandbox.state(), "name", "noc-automation")
        .cloned()
        .unwrap();
    assert_eq!(live["createdBy"], JANE, "{live}");

    // Planned by Jane (her /self shows the same email, in another case too): no adoption.
    let again = world.plan(&jane).await;
    assert!(change(&again, "noc-automation").notes.is_empty());
    // Planned with warrant's org token, the same token was made by someone else.
    let other = world.plan(&world.session()).await;
    assert_eq!(
        notes(change(&other, "noc-automation")),
        [format!(
            "adopts an existing token created outside warrant (by {JANE}): its key is not held by warrant and keySink will not be written"
        )]
    );

    // Emails compare case-insensitively.
    let mut seed = seed_with_jane();
    seed.mist.orgs[0].api_tokens[1].created_by = Some("Jane@ACME.example".into());
    let world = World::start(seed, &manifests(&declared(""))).await;
    let plan = world.plan(&session_as_mist(&world, JANE_KEY)).await;
    assert!(change(&plan, "monitoring-ro").notes.is_empty());
}

const REFUSED: &str = "a token with this name exists, created outside warrant (by netops@acme.example): its key is not held by warrant, and the declaration says adopt: never; rename the declaration, or delete or rotate the live token by hand, or drop adopt: never to take it over";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adopt_never_is_a_conflict_that_apply_refuses_even_from_a_tampered_plan() {
    let world = World::start(Seed::example(), &manifests(&declared("  adopt: never\n"))).await;

    // The plan: a conflict, exit 1 (conflicts in the plan), the reason in the output.
    let out = world.warrant_live(&["plan", "manifests", "--out", "plan.json"]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(
        out.stdout.contains(&format!("!   conflict: {REFUSED}")),
        "{}",
        out.stdout
    );
    let session = world.session();
    let reviewed = world.plan(&session).await;
    let ro = change(&reviewed, "monitoring-ro");
    assert_eq!(ro.action, Action::Conflict);
    assert_eq!(words(&ro.reasons), [REFUSED]);
    assert!(ro.notes.is_empty());
    // noc-automation is absent, so nothing is adopted there.
    assert_eq!(change(&reviewed, "noc-automation").action, Action::Create);

    // The reviewed plan skips it; nothing is written to it.
    let state = world.sandbox.state();
    let before = find_object(&state, "name", "monitoring-ro")
        .cloned()
        .unwrap();

    // A tampered plan that reviewed the update instead of the conflict.
    let mut tampered = reviewed.clone();
    tampered
        .plan
        .changes
        .retain(|c| c.address.name == "monitoring-ro");
    let c = &mut tampered.plan.changes[0];
    c.action = Action::Update;
    c.reasons.clear();
    c.additions.insert(
        "privileges".into(),
        crate::support::acme::values(&[&format!("read:site:{HQ_SITE}")]),
    );
    tampered.seal();
    warrant::plan::file::write(&world.dir().join("tampered.json"), &tampered).unwrap();
    let writes = mist_writes(&world);
    let out = world.warrant_live(&[
        "apply",
        "tampered.json",
        "--manifests",
        "manifests",
        "--report",
        "report.json",
    ]);
    assert_eq!(out.code, 1, "{out:#?}");
    let report: warrant::apply::ApplyReport =
        serde_json::from_str(&std::fs::read_to_string(world.dir().join("report.json")).unwrap())
            .unwrap();
    let object = object_of(&report, "monitoring-ro");
    assert_eq!(object.status, Status::Failed, "{object:#?}");
    assert_eq!(
        object.error.as_deref(),
        Some(format!("not applied: {REFUSED}").as_str())
    );
    assert_eq!(mist_writes(&world), writes, "a write reached Mist");
    let after = world.sandbox.state();
    assert_eq!(
        find_object(&after, "name", "monitoring-ro")
            .cloned()
            .unwrap(),
        before
    );
    assert!(!world.keys().join("monitoring-ro.key").exists());

    // The library apply of the reviewed plan: skipped as a conflict, and still no write to it.
    let report = world.apply(&reviewed.plan, &session).await;
    assert_eq!(status_of(&report, "monitoring-ro"), Status::ConflictSkipped);
    assert_eq!(
        find_object(&world.sandbox.state(), "name", "monitoring-ro")
            .cloned()
            .unwrap(),
        before
    );
}

#[test]
fn validate_rejects_an_unknown_adopt_value() {
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    for (name, text) in self::manifests(&declared("  adopt: sometimes\n")) {
        std::fs::write(manifests.join(name), text).unwrap();
    }
    let out = run({
        let mut command = warrant_command(dir.path(), ATLAN_KEY);
        command.args(["validate", "manifests"]);
        command
    });
    assert_eq!(out.code, 1, "{out:#?}");
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(all.contains("sometimes"), "{all}");
    assert!(all.contains("never"), "{all}");

    // The two values are accepted.
    for value in ["always", "never"] {
        for (name, text) in self::manifests(&declared(&format!("  adopt: {value}\n"))) {
            std::fs::write(manifests.join(name), text).unwrap();
        }
        let out = run({
            let mut command = warrant_command(dir.path(), ATLAN_KEY);
            command.args(["validate", "manifests"]);
            command
        });
        assert_eq!(out.code, 0, "{value}: {out:#?}");
    }
}
