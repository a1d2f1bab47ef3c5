//! The GitLab CI recipe (examples/ci/gitlab-ci.yml), checked for structure as no GitLab runs
//! it here: valid YAML with its stages and jobs, the trust rules (plan only for merge requests
//! of this project, apply only on the default branch in the production environment, one at a
//! time, with the reviewed plan id; the install script checked before it runs), and every
//! `warrant` command line parsed by the real CLI.

use std::collections::BTreeSet;
use std::path::PathBuf;

use clap::Parser;
use serde_json::Value;
use warrant::cli::{Cli, Command};

const RECIPE: &str = "examples/ci/gitlab-ci.yml";

fn recipe() -> Value {
    let text = std::fs::read_to_string(RECIPE).expect("the recipe exists");
    serde_yaml::from_str(&text).expect("the recipe is YAML")
}

/// The script lines of a job (`script:` entries; a multi-line entry split into its lines,
/// continuation lines joined).
fn script_lines(job: &Value) -> Vec<String> {
    job["script"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .flat_map(|entry| {
            entry
                .replace("\\\n", " ")
                .lines()
                .map(|l| l.trim().to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The `warrant` commands of a job, as words (quotes removed, a redirection and what follows
/// dropped); `warrant --version` is a probe, not a command.
fn warrant_commands(job: &Value) -> Vec<Vec<String>> {
    script_lines(job)
        .iter()
        .map(|l| l.strip_prefix("exec ").unwrap_or(l))
        .filter(|l| l.starts_with("warrant "))
        .map(|l| {
            let mut words = Vec::new();
            let mut word = String::new();
            let mut quote: Option<char> = None;
            let mut depth = 0;
            for c in l.chars() {
                match (quote, c) {
                    (_, '(') if word.ends_with('$') => {
                        depth += 1;
                        word.push(c);
                    }
                    (_, ')') if depth > 0 => {
                        depth -= 1;
                        word.push(c);
                    }
                    (Some(q), c) if c == q && depth == 0 => quote = None,
                    (Some(_), c) => word.push(c),
                    (None, '"' | '\'') if depth == 0 => quote = Some(c),
                    (None, '>') if depth == 0 && word.is_empty() => break,
                    (None, c) if c.is_whitespace() && depth == 0 => {
                        if !word.is_empty() {
                            words.push(std::mem::take(&mut word));
                        }
                    }
                    (None, c) => word.push(c),
                }
            }
            if !word.is_empty() {
                words.push(word);
            }
            words
        })
        .collect()
}

fn jobs(recipe: &Value) -> Vec<(&str, &Value)> {
    recipe
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, v)| !k.starts_with('.') && v.get("stage").is_some())
        .map(|(k, v)| (k.as_str(), v))
        .collect()
}

#[test]
fn the_recipe_is_yaml_with_its_stages_and_jobs() {
    let recipe = recipe();
    assert_eq!(
        recipe["stages"],
        serde_json::json!(["validate", "plan", "apply", "drift"])
    );
    let names: Vec<&str> = jobs(&recipe).iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["validate", "plan", "apply", "drift"]);
    for (name, job) in jobs(&recipe) {
        assert_eq!(job["stage"], name, "{name}");
        assert!(job["rules"].is_array(), "{name}: rules");
    }
}

#[test]
fn every_warrant_command_parses_with_the_real_cli() {
    let recipe = recipe();
    let mut seen = BTreeSet::new();
    for (name, job) in jobs(&recipe) {
        for command in warrant_commands(job) {
            let cli = Cli::try_parse_from(&command)
                .unwrap_or_else(|e| panic!("{name}: `{}` does not parse: {e}", command.join(" ")));
            seen.insert((name.to_string(), command[1].clone()));
            match cli.command {
                Command::Validate(args) => assert!(args.ci),
                Command::Plan(args) => {
                    assert_eq!(args.out, Some(PathBuf::from("plan.json")));
                    assert!(args.detailed_exitcode && args.live.only.is_empty());
                }
                Command::Apply(args) => {
                    assert_eq!(args.paths, vec![PathBuf::from("reviewed/plan.json")]);
                    assert_eq!(args.manifests, vec![PathBuf::from("manifests/")]);
                    assert_eq!(args.plan_id.as_deref(), Some("$(cat reviewed/plan-id)"));
                    assert!(args.report.is_some() && !args.auto_approve);
                }
                Command::Drift(args) => assert!(args.fail_on_drift),
                other => panic!("{name}: unexpected {other:?}"),
            }
        }
    }
    let expected: BTreeSet<(String, String)> = [
        ("validate", "validate"),
        ("plan", "plan"),
        ("apply", "apply"),
        ("drift", "drift"),
    ]
    .iter()
    .map(|(j, c)| (j.to_string(), c.to_string()))
    .collect();
    assert_eq!(seen, expected);
}

#[test]
fn the_trust_rules_hold() {
    let recipe = recipe();
    let job = |name: &str| -> &Value {
        jobs(&recipe)
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, j)| j)
            .unwrap()
    };
    let rule = |name: &str| job(name)["rules"][0]["if"].as_str().unwrap().to_string();

    // Plan only for merge requests of this project, in this project.
    let plan = rule("plan");
    assert!(
        plan.contains("$CI_PIPELINE_SOURCE == \"merge_request_event\""),
        "{plan}"
    );
    assert!(
        plan.contains("$CI_MERGE_REQUEST_SOURCE_PROJECT_ID == $CI_MERGE_REQUEST_PROJECT_ID")
            && plan.contains("$CI_PROJECT_ID == $CI_MERGE_REQUEST_PROJECT_ID"),
        "{plan}"
    );
    assert_eq!(job("plan")["artifacts"]["paths"][0], "plan.json");
    let note = script_lines(job("plan")).join("\n");
    assert!(
        note.contains("select(.author.id == $me"),
        "the bot's own note: {note}"
    );
    assert!(note.contains("<!-- warrant-plan-id: $plan_id head: $CI_COMMIT_SHA -->"));

    // Apply only on the default branch, protected environment, one at a time.
    let apply = job("apply");
    assert_eq!(
        rule("apply"),
        "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH && $CI_PIPELINE_SOURCE == \"push\""
    );
    assert_eq!(apply["environment"], "production");
    assert_eq!(apply["resource_group"], "warrant-apply");
    let text = script_lines(apply).join("\n");
    for check in [
        "[ \"$source\" = \"$CI_PROJECT_ID\" ]",
        "select(.sha == $sha and .project_id == $project and .source == \"merge_request_event\")",
        "select(.author.id == $me",
        "head: $head -->",
    ] {
        assert!(text.contains(check), "apply checks {check}");
    }
    assert!(
        script_lines(apply)
            .last()
            .unwrap()
            .starts_with("exec warrant apply "),
        "apply is the job's last process"
    );

    // Drift on schedule only.
    assert_eq!(rule("drift"), "$CI_PIPELINE_SOURCE == \"schedule\"");

    // The install script is checked before it runs, and installs a pinned, checked release.
    let install: Vec<&str> = recipe["default"]["before_script"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let fetch = install
        .iter()
        .position(|l| l.contains("install.sh\" ") || l.contains("-o install.sh"))
        .unwrap();
    let check = install
        .iter()
        .position(|l| l.contains("sha256sum -c"))
        .unwrap();
    let run = install
        .iter()
        .position(|l| l.starts_with("sh install.sh"))
        .unwrap();
    assert!(fetch < check && check < run, "{install:?}");
    assert!(
        install[fetch].contains("$WARRANT_COMMIT"),
        "pinned to a commit"
    );
    assert_eq!(
        recipe["variables"]["WARRANT_VERSION"],
        format!("v{}", env!("CARGO_PKG_VERSION"))
    );
}
