//! `warrant apply PLANFILE` as a process: refusals before any request, the report file, and
//! exit codes. (Runs that talk to platforms are tested against the sandbox elsewhere.)

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use warrant::model::{
    Address, CreateRule, DesiredField, DesiredObject, FieldPolicy, Kind, LiveState,
};
use warrant::plan::{FORMAT_VERSION, Plan, Summary, diff};

fn desired(name: &str, create: CreateRule) -> DesiredObject {
    DesiredObject {
        address: Address {
            kind: Kind::AutomationIdentity,
            name: name.into(),
            target: "nowhere".into(),
            remote_key: name.into(),
        },
        fields: BTreeMap::from([(
            "roleIds".into(),
            DesiredField {
                policy: FieldPolicy::Append,
                values: ["r1".to_string()].into(),
                max_items: None,
            },
        )]),
        create,
        labels: BTreeMap::new(),
        problems: Vec::new(),
        key_sink: None,
    }
}

/// A plan against no target: creates (when `CreateRule::Allowed`) or conflicts.
fn plan(objects: &[(&str, CreateRule)]) -> Plan {
    let changes: Vec<_> = objects
        .iter()
        .map(|(n, c)| diff(&desired(n, c.clone()), &LiveState::Absent))
        .collect();
    Plan {
        format_version: FORMAT_VERSION,
        warrant_version: env!("CARGO_PKG_VERSION").into(),
        created_at: "2025-01-01T00:00:00Z".into(),
        git_commit: None,
        desired_digest: "sha256:x".into(),
        targets: BTreeMap::new(),
        only: Vec::new(),
        summary: Summary::of(&changes),
        changes,
        requests: BTreeMap::new(),
    }
}

fn write_plan(dir: &Path, value: &serde_json::Value) -> std::path::PathBuf {
    let path = dir.join("plan.json");
    std::fs::write(&path, serde_json::to_string(value).unwrap()).unwrap();
    path
}

fn warrant(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_warrant"))
        .current_dir(dir)
        .arg("apply")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_plan_file_of_another_format_version_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let mut value = serde_json::to_value(plan(&[("x", CreateRule::Allowed)])).unwrap();
    value["format_version"] = 99.into();
    value["changes"] = "a shape this version does not know".into();
    let path = write_plan(dir.path(), &value);

    let (code, _, stderr) = warrant(dir.path(), &[path.to_str().unwrap()]);

    assert_eq!(code, 1);
    assert!(stderr.contains("format_version 99"), "{stderr}");
    assert!(stderr.contains("make the plan again"), "{stderr}");
}

#[test]
fn max_changes_refuses_the_plan_file_before_opening_targets() {
    let dir = tempfile::tempdir().unwrap();
    let value = serde_json::to_value(plan(&[
        ("x", CreateRule::Allowed),
        ("y", CreateRule::Allowed),
    ]))
    .unwrap();
    let path = write_plan(dir.path(), &value);

    let (code, _, stderr) = warrant(dir.path(), &[path.to_str().unwrap(), "--max-changes", "1"]);

    assert_eq!(code, 1);
    assert!(
        stderr.contains("2 creates and updates, more than --max-changes 1"),
        "{stderr}"
    );
}

#[test]
fn conflicts_are_skipped_reported_and_fail_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let value = serde_json::to_value(plan(&[(
        "x",
        CreateRule::Never("connection not found".into()),
    )]))
    .unwrap();
    let path = write_plan(dir.path(), &value);

    let (code, stdout, stderr) = warrant(
        dir.path(),
        &[path.to_str().unwrap(), "--report", "report.json"],
    );

    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout
            .contains("conflict-skipped  AutomationIdentity/x (nowhere: x): connection not found"),
        "{stdout}"
    );
    assert!(stdout.contains("1 conflict-skipped"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(report["outcome"], "failure");
    assert_eq!(report["objects"][0]["status"], "conflict-skipped");
    assert_eq!(report["plan_desired_digest"], "sha256:x");
}

#[test]
fn a_single_file_that_is_neither_yaml_nor_a_plan_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "hello").unwrap();
    let (code, _, stderr) = warrant(dir.path(), &["notes.txt"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("neither a manifest"), "{stderr}");
}

#[test]
fn manifests_without_a_terminal_or_auto_approve_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("manifests")).unwrap();
    let (code, _, stderr) = warrant(dir.path(), &["manifests"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("--auto-approve"), "{stderr}");
}
