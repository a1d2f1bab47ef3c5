//! `warrant export` as a subprocess: credentials in the child's environment only, `--endpoint`
//! to a sandbox started by the test. It prints YAML manifests to stdout, writes files with
//! `--out` (refusing to overwrite), and never prints a secret.

use std::path::Path;
use std::process::{Command, Output};

use warrant::sandbox::{self, Faults, Seed};

const TARGETS: &str = include_str!("../../examples/manifests/targets.yaml");

/// Every credential and key in the seed: none may appear in any output.
fn secrets(seed: &Seed) -> Vec<String> {
    let mut all: Vec<String> = seed
        .atlan
        .callers
        .iter()
        .map(|c| c.api_key.clone())
        .collect();
    for t in &seed.connect.tenants {
        all.extend(t.clients.iter().map(|c| c.client_secret.clone()));
    }
    for o in &seed.mist.orgs {
        all.extend(o.api_tokens.iter().map(|t| t.key.clone()));
    }
    all
}

/// Runs the binary with warrant's sandbox credentials (examples/WORLD.md) in its environment.
async fn warrant(dir: &Path, args: Vec<String>) -> Output {
    let seed = Seed::example();
    let connect = &seed.connect.tenants[0].clients[0];
    let mut command = Command::new(env!("CARGO_BIN_EXE_warrant"));
    command
        .current_dir(dir)
        .args(args)
        .env("ATLAN_API_KEY", &seed.atlan.callers[0].api_key)
        .env("CONNECT_CLIENT_ID", &connect.client_id)
        .env("CONNECT_CLIENT_SECRET", &connect.client_secret)
        .env("MIST_API_TOKEN", &seed.mist.orgs[0].api_tokens[0].key);
    // The sandbox serves from this runtime while the child runs on a blocking thread.
    tokio::task::spawn_blocking(move || command.output().expect("the binary runs"))
        .await
        .expect("join")
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn assert_no_secret(seed: &Seed, output: &Output) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    for secret in secrets(seed) {
        assert!(!stdout.contains(&secret), "a secret on stdout");
        assert!(!stderr.contains(&secret), "a secret on stderr");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_prints_manifests_for_every_platform_and_no_secret() {
    let seed = Seed::example();
    let sandbox = sandbox::start(seed.clone(), Faults::default())
        .await
        .expect("sandbox starts");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("targets.yaml"), TARGETS).expect("write targets");
    let cases = [
        ("atlan-prod", &sandbox.atlan, "ConnectionAdmins", 3),
        ("connect-prod", &sandbox.connect, "AutomationIdentity", 2),
        ("mist-prod", &sandbox.mist, "OrgApiToken", 3),
    ];
    for (target, url, kind, count) in cases {
        let output = warrant(
            dir.path(),
            args(&[
                "export",
                "targets.yaml",
                "--target",
                target,
                "--endpoint",
                &format!("{target}={url}"),
            ]),
        )
        .await;
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        assert!(
            output.status.success(),
            "{target}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout.starts_with(&format!(
            "# Exported by `warrant export --target {target}` from live state at "
        )));
        assert_eq!(
            stdout.matches(&format!("kind: {kind}\n")).count(),
            count,
            "{stdout}"
        );
        assert_no_secret(&seed, &output);
        // What was printed is a valid manifest stream on its own (with the Target).
        let stream = format!("{TARGETS}\n---\n{stdout}");
        let loaded = warrant::platform::Manifests::parse(Path::new("exported.yaml"), &stream)
            .unwrap_or_else(|d| panic!("{}", warrant::manifest::render_text(&d)));
        assert_eq!(loaded.resources.len(), count);
    }
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_writes_files_once_and_then_refuses() {
    let seed = Seed::example();
    let sandbox = sandbox::start(seed.clone(), Faults::default())
        .await
        .expect("sandbox starts");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("targets.yaml"), TARGETS).expect("write targets");
    let run = args(&[
        "export",
        "targets.yaml",
        "--target",
        "mist-prod",
        "--endpoint",
        &format!("mist-prod={}", sandbox.mist),
        "--out",
        "adopted",
    ]);
    let first = warrant(dir.path(), run.clone()).await;
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(first.stdout.is_empty(), "with --out nothing goes to stdout");
    let written = dir.path().join("adopted/org-api-tokens.yaml");
    let text = std::fs::read_to_string(&written).expect("file written");
    assert!(text.contains("kind: OrgApiToken"));

    let second = warrant(dir.path(), run).await;
    assert_eq!(second.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("already exists"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&written).expect("still there"),
        text
    );
    assert_no_secret(&seed, &first);
    assert_no_secret(&seed, &second);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_target_or_missing_credential_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("targets.yaml"), TARGETS).expect("write targets");
    let unknown = warrant(dir.path(), args(&["export", "--target", "nope"])).await;
    assert_eq!(unknown.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        stderr.contains("no Target document named \"nope\"") && stderr.contains("atlan-prod"),
        "{stderr}"
    );

    let output = tokio::task::spawn_blocking({
        let dir = dir.path().to_path_buf();
        move || {
            Command::new(env!("CARGO_BIN_EXE_warrant"))
                .current_dir(dir)
                .args(["export", "--target", "atlan-prod"])
                .env_remove("ATLAN_API_KEY")
                .output()
                .expect("the binary runs")
        }
    })
    .await
    .expect("join");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ATLAN_API_KEY is not set"), "{stderr}");
}
