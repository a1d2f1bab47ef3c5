//! Key sinks with real files and real programs: a file sink creates a new 0600 file and never
//! overwrites; a command sink gets the key on stdin; failures never quote the key.

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
