//! `warrant export` with package workflows (issue 16): connections whose token grants have a
//! package workflow are exported `via: workflow` — the UI's seeded one and one warrant made —
//! a grant made both directly and through a workflow is one token of one document, and the
//! export plans as no changes against the same sandbox. And a Target's `grantVia` is the
//! default route of its connections (an unknown `via` is `examples/invalid/atlan-unknown-via.yaml`).

use std::path::Path;

use warrant::export::{export_target, write_files};
use warrant::plan::Action;
use warrant::plan::gather::{make_plan, open_session};
use warrant::platform::{Manifests, ResourceSpec, TokenRef, Via};
use warrant::sandbox::Seed;

use crate::support::{World, example_manifests, object_of};

const NOW: &str = "2030-01-02T03:04:05Z";
const TARGETS: &str = include_str!("../../examples/manifests/targets.yaml");

fn connection_admins(manifests: &Manifests, name: &str) -> warrant::platform::ConnectionAdminsSpec {
    let found = manifests
        .resources
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("{name} was not exported"));
    match &found.spec {
        ResourceSpec::ConnectionAdmins(spec) => spec.clone(),
        other => panic!("{name} is {other:?}"),
    }
}

#[tokio::test]
async fn export_declares_workflow_grants_via_workflow_once_and_plans_as_no_changes() {
    // warrant grants dbt-cloud on databricks through a new package workflow first.
    let doc = "apiVersion: warrant/v1\nkind: ConnectionAdmins\nmetadata: {name: databricks-lakehouse}\nspec:\n  target: atlan-prod\n  connection: default/databricks/1700000003\n  via: workflow\n  apiTokens:\n    - name: ci-pipeline\n    - name: dbt-cloud\n";
    let files: Vec<(String, String)> = example_manifests()
        .into_iter()
        .filter(|(n, _)| n == "targets.yaml")
        .chain([("atlan.yaml".to_string(), doc.to_string())])
        .collect();
    let world = World::start(Seed::example(), &files).await;
    let plan = world.plan(&world.session()).await;
    let report = world.apply(&plan.plan, &world.session()).await;
    assert!(object_of(&report, "databricks-lakehouse").runs[0].verified);

    let session = world.session();
    let exported = export_target(&session, "atlan-prod", NOW).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("targets.yaml"), TARGETS).unwrap();
    write_files(dir.path(), &exported).unwrap();
    let manifests = load(dir.path(), &exported);

    // The UI's workflow (ci-pipeline on snowflake) and warrant's own (dbt-cloud on
    // databricks); ci-pipeline is also a direct admin of databricks: listed once.
    let snowflake = connection_admins(&manifests, "snowflake-prod");
    assert_eq!(snowflake.via, Some(Via::Workflow));
    let databricks = connection_admins(&manifests, "databricks-lakehouse");
    assert_eq!(databricks.via, Some(Via::Workflow));
    assert_eq!(
        databricks.api_tokens,
        vec![
            TokenRef::Name("ci-pipeline".into()),
            TokenRef::Name("dbt-cloud".into())
        ]
    );
    let bigquery = connection_admins(&manifests, "bigquery-analytics");
    assert_eq!(bigquery.via, None, "no package workflow grants its tokens");
    let text: String = exported.iter().map(|f| f.text.as_str()).collect();
    assert!(
        text.contains("granted through the API token connection admin package: csa-api-token-connection-admin-1700000500"),
        "{text}"
    );
    assert!(text.contains("via: workflow"), "{text}");

    let session = open_session(&manifests, &[], &world.live).unwrap();
    let plan = make_plan(&manifests, &[], &session).await.unwrap().plan;
    for change in &plan.changes {
        assert_eq!(change.action, Action::NoOp, "{change:?}");
    }
    assert_eq!(plan.changes.len(), 3);
}

#[tokio::test]
async fn export_of_a_tenant_without_the_package_is_all_direct() {
    let mut seed = Seed::example();
    seed.atlan.workflows.enabled = false;
    let world = World::start(seed, &example_manifests()).await;
    let exported = export_target(&world.session(), "atlan-prod", NOW)
        .await
        .unwrap();
    let text: String = exported.iter().map(|f| f.text.as_str()).collect();
    assert!(!text.contains("via:"), "{text}");
    assert!(text.contains("connection: default/snowflake/1700000001"));
}

fn load(dir: &Path, exported: &[warrant::export::ExportedFile]) -> Manifests {
    match Manifests::load_under(&[dir.to_path_buf()], dir) {
        Ok(m) => m,
        Err(d) => panic!(
            "exported manifests do not validate:\n{}\n{}",
            warrant::manifest::render_text(&d),
            exported.iter().map(|f| f.text.as_str()).collect::<String>()
        ),
    }
}

#[tokio::test]
async fn a_targets_grant_via_is_the_default_and_a_document_may_override_it() {
    let targets = TARGETS.replace(
        "    apiKeyEnv: ATLAN_API_KEY\n",
        "    apiKeyEnv: ATLAN_API_KEY\n    grantVia: workflow\n",
    );
    assert_ne!(targets, TARGETS);
    let docs = "apiVersion: warrant/v1\nkind: ConnectionAdmins\nmetadata: {name: snowflake-prod}\nspec:\n  target: atlan-prod\n  connection: default/snowflake/1700000001\n  apiTokens: [{name: dbt-cloud}]\n---\napiVersion: warrant/v1\nkind: ConnectionAdmins\nmetadata: {name: databricks-lakehouse}\nspec:\n  target: atlan-prod\n  connection: default/databricks/1700000003\n  via: direct\n  apiTokens: [{name: dbt-cloud}]\n";
    let files = vec![
        ("targets.yaml".to_string(), targets),
        ("atlan.yaml".to_string(), docs.to_string()),
    ];
    let world = World::start(Seed::example(), &files).await;
    let plan = world.plan(&world.session()).await.plan;
    let route = |name: &str| {
        plan.changes
            .iter()
            .find(|c| c.address.name == name)
            .unwrap()
            .desired
            .route
            .as_ref()
            .map(|r| r.via.clone())
    };
    assert_eq!(route("snowflake-prod").as_deref(), Some("package workflow"));
    assert_eq!(route("databricks-lakehouse"), None);
}
