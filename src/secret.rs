//! Secrets that cannot be printed, and the sinks a newly created key is delivered to.
//!
//! Credentials come only from environment variables and live in a [`Secret`] from the moment
//! they are read. `Secret` has no `Display`, its `Debug` prints a fixed placeholder, and it is
//! not `Serialize`, so it cannot reach stdout, logs, plan files or reports by accident. The
//! only way to the bytes is [`Secret::expose`], used where a header is built or a key sink is
//! fed.
//!
//! [`KeySink::deliver`] is the one place a new Mist key leaves the process: a new file (mode
//! 0600, never overwriting) or the stdin of a program. Its errors never contain the key.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A credential or key. Deliberately not `Display`, not `Serialize`, and `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret's text. Call only where the value must leave the process on purpose
    /// (an Authorization header, a token request body, a key sink).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Where the key of a newly created Mist token goes. The manifest names it; the value is not
/// itself secret.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum KeySink {
    /// A new file created with mode 0600; an existing file is never overwritten.
    File(PathBuf),
    /// A program (argv, run without a shell) that receives the key on stdin.
    Command(Vec<String>),
}

/// Why a key could not be delivered to its sink. The message never contains the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SinkError(String);

/// How long a sink command may run before it is killed and the delivery fails.
const SINK_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How much of a failing sink command's stderr is quoted.
const STDERR_EXCERPT_CHARS: usize = 400;

impl KeySink {
    /// `file PATH` or `command PROGRAM …`, for messages.
    pub fn describe(&self) -> String {
        match self {
            KeySink::File(path) => format!("file {}", path.display()),
            KeySink::Command(argv) => format!("command {}", argv.join(" ")),
        }
    }

    /// Checks, before a token is created, that its key could be delivered: a file sink's
    /// directory exists and the file does not; a command sink names a program. Creating a
    /// token whose key would be lost is worse than not creating it.
    pub fn check(&self, base_dir: &Path) -> Result<(), SinkError> {
        match self {
            KeySink::File(path) => {
                let path = base_dir.join(path);
                let dir = parent_dir(&path);
                if !dir.is_dir() {
                    return Err(SinkError(format!(
                        "key file directory {} does not exist",
                        dir.display()
                    )));
                }
                if path.symlink_metadata().is_ok() {
                    return Err(SinkError(format!(
                        "key file {} already exists and is never overwritten",
                        path.display()
                    )));
                }
                Ok(())
            }
            KeySink::Command(argv) => match argv.first() {
                Some(program) if !program.is_empty() => {
                    if program_exists(program, base_dir) {
                        Ok(())
                    } else {
                        Err(SinkError(format!(
                            "key sink program {program} is not found (not on PATH, or not a file)"
                        )))
                    }
                }
                _ => Err(SinkError("key sink command is empty".into())),
            },
        }
    }

    /// Delivers `key`. A relative file path or a command's working directory is `base_dir`.
    pub async fn deliver(&self, key: &Secret, base_dir: &Path) -> Result<(), SinkError> {
        match self {
            KeySink::File(path) => write_new_file(&base_dir.join(path), key),
            KeySink::Command(argv) => run_command(argv, key, base_dir).await,
        }
    }
}

/// Whether `program` can be started: a path (relative to `base_dir`) to a file, or a name found
/// in a `PATH` directory. Checked before a token is created, because a key that cannot be
/// delivered is lost for good.
fn program_exists(program: &str, base_dir: &Path) -> bool {
    if program.contains('/') {
        return base_dir.join(program).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Writes the key into a temporary file (created 0600) in the target's directory, then links
/// it into place without clobbering: the key is never visible half-written, and an existing
/// file is never replaced.
fn write_new_file(path: &Path, key: &Secret) -> Result<(), SinkError> {
    let shown = path.display();
    let dir = parent_dir(path);
    if !dir.is_dir() {
        return Err(SinkError(format!(
            "key file directory {} does not exist",
            dir.display()
        )));
    }
    let mut builder = tempfile::Builder::new();
    builder.prefix(".warrant-key-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o600));
    }
    let mut tmp = builder.tempfile_in(dir).map_err(|e| {
        SinkError(format!(
            "cannot create a temporary file beside {shown}: {e}"
        ))
    })?;
    tmp.write_all(key.expose().as_bytes())
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| SinkError(format!("cannot write the key file {shown}: {e}")))?;
    tmp.persist_noclobber(path).map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            SinkError(format!(
                "key file {shown} already exists and is never overwritten"
            ))
        } else {
            SinkError(format!("cannot create the key file {shown}: {}", e.error))
        }
    })?;
    Ok(())
}

/// Runs `argv` without a shell, the key on its stdin. Its stdout is discarded (a program that
/// echoes its input must not put the key into our output); its stderr is quoted on failure,
/// with any occurrence of the key redacted.
async fn run_command(argv: &[String], key: &Secret, base_dir: &Path) -> Result<(), SinkError> {
    use tokio::io::AsyncWriteExt;
    let Some((program, args)) = argv.split_first() else {
        return Err(SinkError("key sink command is empty".into()));
    };
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .current_dir(base_dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| SinkError(format!("cannot run key sink command {program}: {e}")))?;
    let fed = match child.stdin.take() {
        Some(mut stdin) => {
            let written = stdin.write_all(key.expose().as_bytes()).await;
            // Dropping stdin closes it, so the program sees end of input.
            drop(stdin);
            written
        }
        None => Err(std::io::Error::other("no stdin")),
    };
    let output = tokio::time::timeout(SINK_COMMAND_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| {
            SinkError(format!(
                "key sink command {program} did not finish within {}s and was killed",
                SINK_COMMAND_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| SinkError(format!("key sink command {program} failed: {e}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(SinkError(format!(
            "key sink command {program} exited with {}{}",
            output.status,
            excerpt(&stderr, key)
        )));
    }
    fed.map_err(|e| {
        SinkError(format!(
            "key sink command {program} did not read the key from stdin: {e}"
        ))
    })
}

fn excerpt(stderr: &str, key: &Secret) -> String {
    let text = if key.is_empty() {
        stderr.to_string()
    } else {
        stderr.replace(key.expose(), "<redacted>")
    };
    let text = text.trim();
    if text.is_empty() {
        return String::new();
    }
    let mut cut: String = text.chars().take(STDERR_EXCERPT_CHARS).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    format!(": {cut}")
}
