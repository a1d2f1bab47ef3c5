//! `warrant apply`: the glue around [`crate::apply::apply_plan`].
//!
//! Two modes. `apply PLANFILE` (the CI path) applies a saved plan without asking. The plan
//! file is untrusted: its id is recomputed from its content (and compared with `--plan-id`),
//! and the manifests are always loaded — `--manifests PATH` (repeated), or the paths the plan records,
//! relative to the repository root — because targets, credentials' variable names, key sinks
//! and desired objects come only from them. `apply [PATHS…]` plans, shows the plan and asks
//! for `yes` on a terminal (`--auto-approve` skips the question; without a terminal it
//! refuses). Then: take the lock of every target the plan writes to, read the create journal
//! under them, open one client per such target, apply with a progress bar (terminal) or one
//! line per object (CI) under the signal rules of [`super::interrupts`], print the summary,
//! write `--report`, and map the report to the exit code. The report and journal paths are
//! checked writable before anything else is done.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};

use super::Outcome;
use super::common::{Live, plan_live, print_diagnostics, use_color};
use super::output::{errln, out, outln, quiet};
use super::report_file::ReportFile;
use crate::apply::journal::Journal;
use crate::apply::{self, ApplyOptions, ApplyReport, CancelFlag, Declared, Status};
use crate::plan::{Action, Plan};
use crate::platform::{Manifests, Session};

/// How many objects of one kind of outcome (not in the plan, cut off by a second interrupt)
/// are named on stdout after the summary (all are in the report).
const LINES_SHOWN: usize = 20;

/// What `warrant apply` applies, and how.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// A plan file, or manifest files and directories to plan and apply.
    pub paths: Vec<PathBuf>,
    /// With a plan file: the merged manifests to apply from (default: the paths the plan
    /// records).
    pub manifests: Vec<PathBuf>,
    /// With a plan file: the id of the reviewed plan.
    pub plan_id: Option<String>,
    /// With manifests: apply without asking.
    pub auto_approve: bool,
    /// Refuse plans with more creates and updates than this.
    pub max_changes: Option<usize>,
    /// Write the JSON report here (checked writable before anything else is done).
    pub report: Option<PathBuf>,
    /// The create journal (default: under the repository root).
    pub journal: Option<PathBuf>,
    /// After a second interrupt, how long to wait for the creates in flight.
    pub key_wait: Duration,
    /// Also append a summary of the run to `$GITHUB_STEP_SUMMARY`.
    pub step_summary: bool,
    pub live: Live,
}

pub(crate) fn run(args: Options) -> anyhow::Result<Outcome> {
    let live = &args.live.options;
    // What apply writes besides stdout is checked first: found unwritable now, not after the
    // writes to live systems.
    let report_file = args
        .report
        .as_deref()
        .map(ReportFile::prepare)
        .transpose()?;
    let journal = Journal::open(&super::journal::path(args.journal.as_deref()))?;
    if args.step_summary {
        // Checked first too: a summary that cannot be written is found now, not after.
        super::plan::step_summary_path()?;
    }
    let options = ApplyOptions {
        batch_size: batch_size(live.client.parallelism),
        max_changes: args.max_changes,
        cancel: CancelFlag::default(),
        journal: None,
    };

    let (plan, manifests) = match plan_file_argument(&args.paths)? {
        Some((path, text)) => {
            if !args.live.only.is_empty() {
                bail!(
                    "--only selects objects while planning; `apply PLANFILE` applies the whole reviewed plan (make the plan with --only instead)"
                );
            }
            let plan = crate::plan::file::parse(&path, &text)?;
            apply::preflight(&plan, &options)?;
            apply::check_plan_id(&plan, &text, args.plan_id.as_deref())?;
            drop(text);
            let manifests = load_manifests(&plan, &args.manifests)?;
            let digest = crate::plan::gather::desired_digest(&manifests);
            if digest != plan.desired_digest {
                errln!(
                    "note: the manifests changed since plan {} was made; objects whose declarations are unchanged are applied, changed ones are refused as stale",
                    plan.short_id()
                );
            }
            (plan, manifests)
        }
        None => {
            if !args.manifests.is_empty() || args.plan_id.is_some() {
                bail!(
                    "--manifests and --plan-id go with a plan file; give the plan file as the only path"
                );
            }
            if !args.auto_approve && !std::io::stdin().is_terminal() {
                bail!("{NO_TERMINAL}");
            }
            let (manifests, mut made) = match plan_live(&args.paths, &args.live)? {
                Ok(made) => made,
                Err(outcome) => return Ok(outcome),
            };
            super::journal::hold(&mut made, journal.records(), journal.path());
            apply::preflight(&made.plan, &options)?;
            // The plan is shown before asking, even under `--quiet`.
            if !(quiet() && args.auto_approve) {
                out!("{}", crate::render::text::plan(&made, use_color()))?;
            }
            if !confirmed(&made.plan, args.auto_approve)? {
                outln!("Apply cancelled; nothing was changed.")?;
                return Ok(Outcome::Failure);
            }
            (made.plan, manifests)
        }
    };

    let declared = Declared::new(&manifests, &live.endpoints);
    let targets = declared.targets_to_open(&plan);
    let _locks = apply::lock::lock_targets(&journal.dir(), targets.keys().map(String::as_str))?;
    // Read again under the locks: no other apply on these targets writes to it now.
    let journal = journal.reread()?;
    super::journal::warn_skipped(journal.records());
    let options = ApplyOptions {
        journal: Some(Arc::new(journal)),
        ..options
    };
    let session =
        Session::open(&targets, &live.for_targets(&targets, &manifests)).map_err(|errors| {
            let lines: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
            anyhow::anyhow!("cannot open the targets:\n{}", lines.join("\n"))
        })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let key_wait = args.key_wait;
    let report = runtime.block_on(super::interrupts::apply_with_interrupts(
        &plan, &declared, &session, &options, key_wait,
    ))?;

    // The report is written whatever became of stdout; a stdout error is told after it.
    let shown = show_summary(&report);
    if let Some(file) = report_file {
        file.write(&report)?;
    }
    if super::common::github_actions() {
        let annotations =
            crate::render::github::apply_failures(&report, &|a| super::plan::locate(&manifests, a));
        super::plan::write_annotations(&annotations, true)?;
        if report.counts.contains_key(&Status::NotInPlan) {
            outln!(
                "::warning::{}",
                crate::render::github::NOT_IN_PLAN_NOTE.trim_end()
            )?;
        }
    }
    if args.step_summary {
        super::plan::append_step_summary(&crate::render::github::apply_summary(&report))?;
    }
    shown?;
    Ok(report.outcome.into())
}

fn show_summary(report: &ApplyReport) -> anyhow::Result<()> {
    if !quiet() {
        outln!("{}", crate::render::report::summary_line(report))?;
    }
    for object in report.objects.iter() {
        if let Some(todo) = &object.action_required {
            let line = format!("action required: {}: {todo}", object.address);
            outln!("{}", crate::text::escape(&line))?;
        }
    }
    if !quiet() {
        print_not_in_plan(report)?;
    }
    Ok(())
}

/// The manifests an `apply PLANFILE` acts on: `--manifests`, else the paths the plan records.
/// Those are untrusted like the rest of the plan, so they must be relative paths inside the
/// repository root, and — in a git repository — every file they lead to must be tracked by
/// git: an artifact unpacked into the workspace next to the plan cannot supply manifests.
fn load_manifests(plan: &Plan, given: &[PathBuf]) -> anyhow::Result<Manifests> {
    let root = crate::manifest::repository_root();
    let recorded = given.is_empty();
    let paths = if recorded {
        recorded_paths(plan, &root)?
    } else {
        given.to_vec()
    };
    let manifests = match Manifests::load_under(&paths, &root) {
        Ok(m) => m,
        Err(diagnostics) => {
            print_diagnostics(&diagnostics);
            bail!("the manifests are invalid; nothing was applied");
        }
    };
    if recorded && root.join(".git").exists() {
        untracked_check(&manifests, &paths, &root)?;
    }
    Ok(manifests)
}

fn recorded_paths(plan: &Plan, root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if plan.manifests.is_empty() {
        bail!(
            "plan {} records no manifest paths; pass the merged manifests with --manifests",
            plan.short_id()
        );
    }
    plan.manifests
        .iter()
        .map(|recorded| {
            let path = Path::new(recorded);
            let normal = crate::manifest::lexically_normal(path);
            let escapes = path.is_absolute()
                || normal.starts_with("..")
                || !crate::secret::resolves_inside(root, &root.join(&normal));
            if escapes {
                bail!(
                    "plan {} records the manifest path {recorded:?}, which is not inside the repository root {}; nothing was applied (pass --manifests)",
                    plan.short_id(),
                    root.display()
                );
            }
            // A recorded file must at least look like a manifest: the plan must not make apply
            // parse (and quote in diagnostics) any other file of the repository.
            let full = root.join(normal);
            let yaml = matches!(
                full.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            );
            if full.is_file() && !yaml {
                bail!(
                    "plan {} records the manifest path {recorded:?}, which is not a .yaml or .yml file; nothing was applied (pass --manifests)",
                    plan.short_id()
                );
            }
            Ok(full)
        })
        .collect()
}

/// Refuses manifest files the repository does not track.
fn untracked_check(manifests: &Manifests, paths: &[PathBuf], root: &Path) -> anyhow::Result<()> {
    let listed = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["ls-files", "-z", "--full-name", "--"])
        .args(paths)
        .stderr(std::process::Stdio::null())
        .output()
        .context("cannot run git to check that the recorded manifest files are tracked")?;
    if !listed.status.success() {
        bail!(
            "git ls-files failed in {}; pass the manifests with --manifests",
            root.display()
        );
    }
    let tracked: std::collections::BTreeSet<PathBuf> = listed
        .stdout
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| root.join(String::from_utf8_lossy(p).as_ref()))
        .collect();
    let files: std::collections::BTreeSet<PathBuf> = manifests
        .files()
        .into_iter()
        .map(|f| crate::manifest::lexically_normal(&root.join(f)))
        .collect();
    let untracked: Vec<String> = files
        .iter()
        .filter(|f| !tracked.contains(*f))
        .map(|f| f.display().to_string())
        .collect();
    if !untracked.is_empty() {
        bail!(
            "the plan's recorded manifest paths lead to files git does not track ({}); only the repository's manifests are trusted: nothing was applied (pass --manifests)",
            untracked.join(", ")
        );
    }
    Ok(())
}

/// Names the declared objects the reviewed plan leaves out (a plan made with `--only`, or
/// before they were added): they were not touched.
fn print_not_in_plan(report: &ApplyReport) -> anyhow::Result<()> {
    let left_out: Vec<&apply::ObjectReport> = report
        .objects
        .iter()
        .filter(|o| o.status == Status::NotInPlan)
        .collect();
    print_lines(&left_out, "declared objects not in the reviewed plan")?;
    if !left_out.is_empty() {
        outln!(
            "note: {}",
            crate::render::github::NOT_IN_PLAN_NOTE.trim_end()
        )?;
    }
    Ok(())
}

/// One line per object, at most [`LINES_SHOWN`]; the rest counted (all are in the report).
pub(super) fn print_lines(objects: &[&apply::ObjectReport], what: &str) -> anyhow::Result<()> {
    for object in objects.iter().take(LINES_SHOWN) {
        outln!("{}", crate::render::report::object_line(object))?;
    }
    if objects.len() > LINES_SHOWN {
        outln!(
            "… and {} more {what} (all listed in --report)",
            objects.len() - LINES_SHOWN
        )?;
    }
    Ok(())
}

/// Objects per batch of one target: enough to keep `parallelism` requests in flight for
/// several rounds per batch, few enough that progress and Ctrl-C stay responsive.
fn batch_size(parallelism: usize) -> usize {
    parallelism.saturating_mul(8).clamp(8, 256)
}

/// A single path that is a file, not YAML, and holds a JSON object with `format_version` is a
/// plan file; returns it with its text. Anything else is treated as manifests.
fn plan_file_argument(paths: &[PathBuf]) -> anyhow::Result<Option<(PathBuf, String)>> {
    let [path] = paths else { return Ok(None) };
    let is_yaml = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    if !path.is_file() || is_yaml {
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    // Look only for the key (the rest is skipped, not built): plan files grow to hundreds of MB.
    #[derive(serde::Deserialize)]
    struct Marker {
        format_version: Option<serde::de::IgnoredAny>,
    }
    let is_json_object = text.trim_start().starts_with('{');
    match serde_json::from_str::<Marker>(&text) {
        Ok(Marker {
            format_version: Some(_),
        }) if is_json_object => Ok(Some((path.clone(), text))),
        _ => bail!(
            "{} is neither a manifest (.yaml, .yml) nor a plan file (JSON with format_version, from `warrant plan --out`)",
            path.display()
        ),
    }
}

const NO_TERMINAL: &str = "refusing to apply without confirmation: stdin is not a terminal. Pass --auto-approve, or save the plan with `warrant plan --out plan.json` and run `warrant apply plan.json`";

/// Asks for `yes` on a terminal. Refuses without a terminal unless `--auto-approve`.
fn confirmed(plan: &Plan, auto_approve: bool) -> anyhow::Result<bool> {
    let changes = plan
        .changes
        .iter()
        .filter(|c| matches!(c.action, Action::Create | Action::Update))
        .count();
    if auto_approve || changes == 0 {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        bail!("{NO_TERMINAL}");
    }
    out!("Apply {changes} change(s)? Only 'yes' is accepted: ")?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("cannot read the answer")?;
    Ok(answer.trim() == "yes")
}
