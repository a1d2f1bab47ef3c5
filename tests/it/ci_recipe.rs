//! The GitHub Actions recipe (examples/ci/github-actions.yml) is copied by users as is, and no
//! CI here runs it; so its structure is checked (jobs, triggers, conditions, credentials per
//! job, pinned actions, permissions, timeouts, concurrency), every `warrant` command line is
//! parsed by the real CLI, and the scripts that carry trust — the plan comment, and the apply
//! job's lookup of the reviewed plan id — are run by bash against a fake `gh` that answers
//! with recorded GitHub API JSON. actionlint.rs and shellcheck.rs lint the same file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use serde_json::{Value, json};
use warrant::cli::{Cli, Command as Sub};
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

fn jobs(recipe: &Value) -> &serde_json::Map<String, Value> {
    recipe["jobs"].as_object().expect("jobs")
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

fn step<'a>(job: &'a Value, words: &str) -> &'a Value {
    &steps(job)[step_named(job, words)]
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

/// Every `warrant …` command of a script (also run with `exec`), continuation lines joined;
/// `warrant --version` (a version probe, not a command) is left out.
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
    jobs(recipe)
        .iter()
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

/// The read and the write credential variables of the Targets the recipe documents
/// (examples/ci/targets.yaml).
fn credential_variables() -> (BTreeSet<String>, BTreeSet<String>) {
    let manifests = Manifests::load(&[PathBuf::from("examples/ci/targets.yaml")]).expect("valid");
    let (mut read, mut write) = (BTreeSet::new(), BTreeSet::new());
    for target in &manifests.targets {
        match &target.platform {
            TargetPlatform::Atlan(a) => {
                write.insert(a.api_key_env.clone());
                read.insert(a.read.as_ref().expect("read").api_key_env.clone());
            }
            TargetPlatform::Connect(c) => {
                write.extend([c.client_id_env.clone(), c.client_secret_env.clone()]);
                let r = c.read.as_ref().expect("read");
                read.extend([r.client_id_env.clone(), r.client_secret_env.clone()]);
            }
            TargetPlatform::Mist(m) => {
                write.insert(m.api_token_env.clone());
                read.insert(m.read.as_ref().expect("read").api_token_env.clone());
            }
        }
    }
    assert_eq!((read.len(), write.len()), (4, 4), "{read:?} {write:?}");
    (read, write)
}

const SAME_REPO: &str = "github.event.pull_request.head.repo.full_name == github.repository";
const FORK: &str = "github.event.pull_request.head.repo.full_name != github.repository";

#[test]
fn the_jobs_run_on_their_triggers_and_forks_never_reach_a_credential() {
    let recipe = recipe();
    let on = &recipe["on"];
    assert!(on["pull_request"].is_object());
    assert_eq!(on["push"]["branches"], json!(["main"]));
    assert!(
        on["schedule"][0]["cron"].is_string(),
        "the weekly drift job"
    );
    assert!(on.get("workflow_dispatch").is_some(), "plan and apply main");
    assert!(on["pull_request_target"].is_object(), "the fork notice");
    let names: BTreeSet<&str> = jobs(&recipe).keys().map(String::as_str).collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "plan",
            "validate-fork",
            "fork-notice",
            "apply",
            "dispatch-plan",
            "dispatch-apply",
            "drift"
        ])
    );
    let condition = |name: &str| job(&recipe, name)["if"].as_str().unwrap_or("").to_string();
    assert!(condition("plan").contains("github.event_name == 'pull_request'"));
    assert!(
        condition("plan").contains(SAME_REPO),
        "{}",
        condition("plan")
    );
    assert!(condition("validate-fork").contains(FORK));
    assert!(condition("validate-fork").contains("github.event_name == 'pull_request'"));
    assert!(condition("fork-notice").contains("github.event_name == 'pull_request_target'"));
    assert!(condition("fork-notice").contains(FORK));
    assert_eq!(condition("apply"), "github.event_name == 'push'");
    assert!(condition("dispatch-plan").contains("github.event_name == 'workflow_dispatch'"));
    assert!(condition("dispatch-plan").contains("github.ref == 'refs/heads/main'"));
    assert_eq!(job(&recipe, "dispatch-apply")["needs"], "dispatch-plan");
    assert_eq!(condition("drift"), "github.event_name == 'schedule'");

    // The pull_request_target job runs in the base repository with a write token: it must
    // check out and run nothing, and get no secret.
    let notice = job(&recipe, "fork-notice");
    let text = serde_json::to_string(notice).unwrap();
    assert!(!text.contains("secrets."), "{text}");
    assert!(!text.contains("checkout"), "{text}");
    assert!(steps(notice).iter().all(|s| s["uses"].is_null()));
    assert!(
        all_commands(&recipe)
            .iter()
            .all(|(j, _)| j != "fork-notice")
    );
    let fork = serde_json::to_string(job(&recipe, "validate-fork")).unwrap();
    assert!(!fork.contains("secrets."), "{fork}");
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
        ("validate-fork", "validate"),
        ("apply", "apply"),
        ("dispatch-plan", "plan"),
        ("dispatch-apply", "apply"),
        ("drift", "drift"),
    ]
    .iter()
    .map(|(j, c)| (j.to_string(), c.to_string()))
    .collect();
    assert_eq!(subcommands, expected);
    for (job_name, command) in &commands {
        match parse(command).command {
            Sub::Validate(args) => assert!(args.ci, "{job_name}: validate --ci"),
            Sub::Drift(args) => assert!(args.fail_on_drift, "drift fails on drift"),
            Sub::Apply(args) => {
                assert_eq!(args.paths, vec![PathBuf::from("reviewed/plan.json")]);
                assert_eq!(args.manifests, vec![PathBuf::from("manifests/")]);
                assert_eq!(args.plan_id.as_deref(), Some("$PLAN_ID"), "{job_name}");
                assert!(args.step_summary && args.report.is_some());
                assert!(args.live.only.is_empty() && !args.auto_approve);
            }
            Sub::Plan(args) => {
                assert_eq!(args.out, Some(PathBuf::from("plan.json")));
                assert!(args.step_summary && args.detailed_exitcode);
                assert!(args.live.only.is_empty(), "the whole plan");
            }
            other => panic!("{job_name}: unexpected {other:?}"),
        }
    }
    // The parser is strict: the check would catch a renamed flag.
    let mut wrong = commands[0].1.clone();
    wrong.push("--no-such-flag".into());
    assert!(Cli::try_parse_from(&wrong).is_err());
}

#[test]
fn one_plan_call_makes_the_plan_file_the_comment_and_the_summary() {
    let recipe = recipe();
    let plan_job = job(&recipe, "plan");
    let plans: Vec<Vec<String>> = steps(plan_job)
        .iter()
        .flat_map(|s| warrant_commands(script(s)))
        .filter(|c| c[1] == "plan")
        .collect();
    assert_eq!(plans.len(), 1, "plan runs once: {plans:?}");
    let Sub::Plan(args) = parse(&plans[0]).command else {
        panic!("not a plan: {:?}", plans[0]);
    };
    assert_eq!(args.format, PlanFormat::Markdown);
    assert!(args.full_plan_link.is_some());
    let plan = step(plan_job, "Plan");
    assert!(script(plan).contains("> plan.md"), "{}", script(plan));
    let upload = step(plan_job, "Upload the plan file");
    assert_eq!(upload["with"]["path"], "plan.json");
    assert_eq!(
        upload["with"]["name"],
        "plan-${{ github.event.pull_request.head.sha }}"
    );
    let comment = step(plan_job, "comment");
    assert_eq!(
        comment["env"]["PLAN_ID"],
        "${{ steps.plan.outputs.plan_id }}"
    );
    assert_eq!(
        comment["env"]["HEAD_SHA"],
        "${{ github.event.pull_request.head.sha }}"
    );
}

#[test]
fn the_comment_is_posted_always_and_before_conflicts_fail_the_job() {
    let recipe = recipe();
    let plan_job = job(&recipe, "plan");
    let all = steps(plan_job);
    let plan = step_named(plan_job, "Plan");
    let comment = step_named(plan_job, "comment");
    let gate = step_named(plan_job, "Fail on conflicts");
    assert!(plan < comment && comment < gate, "{plan} {comment} {gate}");

    let text = script(&all[plan]);
    assert!(text.trim_start().starts_with("set +e"), "{text}");
    assert!(text.contains("exitcode=$?"), "{text}");
    assert!(text.trim_end().ends_with("exit 0"), "{text}");
    assert_eq!(all[plan]["id"], "plan");
    assert_eq!(all[comment]["if"], "always()");
    assert_eq!(
        all[comment]["env"]["CODE"],
        "${{ steps.plan.outputs.exitcode }}"
    );

    // The gate, run by bash as GitHub would: only 0 and 2 pass.
    let gate_script = script(&all[gate]);
    for (code, passes) in [("0", true), ("2", true), ("1", false), ("", false)] {
        let status = Command::new("bash")
            .args(["-e", "-c", gate_script])
            .env("CODE", code)
            .status()
            .expect("bash runs");
        assert_eq!(status.success(), passes, "exit code {code:?}");
    }
}

/// The variables a step gives warrant from secrets, when it runs warrant live.
fn secret_env(step: &Value) -> BTreeMap<String, String> {
    step["env"]
        .as_object()
        .map(|env| {
            env.iter()
                .filter_map(|(k, v)| {
                    let v = v.as_str()?;
                    v.starts_with("${{ secrets.")
                        .then(|| (k.clone(), v.to_string()))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn plan_and_drift_get_only_read_credentials_and_only_apply_gets_write_ones() {
    let recipe = recipe();
    let (read, write) = credential_variables();
    let expect = |vars: &BTreeSet<String>, extra: &[(&str, &str)]| -> BTreeMap<String, String> {
        vars.iter()
            .map(|v| (v.clone(), format!("${{{{ secrets.{v} }}}}")))
            .chain(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .collect()
    };
    let mut live_steps = 0;
    for (name, job) in jobs(&recipe) {
        let writes = matches!(name.as_str(), "apply" | "dispatch-apply");
        assert_eq!(
            job["environment"].as_str(),
            writes.then_some("production"),
            "{name}: only the apply jobs use the production environment"
        );
        let text = serde_json::to_string(job).unwrap();
        for var in &write {
            assert_eq!(
                text.contains(&format!("secrets.{var} ")),
                writes,
                "{name}: {var}"
            );
        }
        for step in steps(job) {
            let live: Vec<String> = warrant_commands(script(step))
                .iter()
                .map(|c| c[1].clone())
                .filter(|c| ["plan", "apply", "drift"].contains(&c.as_str()))
                .collect();
            let env = secret_env(step);
            if live.is_empty() {
                let credentials: Vec<&String> = env
                    .keys()
                    .filter(|k| read.contains(*k) || write.contains(*k))
                    .collect();
                assert!(
                    credentials.is_empty(),
                    "{name}: {credentials:?} given to a step that does not need them"
                );
                continue;
            }
            live_steps += 1;
            if live == ["apply"] {
                let wanted = expect(&write, &[("GH_TOKEN", "${{ secrets.GH_SECRETS_TOKEN }}")]);
                assert_eq!(env, wanted, "{name}");
            } else {
                assert_eq!(env, expect(&read, &[]), "{name}: {live:?}");
            }
        }
    }
    assert_eq!(live_steps, 5, "plan, apply, dispatch plan and apply, drift");

    // The example's key sink runs `gh secret set`, which needs a token allowed to write secrets.
    let sinks = std::fs::read_to_string("examples/manifests/mist.yaml").unwrap();
    assert!(sinks.contains("command: [gh, secret, set,"));
}

#[test]
fn actions_are_pinned_permissions_scoped_and_every_job_bounded_in_time() {
    let recipe = recipe();
    assert_eq!(recipe["permissions"], json!({}), "nothing by default");
    let mut uses = 0;
    for (name, job) in jobs(&recipe) {
        assert!(
            job["timeout-minutes"]
                .as_u64()
                .is_some_and(|m| (1..=60).contains(&m)),
            "{name}: timeout-minutes"
        );
        let permissions = job["permissions"]
            .as_object()
            .unwrap_or_else(|| panic!("{name}: permissions"));
        for (scope, level) in permissions {
            assert!(
                ["contents", "pull-requests", "actions"].contains(&scope.as_str()),
                "{name}: {scope}"
            );
            let writes_allowed = match scope.as_str() {
                "pull-requests" => ["plan", "fork-notice", "apply"].contains(&name.as_str()),
                _ => false,
            };
            assert!(
                level == "read" || (level == "write" && writes_allowed),
                "{name}: {scope}: {level}"
            );
        }
        for step in steps(job) {
            let Some(action) = step["uses"].as_str() else {
                continue;
            };
            uses += 1;
            let (_, rest) = action
                .split_once('@')
                .unwrap_or_else(|| panic!("{action} unpinned"));
            let sha = rest.split_whitespace().next().unwrap();
            assert!(
                sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
                "{name}: {action} is not pinned to a commit"
            );
        }
        if let Some(checkout) = steps(job).iter().find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/checkout@"))
        }) {
            assert_eq!(checkout["with"]["persist-credentials"], false, "{name}");
        }
    }
    assert!(uses >= 15, "{uses}");
    let text = std::fs::read_to_string(RECIPE).unwrap();
    for line in text.lines().filter(|l| l.contains("uses: ")) {
        assert!(line.contains(" # v"), "the pin names its version: {line}");
    }
}

#[test]
fn every_job_installs_warrant_through_the_action_before_running_it() {
    let recipe = recipe();
    for (name, job) in jobs(&recipe) {
        let first_warrant = steps(job).iter().position(|s| {
            !warrant_commands(script(s)).is_empty() || script(s).contains("warrant --version")
        });
        let Some(first_warrant) = first_warrant else {
            assert_eq!(name, "fork-notice");
            continue;
        };
        let install = step_named(job, "Install warrant");
        assert!(install < first_warrant, "{name}");
        let install = &steps(job)[install];
        let action = install["uses"].as_str().expect("the action");
        assert!(action.starts_with("OWNER/warrant@"), "{action}");
        assert_eq!(install["with"]["version"], "${{ env.WARRANT_VERSION }}");
        assert_eq!(install["with"]["checksum"], "${{ env.WARRANT_SHA256SUMS }}");
        assert!(
            !serde_json::to_string(job)
                .unwrap()
                .contains("cargo install")
        );
    }
    assert_eq!(
        recipe["env"]["WARRANT_VERSION"],
        format!("v{}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn applies_never_overlap_and_run_as_the_steps_own_process() {
    let recipe = recipe();
    for name in ["apply", "dispatch-apply"] {
        let concurrency = &job(&recipe, name)["concurrency"];
        assert_eq!(concurrency["group"], "warrant-apply", "{name}");
        assert_eq!(concurrency["cancel-in-progress"], false, "{name}");
        let apply = steps(job(&recipe, name))
            .iter()
            .find(|s| warrant_commands(script(s)).iter().any(|c| c[1] == "apply"))
            .unwrap();
        // The runner signals only a step's own process on cancel: apply must be it.
        assert!(
            script(apply).trim().starts_with("exec warrant apply "),
            "{name}"
        );
    }
    let plan = &job(&recipe, "plan")["concurrency"];
    assert_eq!(
        plan["group"],
        "warrant-plan-${{ github.event.pull_request.number }}"
    );
    assert_eq!(plan["cancel-in-progress"], true);
}

#[test]
fn apply_takes_the_plan_of_the_merged_head_through_the_provenance_check() {
    let recipe = recipe();
    assert_eq!(
        recipe["env"]["WARRANT_WORKFLOW"],
        ".github/workflows/warrant.yml"
    );
    let apply = job(&recipe, "apply");
    let pr = step_named(apply, "Find the merged pull request");
    let download = step_named(apply, "Download the reviewed plan");
    let run = step_named(apply, "Apply exactly");
    assert!(pr < download && download < run);
    let download = &steps(apply)[download];
    assert_eq!(download["env"]["HEAD"], "${{ steps.pr.outputs.head }}");
    assert_eq!(
        download["env"]["VERIFY"],
        "${{ steps.warrant.outputs.verify-plan-artifact }}"
    );
    let text = script(download);
    assert!(text.contains("actions/artifacts?name=plan-$HEAD"), "{text}");
    let verify = text
        .replace("\\\n", " ")
        .lines()
        .find(|l| l.contains("\"$VERIFY\""))
        .map(shell_words)
        .expect("the verify call");
    for (flag, value) in [
        ("--head-sha", "$HEAD"),
        ("--repository", "$GITHUB_REPOSITORY"),
        ("--workflow", "$WARRANT_WORKFLOW"),
        ("--artifacts", "artifacts.json"),
        ("--runs", "runs.json"),
    ] {
        let at = verify
            .iter()
            .position(|w| w == flag)
            .unwrap_or_else(|| panic!("{flag}"));
        assert_eq!(verify[at + 1], value, "{flag}");
    }
    // The run it downloads from is the one the check picked, by that name.
    assert!(
        text.contains("gh run download \"$run_id\" -n \"plan-$HEAD\" -D reviewed"),
        "{text}"
    );
    assert_eq!(
        steps(apply)[run]["env"]["PLAN_ID"],
        "${{ steps.pr.outputs.plan_id }}"
    );
    // Afterwards: the result on the merged pull request, whatever happened.
    let comment = step(apply, "Comment the result");
    assert!(comment["if"].as_str().unwrap().starts_with("always()"));
    assert_eq!(comment["env"]["OUTCOME"], "${{ steps.apply.outcome }}");
}

// ------------------------------------------------------------------ the scripts, run

/// A scratch directory with a fake `gh` on PATH that answers `gh api PATH [--jq EXPR]` from
/// `<dir>/api/<PATH with / ? = & as _>.json` (through jq like gh's --jq), records every call
/// in `calls`, and saves the body of a write in `posted-<METHOD>` and its path in
/// `posted-<METHOD>.path`; and the real warrant binary.
struct FakeGh {
    dir: tempfile::TempDir,
}

impl FakeGh {
    fn new() -> FakeGh {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(bin.join("..").join("api")).unwrap();
        std::fs::create_dir_all(&bin).unwrap();
        let gh = r#"#!/bin/bash
set -eu
printf '%s\n' "$*" >> "$FAKE_GH/calls"
jq_expr='' method='' path='' body=''
shift  # api
while [ $# -gt 0 ]; do
  case $1 in
    --paginate) ;;
    --jq) jq_expr=$2; shift ;;
    -X) method=$2; shift ;;
    -F|-f) body=$2; shift ;;
    *) path=$1 ;;
  esac
  shift
done
if [ -n "$body" ]; then
  method=${method:-POST}
  cp "${body#body=@}" "$FAKE_GH/posted-$method"
  printf '%s' "$path" > "$FAKE_GH/posted-$method.path"
  echo '{}'
  exit 0
fi
file="$FAKE_GH/api/$(printf '%s' "$path" | tr '/?=&' '____').json"
[ -f "$file" ] || { echo "fake gh: no answer for $path" >&2; exit 1; }
if [ -n "$jq_expr" ]; then jq -r "$jq_expr" "$file"; else cat "$file"; fi
"#;
        std::fs::write(bin.join("gh"), gh).unwrap();
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_warrant"), bin.join("warrant")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(bin.join("gh"), std::fs::Permissions::from_mode(0o755)).unwrap();
        FakeGh { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn answer(&self, api_path: &str, value: &Value) {
        let name = api_path.replace(['/', '?', '=', '&'], "_");
        std::fs::write(
            self.path().join("api").join(format!("{name}.json")),
            value.to_string(),
        )
        .unwrap();
    }

    fn posted(&self, method: &str) -> Option<(String, String)> {
        let body = std::fs::read_to_string(self.path().join(format!("posted-{method}"))).ok()?;
        let path =
            std::fs::read_to_string(self.path().join(format!("posted-{method}.path"))).unwrap();
        Some((path, body))
    }

    /// Runs a step's script as GitHub does (`bash -e -o pipefail`) in the scratch directory,
    /// with `env`; returns whether it succeeded, its outputs, and its stdout and stderr.
    fn run(&self, script: &str, env: &[(&str, &str)]) -> (bool, BTreeMap<String, String>, String) {
        let output = self.path().join("github_output");
        std::fs::write(&output, "").unwrap();
        let path = format!(
            "{}:{}",
            self.path().join("bin").display(),
            std::env::var("PATH").unwrap()
        );
        let out = Command::new("bash")
            .args([
                "--noprofile",
                "--norc",
                "-e",
                "-o",
                "pipefail",
                "-c",
                script,
            ])
            .current_dir(self.path())
            .env("PATH", path)
            .env("FAKE_GH", self.path())
            .env("GITHUB_OUTPUT", &output)
            .env("GITHUB_REPOSITORY", "acme/access")
            .env("GITHUB_SHA", MERGE_SHA)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let outputs = std::fs::read_to_string(&output)
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), outputs, log)
    }
}

const MERGE_SHA: &str = "1111111111111111111111111111111111111111";
const HEAD_SHA: &str = "2222222222222222222222222222222222222222";
const OTHER_SHA: &str = "3333333333333333333333333333333333333333";
const PLAN_ID: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const FORGED_ID: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn comment(id: u64, login: &str, body: &str) -> Value {
    json!({"id": id, "user": {"login": login}, "body": body})
}

fn bot_plan_comment(plan_id: &str, head: &str) -> String {
    format!(
        "<!-- warrant-plan -->\n<!-- warrant-plan-id: {plan_id} head: {head} -->\nCommit `{head}` · plan `{plan_id}` · warrant 0.1.0\n\n## warrant plan\n"
    )
}

#[test]
fn the_plan_comment_names_commit_plan_and_version_and_updates_only_the_bots_comment() {
    let recipe = recipe();
    let comment_step = step(job(&recipe, "plan"), "comment");
    let text = script(comment_step);
    let env = |code: &'static str, plan_id: &'static str| {
        vec![
            ("GH_TOKEN", "t"),
            ("PR", "7"),
            ("HEAD_SHA", HEAD_SHA),
            ("CODE", code),
            ("PLAN_ID", plan_id),
        ]
    };

    // A plan: the comment carries the marker, the machine line apply reads, and for people the
    // commit, the plan id and warrant's version, then the plan.
    let gh = FakeGh::new();
    std::fs::write(gh.path().join("plan.md"), "## warrant plan\n\nthe plan\n").unwrap();
    // Someone else's comment with the marker is not the one to update.
    gh.answer(
        "repos/acme/access/issues/7/comments",
        &json!([comment(5, "mallory", "<!-- warrant-plan -->\nfake")]),
    );
    let (ok, _, log) = gh.run(text, &env("2", PLAN_ID));
    assert!(ok, "{log}");
    assert!(gh.posted("PATCH").is_none(), "{log}");
    let (path, body) = gh.posted("POST").expect("a new comment");
    assert_eq!(path, "repos/acme/access/issues/7/comments");
    assert!(body.starts_with("<!-- warrant-plan -->\n"), "{body}");
    assert!(
        body.contains(&format!(
            "<!-- warrant-plan-id: {PLAN_ID} head: {HEAD_SHA} -->"
        )),
        "{body}"
    );
    assert!(
        body.contains(&format!(
            "Commit `{HEAD_SHA}` · plan `{PLAN_ID}` · warrant {}",
            env!("CARGO_PKG_VERSION")
        )),
        "{body}"
    );
    assert!(body.ends_with("the plan\n"), "{body}");

    // The bot's own comment is updated in place.
    let gh = FakeGh::new();
    std::fs::write(gh.path().join("plan.md"), "## warrant plan\n").unwrap();
    gh.answer(
        "repos/acme/access/issues/7/comments",
        &json!([
            comment(5, "mallory", "<!-- warrant-plan -->\nfake"),
            comment(
                9,
                "github-actions[bot]",
                &bot_plan_comment(FORGED_ID, OTHER_SHA)
            ),
        ]),
    );
    let (ok, _, log) = gh.run(text, &env("0", PLAN_ID));
    assert!(ok, "{log}");
    let (path, body) = gh.posted("PATCH").expect("an update");
    assert_eq!(path, "repos/acme/access/issues/comments/9");
    assert!(
        body.contains(PLAN_ID) && !body.contains(FORGED_ID),
        "{body}"
    );

    // A failed plan (exit 1, or no plan at all): the comment says so and carries no plan id,
    // so the stale plan of an earlier push cannot be applied.
    for (code, plan_id) in [("1", PLAN_ID), ("", "")] {
        let gh = FakeGh::new();
        gh.answer(
            "repos/acme/access/issues/7/comments",
            &json!([comment(
                9,
                "github-actions[bot]",
                &bot_plan_comment(PLAN_ID, OTHER_SHA)
            )]),
        );
        let (ok, _, log) = gh.run(text, &env(code, plan_id));
        assert!(ok, "{log}");
        let (_, body) = gh.posted("PATCH").expect("the comment is replaced");
        assert!(!body.contains("warrant-plan-id"), "{body}");
        assert!(body.contains("did not make an applicable plan"), "{body}");
        assert!(body.contains(HEAD_SHA), "{body}");
    }
}

#[test]
fn apply_reads_the_plan_id_only_from_the_bots_comment_for_the_merged_head() {
    let recipe = recipe();
    let text = script(step(job(&recipe, "apply"), "Find the merged pull request"));
    let pulls = json!([
        {"number": 7, "merged_at": "2026-01-01T00:00:00Z", "base": {"ref": "main"}, "head": {"sha": HEAD_SHA}}
    ]);
    let find = |comments: Value| {
        let gh = FakeGh::new();
        gh.answer(
            &format!("repos/acme/access/commits/{MERGE_SHA}/pulls"),
            &pulls,
        );
        gh.answer("repos/acme/access/issues/7/comments", &comments);
        let (ok, outputs, log) = gh.run(text, &[("GH_TOKEN", "t")]);
        (ok, outputs, log)
    };

    let (ok, outputs, log) = find(json!([
        // Anyone can write the marker and an id line; only the bot's comment counts.
        comment(3, "mallory", &bot_plan_comment(FORGED_ID, HEAD_SHA)),
        comment(
            4,
            "github-actions[bot]",
            &bot_plan_comment(PLAN_ID, HEAD_SHA)
        ),
        comment(5, "mallory", &bot_plan_comment(FORGED_ID, HEAD_SHA)),
    ]));
    assert!(ok, "{log}");
    assert_eq!(outputs["plan_id"], PLAN_ID);
    assert_eq!(outputs["head"], HEAD_SHA);
    assert_eq!(outputs["number"], "7");

    // The bot's comment is for another commit (a later push was never planned): refused.
    let (ok, outputs, log) = find(json!([comment(
        4,
        "github-actions[bot]",
        &bot_plan_comment(PLAN_ID, OTHER_SHA)
    ),]));
    assert!(!ok && !outputs.contains_key("plan_id"), "{log}");
    assert!(log.contains("shows no applicable plan"), "{log}");

    // Only a forged comment: refused.
    let (ok, _, log) = find(json!([comment(
        3,
        "mallory",
        &bot_plan_comment(FORGED_ID, HEAD_SHA)
    )]));
    assert!(!ok, "{log}");

    // A failed plan's comment (no id line): refused.
    let (ok, _, _) = find(json!([comment(
        4,
        "github-actions[bot]",
        "<!-- warrant-plan -->\n**warrant plan did not make an applicable plan (exit 1)**"
    )]));
    assert!(!ok);

    // A push that no merged pull request made: nothing was reviewed.
    let gh = FakeGh::new();
    gh.answer(
        &format!("repos/acme/access/commits/{MERGE_SHA}/pulls"),
        &json!([]),
    );
    let (ok, _, log) = gh.run(text, &[("GH_TOKEN", "t")]);
    assert!(!ok, "{log}");
    assert!(log.contains("no merged pull request"), "{log}");
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
