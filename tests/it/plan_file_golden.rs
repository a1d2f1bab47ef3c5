//! Plan files of whole worlds, byte for byte: the example world, a world with every conflict
//! the sandbox can provoke (planned as `jsmith`, who may not administer every connection), and
//! the example world behind proxies that make one managed list unknown on each platform.
//!
//! Each file is written by `warrant plan --out` (the first two) or `plan::file::write` (the
//! third) and compared with tests/golden/world_*.json after the per-run values (sandbox
//! ports, creation time, plan id) are replaced by placeholders. The plan id is checked
//! against the file's bytes before it is hidden. These goldens were made before the
//! restructure of issue 14 and guard that the plan file format did not move by a byte.

use std::collections::BTreeMap;

use warrant::plan::gather::{make_plan, open_session};
use warrant::platform::LiveOptions;
use warrant::sandbox::Seed;
use warrant::sandbox::seed::{MistPlace, MistPrivilege};

use crate::fake_server::FakeServer;
use crate::hostile_scripts::{PLATFORMS, Platform, Unknown, unknown_list_in_listing};
use crate::support::acme::golden;
use crate::support::*;

/// The placeholders of the per-run values of a plan file, after checking its id.
fn normalize(text: &str, urls: &[(&str, &str)]) -> String {
    let id = warrant::plan::file::id_of_text(text).expect("a plan_id line");
    assert!(
        text.contains(&format!("\"plan_id\": \"{id}\"")),
        "the plan id is not the id of the file's bytes"
    );
    per_run_hidden(text, urls, str::to_string)
}

/// `warrant plan manifests --out plan.json` in the world's directory as `atlan_key`; the file.
fn plan_file_through_the_binary(world: &World, atlan_key: &str) -> String {
    let mut command = world.command(atlan_key);
    command
        .args(["plan", "manifests", "--out", "plan.json"])
        .args(world.endpoint_args())
        .env_remove("GITHUB_SHA");
    let out = run(command);
    assert!(out.code == 0 || out.code == 1, "{out:?}");
    std::fs::read_to_string(world.dir().join("plan.json")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_world_plan_file_is_unchanged() {
    let world = World::example().await;
    let text = tokio::task::block_in_place(|| plan_file_through_the_binary(&world, ATLAN_KEY));
    golden("world_plan.json", &normalize(&text, &world.sandbox_urls()));
}

/// Every conflict the sandbox can provoke, in one world.
fn conflict_world() -> (Seed, Vec<(String, String)>) {
    let mut seed = Seed::example();
    twin_identity(&mut seed);
    twin_mist_token(&mut seed);
    let org = &mut seed.mist.orgs[0];
    let site = |n: usize| format!("d96e3952-53e8-4266-959a-{n:012x}");
    org.sites.extend((0..11).map(|n| MistPlace {
        id: site(n),
        name: format!("site-{n}"),
    }));
    let old_script = org
        .api_tokens
        .iter_mut()
        .find(|t| t.name == "old-script")
        .unwrap();
    let read_site = old_script.privileges[0].clone();
    old_script.privileges.extend((0..6).map(|n| MistPrivilege {
        role: "read".into(),
        site_id: Some(site(n)),
        ..read_site.clone()
    }));
    let sites = |range: std::ops::Range<usize>| {
        range
            .map(|n| format!("\n    - {{role: read, scope: site, siteId: {}}}", site(n)))
            .collect::<String>()
    };
    let targets = example_manifests()
        .into_iter()
        .find(|(name, _)| name == "targets.yaml")
        .unwrap();
    let connection = |name: &str, qn: &str, tokens: &str| {
        format!(
            "---\napiVersion: warrant/v1\nkind: ConnectionAdmins\nmetadata: {{name: {name}}}\nspec:\n  target: atlan-prod\n  connection: {qn}\n  apiTokens: {tokens}\n"
        )
    };
    let identity = |name: &str, roles: &str| {
        format!(
            "---\napiVersion: warrant/v1\nkind: AutomationIdentity\nmetadata: {{name: {name}}}\nspec:\n  target: connect-prod\n  roles: {roles}\n  tags: [managed-by:warrant]\n"
        )
    };
    let token = |name: &str, privileges: &str, src_ips: &str| {
        format!(
            "---\napiVersion: warrant/v1\nkind: OrgApiToken\nmetadata: {{name: {name}}}\nspec:\n  target: mist-prod\n  privileges:{privileges}\n  srcIps: {src_ips}\n  keySink: {{file: ../keys/{name}.key}}\n"
        )
    };
    let atlan = [
        connection(
            "snowflake-prod",
            "default/snowflake/1700000001",
            "[{name: ci-pipeline}, {name: dbt-cloud}, {name: no-such-token}]",
        ),
        connection(
            "bigquery-analytics",
            "default/bigquery/1700000002",
            "[{name: airflow-prod}]",
        ),
        connection(
            "databricks-lakehouse",
            "default/databricks/1700000003",
            "[{name: dbt-cloud}]",
        ),
        connection(
            "redshift-old",
            "default/redshift/1699999999",
            "[{name: shared-bot}]",
        ),
    ]
    .concat();
    let connect = [
        identity("asset-rule-runner", "[Tenant Member]"),
        identity("ingress-pipeline", "[Tenant Member, No Such Role]"),
        identity("reporting-bot", "[Tenant Viewer]"),
    ]
    .concat();
    let mist = [
        token("monitoring-ro", &sites(0..1), "[]"),
        token(
            "old-script",
            &(String::from(
                "\n    - {role: write, scope: site, siteId: d96e3952-53e8-4266-959a-45acd55f5114}",
            ) + &sites(6..10)),
            "[198.51.100.8]",
        ),
    ]
    .concat();
    let files = vec![
        targets,
        ("atlan.yaml".to_string(), atlan),
        ("connect.yaml".to_string(), connect),
        ("mist.yaml".to_string(), mist),
    ];
    (seed, files)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_conflict_world_plan_file_is_unchanged() {
    let (seed, files) = conflict_world();
    let world = World::start(seed, &files).await;
    let text = tokio::task::block_in_place(|| plan_file_through_the_binary(&world, JSMITH_KEY));
    let normalized = normalize(&text, &world.sandbox_urls());
    for expected in [
        "is not an admin of connection default/databricks/1700000003",
        "\\\"no-such-token\\\" not found",
        "ambiguous: 2 tokens named shared-bot",
        "warrant never creates connections",
        "matches 2 live objects",
        "role \\\"No Such Role\\\" not found",
        "cannot change after creation",
        "more than the 10 allowed",
    ] {
        assert!(normalized.contains(expected), "{expected:?} missing");
    }
    golden("world_conflicts_plan.json", &normalized);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unreadable_world_plan_file_is_unchanged() {
    let world = World::example().await;
    let atlan = FakeServer::start(&world.sandbox.atlan).await;
    let connect = FakeServer::start(&world.sandbox.connect).await;
    let mist = FakeServer::start(&world.sandbox.mist).await;
    for (platform, fake, how) in [
        (Platform::Atlan, &atlan, Unknown::Null),
        (Platform::Connect, &connect, Unknown::WrongType),
        (Platform::Mist, &mist, Unknown::Missing),
    ] {
        assert!(PLATFORMS.contains(&platform));
        unknown_list_in_listing(fake, platform, how);
    }
    let live = LiveOptions {
        credentials: Default::default(),
        endpoints: BTreeMap::from([
            ("atlan-prod".to_string(), atlan.url.clone()),
            ("connect-prod".to_string(), connect.url.clone()),
            ("mist-prod".to_string(), mist.url.clone()),
        ]),
        environment: environment(ATLAN_KEY),
        client: quick_client(),
    };
    let session = open_session(&world.manifests, &[], &live).unwrap();
    let plan = make_plan(&world.manifests, &[], &session).await.unwrap();
    let path = world.dir().join("plan.json");
    warrant::plan::file::write(&path, &plan).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let urls = [
        (atlan.url.as_str(), "<atlan-proxy>"),
        (connect.url.as_str(), "<connect-proxy>"),
        (mist.url.as_str(), "<mist-proxy>"),
    ];
    let normalized = normalize(&text, &urls);
    assert_eq!(
        normalized.matches("live state unreadable").count(),
        3,
        "{normalized}"
    );
    golden("world_unreadable_plan.json", &normalized);
}

/// The reasons the planner alone gives, from data: a limit on create and on update.
#[test]
fn the_planner_reasons_plan_file_is_unchanged() {
    use crate::support::acme::ORG_API_TOKEN;
    use crate::support::acme::{acme_meta, address, append, desired, live};
    use warrant::model::{DesiredField, LiveState};
    use warrant::plan::file::PlanFile;
    use warrant::plan::{Plan, diff};

    let limited = |values: &[&str]| DesiredField {
        max_items: Some(2),
        ..append(values)
    };
    let d = desired(
        address(ORG_API_TOKEN, "many", "mist-prod", "many"),
        vec![("privileges", limited(&["a:org", "b:org", "c:org"]))],
    );
    let created = diff(&d, &LiveState::Absent);
    let d = desired(
        address(ORG_API_TOKEN, "grows", "mist-prod", "grows"),
        vec![("privileges", limited(&["a:org", "b:org"]))],
    );
    let updated = diff(&d, &live("t-2", vec![("privileges", &["c:org"])]));
    let plan = PlanFile::new(
        Plan::new(acme_meta(), vec![created, updated]),
        Default::default(),
    );
    golden(
        "world_planner_reasons_plan.json",
        &warrant::plan::file::to_json(&plan),
    );
}
