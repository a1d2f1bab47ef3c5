//! `warrant drift` reports drift in both directions, in separate sections: *undeclared*
//! access (live, not in the manifests) and *missing* access (declared, not live — an admin
//! removed behind warrant's back, a token that does not exist). `--fail-on-drift` exits 4 on
//! either; `--format json` is a versioned object with the two apart, matching
//! schemas/drift.schema.json.

use serde_json::Value;
use warrant::sandbox::{Faults, Seed};

use crate::support::{CI_PIPELINE, Output, World, example_manifests};

const DATABRICKS: &str = "ConnectionAdmins/databricks-lakehouse";

/// The example world, with the seed changed by `edit`.
fn world(edit: impl FnOnce(&mut Seed)) -> World {
    let mut seed = Seed::example();
    edit(&mut seed);
    World::blocking(seed, Faults::default(), &example_manifests())
}

fn databricks(seed: &mut Seed) -> &mut warrant::sandbox::seed::AtlanConnection {
    seed.atlan
        .connections
        .iter_mut()
        .find(|c| c.qualified_name == "default/databricks/1700000003")
        .unwrap()
}

fn drift(world: &World, args: &[&str]) -> Output {
    let mut all = vec!["drift", "manifests"];
    all.extend(args);
    world.warrant_live(&all)
}

fn json(out: &Output) -> Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

#[test]
fn a_declared_admin_removed_behind_warrants_back_is_missing_access() {
    // The example declares ci-pipeline as the admin of databricks, and it is; someone removed
    // it by hand.
    let world = world(|seed| databricks(seed).admin_users.clear());
    let only = ["--only", DATABRICKS];

    let text = drift(&world, &only);
    assert_eq!(text.code, 0, "without --fail-on-drift: {}", text.stderr);
    assert!(
        text.stdout.contains("Missing access (declared, not live"),
        "{}",
        text.stdout
    );
    assert!(
        !text.stdout.contains("Undeclared access"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("- ConnectionAdmins/databricks-lakehouse (default/databricks/1700000003)  declared, not live"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains(&format!("-   adminUsers: ci-pipeline ({CI_PIPELINE})")),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("0 with undeclared access"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("1 with missing access"),
        "{}",
        text.stdout
    );

    let failing = drift(&world, &["--only", DATABRICKS, "--fail-on-drift"]);
    assert_eq!(failing.code, 4, "{}{}", failing.stdout, failing.stderr);

    let report = json(&drift(&world, &["--only", DATABRICKS, "--format", "json"]));
    assert_eq!(report["format_version"], 2);
    assert_eq!(
        report["summary"],
        serde_json::json!({"undeclared": 0, "missing": 1, "unknown": 0})
    );
    assert_eq!(report["undeclared"], serde_json::json!([]));
    let missing = &report["missing"][0];
    assert_eq!(missing["address"]["name"], "databricks-lakehouse");
    assert_eq!(missing["absent"], false);
    // warrant-bot is no admin of databricks (Atlan's rule): putting it back is for a
    // connection admin, and the drift report says what the plan would.
    assert_eq!(missing["action"], "conflict");
    assert_eq!(
        missing["values"]["adminUsers"],
        serde_json::json!([CI_PIPELINE])
    );
    assert_eq!(missing["labels"][CI_PIPELINE], "ci-pipeline");

    let markdown = drift(&world, &["--only", DATABRICKS, "--format", "markdown"]);
    assert!(
        markdown.stdout.contains("### ➖ Missing access"),
        "{}",
        markdown.stdout
    );
    assert!(
        !markdown.stdout.contains("Undeclared access"),
        "{}",
        markdown.stdout
    );
}

#[test]
fn undeclared_access_alone_is_drift_too_and_the_directions_stay_apart() {
    let world = world(|seed| databricks(seed).admin_users.push("jsmith".into()));
    let text = drift(&world, &["--only", DATABRICKS]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(text.stdout.contains("Undeclared access"), "{}", text.stdout);
    assert!(
        text.stdout.contains("?   adminUsers: jsmith"),
        "{}",
        text.stdout
    );
    assert!(!text.stdout.contains("Missing access"), "{}", text.stdout);
    let failing = drift(&world, &["--only", DATABRICKS, "--fail-on-drift"]);
    assert_eq!(failing.code, 4);
    let report = json(&drift(&world, &["--only", DATABRICKS, "--format", "json"]));
    assert_eq!(
        report["summary"],
        serde_json::json!({"undeclared": 1, "missing": 0, "unknown": 0})
    );
    assert_eq!(report["missing"], serde_json::json!([]));
    assert_eq!(
        report["undeclared"][0]["values"]["adminUsers"],
        serde_json::json!(["jsmith"])
    );
}

#[test]
fn no_drift_either_way_passes_and_an_absent_object_is_missing_whole() {
    // databricks as declared: no drift at all.
    let world = world(|_| {});
    let clean = drift(&world, &["--only", DATABRICKS, "--fail-on-drift"]);
    assert_eq!(clean.code, 0, "{}{}", clean.stdout, clean.stderr);
    assert!(
        clean.stdout.contains("No drift in 1 objects"),
        "{}",
        clean.stdout
    );

    // The example declares Mist tokens that do not exist yet: missing, absent.
    let report = json(&drift(&world, &["--format", "json"]));
    let absent: Vec<&Value> = report["missing"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["absent"] == true)
        .collect();
    assert!(!absent.is_empty(), "{report:#}");
    for m in &absent {
        assert_eq!(m["action"], "create", "{m:#}");
        assert!(m.get("live_id").is_none(), "{m:#}");
    }
    assert_eq!(
        report["summary"]["missing"].as_u64().unwrap() as usize,
        report["missing"].as_array().unwrap().len()
    );
    assert_eq!(
        report["summary"]["undeclared"].as_u64().unwrap() as usize,
        report["undeclared"].as_array().unwrap().len()
    );
    // Once applied, nothing declared is missing any more; the undeclared access stays.
    let plan = world.warrant_live(&["plan", "manifests", "--out", "plan.json"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let applied = world.warrant_live(&["apply", "plan.json", "--manifests", "manifests"]);
    assert_eq!(applied.code, 0, "{}{}", applied.stdout, applied.stderr);
    let after = json(&drift(&world, &["--format", "json"]));
    assert_eq!(after["missing"], serde_json::json!([]), "{after:#}");
    assert_eq!(after["undeclared"], report["undeclared"]);
}

#[test]
fn the_drift_report_matches_its_schema() {
    let world = world(|seed| databricks(seed).admin_users.clear());
    let report = json(&drift(&world, &["--format", "json"]));
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/schemas/drift.schema.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // The schema is strict enough to fail: a report without its version does not match.
    let mut broken = report.clone();
    broken.as_object_mut().unwrap().remove("format_version");
    assert!(!validator.is_valid(&broken));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_whose_live_state_is_unknown_is_neither_clean_nor_drift_and_fails_the_review() {
    use crate::fake_server::FakeServer;
    use crate::hostile_scripts::{Platform, Unknown, unknown_list_in_listing};

    let world = World::example().await;
    let atlan = FakeServer::start(&world.sandbox.atlan).await;
    // snowflake-prod's admin list comes back null: unknown, never "empty".
    unknown_list_in_listing(&atlan, Platform::Atlan, Unknown::Null);
    let endpoint = format!("atlan-prod={}", atlan.url);
    let drift = |extra: &[&str]| {
        let mut command = world.command(crate::support::ATLAN_KEY);
        command.args([
            "drift",
            "manifests",
            "--only",
            "ConnectionAdmins/snowflake-prod",
            "--endpoint",
            &endpoint,
        ]);
        command.args(extra);
        tokio::task::block_in_place(|| crate::support::run(command))
    };

    let report = drift(&["--format", "json"]);
    assert_eq!(report.code, 0, "without --fail-on-drift: {}", report.stderr);
    assert!(
        report.stderr.contains(
            "warning: ConnectionAdmins/snowflake-prod (atlan-prod: default/snowflake/1700000001): its live state is unknown"
        ),
        "{}",
        report.stderr
    );
    let value = json(&report);
    assert_eq!(
        value["summary"],
        serde_json::json!({"undeclared": 0, "missing": 0, "unknown": 1})
    );
    assert_eq!(value["unknown"][0]["address"]["name"], "snowflake-prod");
    assert!(
        value["unknown"][0]["reasons"][0]
            .as_str()
            .unwrap()
            .contains("live state unreadable"),
        "{value:#}"
    );

    let text = drift(&[]);
    assert!(
        text.stdout
            .contains("1 objects whose live state is unknown"),
        "{}",
        text.stdout
    );
    let failing = drift(&["--fail-on-drift"]);
    assert_eq!(
        failing.code, 1,
        "the review cannot pass: {}",
        failing.stderr
    );
}
