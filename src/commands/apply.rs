//! `warrant apply`: the glue around [`crate::apply::apply_plan`].
//!
//! Two modes. `apply PLANFILE` (the CI path) applies a saved plan without asking; with
//! `--manifests` it first checks the plan still matches the manifests. `apply [PATHS…]`
//! plans, shows the plan and asks for `yes` on a terminal (`--auto-approve` skips the
//! question; without a terminal it refuses). Then: open one client per target, apply with a
//! progress bar (terminal) or one line per object (CI), handle Ctrl-C, print the summary,
//! write `--report`, and map the report to the exit code.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::apply::{self, ApplyOptions, ApplyReport, Bar, CancelFlag, PlainLines, Progress};
use crate::cli::{ApplyArgs, Outcome};
use crate::plan::{Action, Plan};
use crate::session::{LiveOptions, Session};

pub fn run(args: ApplyArgs) -> anyhow::Result<Outcome> {
    if args.live.parallelism == 0 {
        bail!("--parallelism must be at least 1");
    }
    let live = LiveOptions {
        endpoints: LiveOptions::parse_endpoints(&args.live.endpoints)
            .map_err(anyhow::Error::msg)?,
        credentials: Default::default(),
        client: args.live.client_options(),
    };
    let options = ApplyOptions {
        batch_size: batch_size(args.live.parallelism),
        max_changes: args.max_changes,
        key_dir: std::env::current_dir().context("cannot read the working directory")?,
        cancel: CancelFlag::default(),
    };

    let plan = match plan_file_argument(&args.paths)? {
        Some((path, text)) => {
            if !args.live.only.is_empty() {
                bail!(
                    "--only selects objects while planning; `apply PLANFILE` applies the whole reviewed plan (make the plan with --only instead)"
                );
            }
            let plan = crate::plan::file::parse(&path, &text)?;
            if !args.manifests.is_empty() {
                check_manifests_unchanged(&plan, &args.manifests)?;
            }
            apply::preflight(&plan, &options)?;
            plan
        }
        None => {
            if !args.manifests.is_empty() {
                bail!(
                    "--manifests checks a plan file against the manifests; give the plan file as the only path"
                );
            }
            if !args.auto_approve && !std::io::stdin().is_terminal() {
                bail!("{NO_TERMINAL}");
            }
            let plan = match super::plan::plan_live(&args.paths, &args.live)? {
                Ok(plan) => plan,
                Err(outcome) => return Ok(outcome),
            };
            apply::preflight(&plan, &options)?;
            print!(
                "{}",
                crate::render::text::plan(&plan, super::plan::use_color())
            );
            if !confirmed(&plan, args.auto_approve)? {
                println!("Apply cancelled; nothing was changed.");
                return Ok(Outcome::Failure);
            }
            plan
        }
    };

    let session = Session::open(&plan.targets, &live).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
        anyhow::anyhow!("cannot open the targets:\n{}", lines.join("\n"))
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = runtime.block_on(apply_with_interrupts(&plan, &session, &options))?;

    println!("{}", report.summary_line());
    for object in report.objects.iter() {
        if let Some(todo) = &object.action_required {
            println!("action required: {}: {todo}", object.address);
        }
    }
    if let Some(path) = &args.report {
        write_report(path, &report)?;
    }
    Ok(report.outcome())
}

/// Objects per batch of one target: enough to keep `parallelism` requests in flight for
/// several rounds per batch, few enough that progress and Ctrl-C stay responsive.
fn batch_size(parallelism: usize) -> usize {
    parallelism.saturating_mul(8).clamp(8, 256)
}

/// Runs the apply while the first Ctrl-C stops new batches (the ones in flight finish and the
/// report is still written); a second one exits at once.
async fn apply_with_interrupts(
    plan: &Plan,
    session: &Session,
    options: &ApplyOptions,
) -> anyhow::Result<ApplyReport> {
    let cancel = options.cancel.clone();
    let watcher = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!(
                "interrupted: finishing the writes in flight, starting nothing new (Ctrl-C again to exit at once)"
            );
            cancel.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("interrupted twice: exiting without a report");
                std::process::exit(i32::from(Outcome::Failure.code()));
            }
        }
    });
    let progress: Box<dyn Progress> = if std::io::stderr().is_terminal() {
        Box::new(Bar::new())
    } else {
        Box::new(PlainLines::new(std::io::stdout()))
    };
    let report = apply::apply_plan(plan, session, options, progress.as_ref()).await;
    watcher.abort();
    Ok(report?)
}

fn write_report(path: &Path, report: &ApplyReport) -> anyhow::Result<()> {
    // Streamed: a report of 100,000 objects is tens of MB of JSON.
    let write = || -> std::io::Result<()> {
        let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
        serde_json::to_writer_pretty(&mut out, report).map_err(std::io::Error::other)?;
        out.write_all(b"\n")?;
        out.flush()
    };
    write().with_context(|| format!("cannot write the report {}", path.display()))
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

fn check_manifests_unchanged(plan: &Plan, manifests: &[PathBuf]) -> anyhow::Result<()> {
    let loaded = match super::plan::load(manifests) {
        Ok(m) => m,
        Err(diagnostics) => {
            super::plan::print_diagnostics(&diagnostics);
            bail!("the manifests given with --manifests are invalid; nothing was applied");
        }
    };
    let now = crate::plan::gather::desired_digest(&loaded);
    if now != plan.desired_digest {
        bail!(
            "the manifests changed since the plan was made (desired digest {} in the plan, {now} now); nothing was applied: make and review a new plan",
            plan.desired_digest
        );
    }
    Ok(())
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
    print!("Apply {changes} change(s)? Only 'yes' is accepted: ");
    std::io::stdout()
        .flush()
        .context("cannot write to stdout")?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("cannot read the answer")?;
    Ok(answer.trim() == "yes")
}
