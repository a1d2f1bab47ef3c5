//! Output control of the real binary: `--quiet`, `--color` and the colour environment
//! (`NO_COLOR`, `CLICOLOR_FORCE`, `GITHUB_ACTIONS`), and `WARRANT_LOG_FORMAT=json`.

use crate::support::*;

const ESC: char = '\u{1b}';

/// `warrant ARGS` against the world's sandbox (`--endpoint`s for the commands that talk to
/// it) with the colour environment cleared and then `env` set (stdout and stderr are pipes).
fn run_with(world: &World, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = world.command(ATLAN_KEY);
    command.args(args);
    if args[0] != "validate" {
        command.args(world.endpoint_args());
    }
    command
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("CLICOLOR")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("WARRANT_COLOR")
        .env_remove("WARRANT_QUIET")
        .envs(env.iter().copied());
    run(command)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_prints_nothing_on_success_and_still_saves_and_applies() {
    let world = World::example().await;

    let out = run_with(&world, &["validate", "manifests", "--quiet"], &[]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("", ""));

    let out = run_with(
        &world,
        &["plan", "manifests", "-q", "--out", "plan.json"],
        &[],
    );
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("", ""));
    assert!(world.dir().join("plan.json").is_file());

    let out = run_with(
        &world,
        &["apply", "plan.json", "--manifests", "manifests"],
        &[("WARRANT_QUIET", "true")],
    );
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("", ""));

    // Not quiet, the same kind of run talks: the silence above is the flag's doing.
    let out = run_with(&world, &["plan", "manifests", "--out", "plan2.json"], &[]);
    assert!(out.stderr.contains("Saved the plan"), "{out:#?}");
    assert!(!out.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_still_prints_errors() {
    let world = World::example().await;
    std::fs::write(world.manifest_dir().join("bad.yaml"), "kind: [").unwrap();
    let out = run_with(&world, &["validate", "manifests", "--quiet"], &[]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("error"), "{out:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn color_follows_the_flag_then_no_color_then_actions_then_the_stream() {
    let world = World::example().await;
    let plan = |args: &[&str], env: &[(&str, &str)]| {
        let mut all = vec!["plan", "manifests"];
        all.extend(args);
        let out = run_with(&world, &all, env);
        assert_eq!(out.code, 0, "{out:#?}");
        out.stdout
    };

    let piped = plan(&[], &[]);
    assert!(!piped.contains(ESC), "auto on a pipe: no colour");
    assert!(piped.contains("+ "), "the plan has creates: {piped}");

    let always = plan(&["--color", "always"], &[]);
    assert!(
        always.contains("\u{1b}[32m+ "),
        "creates are green:\n{always:?}"
    );
    assert!(always.contains("\u{1b}[1m"), "headings are bold");
    // The same text under the colour (but the last line: each plan has its own id).
    let but_last = |text: &str| {
        let lines: Vec<&str> = text.lines().collect();
        lines[..lines.len() - 1].join("\n")
    };
    assert_eq!(but_last(&strip(&always)), but_last(&piped));

    let flag_over_env = plan(&["--color", "always"], &[("NO_COLOR", "1")]);
    assert!(flag_over_env.contains(ESC), "the flag decides alone");
    assert!(!plan(&["--color", "never"], &[("CLICOLOR_FORCE", "1")]).contains(ESC));

    assert!(plan(&[], &[("CLICOLOR_FORCE", "1")]).contains(ESC));
    assert!(plan(&[], &[("GITHUB_ACTIONS", "true")]).contains(ESC));
    assert!(plan(&[], &[("WARRANT_COLOR", "always")]).contains(ESC));
    assert!(
        !plan(&[], &[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")]).contains(ESC),
        "NO_COLOR wins over auto"
    );
    assert!(
        !plan(&[], &[("NO_COLOR", "1"), ("GITHUB_ACTIONS", "true")]).contains(ESC),
        "NO_COLOR wins over Actions"
    );
}

/// Removes SGR sequences (`ESC [ … m`).
fn strip(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == ESC {
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_per_line_without_a_credential() {
    let world = World::example().await;
    let out = run_with(
        &world,
        &["plan", "manifests", "--out", "plan.json"],
        &[("WARRANT_LOG", "debug"), ("WARRANT_LOG_FORMAT", "json")],
    );
    assert_eq!(out.code, 0, "{out:#?}");
    let mut requests = 0;
    for line in out
        .stderr
        .lines()
        .filter(|l| !l.starts_with("Saved the plan"))
    {
        let event: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}"));
        assert!(event["level"].is_string(), "{line}");
        assert!(event["timestamp"].is_string(), "{line}");
        if event["message"] == "http" {
            assert!(event["status"].is_u64(), "{line}");
            assert!(event["elapsed_ms"].is_u64(), "{line}");
            assert!(
                event["request"]
                    .as_str()
                    .unwrap()
                    .contains("http://127.0.0.1:")
            );
            requests += 1;
        }
    }
    assert!(requests >= 3, "{}", out.stderr);
    for secret in [ATLAN_KEY, CONNECT_SECRET, MIST_KEY, "Bearer", "sbx."] {
        assert!(
            !out.stderr.contains(secret),
            "{secret} logged:\n{}",
            out.stderr
        );
    }
    assert!(!out.stderr.contains(ESC), "no colour in JSON logs");
}
