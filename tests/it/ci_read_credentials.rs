//! Separate read-only credentials (`read:` under a Target's platform settings): `plan` and
//! `drift` use only them, `apply` only the write credentials, and a plan made with the read
//! credentials is applied as usual (apply derives targets and credentials from the manifests,
//! never from the plan). The manifest rules: variable names, and never a write variable.

use std::path::Path;

use warrant::platform::{Manifests, TargetPlatform};
use warrant::sandbox::{Faults, Seed};

use crate::support::{
    ATLAN_KEY, CONNECT_ID, CONNECT_MEMBER_ID, CONNECT_MEMBER_SECRET, CONNECT_SECRET, JSMITH_KEY,
    MIST_KEY, MIST_READ_KEY, Output, World, example_manifests, run,
};

const CI_TARGETS: &str = include_str!("../../examples/ci/targets.yaml");

/// The write variables of the example Targets, and the read ones of examples/ci/targets.yaml.
const WRITE: [&str; 4] = [
    "ATLAN_API_KEY",
    "CONNECT_CLIENT_ID",
    "CONNECT_CLIENT_SECRET",
    "MIST_API_TOKEN",
];

/// The example world with examples/ci/targets.yaml as its Targets.
fn world() -> World {
    let files: Vec<(String, String)> = example_manifests()
        .into_iter()
        .map(|(name, text)| {
            if name == "targets.yaml" {
                (name, CI_TARGETS.to_string())
            } else {
                (name, text)
            }
        })
        .collect();
    World::blocking(Seed::example(), Faults::default(), &files)
}

/// `warrant ARGS` (every target at the sandbox) with only the read credentials, or only the
/// write credentials, in the environment.
fn warrant(world: &World, read_only: bool, args: &[&str]) -> Output {
    warrant_to(world, read_only, args, &world.endpoint_args())
}

/// [`warrant`] with these `--endpoint` arguments.
fn warrant_to(world: &World, read_only: bool, args: &[&str], endpoints: &[String]) -> Output {
    let mut command = world.command(ATLAN_KEY);
    for var in WRITE {
        command.env_remove(var);
    }
    if read_only {
        // Credentials of other callers than warrant's own: jsmith (Atlan), the Tenant Member
        // client (CONNECT), the read/org token (Mist).
        command
            .env("ATLAN_READ_API_KEY", JSMITH_KEY)
            .env("CONNECT_READ_CLIENT_ID", CONNECT_MEMBER_ID)
            .env("CONNECT_READ_CLIENT_SECRET", CONNECT_MEMBER_SECRET)
            .env("MIST_READ_API_TOKEN", MIST_READ_KEY);
    } else {
        command
            .env("ATLAN_API_KEY", ATLAN_KEY)
            .env("CONNECT_CLIENT_ID", CONNECT_ID)
            .env("CONNECT_CLIENT_SECRET", CONNECT_SECRET)
            .env("MIST_API_TOKEN", MIST_KEY);
    }
    command.args(args).args(endpoints);
    run(command)
}

#[test]
fn plan_and_drift_read_with_the_read_credentials_and_apply_writes_with_the_write_ones() {
    let world = world();
    // No write credential in the environment: plan and drift work all the same.
    let plan = warrant(&world, true, &["plan", "manifests", "--out", "plan.json"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(plan.stdout.contains("+ OrgApiToken/"), "{}", plan.stdout);
    let drift = warrant(&world, true, &["drift", "manifests"]);
    assert_eq!(drift.code, 0, "{}", drift.stderr);
    // export only reads too.
    for target in ["atlan-prod", "connect-prod", "mist-prod"] {
        let endpoint = [
            "--endpoint".to_string(),
            format!("{target}={}", world.url(target)),
        ];
        let export = warrant_to(
            &world,
            true,
            &["export", "manifests", "--target", target],
            &endpoint,
        );
        assert_eq!(export.code, 0, "{target}: {}", export.stderr);
        assert!(
            export.stdout.contains("apiVersion: warrant/v1"),
            "{}",
            export.stdout
        );
    }

    // The write credentials alone do not serve a plan of Targets that name read ones.
    let with_write = warrant(&world, false, &["plan", "manifests"]);
    assert_eq!(with_write.code, 1, "{}", with_write.stdout);
    assert!(
        with_write
            .stderr
            .contains("environment variable ATLAN_READ_API_KEY is not set"),
        "{}",
        with_write.stderr
    );

    // apply never uses the read credentials, whatever the plan says: without the write ones
    // it stops before any request.
    let before: u64 = world.sandbox.request_counts().values().sum();
    let refused = warrant(
        &world,
        true,
        &["apply", "plan.json", "--manifests", "manifests"],
    );
    assert_eq!(refused.code, 1, "{}{}", refused.stdout, refused.stderr);
    assert!(
        refused
            .stderr
            .contains("environment variable ATLAN_API_KEY is not set"),
        "{}",
        refused.stderr
    );
    let after: u64 = world.sandbox.request_counts().values().sum();
    assert_eq!(before, after, "no request without the write credentials");
    let applied = warrant(
        &world,
        false,
        &["apply", "plan.json", "--manifests", "manifests"],
    );
    assert_eq!(applied.code, 0, "{}{}", applied.stdout, applied.stderr);

    // Converged, as seen with the read credentials.
    let again = warrant(&world, true, &["plan", "manifests", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
}

#[test]
fn a_read_key_predicts_nothing_of_the_writers_permissions() {
    // With jsmith as the read credential, databricks (of which he is not an admin) is a
    // conflict once it needs a change: the plan was made as jsmith, not as warrant-bot.
    let mut seed = Seed::example();
    seed.atlan
        .connections
        .iter_mut()
        .find(|c| c.qualified_name == "default/databricks/1700000003")
        .unwrap()
        .admin_users
        .clear();
    let files: Vec<(String, String)> = example_manifests()
        .into_iter()
        .map(|(n, t)| {
            let t = if n == "targets.yaml" {
                CI_TARGETS.to_string()
            } else {
                t
            };
            (n, t)
        })
        .collect();
    let world = World::blocking(seed, Faults::default(), &files);
    let plan = warrant(
        &world,
        true,
        &[
            "plan",
            "manifests",
            "--only",
            "ConnectionAdmins/databricks-lakehouse",
        ],
    );
    // jsmith, the read key, is no admin of databricks; but what a read-only credential may
    // do says nothing about the writer, so the plan predicts nothing and shows the update.
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);
    assert!(
        plan.stdout
            .contains("~ ConnectionAdmins/databricks-lakehouse"),
        "{}",
        plan.stdout
    );
    assert!(!plan.stdout.contains("is not an admin"), "{}", plan.stdout);
}

fn problems(targets: &str) -> Vec<String> {
    match Manifests::parse(Path::new("targets.yaml"), targets) {
        Ok(_) => Vec::new(),
        Err(d) => d.into_iter().map(|d| d.message).collect(),
    }
}

#[test]
fn read_credentials_are_variable_names_never_the_write_ones() {
    let manifests = Manifests::parse(Path::new("targets.yaml"), CI_TARGETS).expect("valid");
    let mut read = Vec::new();
    for target in &manifests.targets {
        match &target.platform {
            TargetPlatform::Atlan(a) => read.push(a.read.as_ref().unwrap().api_key_env.clone()),
            TargetPlatform::Connect(c) => {
                let r = c.read.as_ref().unwrap();
                read.extend([r.client_id_env.clone(), r.client_secret_env.clone()]);
            }
            TargetPlatform::Mist(m) => read.push(m.read.as_ref().unwrap().api_token_env.clone()),
        }
    }
    assert_eq!(read.len(), 4);

    let same = CI_TARGETS.replace(
        "read: {apiKeyEnv: ATLAN_READ_API_KEY}",
        "read: {apiKeyEnv: ATLAN_API_KEY}",
    );
    let found = problems(&same);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains("a variable of the write credentials"),
        "{found:?}"
    );

    let crossed = CI_TARGETS.replace(
        "clientSecretEnv: CONNECT_READ_CLIENT_SECRET",
        "clientSecretEnv: CONNECT_CLIENT_ID",
    );
    assert_eq!(problems(&crossed).len(), 1, "{:?}", problems(&crossed));

    let literal = CI_TARGETS.replace("MIST_READ_API_TOKEN", "abc-123");
    assert!(
        problems(&literal)
            .iter()
            .any(|p| p.contains("must be the name of an environment variable"))
    );

    let unknown = CI_TARGETS.replace(
        "read: {apiKeyEnv: ATLAN_READ_API_KEY}",
        "read: {apiKeyEnv: ATLAN_READ_API_KEY, apiKey: secret}",
    );
    assert!(!problems(&unknown).is_empty());

    // A key sink may not be handed a read credential either.
    let sink = format!(
        "{CI_TARGETS}\n---\napiVersion: warrant/v1\nkind: OrgApiToken\nmetadata: {{name: t}}\nspec:\n  target: mist-prod\n  privileges: [{{role: read, scope: org}}]\n  keySink:\n    command: [store-key]\n    env: [MIST_READ_API_TOKEN]\n"
    );
    assert!(
        !problems(&sink).is_empty(),
        "a sink must not get a credential"
    );
}
