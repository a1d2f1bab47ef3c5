//! `scripts/verify-plan-artifact.sh`: after merge, the apply job must take the plan that was
//! reviewed, not any artifact that happens to carry its name. Fed GitHub API JSON in the shapes
//! GitHub's REST docs give (`GET /repos/{o}/{r}/actions/artifacts?name=…` and
//! `GET /repos/{o}/{r}/actions/runs/{id}`, fixtures in `tests/fixtures/github-api/plan-artifact/`),
//! it accepts the artifact the repository's own plan workflow made for the merged head, and
//! refuses one from a fork's run, from another workflow or for another commit, an expired one,
//! and anything with missing or mistyped fields, with the reason and without forging log lines.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{Value, json};

use crate::tools::{run, tail};

const SCRIPT: &str = "scripts/verify-plan-artifact.sh";
const FIXTURES: &str = "tests/fixtures/github-api/plan-artifact";
const HEAD: &str = "5f1c0a7e9b3d4c2a8e6f0b1d2c3a4e5f6a7b8c9d";
const REPO: &str = "acme/access";
const WORKFLOW: &str = ".github/workflows/warrant.yml";

fn fixture(case: &str) -> (PathBuf, PathBuf) {
    let dir = Path::new(FIXTURES).join(case);
    (dir.join("artifacts.json"), dir.join("runs.json"))
}

fn verify_with(artifacts: &Path, runs: &Path, extra: &[&str]) -> Output {
    let mut cmd = Command::new("sh");
    cmd.arg(SCRIPT)
        .args([
            "--head-sha",
            HEAD,
            "--repository",
            REPO,
            "--workflow",
            WORKFLOW,
        ])
        .arg("--artifacts")
        .arg(artifacts)
        .arg("--runs")
        .arg(runs)
        .args(extra);
    run(&mut cmd, Duration::from_secs(30)).unwrap_or_else(|e| panic!("{SCRIPT}: {e}"))
}

fn verify(case: &str) -> Output {
    let (artifacts, runs) = fixture(case);
    verify_with(&artifacts, &runs, &[])
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn assert_accepted(out: &Output, artifact: u64, run: u64) {
    assert!(out.status.success(), "refused:\n{}", tail(out));
    assert_eq!(
        stdout(out),
        format!("artifact_id={artifact}\nrun_id={run}\n"),
        "lines for $GITHUB_OUTPUT"
    );
}

fn assert_refused(out: &Output, reasons: &[&str]) {
    assert!(!out.status.success(), "accepted:\n{}", tail(out));
    assert_eq!(stdout(out), "", "nothing for $GITHUB_OUTPUT");
    let err = stderr(out);
    for reason in reasons {
        assert!(err.contains(reason), "stderr lacks {reason:?}:\n{err}");
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// The recorded cases

#[test]
fn the_plan_workflows_artifact_for_the_merged_head_is_accepted() {
    assert_accepted(&verify("good"), 9001, 5001);
}

#[test]
fn an_artifact_from_a_fork_run_is_refused() {
    let (_, runs) = fixture("fork");
    let run = read_json(&runs);
    // The fork's run is of our workflow file, for our head commit, in our repository: only
    // head_repository tells it apart.
    assert_eq!(
        (run["head_sha"].as_str(), run["path"].as_str()),
        (Some(HEAD), Some(WORKFLOW))
    );
    assert_eq!(run["repository"]["full_name"], REPO);
    assert_eq!(run["head_repository"]["full_name"], "mallory/access");
    assert_refused(
        &verify("fork"),
        &[
            "refused artifact 9002 (run 5002)",
            r#"its run came from "mallory/access", not acme/access"#,
            "no plan artifact",
        ],
    );
}

#[test]
fn an_artifact_from_another_workflow_is_refused() {
    assert_refused(
        &verify("other-workflow"),
        &[
            "refused artifact 9003 (run 5003)",
            r#"its run is of workflow ".github/workflows/lint.yml", not .github/workflows/warrant.yml"#,
        ],
    );
}

#[test]
fn an_artifact_for_another_commit_is_refused() {
    assert_refused(
        &verify("other-sha"),
        &[
            "refused artifact 9004 (run 5004)",
            r#"it was made for commit "0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e""#,
            r#"its run is for commit "0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e""#,
        ],
    );
}

#[test]
fn no_artifact_found_is_refused() {
    assert_refused(
        &verify("none"),
        &[&format!(
            "no plan artifact plan-{HEAD} from a run of {WORKFLOW} in {REPO} for commit {HEAD}"
        )],
    );
}

#[test]
fn a_fork_artifact_listed_first_is_skipped_for_the_reviewed_one() {
    // The attack as the apply job meets it: the fork uploaded later, so GitHub lists its
    // artifact first, on the first page of two (as `gh api --paginate` writes them).
    let (artifacts, _) = fixture("fork-listed-first");
    let text = std::fs::read_to_string(&artifacts).unwrap();
    let pages: Vec<Value> = serde_json::Deserializer::from_str(&text)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(pages.len(), 2);
    // What the recipe's lookup by name alone (`.artifacts[0]`) would have taken:
    assert_eq!(pages[0]["artifacts"][0]["workflow_run"]["id"], 5002);
    let out = verify("fork-listed-first");
    assert_accepted(&out, 9001, 5001);
    assert!(
        stderr(&out).contains("refused artifact 9002 (run 5002)"),
        "{}",
        tail(&out)
    );
}

// ---------------------------------------------------------------------------------------------
// Variations of the good case

/// The good case's artifact and run, changed by `edit`, written to a temporary directory.
fn edited(edit: impl FnOnce(&mut Value, &mut Value)) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let (artifacts, runs) = fixture("good");
    let mut artifacts = read_json(&artifacts);
    let mut run = read_json(&runs);
    edit(&mut artifacts["artifacts"][0], &mut run);
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("artifacts.json");
    let r = dir.path().join("runs.json");
    std::fs::write(&a, artifacts.to_string()).unwrap();
    std::fs::write(&r, run.to_string()).unwrap();
    (dir, a, r)
}

fn verify_edited(edit: impl FnOnce(&mut Value, &mut Value)) -> Output {
    let (_dir, a, r) = edited(edit);
    verify_with(&a, &r, &[])
}

#[test]
fn missing_or_mistyped_fields_refuse_the_artifact() {
    type Edit = fn(&mut Value, &mut Value);
    let cases: [(&str, Edit); 11] = [
        ("expired", |a, _| a["expired"] = json!(true)),
        ("expired", |a, _| {
            a.as_object_mut().unwrap().remove("expired");
        }),
        ("its name is", |a, _| a["name"] = json!("plan-other")),
        ("it was made for commit null", |a, _| {
            a["workflow_run"] = Value::Null
        }),
        ("it has no numeric id", |a, _| a["id"] = json!("9001")),
        ("not among the runs read", |a, _| {
            a["workflow_run"]["id"] = json!(5999)
        }),
        ("its run came from null", |_, r| {
            r.as_object_mut().unwrap().remove("head_repository");
        }),
        ("its run came from null", |_, r| {
            r["head_repository"] = json!("acme/access")
        }),
        (r#"its run belongs to "mallory/access""#, |_, r| {
            r["repository"]["full_name"] = json!("mallory/access")
        }),
        ("its run is of workflow null", |_, r| {
            r["path"] = Value::Null
        }),
        (
            r#"its run is of workflow ".github/workflows/warrant.yml.bak""#,
            |_, r| r["path"] = json!(".github/workflows/warrant.yml.bak"),
        ),
    ];
    for (reason, edit) in cases {
        let out = verify_edited(edit);
        assert_refused(&out, &["refused artifact", reason]);
    }
}

#[test]
fn the_documented_path_with_a_ref_and_differently_cased_names_are_accepted() {
    // GitHub's documented example gives the run's path as `.github/workflows/build.yml@main`.
    let out = verify_edited(|_, r| r["path"] = json!(format!("{WORKFLOW}@refs/pull/17/merge")));
    assert_accepted(&out, 9001, 5001);
    // Repository names are case-insensitive on GitHub.
    let out = verify_edited(|_, r| {
        r["head_repository"]["full_name"] = json!("ACME/Access");
        r["repository"]["full_name"] = json!("Acme/access");
    });
    assert_accepted(&out, 9001, 5001);
    // But a path that merely starts like ours is another file.
    let out = verify_edited(|_, r| r["path"] = json!(format!("{WORKFLOW}x@main")));
    assert_refused(&out, &["its run is of workflow"]);
}

#[test]
fn api_values_cannot_forge_log_lines() {
    // A fork controls its workflow file's name and its branch; a newline in a value printed
    // raw would start a new line, and `::error::…` at a line's start is a workflow command.
    let evil = ".github/workflows/x.yml\n::error::plan verified\n::set-output name=run_id::1";
    let out = verify_edited(|_, r| r["path"] = json!(evil));
    assert_refused(&out, &[r#"\n::error::plan verified"#]);
    for line in stderr(&out).lines() {
        assert!(line.starts_with("warrant: "), "forged line: {line:?}");
    }
}

#[test]
fn of_several_good_artifacts_the_newest_is_taken() {
    // A re-run of the plan job for the same head uploads another artifact of the same name.
    let (artifacts, runs) = fixture("good");
    let first = read_json(&artifacts)["artifacts"][0].clone();
    let run = read_json(&runs);
    let mut newer = first.clone();
    newer["id"] = json!(9010);
    newer["created_at"] = json!("2026-11-30T12:00:00Z");
    newer["workflow_run"]["id"] = json!(5010);
    let mut rerun = run.clone();
    rerun["id"] = json!(5010);
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("artifacts.json");
    let r = dir.path().join("runs.json");
    for order in [[&first, &newer], [&newer, &first]] {
        std::fs::write(
            &a,
            json!({"total_count": 2, "artifacts": [order[0], order[1]]}).to_string(),
        )
        .unwrap();
        // The runs as an array this time.
        std::fs::write(&r, json!([run, rerun]).to_string()).unwrap();
        assert_accepted(&verify_with(&a, &r, &[]), 9010, 5010);
    }
}

#[test]
fn unreadable_input_and_bad_arguments_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (good_artifacts, good_runs) = fixture("good");
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{\"artifacts\": [").unwrap();
    assert_refused(
        &verify_with(&broken, &good_runs, &[]),
        &["cannot read the GitHub API JSON"],
    );
    // What the API answers when the token may not read the artifacts.
    let error = dir.path().join("error.json");
    std::fs::write(
        &error,
        r#"{"message":"Resource not accessible by integration","documentation_url":"https://docs.github.com/rest","status":"403"}"#,
    )
    .unwrap();
    assert_refused(
        &verify_with(&error, &good_runs, &[]),
        &["cannot read the GitHub API JSON"],
    );
    assert_refused(
        &verify_with(&good_artifacts, &dir.path().join("absent.json"), &[]),
        &["cannot read"],
    );

    for (args, why) in [
        (vec!["--head-sha", "5f1c0a7"], "not a full commit id"),
        (
            vec!["--head-sha", &HEAD.to_uppercase()],
            "not a lowercase hex",
        ),
        (vec!["--repository", "acme/access/x"], "is not OWNER/NAME"),
        (
            vec!["--workflow", "warrant.yml"],
            "not a path under .github/workflows/",
        ),
        (vec!["--name"], "--name needs a value"),
        (vec!["--bogus", "x"], "unknown argument"),
    ] {
        // Later arguments override the defaults `verify_with` passes.
        let out = verify_with(&good_artifacts, &good_runs, &args);
        assert_refused(&out, &[why]);
    }
}
