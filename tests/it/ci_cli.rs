//! What CI relies on from the binary: usage errors exit 1 (never 2, which `plan
//! --detailed-exitcode` means "changes pending"); `plan --step-summary` writes the whole plan
//! whatever the comment's budget; under `GITHUB_ACTIONS=true`, plan conflicts and apply
//! failures are annotated at the manifest line that declares the object; `apply
//! --step-summary` appends what was applied.

use std::process::Command;

use warrant::sandbox::{Faults, Seed};

use crate::support::{ATLAN_KEY, JSMITH_KEY, Output, World, example_manifests, run};

fn warrant(args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_warrant"));
    command.args(args).env("NO_COLOR", "1");
    run(command)
}

#[test]
fn usage_errors_exit_1_and_help_and_version_exit_0() {
    for args in [
        vec!["plan", "--no-such-flag"],
        vec!["plan", "--detailed-exitcode", "--renamed-in-an-upgrade"],
        vec!["frobnicate"],
        vec![],
        vec!["apply", "--plan-id"],
        vec!["plan", "--format", "yaml"],
        vec!["drift", "--parallelism", "many"],
        vec!["show"],
    ] {
        let out = warrant(&args);
        assert_eq!(out.code, 1, "warrant {args:?}: {out:?}");
        assert!(!out.stderr.is_empty(), "warrant {args:?} says why");
        assert!(out.stdout.is_empty(), "warrant {args:?}: {}", out.stdout);
    }
    let help = warrant(&["--help"]);
    assert_eq!(help.code, 0);
    assert!(
        help.stdout.contains("1 error (usage errors included"),
        "{}",
        help.stdout
    );
    assert!(
        help.stdout.contains("warrant show plan.json"),
        "{}",
        help.stdout
    );
    let help = warrant(&["plan", "--help"]);
    assert_eq!(help.code, 0);
    let version = warrant(&["--version"]);
    assert_eq!(version.code, 0);
    assert!(version.stdout.contains(env!("CARGO_PKG_VERSION")));
}

fn world(edit: impl FnOnce(&mut Seed)) -> World {
    let mut seed = Seed::example();
    edit(&mut seed);
    World::blocking(seed, Faults::default(), &example_manifests())
}

/// The example world with the databricks connection's admins removed: the plan updates it,
/// which jsmith (not an admin of it) may not do.
fn databricks_emptied() -> World {
    // warrant-bot may write it (through the `$admin` role): the plan is an update.
    world(|seed| {
        let databricks = seed
            .atlan
            .connections
            .iter_mut()
            .find(|c| c.qualified_name == "default/databricks/1700000003")
            .unwrap();
        databricks.admin_users.clear();
        databricks.admin_roles = vec![crate::support::ADMIN_ROLE.into()];
    })
}

/// The line of the document that declares `name` in examples/manifests/atlan.yaml as the
/// world holds it, read through the library.
fn declared_line(world: &World, name: &str) -> usize {
    world
        .manifests
        .resources
        .iter()
        .find(|r| r.name == name)
        .unwrap()
        .location
        .line
}

fn live_command(world: &World, atlan_key: &str, args: &[&str]) -> Command {
    let mut command = world.command(atlan_key);
    command.args(args).args(world.endpoint_args());
    command
}

#[test]
fn plan_conflicts_are_annotated_at_the_declaring_manifest_line() {
    let world = databricks_emptied();
    let line = declared_line(&world, "databricks-lakehouse");
    assert!(line > 1);
    let mut command = live_command(&world, JSMITH_KEY, &["plan", "manifests"]);
    command.env("GITHUB_ACTIONS", "true");
    let out = run(command);
    assert_eq!(out.code, 1, "a conflict fails the plan: {}", out.stderr);
    let annotations: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("::error "))
        .collect();
    assert_eq!(annotations.len(), 1, "{}", out.stdout);
    let expected = format!("::error file=manifests/atlan.yaml,line={line},");
    assert!(
        annotations[0].starts_with(&expected),
        "{annotations:?} vs {expected}"
    );
    assert!(
        annotations[0].contains("::warrant plan: conflict: ConnectionAdmins/databricks-lakehouse")
            && annotations[0].contains("is not an admin of connection"),
        "{annotations:?}"
    );

    // JSON stays one document on stdout; the annotations go to stderr.
    let mut command = live_command(
        &world,
        JSMITH_KEY,
        &["plan", "manifests", "--format", "json"],
    );
    command.env("GITHUB_ACTIONS", "true");
    let out = run(command);
    serde_json::from_str::<serde_json::Value>(&out.stdout).expect("stdout is JSON");
    assert!(out.stderr.contains(&expected), "{}", out.stderr);

    // Outside GitHub Actions, no workflow commands.
    let out = run(live_command(&world, JSMITH_KEY, &["plan", "manifests"]));
    assert_eq!(out.code, 1);
    assert!(!out.stdout.contains("::error"), "{}", out.stdout);
}

#[test]
fn the_step_summary_holds_the_whole_plan_whatever_the_comment_budget() {
    let world = world(|_| {});
    let summary = world.dir().join("summary.md");
    std::fs::write(&summary, "earlier output of the step\n").unwrap();
    let mut command = live_command(
        &world,
        ATLAN_KEY,
        &[
            "plan",
            "manifests",
            "--format",
            "markdown",
            "--max-bytes",
            "700",
            "--step-summary",
        ],
    );
    command.env("GITHUB_STEP_SUMMARY", &summary);
    let out = run(command);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.len() <= 700 && out.stdout.contains("Truncated"),
        "{}",
        out.stdout
    );
    let written = std::fs::read_to_string(&summary).unwrap();
    let appended = written
        .strip_prefix("earlier output of the step\n")
        .expect("appended, not overwritten");
    assert!(!appended.contains("Truncated"), "{appended}");
    // The whole plan: the same as an unbounded markdown rendering.
    let full = world.warrant_live(&[
        "plan",
        "manifests",
        "--format",
        "markdown",
        "--max-bytes",
        "1000000",
    ]);
    let hide_id = |s: &str| {
        s.lines()
            .filter(|l| !l.starts_with("**"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(hide_id(appended), hide_id(&full.stdout));
    assert!(appended.len() > 700);

    // Without GITHUB_STEP_SUMMARY the flag is an error, not a silent no-op.
    let mut command = live_command(&world, ATLAN_KEY, &["plan", "manifests", "--step-summary"]);
    command.env_remove("GITHUB_STEP_SUMMARY");
    let out = run(command);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("GITHUB_STEP_SUMMARY"), "{}", out.stderr);
}

#[test]
fn apply_failures_are_annotated_and_the_step_summary_says_what_was_applied() {
    let world = databricks_emptied();
    let plan = world.warrant_live(&["plan", "manifests", "--out", "plan.json"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let line = declared_line(&world, "databricks-lakehouse");
    let summary = world.dir().join("summary.md");

    // Applied with jsmith's key: Atlan refuses the databricks write; the rest is applied.
    let mut command = live_command(
        &world,
        JSMITH_KEY,
        &[
            "apply",
            "plan.json",
            "--manifests",
            "manifests",
            "--step-summary",
        ],
    );
    command
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary);
    let out = run(command);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let annotations: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("::error "))
        .collect();
    assert!(
        annotations.iter().any(|a| a
            .starts_with(&format!("::error file=manifests/atlan.yaml,line={line},"))
            && a.contains("databricks-lakehouse")),
        "{}",
        out.stdout
    );
    let written = std::fs::read_to_string(&summary).unwrap();
    assert!(written.starts_with("## warrant apply\n"), "{written}");
    assert!(written.contains("### Applied"), "{written}");
    assert!(written.contains("databricks-lakehouse"), "{written}");
    assert!(
        written.contains(&format!("warrant {}", env!("CARGO_PKG_VERSION"))),
        "{written}"
    );
    assert!(
        !written.contains(JSMITH_KEY),
        "no credential in the summary"
    );
}

#[test]
fn validate_in_ci_warns_that_a_file_key_sink_is_lost_with_the_runner() {
    let root = env!("CARGO_MANIFEST_DIR");
    let validate = |args: &[&str], actions: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_warrant"));
        command
            .current_dir(root)
            .args(["validate", "examples/manifests"])
            .args(args)
            .env("NO_COLOR", "1")
            .env_remove("GITHUB_ACTIONS");
        if actions {
            command.env("GITHUB_ACTIONS", "true");
        }
        run(command)
    };
    // The example declares two file sinks (monitoring-ro, noc-automation) and one command sink.
    let ci = validate(&["--ci"], false);
    assert_eq!(
        ci.code, 0,
        "a warning does not fail validate: {}",
        ci.stderr
    );
    let warnings: Vec<&str> = ci
        .stderr
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .collect();
    assert_eq!(warnings.len(), 2, "{}", ci.stderr);
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("OrgApiToken/monitoring-ro")
                && w.contains("lost with the CI runner")),
        "{warnings:?}"
    );
    assert!(ci.stderr.contains("gh, secret, set"), "{}", ci.stderr);
    assert!(ci.stderr.contains("2 warnings"), "{}", ci.stderr);
    assert!(
        !ci.stderr.contains("installer-app"),
        "a command sink is fine"
    );

    let local = validate(&[], false);
    assert_eq!(local.code, 0);
    assert!(!local.stderr.contains("warning"), "{}", local.stderr);

    // Under GitHub Actions it warns by itself, as annotations at the declaring line.
    let actions = validate(&[], true);
    assert_eq!(actions.code, 0);
    let annotations: Vec<&str> = actions
        .stdout
        .lines()
        .filter(|l| l.starts_with("::warning file=examples/manifests/mist.yaml,line="))
        .collect();
    assert_eq!(annotations.len(), 2, "{}", actions.stdout);

    // JSON carries them with their severity.
    let json = validate(&["--ci", "--format", "json"], false);
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(value["valid"], true, "{value}");
    let severities: Vec<&str> = value["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["severity"].as_str().unwrap())
        .collect();
    assert_eq!(severities, ["warning", "warning"]);
}

#[test]
fn declared_objects_left_out_of_the_reviewed_plan_are_said_to_need_another_apply() {
    // What a cancelled queued apply leaves: the next reviewed plan does not carry every
    // declared object (here, made with --only).
    let world = world(|_| {});
    let plan = world.warrant_live(&[
        "plan",
        "manifests",
        "--out",
        "plan.json",
        "--only",
        "ConnectionAdmins/snowflake-prod",
    ]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let summary = world.dir().join("summary.md");
    let mut command = live_command(
        &world,
        ATLAN_KEY,
        &[
            "apply",
            "plan.json",
            "--manifests",
            "manifests",
            "--step-summary",
        ],
    );
    command
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary);
    let out = run(command);
    assert_eq!(
        out.code, 0,
        "left-out objects change nothing: {}{}",
        out.stdout, out.stderr
    );
    assert!(
        out.stdout
            .contains("not-in-plan  ConnectionAdmins/bigquery-analytics"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("note: Declared objects not in the reviewed plan were left untouched"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("::warning::Declared objects not in the reviewed plan")),
        "{}",
        out.stdout
    );
    let written = std::fs::read_to_string(&summary).unwrap();
    assert!(
        written.contains("### Declared but not in the reviewed plan (left untouched)"),
        "{written}"
    );
    assert!(
        written.contains("plan and apply the default branch again"),
        "{written}"
    );

    // A plan of everything leaves nothing out, and says nothing of it.
    let plan = world.warrant_live(&["plan", "manifests", "--out", "all.json"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let out = world.warrant_live(&["apply", "all.json", "--manifests", "manifests"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        !out.stdout.contains("not in the reviewed plan"),
        "{}",
        out.stdout
    );
}
