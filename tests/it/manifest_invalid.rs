//! Every file in examples/invalid/ is a broken manifest whose expected diagnostics are written
//! at its end as `# expect: LINE:COLUMN MESSAGE` lines; loading it must give exactly those
//! (messages as shown, hidden characters escaped).
//! Plus the refusals that cannot live in a committed file (non-UTF-8, oversize).

use std::path::{Path, PathBuf};

use warrant::manifest::{self, Diagnostic};
use warrant::platform::{self, Manifests};

fn expectations(text: &str) -> Vec<(usize, usize, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# expect: "))
        .map(|rest| {
            let (pos, message) = rest.split_once(' ').expect("expect line: LINE:COL MESSAGE");
            let (line, column) = pos.split_once(':').expect("LINE:COL");
            (
                line.parse().expect("line number"),
                column.parse().expect("column number"),
                message.to_string(),
            )
        })
        .collect()
}

fn invalid_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir("examples/invalid")
        .expect("examples/invalid exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_invalid_example_gives_exactly_its_expected_diagnostics() {
    let files = invalid_files();
    assert!(files.len() >= 30, "only {} invalid examples", files.len());
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable");
        let expected = expectations(&text);
        assert!(
            !expected.is_empty(),
            "{} has no `# expect:` lines",
            file.display()
        );
        let got: Vec<(usize, usize, String)> = match Manifests::load(std::slice::from_ref(file)) {
            Ok(_) => Vec::new(),
            Err(diags) => diags
                .iter()
                .inspect(|d| assert_eq!(&d.location.file, file))
                .map(|d| {
                    let shown = warrant::text::escape(&d.message).into_owned();
                    (d.location.line, d.location.column, shown)
                })
                .collect(),
        };
        if got != expected {
            failures.push(format!(
                "{}:\n  expected {expected:#?}\n  got {got:#?}",
                file.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_diagnostic_of_every_invalid_example_has_a_hint() {
    let mut missing = Vec::new();
    for file in invalid_files() {
        let diags = Manifests::load(std::slice::from_ref(&file)).unwrap_err();
        for d in diags {
            if d.hint.as_deref().is_none_or(|h| h.trim().is_empty()) {
                missing.push(format!(
                    "{}:{}:{} {}",
                    file.display(),
                    d.location.line,
                    d.location.column,
                    d.message
                ));
            }
        }
    }
    assert!(missing.is_empty(), "no hint:\n{}", missing.join("\n"));
}

#[test]
fn file_level_refusals_have_hints_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let diags =
        Manifests::load(&[dir.path().to_path_buf(), dir.path().join("nope.yaml")]).unwrap_err();
    let big = "# padding\n".repeat(450_000);
    let diags = diags
        .into_iter()
        .chain(load_bytes("big.yaml", big.as_bytes()))
        .chain(load_bytes("latin1.yaml", b"kind: Caf\xe9\n"));
    for d in diags {
        assert!(d.hint.is_some(), "no hint: {}", d.message);
    }
}

#[test]
fn all_invalid_examples_at_once_report_every_file() {
    let diags = Manifests::load(&[PathBuf::from("examples/invalid")]).unwrap_err();
    let mut files: Vec<&Path> = diags.iter().map(|d| d.location.file.as_path()).collect();
    files.dedup();
    assert_eq!(files.len(), invalid_files().len());
    let sorted = diags.windows(2).all(|w| w[0].location <= w[1].location);
    assert!(sorted, "diagnostics are sorted by file, line, column");
}

#[test]
fn literal_secrets_are_never_echoed() {
    let secrets = [
        "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0",
        "s3cr3t-value",
        "hunter2",
        "Xk29s-LqpP0a9zzq.1",
        "Mq7vT0kEnL1t3ralZ9",
        "Cl13ntS3cr3tL1teral",
        "Pa55w0rdInUrl",
        "Ap1T0kenAsUser",
    ];
    let diags = Manifests::load(&[PathBuf::from("examples/invalid")]).unwrap_err();
    let rendered = format!(
        "{}{}{}{diags:?}",
        manifest::render_text(&diags),
        manifest::render_json(&diags),
        manifest::render_github(&diags)
    );
    for s in secrets {
        assert!(!rendered.contains(s), "secret {s} echoed");
    }
    assert!(rendered.contains("`apiKeyEnv`"), "hint names the Env field");
    assert!(
        rendered.contains("`clientSecretEnv`"),
        "hint names the Env field"
    );
    assert!(
        rendered.contains("`apiTokenEnv`"),
        "hint names the Env field"
    );
}

/// Every credential-like key is refused, in any spelling, wherever it appears; the
/// diagnostic names the key and the `…Env` field to use, never the value.
#[test]
fn every_credential_key_is_a_literal_secret() {
    let cases = [
        ("apiKey", "apiKeyEnv"),
        ("api_key", "apiKeyEnv"),
        ("token", "apiTokenEnv"),
        ("apiToken", "apiTokenEnv"),
        ("access-token", "apiTokenEnv"),
        ("secret", "clientSecretEnv"),
        ("clientSecret", "clientSecretEnv"),
        ("Password", "an `…Env` field"),
    ];
    for (key, env) in cases {
        let text = format!(
            "apiVersion: warrant/v1\nkind: Target\nmetadata: {{name: t}}\nspec:\n  atlan:\n    baseUrl: https://acme.atlan.com\n    {key}: V4lueN0tToEcho\n"
        );
        let diags = Manifests::parse(Path::new("t.yaml"), &text).unwrap_err();
        assert_eq!(diags.len(), 1, "{key}: {diags:?}");
        let d = &diags[0];
        assert_eq!(
            d.message,
            format!("literal secret in field \"{key}\": credentials never belong in a manifest")
        );
        assert_eq!((d.location.line, d.location.column), (7, 5), "{key}");
        let hint = d.hint.as_deref().expect("hint");
        assert!(hint.contains(env), "{key}: {hint}");
        assert!(!format!("{d:?}").contains("V4lueN0tToEcho"), "{key} echoed");
    }
}

#[test]
fn a_url_with_user_info_is_a_literal_secret_and_is_not_echoed() {
    for url in [
        "https://admin:hunter2@acme.atlan.com",
        "https://hunter2@acme.atlan.com",
        "http://admin:hunter2@localhost:9000",
    ] {
        let text = format!(
            "apiVersion: warrant/v1\nkind: Target\nmetadata: {{name: t}}\nspec:\n  atlan: {{baseUrl: '{url}'}}\n"
        );
        let diags = Manifests::parse(Path::new("t.yaml"), &text).unwrap_err();
        assert_eq!(diags.len(), 1, "{url}: {diags:?}");
        assert!(diags[0].message.starts_with("literal secret in baseUrl"));
        let rendered = format!(
            "{}{}{}{diags:?}",
            manifest::render_text(&diags),
            manifest::render_json(&diags),
            manifest::render_github(&diags)
        );
        assert!(!rendered.contains("hunter2"), "{url} echoed: {rendered}");
        assert!(!rendered.contains("admin"), "{url} echoed: {rendered}");
    }
}

fn load_bytes(name: &str, bytes: &[u8]) -> Vec<Diagnostic> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write");
    Manifests::load(&[path]).unwrap_err()
}

#[test]
fn non_utf8_is_refused_at_the_bad_byte() {
    let diags = load_bytes("latin1.yaml", b"apiVersion: warrant/v1\nkind: Caf\xe9\n");
    assert_eq!(diags.len(), 1);
    assert!(diags[0].message.contains("UTF-8"));
    assert_eq!((diags[0].location.line, diags[0].location.column), (2, 10));
}

#[test]
fn files_over_4_mib_are_refused() {
    let big = "# padding\n".repeat(450_000);
    let diags = load_bytes("big.yaml", big.as_bytes());
    assert_eq!(diags.len(), 1);
    assert!(diags[0].message.contains("4 MiB"), "{}", diags[0].message);
}

#[test]
fn empty_documents_are_skipped_and_multi_document_files_load() {
    let text = "---\n---\n# nothing\n---\napiVersion: warrant/v1\nkind: Target\nmetadata: {name: a}\nspec:\n  atlan: {baseUrl: 'http://localhost:9000'}\n---\n";
    let m = Manifests::parse(Path::new("m.yaml"), text).expect("valid");
    assert_eq!(m.targets.len(), 1);
    assert_eq!(m.targets[0].location.line, 5);
}

#[test]
fn missing_paths_and_empty_directories_are_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let diags =
        Manifests::load(&[dir.path().to_path_buf(), dir.path().join("nope.yaml")]).unwrap_err();
    assert_eq!(diags.len(), 2);
    assert!(
        diags
            .iter()
            .all(|d| d.location.line == 1 && d.location.column == 1)
    );
}

const MIST_TARGET: &str = "apiVersion: warrant/v1\nkind: Target\nmetadata: {name: mist-prod}\nspec:\n  mist: {cloud: global01, orgId: a40f5d1f-d889-42e9-94ea-b9b33585fc6b}\n";

fn token_with_sink(sink: &str) -> String {
    format!(
        "{MIST_TARGET}---\napiVersion: warrant/v1\nkind: OrgApiToken\nmetadata: {{name: t}}\nspec:\n  target: mist-prod\n  privileges:\n    - {{role: read, scope: org}}\n  keySink: {sink}\n"
    )
}

/// A key file is resolved against the manifest that names it, and what validation keeps is
/// relative to the repository root: where apply writes it.
#[test]
fn a_key_file_is_relative_to_its_manifest_and_kept_relative_to_the_root() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("teams/noc");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("mist.yaml"),
        token_with_sink("{file: ../../keys/t.key}"),
    )
    .unwrap();
    let m = Manifests::load_under(&[root.path().join("teams")], root.path()).expect("valid");
    match &m.resources[0].spec {
        platform::ResourceSpec::OrgApiToken(s) => {
            assert_eq!(s.key_sink.file.as_deref(), Some(Path::new("keys/t.key")))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(m.paths, vec![PathBuf::from("teams")]);
}

#[cfg(unix)]
#[test]
fn a_key_file_through_a_symbolic_link_out_of_the_repository_is_refused() {
    let root = tempfile::tempdir().expect("tempdir");
    let outside = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink(outside.path(), root.path().join("keys")).unwrap();
    std::fs::create_dir(root.path().join("manifests")).unwrap();
    std::fs::write(
        root.path().join("manifests/mist.yaml"),
        token_with_sink("{file: ../keys/t.key}"),
    )
    .unwrap();
    let diags = Manifests::load_under(&[root.path().join("manifests")], root.path()).unwrap_err();
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert_eq!(
        diags[0].message,
        "keySink file ../keys/t.key leads out of the repository root through a symbolic link"
    );
}
