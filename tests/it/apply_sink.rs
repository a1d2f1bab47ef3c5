//! Key sinks with real files and real programs: a file sink creates a new 0600 file and never
//! overwrites; a command sink gets the key on stdin, must read all of it, and sees only the
//! variables its manifest names (`keySink.env`) besides PATH, HOME, LANG and TMPDIR; failures
//! never quote the key.

use warrant::secret::{KeySink, Secret};

fn planted_key() -> Secret {
    Secret::new(format!("PLANTED-{}", uuid::Uuid::new_v4().simple()))
}

#[tokio::test]
async fn a_file_sink_creates_a_new_owner_only_file_with_the_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    let key = planted_key();
    let sink = KeySink::File("keys/tok.key".into());

    sink.check(dir.path()).unwrap();
    sink.deliver(&key, dir.path()).await.unwrap();

    let path = dir.path().join("keys/tok.key");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), key.expose());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    }
    // No temporary file left beside it.
    let names: Vec<_> = std::fs::read_dir(dir.path().join("keys"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("tok.key")]);
}

#[tokio::test]
async fn a_file_sink_never_overwrites_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tok.key");
    std::fs::write(&path, "precious").unwrap();
    let key = planted_key();
    let sink = KeySink::File("tok.key".into());

    let checked = sink.check(dir.path()).unwrap_err();
    assert!(checked.to_string().contains("already exists"), "{checked}");
    let err = sink.deliver(&key, dir.path()).await.unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert!(!err.to_string().contains(key.expose()));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[tokio::test]
async fn a_file_sink_needs_an_existing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let sink = KeySink::File("missing/tok.key".into());
    let err = sink.check(dir.path()).unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    let err = sink.deliver(&planted_key(), dir.path()).await.unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(!dir.path().join("missing").exists());
}

#[tokio::test]
async fn a_command_sink_gets_the_key_on_stdin_without_a_shell() {
    let dir = tempfile::tempdir().unwrap();
    let key = planted_key();
    // The argv is run as is: the `$0` reaches sh as an argument, not through a shell of ours.
    let sink = KeySink::Command {
        argv: vec![
            "sh".into(),
            "-c".into(),
            "cat > \"$0\"".into(),
            "received.key".into(),
        ],
        env: Vec::new(),
    };

    sink.deliver(&key, dir.path()).await.unwrap();

    let got = std::fs::read_to_string(dir.path().join("received.key")).unwrap();
    assert_eq!(got, key.expose());
}

#[tokio::test]
async fn a_failing_command_sink_quotes_stderr_but_never_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = planted_key();
    let sink = KeySink::Command {
        argv: vec![
            "sh".into(),
            "-c".into(),
            "printf 'cannot store %s\\n' \"$(cat)\" >&2; exit 5".into(),
        ],
        env: Vec::new(),
    };

    let err = sink
        .deliver(&key, dir.path())
        .await
        .unwrap_err()
        .to_string();

    assert!(err.contains("cannot store <redacted>"), "{err}");
    assert!(err.contains('5'), "{err}");
    assert!(!err.contains(key.expose()), "{err}");
}

#[tokio::test]
async fn a_command_sink_that_cannot_start_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let sink = KeySink::Command {
        argv: vec!["/nonexistent/warrant-sink".into()],
        env: Vec::new(),
    };
    let err = sink.deliver(&planted_key(), dir.path()).await.unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/warrant-sink"),
        "{err}"
    );
    let empty = KeySink::Command {
        argv: Vec::new(),
        env: Vec::new(),
    };
    assert!(empty.check(dir.path()).is_err());
}

#[tokio::test]
async fn a_command_sink_that_exits_0_without_reading_the_key_fails() {
    let dir = tempfile::tempdir().unwrap();
    for argv in [
        vec!["true".to_string()],
        // Reads part of the key only.
        vec!["sh".into(), "-c".into(), "head -c 5 >/dev/null".into()],
    ] {
        let sink = KeySink::Command {
            argv,
            env: Vec::new(),
        };
        let err = sink
            .deliver(&planted_key(), dir.path())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("exited 0 without reading the whole key from stdin"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn a_command_sink_runs_in_the_repository_root_and_is_checked_for_its_variables() {
    let dir = tempfile::tempdir().unwrap();
    let sink = KeySink::Command {
        argv: vec!["sh".into(), "-c".into(), "cat > here.key".into()],
        env: vec!["WARRANT_TEST_VARIABLE_NOBODY_SETS".into()],
    };
    let err = sink.check(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("WARRANT_TEST_VARIABLE_NOBODY_SETS, not set"),
        "{err}"
    );
    let key = planted_key();
    let sink = KeySink::Command {
        argv: vec!["sh".into(), "-c".into(), "cat > here.key".into()],
        env: Vec::new(),
    };
    sink.check(dir.path()).unwrap();
    sink.deliver(&key, dir.path()).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("here.key")).unwrap(),
        key.expose()
    );
}

// ---- Through `warrant apply`, against the sandbox ----

use crate::support::{
    ATLAN_KEY, CONNECT_SECRET, MIST_KEY, World, example_manifests, find_object, run,
};

/// The example world with installer-app's key going to `sink` (a YAML flow mapping).
async fn world_with_sink(sink: &str) -> World {
    let files: Vec<(String, String)> = example_manifests()
        .into_iter()
        .map(|(name, text)| {
            let text = text.replace("keySink: {file: ../keys/installer-app.key}", sink);
            (name, text)
        })
        .collect();
    World::start(warrant::sandbox::Seed::example(), &files).await
}

fn apply_with_env(world: &World, extra: &[(&str, &str)]) -> (i32, String) {
    let mut command = world.command(ATLAN_KEY);
    command
        .args([
            "apply",
            "manifests",
            "--auto-approve",
            "--report",
            "report.json",
        ])
        .args(world.endpoint_args())
        .envs(extra.iter().copied());
    let out = run(command);
    (out.code, out.stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_sink_sees_only_the_variables_its_manifest_names() {
    let world = world_with_sink(
        "keySink: {command: [sh, -c, 'cat > installer.key && env > sink.env'], env: [SINK_SHOULD_SEE]}",
    )
    .await;

    let (code, stdout) = apply_with_env(
        &world,
        &[
            ("SINK_SHOULD_SEE", "visible"),
            ("SINK_MUST_NOT_SEE", "hidden"),
            ("GH_SECRETS_TOKEN", "hidden-too"),
        ],
    );

    assert_eq!(code, 0, "{stdout}");
    let seen = std::fs::read_to_string(world.dir().join("sink.env")).unwrap();
    let names: Vec<&str> = seen
        .lines()
        .filter_map(|l| l.split_once('=').map(|(name, _)| name))
        .collect();
    assert!(seen.contains("SINK_SHOULD_SEE=visible"), "{seen}");
    assert!(names.contains(&"PATH"), "{seen}");
    // Only the base variables, the named one, and what sh itself sets.
    let allowed = [
        "PATH",
        "HOME",
        "LANG",
        "TMPDIR",
        "SINK_SHOULD_SEE",
        "PWD",
        "OLDPWD",
        "SHLVL",
        "_",
    ];
    let unexpected: Vec<&&str> = names.iter().filter(|n| !allowed.contains(n)).collect();
    assert!(
        unexpected.is_empty(),
        "the sink saw {unexpected:?}:\n{seen}"
    );
    for secret in [ATLAN_KEY, CONNECT_SECRET, MIST_KEY, "hidden"] {
        assert!(!seen.contains(secret), "the sink saw {secret}");
    }
    let key = std::fs::read_to_string(world.dir().join("installer.key")).unwrap();
    assert!(key.len() >= 16);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_that_ignores_stdin_fails_the_object_and_the_run() {
    let world = world_with_sink("keySink: {command: ['true']}").await;

    let (code, stdout) = apply_with_env(&world, &[]);

    assert_eq!(code, 1, "{stdout}");
    let report: warrant::apply::ApplyReport =
        serde_json::from_str(&std::fs::read_to_string(world.dir().join("report.json")).unwrap())
            .unwrap();
    let installer = report
        .objects
        .iter()
        .find(|o| o.address.name == "installer-app")
        .unwrap();
    assert_eq!(installer.status, warrant::apply::Status::Failed);
    let error = installer.error.as_deref().unwrap_or_default();
    assert!(
        error.starts_with("token created, key NOT delivered: rotate it (token installer-app, id "),
        "{error}"
    );
    assert!(error.contains("without reading the whole key"), "{error}");
    assert!(stdout.contains("key NOT delivered: rotate it"), "{stdout}");
    // The token exists (its key is lost): that is what the report tells a human to fix.
    assert!(find_object(&world.sandbox.state(), "name", "installer-app").is_some());
}
