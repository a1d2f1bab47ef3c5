//! `warrant export` against the sandbox over real HTTP: for each platform, exporting the live
//! state and planning the exported manifests against that same state finds nothing to do; and
//! the output validates, names tokens and roles so they resolve to exactly what is live, keeps
//! remote names exact, never overwrites files, and fails on an incomplete read.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use warrant::export::{ExportError, ExportedFile, export_target, write_files};
use warrant::plan::Action;
use warrant::plan::gather::{make_plan, open_session};
use warrant::platform::{
    ClientOptions, LiveOptions, Manifests, ResourceSpec, RoleRef, Session, TokenRef,
};
use warrant::sandbox::seed::{AtlanApiToken, AtlanConnection, ConnectIdentity, ConnectRole};
use warrant::sandbox::{self, FaultSpec, Faults, Seed};

use crate::support::acme::{AUTOMATION_IDENTITY, CONNECTION_ADMINS, ORG_API_TOKEN};
use crate::support::{ATLAN_KEY, environment};

const TARGETS: &str = include_str!("../../examples/manifests/targets.yaml");
const NOW: &str = "2030-01-02T03:04:05Z";

/// warrant's credentials of the example seed (every seed here is one), and `target` at `url`.
fn live_options(target: &str, url: &str, client: ClientOptions) -> LiveOptions {
    LiveOptions {
        credentials: Default::default(),
        endpoints: BTreeMap::from([(target.to_string(), url.to_string())]),
        environment: environment(ATLAN_KEY),
        client,
    }
}

fn url_of<'a>(sandbox: &'a sandbox::SandboxHandle, target: &str) -> &'a str {
    match target {
        "atlan-prod" => &sandbox.atlan,
        "connect-prod" => &sandbox.connect,
        _ => &sandbox.mist,
    }
}

/// Exports `target` from a sandbox serving `seed`, writes the files next to the example
/// Target documents, loads them back (any diagnostic fails the test) and plans them against
/// the same sandbox. Returns the files, the loaded manifests and the plan.
async fn round_trip(
    seed: Seed,
    target: &str,
) -> (Vec<ExportedFile>, Manifests, warrant::plan::Plan) {
    let sandbox = sandbox::start(seed.clone(), Faults::default())
        .await
        .expect("sandbox starts");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("targets.yaml"), TARGETS).expect("write targets");
    let targets = Manifests::load(&[dir.path().to_path_buf()]).expect("targets load");
    let platform = targets
        .target(target)
        .expect("target declared")
        .platform
        .clone();
    let live = live_options(target, url_of(&sandbox, target), ClientOptions::default());
    let session = Session::open(&BTreeMap::from([(target.to_string(), platform)]), &live)
        .expect("session opens");

    let files = export_target(&session, target, NOW).await.expect("export");
    write_files(dir.path(), &files).expect("files written");
    let manifests = match Manifests::load_under(&[dir.path().to_path_buf()], dir.path()) {
        Ok(m) => m,
        Err(diagnostics) => panic!(
            "exported manifests do not validate:\n{}\n{}",
            warrant::manifest::render_text(&diagnostics),
            files.iter().map(|f| f.text.as_str()).collect::<String>()
        ),
    };
    let session = open_session(&manifests, &[], &live).expect("session for the plan");
    let plan = make_plan(&manifests, &[], &session)
        .await
        .expect("plan")
        .plan;
    sandbox.shutdown().await;
    (files, manifests, plan)
}

/// Every exported object is planned, and every change is a no-op.
fn assert_all_no_op(files: &[ExportedFile], plan: &warrant::plan::Plan) {
    let documents: usize = files.iter().map(|f| f.documents).sum();
    assert!(documents > 0, "nothing was exported");
    assert_eq!(plan.changes.len(), documents);
    for change in &plan.changes {
        assert_eq!(
            change.action,
            Action::NoOp,
            "{} is {:?}: {:?} {:?}",
            change.address,
            change.action,
            change.additions,
            change.reasons
        );
    }
    assert_eq!(plan.summary.conflict, 0);
    assert!(!plan.summary.has_changes());
}

fn resource<'m>(
    manifests: &'m Manifests,
    kind: warrant::model::Kind,
    name: &str,
) -> &'m ResourceSpec {
    &manifests
        .resources
        .iter()
        .find(|r| r.kind() == kind && r.name == name)
        .unwrap_or_else(|| panic!("{kind}/{name} was not exported"))
        .spec
}

#[tokio::test]
async fn atlan_export_plans_as_no_changes() {
    let (files, manifests, plan) = round_trip(Seed::example(), "atlan-prod").await;
    assert_all_no_op(&files, &plan);
    // The three connections have API-token admins (postgres has none); warrant-bot is one of
    // bigquery's.
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].file_name, "connection-admins.yaml");
    assert_eq!(files[0].documents, 3);
    let ResourceSpec::ConnectionAdmins(bigquery) =
        resource(&manifests, CONNECTION_ADMINS, "bigquery-analytics")
    else {
        panic!("wrong kind");
    };
    assert_eq!(bigquery.connection, "default/bigquery/1700000002");
    assert_eq!(
        bigquery.api_tokens,
        vec![
            TokenRef::Name("legacy-etl".into()),
            TokenRef::Name("warrant-bot".into())
        ]
    );
    // The human and the group who are admins too are counted in the document's comment.
    assert!(
        files[0]
            .text
            .contains("# also admins, not exported (they are not API tokens): 1 user(s), 1 group(s), 0 role(s)\napiVersion: warrant/v1\nkind: ConnectionAdmins\nmetadata:\n  name: bigquery-analytics"),
        "{}",
        files[0].text
    );
    // Humans, groups and roles are never exported: the drift of the plan is exactly them.
    let drift: Vec<String> = plan
        .changes
        .iter()
        .flat_map(|c| c.drift.values().flatten().cloned())
        .collect();
    assert_eq!(
        drift,
        vec![
            "data-engineers",
            "jsmith",
            crate::support::ADMIN_ROLE,
            "jsmith"
        ]
    );
}

#[tokio::test]
async fn connect_export_plans_as_no_changes() {
    let (files, manifests, plan) = round_trip(Seed::example(), "connect-prod").await;
    assert_all_no_op(&files, &plan);
    assert_eq!(files[0].file_name, "automation-identities.yaml");
    let ResourceSpec::AutomationIdentity(legacy) =
        resource(&manifests, AUTOMATION_IDENTITY, "legacy-ingest")
    else {
        panic!("wrong kind");
    };
    assert_eq!(
        legacy.roles,
        vec![
            RoleRef::Name("Data Ingress".into()),
            RoleRef::Name("Tenant Member".into())
        ]
    );
    assert_eq!(legacy.tags, vec!["team:legacy".to_string()]);
    assert_eq!(legacy.name, None);
    assert_eq!(plan.summary.drift, 0);
}

#[tokio::test]
async fn mist_export_plans_as_no_changes() {
    let (files, manifests, plan) = round_trip(Seed::example(), "mist-prod").await;
    assert_all_no_op(&files, &plan);
    assert_eq!(files[0].file_name, "org-api-tokens.yaml");
    assert_eq!(files[0].documents, 3);
    let ResourceSpec::OrgApiToken(old) = resource(&manifests, ORG_API_TOKEN, "old-script") else {
        panic!("wrong kind");
    };
    assert_eq!(old.src_ips, vec!["198.51.100.7".to_string()]);
    assert_eq!(old.privileges.len(), 1);
    assert_eq!(
        old.privileges[0].site_id.as_deref(),
        Some("d96e3952-53e8-4266-959a-45acd55f5114")
    );
    assert_eq!(
        old.key_sink,
        warrant::manifest::KeySinkSpec::file("CHANGE-ME/old-script.key")
    );
    assert!(files[0].text.contains("cannot be read back"));
    // The listing masks keys; none may appear in the output anyway.
    for token in &Seed::example().mist.orgs[0].api_tokens {
        assert!(!files[0].text.contains(&token.key));
    }
}

#[tokio::test]
async fn output_is_deterministic_and_carries_its_origin() {
    let (first, _, _) = round_trip(Seed::example(), "mist-prod").await;
    let (second, _, _) = round_trip(Seed::example(), "mist-prod").await;
    assert_eq!(first, second);
    assert!(first[0].text.starts_with(
        "# Exported by `warrant export --target mist-prod` from live state at 2030-01-02T03:04:05Z.\n"
    ));
    let names: Vec<&str> = first[0]
        .text
        .lines()
        .filter_map(|l| l.strip_prefix("  name: "))
        .collect();
    assert_eq!(names, vec!["monitoring-ro", "old-script", "warrant"]);
}

#[tokio::test]
async fn tokens_sharing_a_display_name_are_exported_by_guid() {
    let mut seed = Seed::example();
    let shared: Vec<(String, String)> = seed
        .atlan
        .api_tokens
        .iter()
        .filter(|t| t.display_name == "shared-bot")
        .map(|t| (t.guid.clone(), format!("service-account-{}", t.client_id)))
        .collect();
    assert_eq!(shared.len(), 2);
    let snowflake = &mut seed.atlan.connections[0];
    assert_eq!(snowflake.qualified_name, "default/snowflake/1700000001");
    snowflake
        .admin_users
        .extend(shared.iter().map(|(_, u)| u.clone()));

    let (files, manifests, plan) = round_trip(seed, "atlan-prod").await;
    assert_all_no_op(&files, &plan);
    let ResourceSpec::ConnectionAdmins(spec) =
        resource(&manifests, CONNECTION_ADMINS, "snowflake-prod")
    else {
        panic!("wrong kind");
    };
    let mut expected = vec![TokenRef::Name("ci-pipeline".into())];
    expected.extend(shared.iter().map(|(g, _)| TokenRef::Guid(g.clone())));
    expected.sort();
    let mut got = spec.api_tokens.clone();
    got.sort();
    assert_eq!(got, expected);
    assert!(
        files[0]
            .text
            .contains("is one of 2 API tokens named \"shared-bot\"")
    );
}

#[tokio::test]
async fn names_that_are_not_valid_document_names_keep_the_remote_name_in_spec() {
    let mut seed = Seed::example();
    let tenant = &mut seed.connect.tenants[0];
    let member = tenant.roles[3].id.clone();
    tenant.automation_identities.push(ConnectIdentity {
        id: "c0a8e1f2-3b4c-4d5e-9f6a-7b8c9d0e1f03".into(),
        name: "Nightly Export (EU)".into(),
        role_ids: vec![member.clone()],
        tags: vec![],
    });
    // Sanitizes to the name another identity already has: gets a suffix.
    tenant.automation_identities.push(ConnectIdentity {
        id: "c0a8e1f2-3b4c-4d5e-9f6a-7b8c9d0e1f04".into(),
        name: "Legacy Ingest".into(),
        role_ids: vec![member],
        tags: vec!["Team: Legacy".into()],
    });

    let (files, manifests, plan) = round_trip(seed, "connect-prod").await;
    assert_all_no_op(&files, &plan);
    let remote = |name: &str| {
        manifests
            .resources
            .iter()
            .find(|r| r.name == name)
            .map(|r| r.remote_key().to_string())
    };
    assert_eq!(
        remote("nightly-export-eu").as_deref(),
        Some("Nightly Export (EU)")
    );
    assert_eq!(remote("legacy-ingest").as_deref(), Some("legacy-ingest"));
    assert_eq!(remote("legacy-ingest-2").as_deref(), Some("Legacy Ingest"));
    let ResourceSpec::AutomationIdentity(kept) =
        resource(&manifests, AUTOMATION_IDENTITY, "legacy-ingest")
    else {
        panic!("wrong kind");
    };
    assert_eq!(kept.name, None, "an exact name needs no spec.name");
    assert!(files[0].text.contains("  name: Nightly Export (EU)\n"));
}

#[tokio::test]
async fn a_role_whose_name_is_ambiguous_is_exported_by_id() {
    let mut seed = Seed::example();
    let tenant = &mut seed.connect.tenants[0];
    let ingress = tenant.roles[6].clone();
    assert_eq!(ingress.name, "Data Ingress");
    // A second role with the same name, and a custom role that borrows a built-in's name.
    tenant.roles.push(ConnectRole {
        id: "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c09".into(),
        ..ingress.clone()
    });
    tenant.roles.push(ConnectRole {
        id: "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c0a".into(),
        name: "Tenant Viewer".into(),
        role_type_id: None,
        ..ingress.clone()
    });
    tenant.automation_identities[0]
        .role_ids
        .push("5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c0a".into());

    let (files, manifests, plan) = round_trip(seed, "connect-prod").await;
    assert_all_no_op(&files, &plan);
    let ResourceSpec::AutomationIdentity(legacy) =
        resource(&manifests, AUTOMATION_IDENTITY, "legacy-ingest")
    else {
        panic!("wrong kind");
    };
    assert!(legacy.roles.contains(&RoleRef::Id {
        id: ingress.id.clone()
    }));
    assert!(
        legacy
            .roles
            .contains(&RoleRef::Name("Tenant Member".into()))
    );
    let ResourceSpec::AutomationIdentity(runner) =
        resource(&manifests, AUTOMATION_IDENTITY, "asset-rule-runner")
    else {
        panic!("wrong kind");
    };
    assert!(runner.roles.contains(&RoleRef::Id {
        id: "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c0a".into()
    }));
    assert!(files[0].text.contains("does not identify it uniquely"));
}

#[tokio::test]
async fn mist_names_are_sanitized_and_deduplicated() {
    let mut seed = Seed::example();
    let org = &mut seed.mist.orgs[0];
    let mut twin = org.api_tokens[2].clone();
    twin.id = "2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e70".into();
    twin.name = "Old Script".into();
    twin.key = "SbxMistOldScriptTwinKey00000000000000004".into();
    twin.src_ips = vec!["10.1.2.3/8".into()];
    org.api_tokens.push(twin);

    let (files, manifests, plan) = round_trip(seed, "mist-prod").await;
    assert_all_no_op(&files, &plan);
    let ResourceSpec::OrgApiToken(spec) = resource(&manifests, ORG_API_TOKEN, "old-script-2")
    else {
        panic!("wrong kind");
    };
    assert_eq!(spec.name.as_deref(), Some("Old Script"));
    assert_eq!(spec.src_ips, vec!["10.0.0.0/8".to_string()]);
    assert_eq!(
        spec.key_sink,
        warrant::manifest::KeySinkSpec::file("CHANGE-ME/old-script-2.key")
    );
    assert!(!files[0].text.contains("SbxMistOldScriptTwinKey"));
}

#[tokio::test]
async fn every_page_is_read() {
    let mut seed = Seed::example();
    // More tokens than one token page (500) and more connections than one search page (1000).
    for i in 0..620u32 {
        seed.atlan.api_tokens.push(AtlanApiToken {
            guid: format!("00000000-0000-4000-8000-{i:012}"),
            client_id: format!("apikey-00000000-0000-4000-9000-{i:012}"),
            display_name: format!("bulk-{i}"),
            ..seed.atlan.api_tokens[1].clone()
        });
    }
    let template: AtlanConnection = seed.atlan.connections[2].clone();
    for i in 0..1100u32 {
        seed.atlan.connections.push(AtlanConnection {
            guid: format!("22222222-0000-4000-8000-{i:012}"),
            qualified_name: format!("default/bulk/{i}"),
            name: format!("bulk-{i}"),
            admin_users: vec![format!(
                "service-account-apikey-00000000-0000-4000-9000-{:012}",
                i % 620
            )],
            ..template.clone()
        });
    }
    let (files, _, plan) = round_trip(seed, "atlan-prod").await;
    assert_eq!(files[0].documents, 1103);
    assert_all_no_op(&files, &plan);
    assert!(files[0].text.contains("  - name: bulk-619\n"));
}

#[tokio::test]
async fn existing_files_are_never_overwritten() {
    let (files, _, _) = round_trip(Seed::example(), "atlan-prod").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("connection-admins.yaml");
    std::fs::write(&path, "# hand-edited\n").expect("write");
    match write_files(dir.path(), &files) {
        Err(ExportError::Exists(p)) => assert_eq!(p, path),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        "# hand-edited\n"
    );

    // Into a directory that does not exist yet: created, then refused the second time.
    let fresh = dir.path().join("adopted");
    let written = write_files(&fresh, &files).expect("first write");
    assert_eq!(written, vec![fresh.join("connection-admins.yaml")]);
    assert!(matches!(
        write_files(&fresh, &files),
        Err(ExportError::Exists(_))
    ));
    assert_eq!(
        std::fs::read_to_string(&written[0]).expect("read"),
        files[0].text
    );
}

#[tokio::test]
async fn an_incomplete_read_fails_the_export() {
    let seed = Seed::example();
    let failing = FaultSpec {
        p500: 1.0,
        seed: Some(7),
        ..FaultSpec::default()
    };
    let sandbox = sandbox::start(seed.clone(), Faults::uniform(failing))
        .await
        .expect("sandbox starts");
    let fast = ClientOptions {
        max_attempts: 2,
        backoff_base: Duration::from_millis(1),
        backoff_cap: Duration::from_millis(5),
        ..ClientOptions::default()
    };
    let manifests = Manifests::parse(Path::new("targets.yaml"), TARGETS).expect("targets load");
    for target in ["atlan-prod", "connect-prod", "mist-prod"] {
        let platform = manifests.target(target).expect("declared").platform.clone();
        let live = live_options(target, url_of(&sandbox, target), fast.clone());
        let session = Session::open(&BTreeMap::from([(target.to_string(), platform)]), &live)
            .expect("session opens");
        match export_target(&session, target, NOW).await {
            Err(ExportError::Platform(e)) => assert!(e.to_string().contains("500"), "{e}"),
            other => panic!("{target}: expected a platform error, got {other:?}"),
        }
    }
    sandbox.shutdown().await;
}
