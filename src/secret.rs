//! Secrets that cannot be printed, the one redaction function, and the sinks a newly created key
//! is delivered to.
//!
//! Credentials come only from environment variables and live in a [`Secret`] from the moment
//! they are read. `Secret` has no `Display`, its `Debug` prints a fixed placeholder, and it is
//! not `Serialize`, so it cannot reach stdout, logs, plan files or reports by accident. The
//! only way to the bytes is [`Secret::expose`], used where a header is built or a key sink is
//! fed.
//!
//! A server can still send a secret back: gateways and identity providers echo the request in
//! their error bodies, and a key-sink program may print what it read. So every credential in
//! use (API keys, Mist tokens, the CONNECT client secret and its OAuth access token, new Mist
//! keys) is made known with `Secret::in_use` or `Secret::mask`, and `redact` masks each
//! of them — raw, URL-encoded, JSON-escaped and base64-encoded at any alignment — in any text.
//! The platform layer applies it where its errors and log lines are built
//! (`crate::platform::PlatformError`, `crate::platform::http`), a key sink to the stderr it
//! quotes, and every output to every string it shows (`crate::text::escape` and the JSON
//! writers there): a server that plants a credential in live data (a tag, a name) gets it
//! masked in plans, plan files and reports too. Only output is masked; the values apply writes
//! back are the live ones.
//!
//! [`KeySink::deliver`] is the one place a new Mist key leaves the process: a new file (mode
//! 0600, never overwriting) under the repository root, or the stdin of a program run with a
//! cleared environment. A program that does not read the whole key, or exits non-zero, fails
//! the delivery. Its errors never contain the key.

use std::borrow::Cow;
use std::fmt;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::RwLock;
use std::time::Duration;

use base64::Engine as _;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A credential or key. Deliberately not `Display`, not `Serialize`, and `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// A secret that is in use from now on (a credential read from the environment, an OAuth
    /// token, a new key): [`redact`] masks it in every text from here on.
    pub(crate) fn in_use(value: impl Into<String>) -> Secret {
        let secret = Secret::new(value);
        secret.mask();
        secret
    }

    /// Makes [`redact`] mask this secret, in every form it could be echoed in.
    pub(crate) fn mask(&self) {
        register(&self.0);
    }

    /// The secret's text. Call only where the value must leave the process on purpose
    /// (an Authorization header, a token request body, a key sink).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

// ------------------------------------------------------------------------------------ redaction

/// What a masked secret is replaced with.
pub(crate) const REDACTED: &str = "<redacted>";

/// Secrets shorter than this are not masked: a credential is never this short, and masking a
/// two-letter string would mangle every message.
const MIN_MASKED_LEN: usize = 6;

/// A base64 fragment shorter than this is not masked on its own (it would match by chance).
const MIN_BASE64_FRAGMENT: usize = 8;

/// Every form of every secret in use, and one automaton that finds any of them in a single pass
/// over a text (leftmost-longest, so a longer form containing a shorter one is replaced whole).
/// Process-wide: an error of one target may echo another target's credential. The automaton
/// keeps redaction cheap enough to run on every string of every output (a plan of 100,000
/// objects has millions), not only on error text.
struct Masks {
    forms: Vec<String>,
    matcher: Option<aho_corasick::AhoCorasick>,
}

static MASKS: RwLock<Masks> = RwLock::new(Masks {
    forms: Vec::new(),
    matcher: None,
});

fn register(secret: &str) {
    if secret.len() < MIN_MASKED_LEN {
        return;
    }
    let forms = forms_of(secret);
    let Ok(mut masks) = MASKS.write() else { return };
    let before = masks.forms.len();
    for form in forms {
        if !masks.forms.contains(&form) {
            masks.forms.push(form);
        }
    }
    if masks.forms.len() != before {
        let built = aho_corasick::AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostLongest)
            .build(&masks.forms);
        // Building from a few dozen short literals cannot fail; should it ever, no automaton
        // means `redact` masks everything rather than nothing.
        masks.matcher = built.ok();
        if masks.matcher.is_none() {
            masks.forms.clear();
            masks.forms.push(String::new());
        }
    }
}

/// The forms a server may echo a secret in: as is; URL-encoded (form or path style, upper or
/// lower-case hex); JSON-escaped; and base64 (standard and URL-safe), as the characters that
/// encode only the secret's bytes whatever precedes it — so `base64(id:secret)` of a Basic
/// header is caught as well as `base64(secret)`.
fn forms_of(secret: &str) -> Vec<String> {
    let mut forms = vec![secret.to_string()];
    let form_encoded: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let path_encoded = form_encoded.replace('+', "%20");
    for encoded in [form_encoded, path_encoded] {
        forms.push(lowercase_hex_escapes(&encoded));
        forms.push(encoded);
    }
    if let Ok(json) = serde_json::to_string(secret) {
        forms.push(json.trim_matches('"').to_string());
    }
    let bytes = secret.as_bytes();
    for engine in [
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ] {
        for offset in 0..3 {
            let mut shifted = vec![0u8; offset];
            shifted.extend_from_slice(bytes);
            let encoded = engine.encode(&shifted);
            // Characters wholly inside the secret's bits: from the first that starts at or
            // after bit 8·offset to the last that ends at or before its end.
            let start = (8 * offset).div_ceil(6);
            let end = (8 * (offset + bytes.len())) / 6;
            if end > start && end - start >= MIN_BASE64_FRAGMENT {
                forms.push(encoded[start..end].to_string());
            }
        }
    }
    forms.retain(|f| f.len() >= MIN_MASKED_LEN.min(secret.len()));
    forms.sort();
    forms.dedup();
    forms
}

fn lowercase_hex_escapes(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut chars = encoded.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '%' {
            out.extend(chars.by_ref().take(2).map(|h| h.to_ascii_lowercase()));
        }
    }
    out
}

/// The one redaction function: `text` with every form of every secret in use replaced by
/// `<redacted>`. Borrowed when there was nothing to mask, which is nearly always.
pub(crate) fn redact(text: &str) -> Cow<'_, str> {
    let Ok(masks) = MASKS.read() else {
        // A poisoned registry cannot tell what to mask; say nothing rather than leak.
        return Cow::Owned(format!("{REDACTED} (redaction unavailable)"));
    };
    let Some(matcher) = &masks.matcher else {
        return if masks.forms.is_empty() {
            Cow::Borrowed(text)
        } else {
            Cow::Owned(format!("{REDACTED} (redaction unavailable)"))
        };
    };
    if !matcher.is_match(text) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    matcher.replace_all_with(text, &mut out, |_, _, dst| {
        dst.push_str(REDACTED);
        true
    });
    Cow::Owned(out)
}

// ------------------------------------------------------------------------------------ key sinks

/// Where the key of a newly created Mist token goes, as validation built it from the
/// manifest's `keySink`. Not itself secret.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum KeySink {
    /// A new file created with mode 0600, never overwriting, at this path relative to the
    /// repository root (validation resolved the manifest's path, which is relative to the
    /// manifest file, and refused one leaving the root).
    File(PathBuf),
    /// A program (argv, run without a shell) that receives the key on stdin.
    Command {
        argv: Vec<String>,
        /// Variables passed besides `PATH`, `HOME`, `LANG` and `TMPDIR`; nothing else of
        /// warrant's environment (its credentials above all) reaches the program.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        env: Vec<String>,
    },
}

/// Why a key could not be delivered to its sink. The message never contains the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SinkError(String);

/// How long a sink command may run before it is killed and the delivery fails.
const SINK_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How much of a failing sink command's stderr is quoted.
const STDERR_EXCERPT_CHARS: usize = 400;
/// The variables every sink command gets from warrant's environment, when set.
pub(crate) const SINK_BASE_ENV: [&str; 4] = ["PATH", "HOME", "LANG", "TMPDIR"];
/// The largest key a command sink is fed: it is written into the pipe before the program
/// starts, which never blocks up to the pipe's atomic size. Mist keys are 40 characters.
const MAX_PIPED_KEY: usize = 4096;

impl KeySink {
    /// `file PATH` or `command PROGRAM …`, for messages and plans.
    pub(crate) fn describe(&self) -> String {
        match self {
            KeySink::File(path) => format!("file {}", path.display()),
            KeySink::Command { argv, .. } => format!("command {}", argv.join(" ")),
        }
    }

    /// Checks, before a token is created, that its key could be delivered: a file sink's
    /// path stays under `root`, its directory exists and the file does not; a command sink
    /// names a program that exists, and every variable it is to get is set. Creating a token
    /// whose key would be lost is worse than not creating it.
    pub fn check(&self, root: &Path) -> Result<(), SinkError> {
        match self {
            KeySink::File(path) => {
                let path = confined(root, path)?;
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
            KeySink::Command { argv, env } => {
                let program = match argv.first() {
                    Some(program) if !program.is_empty() => program,
                    _ => return Err(SinkError("key sink command is empty".into())),
                };
                if !program_exists(program, root) {
                    return Err(SinkError(format!(
                        "key sink program {program} is not found (not on PATH, or not a file)"
                    )));
                }
                let unset: Vec<&str> = env
                    .iter()
                    .filter(|name| std::env::var_os(name).is_none())
                    .map(String::as_str)
                    .collect();
                if !unset.is_empty() {
                    return Err(SinkError(format!(
                        "the key sink's env names {}, not set in warrant's environment",
                        unset.join(", ")
                    )));
                }
                Ok(())
            }
        }
    }

    /// Delivers `key`. A file path and a command's working directory are relative to `root`.
    pub async fn deliver(&self, key: &Secret, root: &Path) -> Result<(), SinkError> {
        key.mask();
        match self {
            KeySink::File(path) => write_new_file(&confined(root, path)?, key),
            KeySink::Command { argv, env } => run_command(argv, env, key, root).await,
        }
    }
}

/// `root/path`, refused when `path` is absolute, climbs with `..`, or leads through a
/// symbolic link out of `root`. Validation refuses such paths already; this holds the line
/// for a sink from anywhere else.
fn confined(root: &Path, path: &Path) -> Result<PathBuf, SinkError> {
    let plain = path
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if !plain || path.as_os_str().is_empty() {
        return Err(SinkError(format!(
            "key file {} must be a relative path inside the repository, without ..",
            path.display()
        )));
    }
    let joined = root.join(path);
    if !resolves_inside(root, &joined) {
        return Err(SinkError(format!(
            "key file {} leads out of the repository root {} through a symbolic link",
            path.display(),
            root.display()
        )));
    }
    Ok(joined)
}

/// Whether `path` (which may not exist yet) stays under `root` once the symbolic links of its
/// existing part are followed.
pub(crate) fn resolves_inside(root: &Path, path: &Path) -> bool {
    let Ok(root) = root.canonicalize() else {
        return false;
    };
    let mut existing = path;
    loop {
        if let Ok(real) = existing.canonicalize() {
            return real.starts_with(&root);
        }
        match existing.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => existing = parent,
            _ => return false,
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

/// Runs `argv` without a shell and with a cleared environment (only [`SINK_BASE_ENV`] and
/// `env`), the key on its stdin. The key is in the pipe before the program starts and the
/// pipe is closed behind it, so once the program has exited, whatever is left in the pipe is
/// what it did not read: a program that exits 0 without reading the whole key failed. Its
/// stdout is discarded (a program that echoes its input must not put the key into our
/// output); its stderr is quoted on failure, redacted.
async fn run_command(
    argv: &[String],
    env: &[String],
    key: &Secret,
    root: &Path,
) -> Result<(), SinkError> {
    let Some((program, args)) = argv.split_first() else {
        return Err(SinkError("key sink command is empty".into()));
    };
    let bytes = key.expose().as_bytes();
    if bytes.len() > MAX_PIPED_KEY {
        return Err(SinkError(format!(
            "the key is {} bytes, more than the {MAX_PIPED_KEY} a key sink command is fed",
            bytes.len()
        )));
    }
    let pipe_error = |e: std::io::Error| SinkError(format!("cannot make the key's pipe: {e}"));
    let (reader, mut writer) = std::io::pipe().map_err(pipe_error)?;
    let mut leftover = reader.try_clone().map_err(pipe_error)?;
    writer.write_all(bytes).map_err(pipe_error)?;
    drop(writer);

    let passed = SINK_BASE_ENV
        .iter()
        .map(|name| name.to_string())
        .chain(env.iter().cloned())
        .filter_map(|name| std::env::var_os(&name).map(|value| (name, value)));
    let child = tokio::process::Command::new(program)
        .args(args)
        .current_dir(root)
        .env_clear()
        .envs(passed)
        .stdin(std::process::Stdio::from(reader))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| SinkError(format!("cannot run key sink command {program}: {e}")))?;
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
            excerpt(&stderr)
        )));
    }
    // The write end is closed, so this returns at once: what is left, or nothing.
    let mut unread = Vec::new();
    let drained = leftover.read_to_end(&mut unread);
    let left = unread.len();
    unread.fill(0);
    match drained {
        Ok(_) if left == 0 => Ok(()),
        Ok(_) => Err(SinkError(format!(
            "key sink command {program} exited 0 without reading the whole key from stdin ({left} of {} bytes left unread)",
            bytes.len()
        ))),
        Err(e) => Err(SinkError(format!(
            "cannot tell whether key sink command {program} read the key: {e}"
        ))),
    }
}

fn excerpt(stderr: &str) -> String {
    let text = redact(stderr);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_a_secret_in_use_is_masked() {
        let secret = Secret::in_use("unit/Secret+value=9x");
        let raw = secret.expose();
        let form: String = form_urlencoded::byte_serialize(raw.as_bytes()).collect();
        let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("client:{raw}"));
        let url_safe = base64::engine::general_purpose::URL_SAFE.encode(format!("ab{raw}"));
        for text in [
            raw.to_string(),
            form.clone(),
            lowercase_hex_escapes(&form),
            b64.clone(),
            basic.clone(),
            url_safe.clone(),
        ] {
            let shown = format!("error: echoed {text} back");
            let masked = redact(&shown);
            assert!(masked.contains(REDACTED), "{text} not masked: {masked}");
            assert!(!masked.contains(&text), "{masked}");
        }
        // What is left of a base64 form around the mask cannot decode to the secret: at most
        // the characters that straddle the secret's first and last bytes stay.
        let masked = redact(&b64).into_owned();
        assert!(masked.len() <= REDACTED.len() + 4, "{masked}");
    }

    #[test]
    fn text_without_a_secret_is_borrowed_unchanged() {
        Secret::in_use("another-secret-in-use");
        assert!(matches!(
            redact("nothing here"),
            Cow::Borrowed("nothing here")
        ));
    }

    #[test]
    fn short_strings_are_not_treated_as_secrets() {
        Secret::in_use("abc");
        assert_eq!(redact("abcabc"), "abcabc");
    }

    #[test]
    fn confined_refuses_absolute_and_climbing_paths() {
        let root = tempfile::tempdir().unwrap();
        assert!(confined(root.path(), Path::new("/etc/key")).is_err());
        assert!(confined(root.path(), Path::new("../key")).is_err());
        assert!(confined(root.path(), Path::new("a/../../key")).is_err());
        assert!(confined(root.path(), Path::new("")).is_err());
        assert_eq!(
            confined(root.path(), Path::new("keys/k.key")).unwrap(),
            root.path().join("keys/k.key")
        );
    }

    #[cfg(unix)]
    #[test]
    fn confined_refuses_a_symbolic_link_out_of_the_root() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("keys")).unwrap();
        let err = confined(root.path(), Path::new("keys/k.key")).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
    }
}
