//! `warrant demo`: the whole story on the embedded sandbox, with no credentials and no network.
//!
//! Starts the sandbox seeded from `examples/sandbox/seed.yaml` (compiled in), writes the
//! example manifests (compiled in) to a scratch directory, points their targets at the
//! sandbox, and runs validate → plan → apply → plan again → drift through the same library
//! calls the real commands use. Key sinks are redirected into the scratch directory, since a
//! newcomer's machine has no `gh` and the demo must not write into the current directory; the
//! demo says which sinks it changed, so nobody mistakes the example's sinks for file sinks.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};

use super::Outcome;
use super::common::{print_diagnostics, use_color};
use super::output::{out, outln};
use crate::apply::{self, ApplyOptions, CancelFlag, Declared};
use crate::manifest::KeySinkSpec;
use crate::plan::gather::{make_plan, open_session};
use crate::platform::{ClientOptions, Credentials, Environment, LiveOptions, Manifests};
use crate::render::progress::PlainLines;
use crate::sandbox::{self, Faults, Seed};

/// What `warrant demo` keeps.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// Keep the demo's working directory (plan file, report, keys) instead of removing it.
    pub keep: bool,
}

/// The example manifests, compiled in so the demo works from any directory.
const MANIFESTS: &[(&str, &str)] = &[
    (
        "targets.yaml",
        include_str!("../../examples/manifests/targets.yaml"),
    ),
    (
        "atlan.yaml",
        include_str!("../../examples/manifests/atlan.yaml"),
    ),
    (
        "atlan-finance.yaml",
        include_str!("../../examples/demo/atlan-finance.yaml"),
    ),
    (
        "connect.yaml",
        include_str!("../../examples/manifests/connect.yaml"),
    ),
    (
        "mist.yaml",
        include_str!("../../examples/manifests/mist.yaml"),
    ),
];

pub(crate) fn run(args: Options) -> anyhow::Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(demo(args))
}

async fn demo(args: Options) -> anyhow::Result<Outcome> {
    let scratch = tempfile::Builder::new()
        .prefix("warrant-demo-")
        .tempdir()
        .context("cannot create a scratch directory")?;
    let dir = scratch.path().to_path_buf();
    let seed = Seed::example();
    let environment = demo_environment(&seed)?;
    let seed_for_admin = seed.clone();
    let sandbox = sandbox::start(seed, Faults::default())
        .await
        .context("cannot start the embedded sandbox")?;

    heading("1. validate", "the example manifests, offline")?;
    let manifest_dir = dir.join("manifests");
    write_manifests(&manifest_dir)?;
    let mut manifests = match Manifests::load_under(std::slice::from_ref(&manifest_dir), &dir) {
        Ok(m) => m,
        Err(diagnostics) => {
            print_diagnostics(&diagnostics);
            bail!("the embedded example manifests are invalid");
        }
    };
    outln!(
        "{} targets and {} resources are valid.",
        manifests.targets.len(),
        manifests.resources.len()
    )?;
    let keys = dir.join("keys");
    std::fs::create_dir_all(&keys).context("cannot create the key directory")?;
    for line in redirect_key_sinks(&mut manifests) {
        outln!("{line}")?;
    }

    let live = LiveOptions {
        endpoints: BTreeMap::from([
            ("atlan-prod".to_string(), sandbox.atlan.clone()),
            ("connect-prod".to_string(), sandbox.connect.clone()),
            ("mist-prod".to_string(), sandbox.mist.clone()),
        ]),
        environment,
        client: ClientOptions::default(),
        credentials: Credentials::Write,
    };
    let session = open_session(&manifests, &[], &live)?;

    heading("2. plan", "what the pull request comment would show")?;
    let made = make_plan(&manifests, &[], &session).await?;
    out!("{}", crate::render::text::plan(&made, use_color()))?;
    let plan_file = dir.join("plan.json");
    crate::plan::file::write(&plan_file, &made)?;
    let plan = &made.plan;

    heading("3. apply", "exactly the plan above, append-only, verified")?;
    let options = ApplyOptions {
        batch_size: 64,
        max_changes: None,
        cancel: CancelFlag::default(),
        journal: None,
    };
    let report = apply::apply_plan(
        plan,
        &Declared::new(&manifests, &session.endpoints),
        &session,
        &options,
        &PlainLines::new(std::io::stdout()),
    )
    .await?;
    outln!("{}", crate::render::report::summary_line(&report))?;

    heading(
        "4. the way out",
        "a connection admin applies what warrant-bot may not (Atlan's own permission rule)",
    )?;
    let (admin, admin_environment) = connection_admin_environment(&seed_for_admin)?;
    outln!(
        "{admin} is an admin of the connection warrant-bot is not; the same manifests, planned and applied with {admin}'s key:"
    )?;
    let as_admin = open_session(
        &manifests,
        &[],
        &LiveOptions {
            environment: admin_environment,
            ..live.clone()
        },
    )?;
    let admin_plan = make_plan(&manifests, &[], &as_admin).await?;
    out!("{}", crate::render::text::plan(&admin_plan, use_color()))?;
    let admin_report = apply::apply_plan(
        &admin_plan.plan,
        &Declared::new(&manifests, &as_admin.endpoints),
        &as_admin,
        &options,
        &PlainLines::new(std::io::stdout()),
    )
    .await?;
    outln!("{}", crate::render::report::summary_line(&admin_report))?;
    let applied = Outcome::from(admin_report.outcome);

    heading("5. plan again", "nothing left to do")?;
    let again = make_plan(&manifests, &[], &session).await?;
    out!("{}", crate::render::text::plan(&again, use_color()))?;

    heading(
        "6. drift",
        "access that exists live but is not declared: reported, never removed",
    )?;
    out!("{}", crate::render::text::drift(&again, use_color()))?;

    let keys_written = std::fs::read_dir(&keys)
        .map(|d| d.count())
        .unwrap_or_default();
    outln!()?;
    outln!("What just happened:")?;
    outln!(
        "  - warrant planned {} creates and {} updates against three simulated APIs and applied them",
        plan.summary.create,
        plan.summary.update
    )?;
    outln!(
        "    without removing anything; {} change(s) its own Atlan token may not make were conflicts,",
        plan.summary.conflict
    )?;
    outln!("    which a connection admin applied; the last plan found nothing left to do.")?;
    outln!(
        "  - {keys_written} new Mist key(s) went only to their key sinks (files with mode 0600), never to this output."
    )?;
    outln!(
        "  - {} object(s) carry access nobody declared; warrant reports it and leaves it alone.",
        again.plan.summary.drift
    )?;
    outln!()?;
    outln!("Try next:")?;
    outln!("  warrant validate examples/manifests")?;
    outln!(
        "  warrant sandbox --seed examples/sandbox/seed.yaml   # then plan with --endpoint TARGET=URL"
    )?;
    outln!("  warrant plan --help")?;
    if args.keep {
        let kept = scratch.keep();
        outln!("  (the demo's files are kept in {})", kept.display())?;
    }
    sandbox.shutdown().await;

    let converged = !again.plan.summary.has_changes() && again.plan.summary.conflict == 0;
    Ok(if applied == Outcome::Success && converged {
        Outcome::Success
    } else {
        Outcome::Failure
    })
}

fn heading(step: &str, what: &str) -> anyhow::Result<()> {
    outln!()?;
    outln!("== {step}: {what}")
}

fn write_manifests(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).context("cannot create the manifest directory")?;
    for (name, text) in MANIFESTS {
        std::fs::write(dir.join(name), text).with_context(|| format!("cannot write {name}"))?;
    }
    Ok(())
}

/// Every key sink becomes a file in the scratch directory's `keys/` (the manifests' root is the
/// scratch directory, and a validated sink path is relative to it). Returns one line per
/// sink that changed, saying from what to what.
fn redirect_key_sinks(manifests: &mut Manifests) -> Vec<String> {
    let mut changed = Vec::new();
    for resource in &mut manifests.resources {
        let file = format!("keys/{}.key", resource.name);
        let address = format!("{}/{}", resource.kind(), resource.name);
        if let Some(sink) = resource.spec.key_sink_mut() {
            let redirected = KeySinkSpec::file(&file);
            if *sink != redirected {
                let was = match (&sink.file, &sink.command) {
                    (_, Some(argv)) => format!("the command `{}`", argv.join(" ")),
                    (Some(path), None) => format!("the file {}", path.display()),
                    (None, None) => "no sink".to_string(),
                };
                changed.push(crate::text::escape(&format!(
                    "note: for the demo, the key of {address} goes to {file} in the demo's directory instead of {was}"
                ))
                .into_owned());
                *sink = redirected;
            }
        }
    }
    changed
}

/// The first Atlan caller of the example seed that is not warrant's own (a connection admin
/// that is not a workspace admin, see examples/WORLD.md), and the demo's environment with its
/// key as `ATLAN_API_KEY`.
fn connection_admin_environment(seed: &Seed) -> anyhow::Result<(String, Environment)> {
    let admin = seed
        .atlan
        .callers
        .get(1)
        .context("the example seed has no second Atlan caller")?;
    Ok((admin.username.clone(), environment_as(seed, 1)?))
}

/// The credentials of warrant's own callers in the example seed (see examples/WORLD.md), in
/// the variables the example targets name.
fn demo_environment(seed: &Seed) -> anyhow::Result<Environment> {
    environment_as(seed, 0)
}

/// [`demo_environment`] with the key of the seed's Atlan caller number `atlan_caller`.
fn environment_as(seed: &Seed, atlan_caller: usize) -> anyhow::Result<Environment> {
    let atlan = seed
        .atlan
        .callers
        .get(atlan_caller)
        .context("the example seed has no such Atlan caller")?;
    let connect = seed
        .connect
        .tenants
        .first()
        .and_then(|t| t.clients.first())
        .context("the example seed has no CONNECT client")?;
    let mist = seed
        .mist
        .orgs
        .first()
        .and_then(|o| o.api_tokens.first())
        .context("the example seed has no Mist token")?;
    Ok(Environment::given([
        ("ATLAN_API_KEY", atlan.api_key.as_str()),
        ("CONNECT_CLIENT_ID", connect.client_id.as_str()),
        ("CONNECT_CLIENT_SECRET", connect.client_secret.as_str()),
        ("MIST_API_TOKEN", mist.key.as_str()),
    ]))
}
