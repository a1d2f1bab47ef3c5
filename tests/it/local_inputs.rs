//! Manifest paths and bytes that are not what they should be, through the `warrant validate`
//! binary: a FIFO (which hung the read), `/dev/zero` named directly or reached through a
//! committed symlink (read until memory ran out), a symlink to a FIFO, and strings with
//! control, bidi and zero-width characters written raw into the file. Each is refused with a
//! diagnostic at file:line:column; a watchdog kills a run that hangs, so a regression fails
//! instead of blocking the suite.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{assert_no_hidden, wait_at_most};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// `warrant validate ARGS`, killed (and the test failed) if it runs past a bound no valid run
/// comes near: validating a few small files takes milliseconds.
fn validate(args: &[&Path], extra: &[&str]) -> Run {
    let out_file = tempfile::NamedTempFile::new().unwrap();
    let err_file = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_warrant"))
        .arg("validate")
        .args(args)
        .args(extra)
        .env_remove("GITHUB_ACTIONS")
        .stdin(Stdio::null())
        .stdout(out_file.reopen().unwrap())
        .stderr(err_file.reopen().unwrap())
        .spawn()
        .unwrap();
    let status = wait_at_most(&mut child, Duration::from_secs(30));
    Run {
        code: status.code().unwrap_or(-1),
        stdout: std::fs::read_to_string(out_file.path()).unwrap(),
        stderr: std::fs::read_to_string(err_file.path()).unwrap(),
    }
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(status.success());
}

const TARGET: &str = "apiVersion: warrant/v1\nkind: Target\nmetadata: {name: connect-prod}\nspec:\n  connect: {tenantId: 7fc97c8b-8f60-4f29-af71-3178c414e7a0}\n";

/// A directory with one valid manifest, so that a refusal is the only problem.
fn manifest_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("targets.yaml"), TARGET).unwrap();
    dir
}

fn assert_refused(run: &Run, file: &Path, what: &str) {
    assert_eq!(run.code, 1, "{}", run.stderr);
    let expected = format!("error: not a regular file: {what}");
    assert!(
        run.stderr.contains(&expected),
        "{expected:?} in\n{}",
        run.stderr
    );
    let at = format!("  --> {}:1:1", file.display());
    assert!(run.stderr.contains(&at), "{at:?} in\n{}", run.stderr);
    assert!(
        run.stderr.contains("error: 1 problem in 1 file"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_fifo_in_the_manifest_directory_is_refused_not_waited_for() {
    let dir = manifest_dir();
    let fifo = dir.path().join("pipe.yaml");
    mkfifo(&fifo);
    // A FIFO that is no manifest by its name is never opened at all.
    mkfifo(&dir.path().join("notes.txt"));

    let run = validate(&[dir.path()], &[]);
    assert_refused(&run, &fifo, "a FIFO (named pipe)");

    let run = validate(&[&fifo], &[]);
    assert_refused(&run, &fifo, "a FIFO (named pipe)");
}

#[test]
fn dev_zero_named_directly_is_refused_at_once() {
    let run = validate(&[Path::new("/dev/zero")], &[]);
    assert_refused(&run, Path::new("/dev/zero"), "a character device");
}

#[test]
fn a_committed_symlink_to_a_device_or_a_fifo_is_refused() {
    let dir = manifest_dir();
    let zero = dir.path().join("zero.yaml");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let run = validate(&[dir.path()], &[]);
    assert_refused(
        &run,
        &zero,
        "a character device, reached through a symlink to /dev/zero",
    );
    let run = validate(&[&zero], &[]);
    assert_refused(
        &run,
        &zero,
        "a character device, reached through a symlink to /dev/zero",
    );

    let dir = manifest_dir();
    let fifo = dir.path().join("elsewhere.fifo");
    mkfifo(&fifo);
    let link = dir.path().join("m.yml");
    std::os::unix::fs::symlink(&fifo, &link).unwrap();
    let run = validate(&[dir.path()], &[]);
    assert_refused(
        &run,
        &link,
        &format!(
            "a FIFO (named pipe), reached through a symlink to {}",
            fifo.display()
        ),
    );
}

#[test]
fn a_symlink_to_a_regular_manifest_is_still_read() {
    let dir = manifest_dir();
    let real = dir.path().join("real.txt");
    std::fs::write(&real, TARGET.replace("connect-prod", "other")).unwrap();
    std::os::unix::fs::symlink(&real, dir.path().join("linked.yaml")).unwrap();
    let run = validate(&[dir.path()], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("ok: 2 documents valid"),
        "{}",
        run.stderr
    );
}

/// One file with raw hidden characters (not YAML escapes): each string is refused at its
/// position, and no output carries the raw characters.
#[test]
fn control_bidi_and_zero_width_characters_are_refused_where_they_are() {
    let dir = manifest_dir();
    let file = dir.path().join("hidden.yaml");
    let text = format!(
        "{TARGET}---\napiVersion: warrant/v1\nkind: AutomationIdentity\nmetadata: {{name: asset-rule-runner\u{200b}}}\nspec:\n  target: connect-prod\n  roles: [Tenant Member]\n  tags: [\"rtl\u{202e}gnp.exe\", \"red\u{1b}[31m\", \"bell\u{7}\", \"c1\u{9b}2J\"]\n"
    );
    std::fs::write(&file, text).unwrap();

    let run = validate(&[&file], &[]);

    assert_eq!(run.code, 1, "{}", run.stderr);
    let expected = [
        (
            9,
            18,
            "\"name\" contains U+200B (an invisible formatting character) at character 18",
        ),
        (
            13,
            10,
            "an entry of \"tags\" contains U+202E (a bidirectional text control) at character 4",
        ),
        (
            13,
            25,
            "an entry of \"tags\" contains U+001B (a control character) at character 4",
        ),
        (
            13,
            37,
            "an entry of \"tags\" contains U+0007 (a control character) at character 5",
        ),
        (
            13,
            46,
            "an entry of \"tags\" contains U+009B (a control character) at character 3",
        ),
    ];
    for (line, column, message) in expected {
        let shown = format!(
            "error: {message}\n  --> {}:{line}:{column}\n",
            file.display()
        );
        assert!(run.stderr.contains(&shown), "{shown:?} in\n{}", run.stderr);
    }
    assert!(
        run.stderr.contains("error: 5 problems in 1 file"),
        "{}",
        run.stderr
    );
    assert_no_hidden("validate", &run.stderr);

    let run = validate(&[&file], &["--format", "json"]);
    assert_no_hidden("validate json", &run.stdout);
    let diagnostics: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(diagnostics["diagnostics"].as_array().map(Vec::len), Some(5));
}

/// A hidden character in a name also quoted by another diagnostic (the duplicate name) is
/// shown escaped in the text, the JSON and the GitHub annotation.
#[test]
fn names_quoted_in_diagnostics_are_escaped_in_every_format() {
    let dir = manifest_dir();
    let doc = "apiVersion: warrant/v1\nkind: AutomationIdentity\nmetadata: {name: \"dup\\e[2J\"}\nspec:\n  target: connect-prod\n  roles: [Tenant Member]\n";
    std::fs::write(dir.path().join("a.yaml"), doc).unwrap();
    std::fs::write(dir.path().join("b.yaml"), doc).unwrap();
    let paths: Vec<PathBuf> = vec![dir.path().to_path_buf()];
    let paths: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();

    let text = validate(&paths, &[]);
    assert!(
        text.stderr
            .contains("duplicate AutomationIdentity name \"dup\\u{1b}[2J\""),
        "{}",
        text.stderr
    );
    assert_no_hidden("text", &text.stderr);

    let json = validate(&paths, &["--format", "json"]);
    assert!(json.stdout.contains("dup\\u001b[2J"), "{}", json.stdout);
    assert_no_hidden("json", &json.stdout);

    let github = Command::new(env!("CARGO_BIN_EXE_warrant"))
        .arg("validate")
        .arg(dir.path())
        .env("GITHUB_ACTIONS", "true")
        .output()
        .unwrap();
    let annotations = String::from_utf8(github.stdout).unwrap();
    assert!(annotations.contains("::error file="), "{annotations}");
    assert_no_hidden("annotations", &annotations);
}
