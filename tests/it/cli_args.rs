//! Argument conventions: `--manifests` takes one path per flag (it no longer swallows the plan
//! file), and the flags CI sets have `WARRANT_*` variables that `--help` lists.

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifests_before_the_plan_file_takes_one_path_and_repeats() {
    let world = World::example().await;
    let out = world.warrant_live(&["plan", "manifests", "--out", "plan.json"]);
    assert_eq!(out.code, 0, "{out:#?}");

    // `--manifests` swallowed `plan.json` before; now the plan file is the positional path.
    let out = world.warrant_live(&[
        "apply",
        "--manifests",
        "manifests/targets.yaml",
        "--manifests",
        "manifests/atlan.yaml",
        "--manifests",
        "manifests/connect.yaml",
        "--manifests",
        "manifests/mist.yaml",
        "plan.json",
        "--report",
        "report.json",
    ]);
    assert_eq!(out.code, 0, "{out:#?}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(world.dir().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(report["outcome"], "success", "{report:#}");
    // All four files were read: the plan's objects of every target applied, none refused
    // for a missing declaration.
    assert!(
        !out.stdout.contains("not in the manifests"),
        "{}",
        out.stdout
    );

    // Two values after one flag are the flag's one value and a path.
    let out = world.warrant_live(&["apply", "--manifests", "manifests", "plan.json", "extra"]);
    assert_ne!(out.code, 0);
    assert!(
        !out.stderr.contains("unexpected argument"),
        "the extra path is a path, not a second --manifests value: {}",
        out.stderr
    );
}

#[test]
fn ci_flags_read_their_variables_and_help_lists_them() {
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_warrant"))
        .args(["apply", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for var in [
        "WARRANT_PARALLELISM",
        "WARRANT_PLAN_ID",
        "WARRANT_REPORT",
        "WARRANT_MAX_CHANGES",
        "WARRANT_KEY_WAIT",
        "WARRANT_RETRY_BUDGET",
        "WARRANT_JOURNAL",
        "WARRANT_QUIET",
        "WARRANT_COLOR",
    ] {
        assert!(
            help.contains(&format!("[env: {var}")),
            "{var} not in:\n{help}"
        );
    }

    // The variable is read: a parallelism of 0 from the environment is refused like the flag.
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_warrant"))
        .current_dir(dir.path())
        .args(["apply", "--auto-approve", "."])
        .env("WARRANT_PARALLELISM", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--parallelism must be at least 1"),
        "{stderr}"
    );
    // The flag wins over the variable.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_warrant"))
        .current_dir(dir.path())
        .args(["apply", "--auto-approve", ".", "--parallelism", "2"])
        .env("WARRANT_PARALLELISM", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("--parallelism must be"), "{stderr}");
}
