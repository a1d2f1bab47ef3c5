//! The commands about warrant itself: shell completions that the shell accepts, man pages,
//! and `version`.

use std::process::Command;

fn warrant(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_warrant"))
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .unwrap()
}

fn stdout_of(args: &[&str]) -> String {
    let out = warrant(args);
    assert!(out.status.success(), "warrant {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn bash_completion_parses_and_completes_every_subcommand() {
    let script = stdout_of(&["completions", "bash"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warrant.bash");
    std::fs::write(&path, &script).unwrap();
    let checked = Command::new("bash").arg("-n").arg(&path).output().unwrap();
    assert!(checked.status.success(), "bash -n: {checked:?}");
    for sub in [
        "validate",
        "plan",
        "apply",
        "drift",
        "journal",
        "completions",
        "man",
    ] {
        assert!(script.contains(sub), "no {sub} in the bash completion");
    }
    assert!(
        script.contains("--manifests"),
        "apply's flags are completed"
    );
}

#[test]
fn every_shell_gets_a_script_naming_the_flags() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let script = stdout_of(&["completions", shell]);
        assert!(
            script.contains("auto-approve"),
            "{shell}: no --auto-approve in\n{script}"
        );
    }
    let zsh = stdout_of(&["completions", "zsh"]);
    if Command::new("zsh").arg("--version").output().is_ok() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("_warrant");
        std::fs::write(&path, &zsh).unwrap();
        let checked = Command::new("zsh").arg("-n").arg(&path).output().unwrap();
        assert!(checked.status.success(), "zsh -n: {checked:?}");
    }
    let unknown = warrant(&["completions", "tcsh"]);
    assert!(!unknown.status.success());
}

#[test]
fn man_prints_a_roff_page_and_writes_one_per_subcommand() {
    let page = stdout_of(&["man"]);
    assert!(
        page.lines().any(|l| l.starts_with(".TH warrant 1")),
        "{page}"
    );
    assert!(page.contains("validate"), "the page lists the subcommands");

    let dir = tempfile::tempdir().unwrap();
    let out = warrant(&["man", "--out", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    for name in [
        "warrant",
        "warrant-plan",
        "warrant-apply",
        "warrant-journal-resolve",
    ] {
        let text = std::fs::read_to_string(dir.path().join(format!("{name}.1")))
            .unwrap_or_else(|e| panic!("{name}.1: {e}"));
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!(".TH {name} 1"))),
            "{name}.1:\n{text}"
        );
        assert!(
            text.contains(env!("CARGO_PKG_VERSION")),
            "{name}.1 names the version"
        );
    }
    let apply = std::fs::read_to_string(dir.path().join("warrant-apply.1")).unwrap();
    assert!(apply.contains("auto\\-approve"), "{apply}");
    assert!(!dir.path().join("warrant-help.1").exists());
}

#[test]
fn version_prints_the_package_version_and_format_versions() {
    let text = stdout_of(&["version"]);
    assert_eq!(
        text.trim(),
        format!("warrant {}", env!("CARGO_PKG_VERSION"))
    );
    let json: serde_json::Value = serde_json::from_str(&stdout_of(&["version", "--json"])).unwrap();
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(json["format_version"], 1);
    assert_eq!(
        json["plan_format_version"],
        u64::from(warrant::plan::FORMAT_VERSION)
    );
    assert_eq!(
        json["report_version"],
        u64::from(warrant::apply::REPORT_VERSION)
    );
}
