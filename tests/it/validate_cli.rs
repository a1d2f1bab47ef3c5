//! `warrant validate` and `warrant schema` as subprocesses: exit codes, the default path,
//! JSON output that stays parseable under GitHub Actions, and the annotations GitHub reads.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const INVALID: &str = "examples/invalid/unknown-field.yaml";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Runs the binary in `dir` with `GITHUB_ACTIONS` set to `github` (or unset).
fn warrant(dir: &Path, args: &[&str], github: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_warrant"));
    cmd.args(args).current_dir(dir).env_remove("GITHUB_ACTIONS");
    if let Some(v) = github {
        cmd.env("GITHUB_ACTIONS", v);
    }
    cmd.output().expect("warrant runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

fn here() -> PathBuf {
    repo(".")
}

#[test]
fn valid_examples_exit_0() {
    let out = warrant(&here(), &["validate", "examples/manifests"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("12 documents valid"));
}

#[test]
fn an_invalid_example_exits_1_with_located_errors() {
    let out = warrant(&here(), &["validate", INVALID], None);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains(&format!("--> {INVALID}:13:3")), "{stderr}");
    assert!(stderr.contains("unknown field \"adminUser\""), "{stderr}");
    assert!(out.stdout.is_empty(), "text mode writes to stderr only");
}

#[test]
fn the_default_path_is_the_current_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    for f in ["targets.yaml", "connect.yaml"] {
        std::fs::copy(repo(&format!("examples/manifests/{f}")), dir.path().join(f)).expect("copy");
    }
    let out = warrant(dir.path(), &["validate"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("documents valid"));

    std::fs::copy(repo(INVALID), dir.path().join("broken.yaml")).expect("copy");
    let out = warrant(dir.path(), &["validate"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("broken.yaml:13:3"));
}

fn json_diagnostics(out: &Output) -> Vec<serde_json::Value> {
    let stdout = text(&out.stdout);
    let value: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{stdout}"));
    assert_eq!(value["format_version"], 1, "{value}");
    let diagnostics = value["diagnostics"]
        .as_array()
        .expect("a diagnostics array");
    // Warnings (a file key sink under Actions) leave the manifests valid.
    let errors = diagnostics
        .iter()
        .filter(|d| d["severity"] == "error")
        .count();
    assert_eq!(value["valid"], errors == 0, "{value}");
    diagnostics.clone()
}

#[test]
fn json_output_parses_with_and_without_github_actions() {
    for github in [None, Some("true")] {
        let out = warrant(&here(), &["validate", INVALID, "--format", "json"], github);
        assert_eq!(out.status.code(), Some(1));
        let diags = json_diagnostics(&out);
        assert_eq!(diags.len(), 3, "{diags:?}");
        for d in &diags {
            assert_eq!(d["file"], INVALID);
            assert!(d["line"].as_u64().is_some_and(|l| l > 0));
            assert!(d["column"].as_u64().is_some_and(|c| c > 0));
            assert_eq!(d["severity"], "error");
        }
        let out = warrant(
            &here(),
            &["validate", "examples/manifests", "--format", "json"],
            github,
        );
        assert_eq!(out.status.code(), Some(0));
        // Under GitHub Actions, the file key sinks of the example get warnings (ci_cli).
        let diags = json_diagnostics(&out);
        assert!(
            diags.iter().all(|d| d["severity"] == "warning"),
            "{diags:?}"
        );
        assert_eq!(diags.is_empty(), github.is_none(), "{diags:?}");
    }
}

#[test]
fn github_actions_gets_annotations_with_file_line_and_column() {
    let out = warrant(&here(), &["validate", INVALID], Some("true"));
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "::error file={INVALID},line=13,col=3::unknown field \"adminUser\""
        )),
        "{stdout}"
    );
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("::error ")).count(),
        3
    );

    // In JSON mode they move to stderr, which GitHub reads too.
    let out = warrant(
        &here(),
        &["validate", INVALID, "--format", "json"],
        Some("true"),
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("::error file={INVALID},line=13,col=3::")),
        "{stderr}"
    );
    assert!(!text(&out.stdout).contains("::error"));

    // Not under GitHub Actions (or with another value): no annotations anywhere.
    for github in [None, Some("false")] {
        let out = warrant(&here(), &["validate", INVALID], github);
        assert!(!text(&out.stdout).contains("::error"));
        assert!(!text(&out.stderr).contains("::error"));
    }
}

#[test]
fn schema_writes_json_schemas() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_dir = dir.path().join("schemas");
    let out = warrant(
        dir.path(),
        &["schema", "--out", out_dir.to_str().expect("UTF-8 path")],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&out_dir).expect("schemas written") {
        let path = entry.expect("entry").path();
        let schema: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("readable"))
                .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
        assert!(schema.get("$schema").is_some(), "{}", path.display());
        names.push(
            path.file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned(),
        );
    }
    names.sort();
    for wanted in [
        "automation-identity.schema.json",
        "connection-admins.schema.json",
        "org-api-token.schema.json",
        "target.schema.json",
        "warrant.schema.json",
    ] {
        assert!(
            names.iter().any(|n| n == wanted),
            "{wanted} missing: {names:?}"
        );
    }
}
