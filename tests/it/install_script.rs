//! `scripts/install.sh`, the one install path (the GitHub Action calls it, other CIs run it),
//! against a fake release served on 127.0.0.1 with an OS-chosen port: a good checksum installs a
//! binary that runs; a bad checksum, a missing asset, a missing checksum or a binary that does
//! not run is refused and leaves nothing in the install directory (an earlier warrant
//! untouched). Also: the asset follows the OS and architecture `uname` reports, the script runs
//! under dash and bash with only curl or only wget, and `action.yml`'s step, run by bash as
//! GitHub would, installs through the script and puts `warrant` on PATH.
//!
//! The fake release's `warrant` is a small shell script answering `--version`.

use std::collections::BTreeMap;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::tools::{run, tail};

const SCRIPT: &str = "scripts/install.sh";
const VERSION: &str = "v9.9.9";
const FAKE_WARRANT: &[u8] = b"#!/bin/sh\necho \"warrant 9.9.9 (fake release)\"\n";
const TIMEOUT: Duration = Duration::from_secs(60);

/// Every asset the release workflow publishes, by (uname -s, uname -m) of the machine that
/// installs it.
pub const ASSETS: [(&str, &str, &str); 4] = [
    ("Linux", "x86_64", "warrant-x86_64-unknown-linux-musl"),
    ("Linux", "aarch64", "warrant-aarch64-unknown-linux-musl"),
    ("Darwin", "x86_64", "warrant-x86_64-apple-darwin"),
    ("Darwin", "arm64", "warrant-aarch64-apple-darwin"),
];

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The asset for the machine running the tests.
fn this_machines_asset() -> &'static str {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => ASSETS[0].2,
        ("linux", "aarch64") => ASSETS[1].2,
        ("macos", "x86_64") => ASSETS[2].2,
        ("macos", "aarch64") => ASSETS[3].2,
        other => panic!("no warrant release asset for {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The fake release server

/// A release server on 127.0.0.1: serves the files it was given by path, 404 for the rest, and
/// records every path asked for.
struct Release {
    _rt: tokio::runtime::Runtime,
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
}

type Files = Arc<BTreeMap<String, Vec<u8>>>;
type Requests = Arc<Mutex<Vec<String>>>;

impl Release {
    fn serve(files: &[(String, &[u8])]) -> Release {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let files: Files = Arc::new(
            files
                .iter()
                .map(|(path, body)| (path.clone(), body.to_vec()))
                .collect(),
        );
        let requests: Requests = Arc::default();
        let app = Router::new()
            .fallback(
                |State((files, requests)): State<(Files, Requests)>, uri: Uri| async move {
                    requests.lock().unwrap().push(uri.path().to_string());
                    match files.get(uri.path()) {
                        Some(body) => (StatusCode::OK, body.clone()).into_response(),
                        None => (StatusCode::NOT_FOUND, "Not Found").into_response(),
                    }
                },
            )
            .with_state((files, requests.clone()));
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind 127.0.0.1");
        let url = format!("http://{}", listener.local_addr().unwrap());
        rt.spawn(async move { axum::serve(listener, app).await });
        Release {
            _rt: rt,
            url,
            requests,
        }
    }

    /// A release `VERSION` at `<url>/<tag>/<asset>`, as `--base-url` expects.
    fn with_assets(assets: &[(&str, &[u8])]) -> Release {
        let files: Vec<(String, &[u8])> = assets
            .iter()
            .map(|(name, body)| (format!("/{VERSION}/{name}"), *body))
            .collect();
        Release::serve(&files)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

// ---------------------------------------------------------------------------------------------
// Running the script

/// The script run by `shell` with `args`, in a clean environment apart from `env`.
fn install_with(shell: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(shell);
    cmd.arg(SCRIPT).args(args);
    scrub(&mut cmd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(&mut cmd, TIMEOUT).unwrap_or_else(|e| panic!("{shell} {SCRIPT}: {e}"))
}

/// `--base-url BASE --version VERSION --checksum CHECKSUM --dir DIR`.
fn release_args<'a>(
    base: &'a str,
    version: &'a str,
    checksum: &'a str,
    dir: &'a Path,
) -> [&'a str; 8] {
    let dir = dir.to_str().unwrap();
    [
        "--base-url",
        base,
        "--version",
        version,
        "--checksum",
        checksum,
        "--dir",
        dir,
    ]
}

fn install(args: &[&str]) -> Output {
    install_with("sh", args, &[])
}

/// Removes what would change where the script downloads from or installs to.
fn scrub(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().to_string();
        let upper = key.to_ascii_uppercase();
        if upper.starts_with("WARRANT_")
            || upper.starts_with("GITHUB_")
            || upper.ends_with("_PROXY")
        {
            cmd.env_remove(&key);
        }
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// The names in `dir`, hidden ones included (a leftover temporary file would show here).
fn listing(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    names
}

fn assert_refused(out: &Output, dir: &Path, words: &[&str]) {
    assert!(!out.status.success(), "expected a refusal:\n{}", tail(out));
    assert!(out.stdout.is_empty(), "printed a path: {}", tail(out));
    let err = stderr(out);
    for word in words {
        assert!(err.contains(word), "stderr lacks {word:?}:\n{err}");
    }
    assert_eq!(
        listing(dir),
        Vec::<String>::new(),
        "something was left in {dir:?}"
    );
}

fn assert_installed(out: &Output, dir: &Path) -> PathBuf {
    assert!(out.status.success(), "install failed:\n{}", tail(out));
    let target = dir.join("warrant");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}\n", target.display()),
        "stdout is the installed path"
    );
    assert_eq!(listing(dir), ["warrant"], "only warrant is left in {dir:?}");
    let mode = std::fs::metadata(&target).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o755);
    let ran = run(Command::new(&target).arg("--version"), TIMEOUT).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout),
        "warrant 9.9.9 (fake release)\n"
    );
    target
}

// ---------------------------------------------------------------------------------------------
// Good, bad, missing

#[test]
fn a_good_checksum_installs_a_binary_that_runs_under_dash_and_bash() {
    let asset = this_machines_asset();
    let release = Release::with_assets(&[(asset, FAKE_WARRANT)]);
    let sum = sha256(FAKE_WARRANT);
    for shell in ["sh", "bash"] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("bin");
        let out = install_with(shell, &release_args(&release.url, VERSION, &sum, &dir), &[]);
        assert_installed(&out, &dir);
        assert!(stderr(&out).contains(&format!("sha256 {sum}")), "{shell}");
    }
    assert_eq!(
        release.requests(),
        vec![format!("/{VERSION}/{asset}"); 2],
        "one download of this machine's asset per install"
    );
}

#[test]
fn a_bad_checksum_is_refused_and_installs_nothing() {
    let asset = this_machines_asset();
    // The server lies: it serves another binary than the one the checksum pins.
    let release = Release::with_assets(&[(asset, b"#!/bin/sh\necho pwned\n")]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bin");
    let sum = sha256(FAKE_WARRANT);
    let out = install(&release_args(&release.url, VERSION, &sum, &dir));
    assert_refused(
        &out,
        &dir,
        &["SHA-256 mismatch", &sum, "Nothing was installed"],
    );
    assert_eq!(release.requests().len(), 1);

    // Over an earlier install: that warrant stays as it was.
    std::fs::write(dir.join("warrant"), b"earlier warrant").unwrap();
    let out = install(&release_args(&release.url, VERSION, &sum, &dir));
    assert!(!out.status.success(), "{}", tail(&out));
    assert_eq!(listing(&dir), ["warrant"]);
    assert_eq!(
        std::fs::read(dir.join("warrant")).unwrap(),
        b"earlier warrant"
    );
}

#[test]
fn a_missing_asset_fails_clearly_and_installs_nothing() {
    let release = Release::with_assets(&[(this_machines_asset(), FAKE_WARRANT)]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bin");
    let out = install(&release_args(
        &release.url,
        "v9.9.8",
        &sha256(FAKE_WARRANT),
        &dir,
    ));
    let url = format!("{}/v9.9.8/{}", release.url, this_machines_asset());
    assert_refused(
        &out,
        &dir,
        &[&url, "404", "release v9.9.8", "Nothing was installed"],
    );
}

#[test]
fn no_checksum_or_a_malformed_one_is_refused_before_any_download() {
    let release = Release::with_assets(&[(this_machines_asset(), FAKE_WARRANT)]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bin");
    let base = ["--base-url", &release.url, "--version", VERSION];
    let dir_args = ["--dir", dir.to_str().unwrap()];

    let out = install(&[&base[..], &dir_args[..]].concat());
    assert_refused(&out, &dir, &["no checksum", "refusing to install"]);

    let short = &sha256(FAKE_WARRANT)[..63];
    for (bad, why) in [
        (short, "is not a SHA-256"),
        ("g".repeat(64).as_str(), "is not a SHA-256"),
        ("   ", "no checksum"),
    ] {
        let out = install(&[&base[..], &["--checksum", bad], &dir_args[..]].concat());
        assert_refused(&out, &dir, &[why]);
    }
    assert_eq!(release.requests(), Vec::<String>::new());
}

#[test]
fn sha256sums_lines_pick_this_machines_asset() {
    let asset = this_machines_asset();
    let release = Release::with_assets(&[(asset, FAKE_WARRANT)]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bin");
    // As sha256sum writes them; this machine's digest in capitals and with the binary marker.
    let sums: String = ASSETS
        .iter()
        .map(|(_, _, name)| {
            if *name == asset {
                format!("{} *{name}\n", sha256(FAKE_WARRANT).to_uppercase())
            } else {
                format!("{}  {name}\n", sha256(name.as_bytes()))
            }
        })
        .collect();
    let args = |checksum: &str| install(&release_args(&release.url, VERSION, checksum, &dir));
    assert_installed(&args(&sums), &dir);
    std::fs::remove_file(dir.join("warrant")).unwrap();

    let without_ours: String = sums
        .lines()
        .filter(|l| !l.ends_with(asset))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_refused(&args(&without_ours), &dir, &["no line for", asset]);

    let conflicting = format!("{sums}{}  {asset}\n", sha256(b"other"));
    assert_refused(&args(&conflicting), &dir, &["two different lines", asset]);

    let garbled = format!("{sums}not a checksum line\n");
    assert_refused(&args(&garbled), &dir, &["cannot read the checksum line"]);
    assert_eq!(release.requests().len(), 1, "only the good list downloaded");
}

#[test]
fn a_verified_binary_that_does_not_run_here_is_not_installed() {
    let asset = this_machines_asset();
    // Right checksum, wrong machine: not an executable this system can run.
    let foreign: &[u8] = b"\x7fELF\x02\x01\x01\x00not really a binary";
    let release = Release::with_assets(&[(asset, foreign)]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bin");
    let out = install(&release_args(&release.url, VERSION, &sha256(foreign), &dir));
    assert_refused(
        &out,
        &dir,
        &["does not run on this machine", "Nothing was installed"],
    );
}

#[test]
fn versions_and_repositories_that_could_leave_the_release_are_refused() {
    let release = Release::with_assets(&[(this_machines_asset(), FAKE_WARRANT)]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bin");
    let sum = sha256(FAKE_WARRANT);
    for version in ["latest", "v1/../../evil", "v1.0.0?x=1", "", "v1.0.0#"] {
        let out = install(&release_args(&release.url, version, &sum, &dir));
        assert_refused(&out, &dir, &["version"]);
    }
    for repo in [
        "",
        "acme",
        "acme/warrant/extra",
        "../warrant",
        "acme/..",
        "acme/war rant",
    ] {
        let out = install(&[
            "--repo",
            repo,
            "--version",
            VERSION,
            "--checksum",
            &sum,
            "--dir",
            dir.to_str().unwrap(),
        ]);
        assert_refused(&out, &dir, &["repository"]);
    }
    let out = install(&release_args("ftp://127.0.0.1/", VERSION, &sum, &dir));
    assert_refused(&out, &dir, &["neither https:// nor http://"]);
    assert_eq!(release.requests(), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------------
// Machines and tools

/// A directory of links to exactly `tools` (found on this machine's PATH), plus any scripts
/// given, to be the whole PATH of a run.
fn path_with(dir: &Path, tools: &[&str], scripts: &[(&str, String)]) -> String {
    std::fs::create_dir_all(dir).unwrap();
    for tool in tools {
        let found = std::env::split_paths(&std::env::var_os("PATH").unwrap())
            .map(|p| p.join(tool))
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("{tool} is not on PATH"));
        symlink(found, dir.join(tool)).unwrap();
    }
    for (name, text) in scripts {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir.to_str().unwrap().to_string()
}

/// What the script needs besides a downloader and a hasher.
const BASE_TOOLS: [&str; 8] = ["sh", "uname", "mkdir", "mktemp", "chmod", "mv", "rm", "tr"];

#[test]
fn the_asset_follows_the_os_and_architecture_uname_reports() {
    let assets: Vec<(&str, &[u8])> = ASSETS.iter().map(|(_, _, a)| (*a, FAKE_WARRANT)).collect();
    let release = Release::with_assets(&assets);
    let sum = sha256(FAKE_WARRANT);
    let mut reported = vec![
        ("Linux", "amd64", Some(ASSETS[0].2)),
        ("Linux", "arm64", Some(ASSETS[1].2)),
        ("Darwin", "i386", None),
        ("FreeBSD", "amd64", None),
        ("Linux", "riscv64", None),
        ("MINGW64_NT-10.0", "x86_64", None),
    ];
    reported.extend(
        ASSETS
            .iter()
            .map(|(os, cpu, asset)| (*os, *cpu, Some(*asset))),
    );
    for (os, cpu, expected) in reported {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("bin");
        let fake_uname = format!(
            "#!/bin/sh\ncase $1 in -s) echo '{os}' ;; -m) echo '{cpu}' ;; *) exit 1 ;; esac\n"
        );
        let tools: Vec<&str> = BASE_TOOLS
            .iter()
            .filter(|t| **t != "uname")
            .chain(&["curl", "sha256sum"])
            .copied()
            .collect();
        let path = path_with(&tmp.path().join("path"), &tools, &[("uname", fake_uname)]);
        let before = release.requests().len();
        let out = install_with(
            "sh",
            &release_args(&release.url, VERSION, &sum, &dir),
            &[("PATH", &path)],
        );
        match expected {
            Some(asset) => {
                assert_installed(&out, &dir);
                assert_eq!(
                    release.requests()[before..],
                    [format!("/{VERSION}/{asset}")],
                    "{os} {cpu}"
                );
            }
            None => {
                assert_refused(&out, &dir, &["no warrant release is built for"]);
                assert_eq!(release.requests().len(), before, "{os} {cpu}: downloaded");
            }
        }
    }
}

#[test]
fn only_curl_or_only_wget_and_either_hasher_suffice() {
    let asset = this_machines_asset();
    let release = Release::with_assets(&[(asset, FAKE_WARRANT)]);
    let sum = sha256(FAKE_WARRANT);
    for (downloader, hasher) in [
        ("curl", "sha256sum"),
        ("wget", "shasum"),
        ("wget", "sha256sum"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("bin");
        let tools: Vec<&str> = BASE_TOOLS
            .iter()
            .chain(&[downloader, hasher])
            .copied()
            .collect();
        let path = path_with(&tmp.path().join("path"), &tools, &[]);
        let before = release.requests().len();
        let out = install_with(
            "sh",
            &release_args(&release.url, VERSION, &sum, &dir),
            &[("PATH", &path)],
        );
        assert_installed(&out, &dir);
        assert_eq!(
            release.requests().len(),
            before + 1,
            "{downloader} {hasher}"
        );
    }

    // Neither downloader, or no hasher: a clear refusal before anything is fetched.
    for (tools, why) in [
        (vec!["sha256sum"], "needs curl or wget"),
        (vec!["curl"], "needs sha256sum or shasum"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("bin");
        let all: Vec<&str> = BASE_TOOLS.iter().copied().chain(tools).collect();
        let path = path_with(&tmp.path().join("path"), &all, &[]);
        let before = release.requests().len();
        let out = install_with(
            "sh",
            &release_args(&release.url, VERSION, &sum, &dir),
            &[("PATH", &path)],
        );
        assert!(!out.status.success());
        assert!(stderr(&out).contains(why), "{}", tail(&out));
        assert!(!dir.join("warrant").exists());
        assert_eq!(release.requests().len(), before);
    }
}

// ---------------------------------------------------------------------------------------------
// The GitHub Action

fn action() -> Value {
    let text = std::fs::read_to_string("action.yml").expect("action.yml at the repository root");
    serde_yaml::from_str(&text).expect("action.yml is YAML")
}

/// Runs the action's one step as GitHub's runner would: bash with `-eo pipefail`, the step's
/// `env` with `${{ inputs.X }}` resolved, the action checked out at `_actions/acme/warrant/REF`
/// and the server URL pointing at `release`.
fn run_action(release: &Release, inputs: &[(&str, &str)]) -> ActionRun {
    let action = action();
    assert_eq!(action["runs"]["using"], "composite");
    let steps = action["runs"]["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 1, "one step: the install script");
    let step = &steps[0];
    assert_eq!(step["shell"], "bash");
    let script = step["run"].as_str().expect("run");
    assert!(
        !script.contains("${{"),
        "inputs reach the script only through env, never spliced into it"
    );

    let tmp = tempfile::tempdir().unwrap();
    let action_path = tmp.path().join("work/_actions/acme/warrant").join(VERSION);
    std::fs::create_dir_all(&action_path).unwrap();
    let scripts = std::fs::canonicalize("scripts").unwrap();
    symlink(&scripts, action_path.join("scripts")).unwrap();
    let runner_temp = tmp.path().join("runner-temp");
    std::fs::create_dir_all(&runner_temp).unwrap();
    let github_path = tmp.path().join("github_path");
    let github_output = tmp.path().join("github_output");
    std::fs::write(&github_path, "").unwrap();
    std::fs::write(&github_output, "").unwrap();
    let script_file = tmp.path().join("step.sh");
    std::fs::write(&script_file, script).unwrap();

    let mut cmd = Command::new("bash");
    cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
        .arg(&script_file);
    scrub(&mut cmd);
    cmd.env("GITHUB_ACTION_PATH", &action_path)
        .env("GITHUB_SERVER_URL", &release.url)
        .env("GITHUB_PATH", &github_path)
        .env("GITHUB_OUTPUT", &github_output)
        .env("RUNNER_TEMP", &runner_temp);
    let defaults = action["inputs"].as_object().expect("inputs");
    for (var, value) in step["env"].as_object().expect("the step's env") {
        let expr = value.as_str().unwrap();
        let input = expr
            .strip_prefix("${{ inputs.")
            .and_then(|s| s.strip_suffix(" }}"))
            .unwrap_or_else(|| panic!("{var}: {expr} is not an input"));
        assert!(defaults.contains_key(input), "{input} is not declared");
        let given = inputs.iter().find(|(k, _)| *k == input).map(|(_, v)| *v);
        let default = defaults[input]["default"].as_str();
        cmd.env(var, given.or(default).unwrap_or(""));
    }
    let out = run(&mut cmd, TIMEOUT).unwrap();
    ActionRun {
        out,
        github_path: std::fs::read_to_string(&github_path).unwrap(),
        github_output: std::fs::read_to_string(&github_output).unwrap(),
        installed: runner_temp.join("warrant/bin"),
        _tmp: tmp,
    }
}

/// What one run of the action's step left: its output, what it appended to the runner's
/// GITHUB_PATH and GITHUB_OUTPUT files, and where it installs.
struct ActionRun {
    out: Output,
    github_path: String,
    github_output: String,
    installed: PathBuf,
    _tmp: tempfile::TempDir,
}

#[test]
fn the_action_installs_through_the_script_and_puts_warrant_on_path() {
    let action = action();
    for required in ["version", "checksum"] {
        assert_eq!(action["inputs"][required]["required"], true, "{required}");
    }
    let asset = this_machines_asset();
    let release = Release::serve(&[(
        format!("/acme/warrant/releases/download/{VERSION}/{asset}"),
        FAKE_WARRANT,
    )]);
    let sums = format!("{}  {asset}\n", sha256(FAKE_WARRANT));
    let good = run_action(&release, &[("version", VERSION), ("checksum", &sums)]);
    assert!(good.out.status.success(), "{}", tail(&good.out));
    // The repository came from where the runner checked the action out.
    assert_eq!(
        release.requests(),
        [format!("/acme/warrant/releases/download/{VERSION}/{asset}")]
    );
    let dir = &good.installed;
    assert_eq!(good.github_path, format!("{}\n", dir.display()));
    let outputs: BTreeMap<&str, &str> = good
        .github_output
        .lines()
        .filter_map(|l| l.split_once('='))
        .collect();
    assert_eq!(outputs["path"], dir.join("warrant").to_str().unwrap());
    let verifier = Path::new(outputs["verify-plan-artifact"]);
    assert!(verifier.is_file(), "{verifier:?}");
    assert!(verifier.ends_with("scripts/verify-plan-artifact.sh"));

    // A later step finds warrant on the PATH the runner builds from GITHUB_PATH.
    let later = run(
        Command::new("sh")
            .args(["-c", "warrant --version"])
            .env("PATH", format!("{}:/usr/bin:/bin", good.github_path.trim())),
        TIMEOUT,
    )
    .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&later.stdout),
        "warrant 9.9.9 (fake release)\n"
    );

    // An explicit repository input wins; a bad checksum fails the step and adds nothing to PATH.
    let bad = run_action(
        &release,
        &[
            ("version", VERSION),
            ("checksum", &sha256(b"something else")),
            ("repository", "acme/warrant"),
        ],
    );
    assert!(!bad.out.status.success());
    assert!(
        stderr(&bad.out).contains("SHA-256 mismatch"),
        "{}",
        tail(&bad.out)
    );
    assert_eq!(
        (bad.github_path.as_str(), bad.github_output.as_str()),
        ("", "")
    );
    assert_eq!(listing(&bad.installed), Vec::<String>::new());

    let elsewhere = run_action(
        &release,
        &[
            ("version", VERSION),
            ("checksum", &sums),
            ("repository", "someone-else/warrant"),
        ],
    );
    assert!(!elsewhere.out.status.success());
    assert!(
        stderr(&elsewhere.out).contains("404"),
        "{}",
        tail(&elsewhere.out)
    );
    assert_eq!(release.requests().len(), 3);
}

#[test]
fn the_readmes_install_line_works_as_written() {
    let readme = std::fs::read_to_string("README.md").unwrap();
    let line = readme
        .lines()
        .take(30)
        .find(|l| l.starts_with("curl ") && l.contains("scripts/install.sh"))
        .expect("a one-line install near the top of the README");
    let version = format!("v{}", env!("CARGO_PKG_VERSION"));
    assert!(
        line.contains(&format!("/warrant/{version}/scripts/install.sh")),
        "the script is fetched at the version it installs: {line}"
    );
    let (_, command) = line.split_once(" && ").expect("download && run");
    let words: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(words[..2], ["sh", "install.sh"], "{command}");

    // The same arguments, with the placeholder checksum filled in, against a fake release.
    let asset = this_machines_asset();
    let release = Release::serve(&[(format!("/{version}/{asset}"), FAKE_WARRANT)]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bin");
    let sum = sha256(FAKE_WARRANT);
    let mut args: Vec<&str> = words[2..]
        .iter()
        .map(|w| if *w == "SHA256" { sum.as_str() } else { w })
        .collect();
    args.extend(["--base-url", &release.url, "--dir", dir.to_str().unwrap()]);
    assert_installed(&install(&args), &dir);
}
