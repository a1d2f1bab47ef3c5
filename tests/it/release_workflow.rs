//! The release workflow (`.github/workflows/release.yml`) cannot run here, so its structure is
//! checked: it runs on version tags only; it builds exactly the assets `scripts/install.sh`
//! downloads (the two ends of one naming contract); it publishes them with a SHA256SUMS of
//! exactly those files and a provenance attestation of each; every action is pinned to a full
//! commit SHA; every job has a timeout and only the permissions it needs.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::install_script::ASSETS;

const RELEASE: &str = ".github/workflows/release.yml";

fn release() -> Value {
    serde_yaml::from_str(&std::fs::read_to_string(RELEASE).unwrap()).expect("release.yml is YAML")
}

fn steps(job: &Value) -> &[Value] {
    job["steps"].as_array().map(Vec::as_slice).unwrap_or(&[])
}

fn step_using<'a>(job: &'a Value, action: &str) -> &'a Value {
    let found: Vec<&Value> = steps(job)
        .iter()
        .filter(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with(&format!("{action}@")))
        })
        .collect();
    assert_eq!(found.len(), 1, "steps using {action}");
    found[0]
}

fn asset_names() -> BTreeSet<String> {
    ASSETS.iter().map(|(_, _, a)| a.to_string()).collect()
}

#[test]
fn it_runs_on_version_tags_only() {
    let release = release();
    assert_eq!(
        release["on"],
        json!({"push": {"tags": ["v[0-9]+.[0-9]+.[0-9]+*"]}})
    );
    let check = steps(&release["jobs"]["build"])
        .iter()
        .find(|s| s["name"] == "Check that the tag is Cargo.toml's version")
        .expect("the tag is checked against Cargo.toml");
    // The check, run as the runner would on this repository's Cargo.toml.
    for (tag, passes) in [
        (format!("v{}", env!("CARGO_PKG_VERSION")), true),
        ("v0.0.0-not-this".to_string(), false),
    ] {
        let status = std::process::Command::new("bash")
            .args(["-e", "-c", check["run"].as_str().unwrap()])
            .env("GITHUB_REF_NAME", &tag)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert_eq!(status.success(), passes, "{tag}");
    }
}

#[test]
fn it_builds_and_publishes_exactly_the_assets_the_install_script_downloads() {
    let release = release();
    let build = &release["jobs"]["build"];
    let targets: BTreeSet<String> = build["strategy"]["matrix"]["include"]
        .as_array()
        .expect("matrix")
        .iter()
        .map(|m| format!("warrant-{}", m["target"].as_str().unwrap()))
        .collect();
    assert_eq!(targets, asset_names());
    let upload = step_using(build, "actions/upload-artifact");
    assert_eq!(upload["with"]["name"], "warrant-${{ matrix.target }}");

    let publish = &release["jobs"]["publish"];
    assert_eq!(publish["needs"], "build");
    let sums = steps(publish)
        .iter()
        .find(|s| s["name"] == "Write SHA256SUMS")
        .expect("SHA256SUMS step");
    let script = sums["run"].as_str().unwrap();
    let listed: BTreeSet<String> = script
        .lines()
        .find_map(|l| l.trim().strip_prefix("expected=\""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("the expected asset list")
        .split(' ')
        .map(str::to_string)
        .collect();
    assert_eq!(listed, asset_names());

    // The step itself: it refuses a missing asset and writes sha256sum's format.
    let dir = tempfile::tempdir().unwrap();
    for name in asset_names().iter().skip(1) {
        std::fs::write(dir.path().join(name), name).unwrap();
    }
    let run = |dir: &std::path::Path| {
        std::process::Command::new("bash")
            .args(["-e", "-c", script])
            .current_dir(dir)
            .output()
            .unwrap()
    };
    assert!(!run(dir.path()).status.success(), "an asset was missing");
    let first = asset_names().into_iter().next().unwrap();
    std::fs::write(dir.path().join(&first), &first).unwrap();
    assert!(run(dir.path()).status.success());
    let written = std::fs::read_to_string(dir.path().join("SHA256SUMS")).unwrap();
    let named: BTreeSet<String> = written
        .lines()
        .map(|l| l.split_once("  ").expect("DIGEST  NAME").1.to_string())
        .collect();
    assert_eq!(named, asset_names());

    let attest = step_using(publish, "actions/attest-build-provenance");
    assert_eq!(
        attest["with"]["subject-path"],
        "dist/warrant-*\ndist/SHA256SUMS\n"
    );
    let publish_script = steps(publish)
        .iter()
        .find(|s| s["name"] == "Publish the release")
        .and_then(|s| s["run"].as_str())
        .expect("the publish step");
    assert!(publish_script.contains("--draft"), "{publish_script}");
    assert!(publish_script.contains("dist/warrant-* dist/SHA256SUMS"));
    assert!(publish_script.contains("--draft=false"));
}

#[test]
fn actions_are_pinned_to_commit_shas() {
    for file in [RELEASE, "action.yml"] {
        for line in std::fs::read_to_string(file).unwrap().lines() {
            let Some(uses) = line.trim().trim_start_matches("- ").strip_prefix("uses: ") else {
                continue;
            };
            let (action, rest) = uses.split_once('@').expect("owner/name@ref");
            let (sha, comment) = rest.split_once(" # ").unwrap_or((rest, ""));
            assert!(
                sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
                "{file}: {action} is not pinned to a commit SHA: {line}"
            );
            assert!(
                comment.starts_with('v'),
                "{file}: {action} needs a `# vX.Y.Z` comment naming the pinned tag"
            );
        }
    }
}

#[test]
fn every_job_has_a_timeout_and_only_the_permissions_it_needs() {
    let release = release();
    assert_eq!(release["permissions"], json!({}), "nothing by default");
    let jobs = release["jobs"].as_object().unwrap();
    assert_eq!(jobs.len(), 2);
    for (name, job) in jobs {
        assert!(
            job["timeout-minutes"].as_u64().is_some_and(|m| m <= 60),
            "{name}: timeout-minutes"
        );
    }
    assert_eq!(jobs["build"]["permissions"], json!({"contents": "read"}));
    assert_eq!(
        jobs["publish"]["permissions"],
        json!({"contents": "write", "id-token": "write", "attestations": "write"})
    );
    let checkout = step_using(&jobs["build"], "actions/checkout");
    assert_eq!(checkout["with"]["persist-credentials"], false);
}
