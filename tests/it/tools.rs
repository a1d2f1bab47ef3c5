//! External programs the tests run: the Python SDKs, the shell scripts, the linters. Each tool
//! that is not on a new machine is installed from its package registry into a directory under
//! `target/`, once per test process and reused across runs; a missing interpreter or a failed
//! install fails the test with the reason, never skips it.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The cargo target directory (where the tools are installed).
pub fn target_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is `<target>/tmp`, so this follows CARGO_TARGET_DIR too.
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().map(Path::to_path_buf).unwrap_or(tmp)
}

/// An exclusive lock on `target/<name>.lock`, held while the tool `name` is checked or
/// installed: another `cargo test` process may be installing the same tool.
pub fn lock_tool(name: &str) -> Result<File, String> {
    let target = target_dir();
    std::fs::create_dir_all(&target).map_err(|e| format!("cannot create {target:?}: {e}"))?;
    let path = target.join(format!("{name}.lock"));
    let lock = File::create(&path).map_err(|e| format!("cannot create {path:?}: {e}"))?;
    lock.lock()
        .map_err(|e| format!("cannot lock {path:?}: {e}"))?;
    Ok(lock)
}

/// A Python >= `min` on PATH (or `WARRANT_TEST_PYTHON`).
pub fn find_python(min: (u32, u32)) -> Result<String, String> {
    let candidates: Vec<String> = match std::env::var("WARRANT_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => vec![p],
        _ => vec!["python3".into(), "python".into()],
    };
    let mut seen = Vec::new();
    for candidate in &candidates {
        let Ok(out) = run(
            Command::new(candidate).args([
                "-c",
                "import sys; print(sys.version_info[0], sys.version_info[1])",
            ]),
            Duration::from_secs(30),
        ) else {
            seen.push(format!("{candidate}: not found"));
            continue;
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let version: Vec<u32> = text
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        match version[..] {
            [major, minor] if (major, minor) >= min => return Ok(candidate.clone()),
            [major, minor] => seen.push(format!("{candidate}: Python {major}.{minor}")),
            _ => seen.push(format!("{candidate}: did not report a version")),
        }
    }
    Err(format!(
        "no Python >= {}.{} found ({}); install python3 with venv and pip, or set WARRANT_TEST_PYTHON",
        min.0,
        min.1,
        seen.join("; ")
    ))
}

/// `python -m pip install REQUIREMENTS`, into the directory `into` (pip's `--target`) or else
/// into that python's own environment (a venv). A failure carries pip's last lines.
pub fn pip_install(
    python: &Path,
    into: Option<&Path>,
    requirements: &[String],
) -> Result<(), String> {
    let mut cmd = Command::new(python);
    cmd.args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar",
        "off",
    ]);
    if let Some(dir) = into {
        cmd.arg("--target").arg(dir);
    }
    let installed = run(cmd.args(requirements), Duration::from_secs(600))
        .map_err(|e| format!("pip install: {e}"))?;
    if installed.status.success() {
        Ok(())
    } else {
        Err(format!(
            "pip install {} failed (is PyPI reachable?):\n{}",
            requirements.join(" "),
            tail(&installed)
        ))
    }
}

/// Runs `cmd` to completion with no input, killing it after `timeout`. Output is drained on
/// threads so a chatty child (pip, npm) cannot block on a full pipe.
pub fn run(cmd: &mut Command, timeout: Duration) -> Result<Output, String> {
    let shown = format!("{:?}", cmd.get_program());
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {shown}: {e}"))?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{shown} did not finish within {timeout:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for {shown}: {e}")),
        }
    };
    Ok(Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// The last lines of a child's output, for failure messages.
pub fn tail(out: &Output) -> String {
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
