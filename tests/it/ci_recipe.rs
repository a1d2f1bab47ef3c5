//! The GitHub Actions recipe (examples/ci/github-actions.yml) is copied by users as is, and no
//! CI here runs it; so its structure is checked: the jobs and triggers, one plan call making
//! both the plan file and the comment, the comment posted before a failing plan fails the job,
//! every `warrant` command line parsing with the real CLI, the credentials coming from the
//! secrets the example Targets name, the concurrency groups and the install step.

use std::collections::BTreeSet;
use std::path::PathBuf;

use clap::Parser;
use serde_json::Value;
use warrant::cli::{Cli, Command};
use warrant::commands::plan::PlanFormat;
use warrant::platform::{Manifests, TargetPlatform};

const RECIPE: &str = "examples/ci/github-actions.yml";

fn recipe() -> Value {
    let text = std::fs::read_to_string(RECIPE).expect("the recipe exists");
    serde_yaml::from_str(&text).expect("the recipe is YAML")
}

fn job<'a>(recipe: &'a Value, name: &str) -> &'a Value {
    let job = &recipe["jobs"][name];
    assert!(job.is_object(), "no job {name}");
    job
}

fn steps(job: &Value) -> &[Value] {
    job["steps"].as_array().map(Vec::as_slice).unwrap_or(&[])
}

fn script(step: &Value) -> &str {
    step["run"].as_str().unwrap_or("")
}

/// The index of the one step whose name contains `words`.
fn step_named(job: &Value, words: &str) -> usize {
    let found: Vec<usize> = steps(job)
        .iter()
        .enumerate()
        .filter(|(_, s)| s["name"].as_str().is_some_and(|n| n.contains(words)))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(found.len(), 1, "steps named {words:?}: {found:?}");
    found[0]
}

/// Splits one shell command line into words: quotes grouped and removed, a redirection and
/// everything after it dropped. Enough for the recipe's lines, which use no other syntax.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '>') if !in_word => break,
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    assert!(quote.is_none(), "unbalanced quotes in {line:?}");
    if in_word {
        words.push(word);
    }
    words
}

/// Every `warrant …` command of a script (also run with `exec`), continuation lines joined.
fn warrant_commands(script: &str) -> Vec<Vec<String>> {
    let joined = script.replace("\\\n", " ");
    joined
        .lines()
        .map(str::trim)
        .map(|l| l.strip_prefix("exec ").unwrap_or(l))
        .filter(|l| l.starts_with("warrant "))
        .map(shell_words)
        .collect()
}

/// Every `warrant` command of the recipe, by job.
fn all_commands(recipe: &Value) -> Vec<(String, Vec<String>)> {
    let jobs = recipe["jobs"].as_object().expect("jobs");
    jobs.iter()
        .flat_map(|(name, job)| {
            steps(job)
                .iter()
                .flat_map(|s| warrant_commands(script(s)))
                .map(move |c| (name.clone(), c))
        })
        .collect()
}

fn parse(command: &[String]) -> Cli {
    Cli::try_parse_from(command)
        .unwrap_or_else(|e| panic!("`{}` does not parse: {e}", command.join(" ")))
}

/// The credential variables the example Targets name.
fn credential_variables() -> BTreeSet<String> {
    let manifests = Manifests::load(&[PathBuf::from("examples/manifests")]).expect("examples");
    let mut names = BTreeSet::new();
    for target in &manifests.targets {
        match &target.platform {
            TargetPlatform::Atlan(a) => {
                names.insert(a.api_key_env.clone());
            }
            TargetPlatform::Connect(c) => {
                names.insert(c.client_id_env.clone());
                names.insert(c.client_secret_env.clone());
            }
            TargetPlatform::Mist(m) => {
                names.insert(m.api_token_env.clone());
            }
        }
    }
    assert_eq!(names.len(), 4, "{names:?}");
    names
}

#[test]
fn the_recipe_has_its_three_jobs_on_their_triggers() {
    let recipe = recipe();
    let on = &recipe["on"];
    assert!(on["pull_request"].is_object());
    assert_eq!(on["push"]["branches"], serde_json::json!(["main"]));
    assert!(
        on["schedule"][0]["cron"].is_string(),
        "the drift job needs its schedule"
    );
    for (name, event) in [
        ("plan", "pull_request"),
        ("apply", "push"),
        ("drift", "schedule"),
    ] {
        assert_eq!(
            job(&recipe, name)["if"],
            Value::String(format!("github.event_name == '{event}'")),
            "{name}"
        );
    }
    assert_eq!(recipe["jobs"].as_object().unwrap().len(), 3);
}

#[test]
fn every_warrant_command_parses_with_the_real_cli() {
    let recipe = recipe();
    let commands = all_commands(&recipe);
    let subcommands: BTreeSet<(String, String)> = commands
        .iter()
        .map(|(job, c)| (job.clone(), c[1].clone()))
        .collect();
    let expected: BTreeSet<(String, String)> = [
        ("plan", "validate"),
        ("plan", "plan"),
        ("apply", "apply"),
        ("drift", "drift"),
    ]
    .iter()
    .map(|(j, c)| (j.to_string(), c.to_string()))
    .collect();
    assert_eq!(subcommands, expected);
    for (_, command) in &commands {
        parse(command);
    }
    // The parser is strict: the check would catch a renamed flag.
    let mut wrong = commands[0].1.clone();
    wrong.push("--no-such-flag".into());
    assert!(Cli::try_parse_from(&wrong).is_err());
}

#[test]
fn one_plan_call_makes_both_the_plan_file_and_the_comment() {
    let recipe = recipe();
    let plan_job = job(&recipe, "plan");
    let plans: Vec<Vec<String>> = steps(plan_job)
        .iter()
        .flat_map(|s| warrant_commands(script(s)))
        .filter(|c| c[1] == "plan")
        .collect();
    assert_eq!(plans.len(), 1, "plan runs once: {plans:?}");
    let Command::Plan(args) = parse(&plans[0]).command else {
        panic!("not a plan: {:?}", plans[0]);
    };
    assert_eq!(args.out, Some(PathBuf::from("plan.json")));
    assert_eq!(args.format, PlanFormat::Markdown);
    assert!(args.detailed_exitcode);
    assert!(args.step_summary);
    assert!(args.full_plan_link.is_some());
    assert!(
        args.live.only.is_empty(),
        "the comment shows the whole plan"
    );

    let plan = &steps(plan_job)[step_named(plan_job, "Plan")];
    let text = script(plan);
    assert!(text.contains("> plan.md"), "{text}");
    let upload = &steps(plan_job)[step_named(plan_job, "Upload the plan file")];
    assert_eq!(upload["with"]["path"], "plan.json");
    let comment = &steps(plan_job)[step_named(plan_job, "comment")];
    assert!(script(comment).contains("plan.md"));
}

#[test]
fn the_comment_is_posted_before_conflicts_fail_the_job() {
    let recipe = recipe();
    let plan_job = job(&recipe, "plan");
    let all = steps(plan_job);
    let plan = step_named(plan_job, "Plan");
    let comment = step_named(plan_job, "comment");
    let gate = step_named(plan_job, "Fail on conflicts");
    assert!(plan < comment && comment < gate, "{plan} {comment} {gate}");

    // The plan step never fails by itself (so later steps run) but records warrant's exit code.
    let text = script(&all[plan]);
    assert!(text.trim_start().starts_with("set +e"), "{text}");
    assert!(text.contains("exitcode=$?"), "{text}");
    assert!(text.trim_end().ends_with("exit 0"), "{text}");
    assert_eq!(all[plan]["id"], "plan");
    assert!(
        all[comment]["if"].is_null(),
        "the comment step is not skipped"
    );
    assert_eq!(
        all[comment]["env"]["CODE"],
        "${{ steps.plan.outputs.exitcode }}"
    );

    // The gate, run by bash as GitHub would: only 0 and 2 pass.
    let gate_script = script(&all[gate]);
    assert_eq!(
        all[gate]["env"]["CODE"],
        "${{ steps.plan.outputs.exitcode }}"
    );
    for (code, passes) in [("0", true), ("2", true), ("1", false), ("", false)] {
        let status = std::process::Command::new("bash")
            .args(["-e", "-c", gate_script])
            .env("CODE", code)
            .status()
            .expect("bash runs");
        assert_eq!(status.success(), passes, "exit code {code:?}");
    }
}

#[test]
fn live_commands_get_exactly_the_credentials_the_targets_name_from_secrets() {
    let recipe = recipe();
    let wanted = credential_variables();
    let mut checked = 0;
    for name in ["plan", "apply", "drift"] {
        for step in steps(job(&recipe, name)) {
            let live = warrant_commands(script(step))
                .iter()
                .any(|c| ["plan", "apply", "drift"].contains(&c[1].as_str()));
            let env = step["env"].as_object();
            if !live {
                // Credentials only where warrant talks to the platforms.
                for var in &wanted {
                    assert!(
                        env.is_none_or(|e| !e.contains_key(var)),
                        "{name}: {var} given to a step that does not need it"
                    );
                }
                continue;
            }
            let env = env.unwrap_or_else(|| panic!("{name}: a live step without env"));
            for var in &wanted {
                assert_eq!(
                    env.get(var).and_then(Value::as_str),
                    Some(format!("${{{{ secrets.{var} }}}}").as_str()),
                    "{name}: {var}"
                );
            }
            checked += 1;
        }
    }
    assert_eq!(
        checked, 3,
        "plan, apply and drift each run warrant live once"
    );

    // The example's key sink runs `gh secret set`, which needs a token allowed to write secrets.
    let apply_job = job(&recipe, "apply");
    let apply = &steps(apply_job)[step_named(apply_job, "Apply exactly")];
    assert_eq!(apply["env"]["GH_TOKEN"], "${{ secrets.GH_SECRETS_TOKEN }}");
    let sinks = std::fs::read_to_string("examples/manifests/mist.yaml").unwrap();
    assert!(sinks.contains("command: [gh, secret, set,"));
}

#[test]
fn applies_never_overlap_and_a_newer_push_cancels_an_older_plan() {
    let recipe = recipe();
    let apply = &job(&recipe, "apply")["concurrency"];
    assert_eq!(apply["group"], "warrant-apply");
    assert_eq!(apply["cancel-in-progress"], false);
    let plan = &job(&recipe, "plan")["concurrency"];
    assert_eq!(
        plan["group"],
        "warrant-plan-${{ github.event.pull_request.number }}"
    );
    assert_eq!(plan["cancel-in-progress"], true);

    // The runner signals only a step's own process on cancel: apply must be it, so that it
    // finishes its writes and writes its report (and a Mist key is not lost mid-create).
    let apply_job = job(&recipe, "apply");
    let step = &steps(apply_job)[step_named(apply_job, "Apply exactly the reviewed plan")];
    assert!(
        script(step).trim().starts_with("exec warrant apply "),
        "{}",
        script(step)
    );

    // apply applies the whole reviewed plan; it must not be narrowed per target.
    for (job_name, command) in all_commands(&recipe) {
        if let Command::Apply(args) = parse(&command).command {
            assert_eq!(job_name, "apply");
            assert_eq!(args.paths, vec![PathBuf::from("reviewed/plan.json")]);
            assert_eq!(args.manifests, vec![PathBuf::from("manifests/")]);
            assert!(args.live.only.is_empty() && !args.auto_approve);
        }
    }
}

#[test]
fn every_job_installs_a_pinned_warrant_from_git() {
    let recipe = recipe();
    let env = &recipe["env"];
    let git = env["WARRANT_GIT"].as_str().expect("WARRANT_GIT");
    assert!(git.starts_with("https://github.com/"), "{git}");
    let tag = env["WARRANT_TAG"].as_str().expect("WARRANT_TAG");
    assert_eq!(tag, format!("v{}", env!("CARGO_PKG_VERSION")));
    for name in ["plan", "apply", "drift"] {
        let job = job(&recipe, name);
        let install = &steps(job)[step_named(job, "Install warrant")];
        let words = shell_words(script(install));
        assert_eq!(
            words,
            [
                "cargo",
                "install",
                "--locked",
                "--git",
                "$WARRANT_GIT",
                "--tag",
                "$WARRANT_TAG",
                "warrant"
            ],
            "{name}"
        );
        let first_warrant = steps(job)
            .iter()
            .position(|s| !warrant_commands(script(s)).is_empty())
            .expect("the job runs warrant");
        assert!(step_named(job, "Install warrant") < first_warrant, "{name}");
    }
}

#[test]
fn shell_words_split_like_bash_for_the_recipe_lines() {
    assert_eq!(
        shell_words(r#"warrant plan a/ --link "x ${{ y }} z" > plan.md"#),
        ["warrant", "plan", "a/", "--link", "x ${{ y }} z"]
    );
    assert_eq!(
        shell_words(r#"warrant drift m/ >> "$GITHUB_STEP_SUMMARY""#),
        ["warrant", "drift", "m/"]
    );
    assert_eq!(shell_words("a 'b c'd"), ["a", "b cd"]);
}
