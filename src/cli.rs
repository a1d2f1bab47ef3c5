//! Command-line arguments (clap), turned once, right after parsing, into the options of
//! `crate::commands` (ripgrep-style: arguments are never passed further down), and the dispatch
//! to them. No business logic here.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use crate::commands::common::Live;
use crate::commands::output::ColorChoice;
use crate::commands::plan::PlanFormat;
use crate::commands::validate::DiagnosticFormat;
use crate::commands::{self, Outcome};
use crate::plan::gather::Only;
use crate::platform::{ClientOptions, Credentials, Environment, LiveOptions};
use crate::render::markdown::MarkdownOptions;

const AFTER_HELP: &str = "\
Examples:
  warrant demo                                  # the whole story on the embedded sandbox
  warrant validate manifests/                   # offline: schema and cross-document checks
  warrant plan manifests/ --out plan.json       # diff against live state, save the plan
  warrant plan manifests/ --format markdown     # the pull-request comment
  warrant apply plan.json                       # apply exactly the reviewed plan
  warrant show plan.json --format markdown      # render a saved plan again
  warrant drift manifests/ --fail-on-drift      # undeclared or missing access (exit 4)

Exit codes: 0 success/no changes, 1 error (usage errors included: a mistyped or removed
flag never passes as 2), 2 changes pending (--detailed-exitcode), 3 stale plan refused,
4 drift found (--fail-on-drift: undeclared or missing access).

Logging: WARRANT_LOG=debug writes each HTTP request (method, URL, status, time) to stderr;
never a credential. WARRANT_LOG_FORMAT=json writes one JSON object per line.

Environment: the flags CI sets have WARRANT_* variables (WARRANT_PARALLELISM, WARRANT_PLAN_ID,
WARRANT_REPORT, WARRANT_JOURNAL, WARRANT_QUIET, WARRANT_COLOR, …), each listed in the --help of
its command; a flag given on the command line wins.";

#[derive(Debug, Parser)]
#[command(
    name = "warrant",
    version,
    about = "GitOps for machine-identity access: plan and append-only apply of Atlan connection admins, AVEVA CONNECT automation identities and Juniper Mist org API tokens",
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// Print only errors and warnings. Results asked for by format (`--format json`), files
    /// (`--out`, `--report`) and exit codes are unchanged.
    #[arg(long, short, global = true, env = "WARRANT_QUIET")]
    pub quiet: bool,
    /// Colour text for people: auto (a colour terminal or GitHub Actions, unless NO_COLOR is
    /// set; CLICOLOR_FORCE colours a pipe), always, never.
    #[arg(
        long,
        value_enum,
        global = true,
        default_value_t,
        value_name = "WHEN",
        env = "WARRANT_COLOR"
    )]
    pub color: ColorChoice,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check manifests offline: schema, references, duplicates. Needs no credentials.
    #[command(
        after_help = "Examples:\n  warrant validate\n  warrant validate manifests/ --format json\n  warrant validate manifests/ --ci                # also warn of key sinks lost with a CI runner"
    )]
    Validate(ValidateArgs),
    /// Write the JSON Schemas of the manifest kinds (for editors and CI).
    #[command(after_help = "Example:\n  warrant schema --out schemas/")]
    Schema(SchemaArgs),
    /// Diff the manifests against live state and show (and optionally save) the plan.
    #[command(
        after_help = "Examples:\n  warrant plan manifests/ --out plan.json\n  warrant plan manifests/ --format markdown --max-bytes 60000 --step-summary\n  warrant plan manifests/ --only ConnectionAdmins/snowflake-prod --detailed-exitcode"
    )]
    Plan(PlanArgs),
    /// Render a saved plan file again, exactly as `plan` printed it.
    #[command(
        after_help = "Examples:\n  warrant show plan.json\n  warrant show plan.json --format markdown --max-bytes 60000\n  warrant show plan.json --format json"
    )]
    Show(ShowArgs),
    /// Report drift both ways: undeclared access (live, not declared) and missing access
    /// (declared, not live).
    #[command(
        after_help = "Examples:\n  warrant drift manifests/ --fail-on-drift     # exit 4 on drift in either direction\n  warrant drift manifests/ --format json       # versioned: undeclared and missing lists"
    )]
    Drift(DriftArgs),
    /// Apply a reviewed plan file, or plan and apply manifests after confirmation.
    #[command(
        after_help = "Examples:\n  warrant apply plan.json --manifests manifests/   # CI: the merged manifests, as reviewed\n  warrant apply plan.json --plan-id 3f2a9c1b0d4e… --report apply-report.json\n  warrant apply manifests/                        # plan, show, ask for 'yes'\n  warrant apply manifests/ --auto-approve\n\nExit codes: 0 all applied, 1 any failure, refusal, conflict or Ctrl-C, 3 stale object refused (re-plan)."
    )]
    Apply(ApplyArgs),
    /// Show the create journal's open records (tokens whose keys may be lost), or resolve them.
    #[command(
        after_help = "Examples:\n  warrant journal                              # the open records, one per line\n  warrant journal resolve mist-prod/ci-bot     # after rotating the token by hand\n  warrant journal list --journal ci/.warrant/journal.jsonl"
    )]
    Journal(JournalArgs),
    /// Write manifests from live state, to adopt warrant on an existing tenant.
    #[command(
        after_help = "Example:\n  warrant export manifests/targets.yaml --target atlan-prod --out adopted/"
    )]
    Export(ExportArgs),
    /// Serve the local simulators of the three APIs.
    #[command(
        after_help = "Example:\n  warrant sandbox --seed examples/sandbox/seed.yaml --faults 'latency=20ms,p500=0.05'"
    )]
    Sandbox(SandboxArgs),
    /// Run validate, plan, apply, plan and drift against the embedded sandbox.
    #[command(after_help = "Example:\n  cargo run --release -- demo")]
    Demo(DemoArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  warrant completions bash > ~/.local/share/bash-completion/completions/warrant\n  warrant completions zsh > ~/.zfunc/_warrant\n  warrant completions fish > ~/.config/fish/completions/warrant.fish"
    )]
    Completions(CompletionsArgs),
    /// Print the man page, or write one page per subcommand into a directory.
    #[command(
        after_help = "Examples:\n  warrant man | man -l -\n  warrant man --out ~/.local/share/man/man1"
    )]
    Man(ManArgs),
    /// Print the version of warrant and of the file formats it reads and writes.
    #[command(after_help = "Examples:\n  warrant version\n  warrant version --json")]
    Version(VersionArgs),
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Manifest files or directories (walked recursively for *.yaml / *.yml).
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = DiagnosticFormat::Text)]
    pub format: DiagnosticFormat,
    /// Also warn about what does not work on an ephemeral CI runner, such as a `file` key
    /// sink (on by itself under GitHub Actions).
    #[arg(long)]
    pub ci: bool,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Directory to write the schemas into.
    #[arg(long, default_value = "schemas")]
    pub out: PathBuf,
}

/// Options shared by every command that talks to live systems.
#[derive(Debug, Args, Clone)]
pub struct LiveArgs {
    /// Override a target's base URL (repeatable): TARGET=URL.
    #[arg(long = "endpoint", value_name = "TARGET=URL")]
    pub endpoints: Vec<String>,
    /// Restrict to KIND/NAME or target=NAME (repeatable). Prints a warning in every format.
    #[arg(long = "only", value_name = "KIND/NAME|target=NAME")]
    pub only: Vec<String>,
    /// Requests in flight at once per target.
    #[arg(long, default_value_t = 8, env = "WARRANT_PARALLELISM")]
    pub parallelism: usize,
    /// Largest API response read, in MiB; a larger one fails the read without being buffered.
    #[arg(
        long,
        value_name = "MIB",
        default_value_t = 64,
        env = "WARRANT_MAX_RESPONSE_MIB"
    )]
    pub max_response_mib: u64,
    /// Most pages one listing reads; a listing that does not end within them fails.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 100,
        env = "WARRANT_MAX_PAGES"
    )]
    pub max_pages: u32,
    /// Seconds one attempt of a request may take, to the last byte of the answer.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 15,
        env = "WARRANT_REQUEST_TIMEOUT"
    )]
    pub request_timeout: u64,
    /// Seconds without a byte of an answer before the attempt fails.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 10,
        env = "WARRANT_IDLE_TIMEOUT"
    )]
    pub idle_timeout: u64,
    /// Seconds one request may spend on failed attempts and waits, Retry-After included.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 30,
        env = "WARRANT_RETRY_BUDGET"
    )]
    pub retry_budget: u64,
    /// Seconds to wait for one Atlan package workflow run (`via: workflow`) to finish.
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub workflow_timeout: u64,
}

impl LiveArgs {
    /// The client options these flags give; without flags, `ClientOptions::default()`.
    fn client_options(&self) -> ClientOptions {
        let secs = |n: u64| Duration::from_secs(n.max(1));
        ClientOptions {
            parallelism: self.parallelism.max(1),
            max_body_bytes: self.max_response_mib.max(1).saturating_mul(1024 * 1024),
            max_pages: self.max_pages.max(1),
            request_timeout: secs(self.request_timeout),
            idle_timeout: secs(self.idle_timeout),
            retry_budget: secs(self.retry_budget),
            workflow_timeout: secs(self.workflow_timeout),
            ..ClientOptions::default()
        }
    }

    /// How to reach live systems: endpoints checked, credentials from the process's
    /// environment.
    fn live_options(&self) -> anyhow::Result<LiveOptions> {
        Ok(LiveOptions {
            endpoints: LiveOptions::parse_endpoints(&self.endpoints).map_err(anyhow::Error::msg)?,
            environment: Environment::Process,
            client: self.client_options(),
            // `apply` writes; the commands that only read ask for the read credentials.
            credentials: Credentials::Write,
        })
    }

    /// [`live_options`](Self::live_options) and the `--only` filters.
    fn live(&self) -> anyhow::Result<Live> {
        let only = Only::parse_all(&self.only)?;
        Ok(Live {
            options: self.live_options()?,
            only,
        })
    }
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// Save the plan file here (versioned JSON, no secrets).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Exit 2 when there are changes to apply.
    #[arg(long, env = "WARRANT_DETAILED_EXITCODE")]
    pub detailed_exitcode: bool,
    /// Size budget of the markdown rendering, in bytes.
    #[arg(long, default_value_t = 60000, env = "WARRANT_MAX_BYTES")]
    pub max_bytes: usize,
    /// Also append the whole markdown plan to $GITHUB_STEP_SUMMARY, up to GitHub's 1 MiB
    /// limit whatever --max-bytes says.
    #[arg(long)]
    pub step_summary: bool,
    /// The create journal whose open records make conflicts (default: .warrant/journal.jsonl
    /// under the repository root).
    #[arg(long, value_name = "FILE", env = JOURNAL_ENV)]
    pub journal: Option<PathBuf>,
    /// Where the full plan can be found, quoted when markdown output is truncated.
    #[arg(long, value_name = "URL|TEXT", env = "WARRANT_FULL_PLAN_LINK")]
    pub full_plan_link: Option<String>,
    #[command(flatten)]
    pub live: LiveArgs,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A plan file written by `warrant plan --out`.
    pub plan_file: PathBuf,
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Size budget of the markdown rendering, in bytes (as `plan --max-bytes`).
    #[arg(long, default_value_t = 60000)]
    pub max_bytes: usize,
    /// Where the full plan can be found, quoted when markdown output is truncated.
    #[arg(long, value_name = "URL|TEXT")]
    pub full_plan_link: Option<String>,
}

#[derive(Debug, Args)]
pub struct DriftArgs {
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Exit 4 when drift is found in either direction: undeclared or missing access.
    #[arg(long)]
    pub fail_on_drift: bool,
    #[command(flatten)]
    pub live: LiveArgs,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A plan file (`plan --out`), or manifest files/directories to plan and apply.
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// With a plan file: the merged manifests to apply from, a file or directory (repeat the
    /// flag for several; default: the paths the plan records, relative to the repository
    /// root). Targets, key sinks and desired values come only from them; the plan can only
    /// narrow what is applied.
    #[arg(long, value_name = "PATH")]
    pub manifests: Vec<PathBuf>,
    /// With a plan file: refuse it unless its plan id (recomputed from its content) is ID,
    /// the id of the plan that was reviewed.
    #[arg(long, value_name = "ID", env = "WARRANT_PLAN_ID")]
    pub plan_id: Option<String>,
    /// With manifests: apply without asking.
    #[arg(long)]
    pub auto_approve: bool,
    /// Refuse plans with more than N creates and updates.
    #[arg(long, value_name = "N", env = "WARRANT_MAX_CHANGES")]
    pub max_changes: Option<usize>,
    /// Write a JSON report of every object's outcome here (checked writable before anything
    /// else is done).
    #[arg(long, value_name = "FILE", env = "WARRANT_REPORT")]
    pub report: Option<PathBuf>,
    /// The create journal: an intent before each create that returns a key, an outcome after
    /// its sink (default: .warrant/journal.jsonl under the repository root; the per-target
    /// lock files go beside it).
    #[arg(long, value_name = "FILE", env = JOURNAL_ENV)]
    pub journal: Option<PathBuf>,
    /// Also append a summary of what was applied to $GITHUB_STEP_SUMMARY.
    #[arg(long)]
    pub step_summary: bool,
    /// After a second interrupt (Ctrl-C or SIGTERM), how long to wait for the creates in
    /// flight to return and hand their keys to their sinks before exiting.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 30,
        env = "WARRANT_KEY_WAIT"
    )]
    pub key_wait: u64,
    #[command(flatten)]
    pub live: LiveArgs,
}

/// The variable that names the create journal for `plan`, `apply` and `journal`.
pub(crate) const JOURNAL_ENV: &str = "WARRANT_JOURNAL";

#[derive(Debug, Args)]
pub struct JournalArgs {
    #[command(subcommand)]
    pub action: Option<JournalAction>,
    /// The create journal (default: .warrant/journal.jsonl under the repository root).
    #[arg(long, value_name = "FILE", env = JOURNAL_ENV, global = true)]
    pub journal: Option<PathBuf>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum JournalAction {
    /// List the open records (the default).
    List,
    /// Mark the open records of these tokens resolved, once each was rotated by hand.
    Resolve {
        /// The tokens, as `warrant journal` lists them.
        #[arg(required = true, value_name = "TARGET/NAME")]
        tokens: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Manifests that declare the target (other documents are ignored).
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// The target to export.
    #[arg(long)]
    pub target: String,
    /// Directory to write the manifests into (stdout when absent).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub live: LiveArgs,
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Seed file (YAML) with the live objects and callers of each platform.
    #[arg(long)]
    pub seed: PathBuf,
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Fault injection, e.g. `latency=20ms,jitter=5ms,p500=0.05,p429=0.02,retry_after=1,drop=0.01,foreign=0.2,seed=7`
    /// (prefix a key with `atlan.`, `connect.` or `mist.` for one platform).
    #[arg(long)]
    pub faults: Option<String>,
    #[arg(long)]
    pub atlan_port: Option<u16>,
    #[arg(long)]
    pub connect_port: Option<u16>,
    #[arg(long)]
    pub mist_port: Option<u16>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the demo's working directory (plan file, report, keys) instead of removing it.
    #[arg(long)]
    pub keep: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: commands::completions::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write `warrant.1` and one page per subcommand (`warrant-plan.1`, …) into this directory
    /// instead of printing the top page.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// One JSON object: the version and the plan, report and validate format versions.
    #[arg(long)]
    pub json: bool,
}

impl Command {
    /// Runs the command with the options its arguments give.
    fn run(self) -> anyhow::Result<Outcome> {
        match self {
            Command::Validate(a) => commands::validate::run(commands::validate::Options {
                paths: a.paths,
                format: a.format,
                ci: a.ci,
            }),
            Command::Schema(a) => commands::schema::run(commands::schema::Options { out: a.out }),
            Command::Plan(a) => commands::plan::run(commands::plan::Options {
                live: a.live.live()?,
                paths: a.paths,
                out: a.out,
                format: a.format,
                detailed_exitcode: a.detailed_exitcode,
                markdown: MarkdownOptions {
                    max_bytes: a.max_bytes,
                    full_plan_link: a.full_plan_link,
                },
                step_summary: a.step_summary,
                journal: a.journal,
            }),
            Command::Show(a) => commands::show::run(commands::show::Options {
                plan_file: a.plan_file,
                format: a.format,
                markdown: MarkdownOptions {
                    max_bytes: a.max_bytes,
                    full_plan_link: a.full_plan_link,
                },
            }),
            Command::Drift(a) => commands::drift::run(commands::drift::Options {
                live: a.live.live()?,
                paths: a.paths,
                format: a.format,
                fail_on_drift: a.fail_on_drift,
            }),
            Command::Apply(a) => {
                if a.live.parallelism == 0 {
                    bail!("--parallelism must be at least 1");
                }
                commands::apply::run(commands::apply::Options {
                    live: a.live.live()?,
                    paths: a.paths,
                    manifests: a.manifests,
                    plan_id: a.plan_id,
                    auto_approve: a.auto_approve,
                    max_changes: a.max_changes,
                    report: a.report,
                    journal: a.journal,
                    key_wait: Duration::from_secs(a.key_wait),
                    step_summary: a.step_summary,
                })
            }
            Command::Journal(a) => commands::journal::run(commands::journal::Options {
                journal: a.journal,
                action: match a.action.unwrap_or(JournalAction::List) {
                    JournalAction::List => commands::journal::Action::List,
                    JournalAction::Resolve { tokens } => {
                        commands::journal::Action::Resolve { tokens }
                    }
                },
            }),
            Command::Export(a) => {
                if !a.live.only.is_empty() {
                    bail!("--only does not apply to export: it exports every object of --target");
                }
                commands::export::run(commands::export::Options {
                    live: a.live.live_options()?,
                    paths: a.paths,
                    target: a.target,
                    out: a.out,
                })
            }
            Command::Sandbox(a) => commands::sandbox::run(commands::sandbox::Options {
                faults: match &a.faults {
                    Some(spec) => spec.parse().context("--faults")?,
                    None => crate::sandbox::Faults::default(),
                },
                seed: a.seed,
                start: crate::sandbox::StartOptions {
                    host: a.host,
                    atlan_port: a.atlan_port,
                    connect_port: a.connect_port,
                    mist_port: a.mist_port,
                },
            }),
            Command::Demo(a) => commands::demo::run(commands::demo::Options { keep: a.keep }),
            Command::Completions(a) => commands::completions::run(commands::completions::Options {
                shell: a.shell,
                command: <Cli as clap::CommandFactory>::command(),
            }),
            Command::Man(a) => commands::man::run(commands::man::Options {
                out: a.out,
                command: <Cli as clap::CommandFactory>::command(),
            }),
            Command::Version(a) => {
                commands::version::run(commands::version::Options { json: a.json })
            }
        }
    }
}

/// The environment variable that turns on diagnostic logging on stderr.
pub(crate) const LOG_ENV: &str = "WARRANT_LOG";
/// `json` makes each log line one JSON object (for log collectors); anything else, text.
pub(crate) const LOG_FORMAT_ENV: &str = "WARRANT_LOG_FORMAT";

/// Sends `tracing` events to stderr, filtered by `WARRANT_LOG` (unset: warnings only).
///
/// A bare level (`WARRANT_LOG=debug`) applies to warrant's own events only: the HTTP and TLS
/// libraries underneath log frames and connection details at debug level, which is noise at
/// best and a place for a credential to slip through at worst. Full `EnvFilter` directives
/// (`WARRANT_LOG=warrant=debug,h2=trace`) are taken as written for whoever needs them.
/// warrant's own events name the request (method and URL), status and timing, never a header
/// or body, so no credential reaches the log.
pub(crate) fn init_logging() {
    use tracing_subscriber::EnvFilter;

    let requested = std::env::var(LOG_ENV).unwrap_or_default();
    let requested = requested.trim();
    let directives = if requested.is_empty() {
        "warrant=warn".to_string()
    } else if requested.contains(['=', ',']) {
        requested.to_string()
    } else {
        format!("warrant={requested}")
    };
    let filter = match EnvFilter::builder().parse(&directives) {
        Ok(filter) => filter,
        Err(e) => {
            crate::commands::output::errln!(
                "warning: {LOG_ENV}={requested} is not a valid log filter ({e}); use a level such as debug, or directives such as warrant=debug. Logging stays at warnings."
            );
            EnvFilter::new("warrant=warn")
        }
    };
    let json = std::env::var(LOG_FORMAT_ENV).is_ok_and(|v| v.trim() == "json");
    // Fails only when a subscriber is already set (a test harness); that one is kept. A log
    // line that cannot be written is dropped: reporting it would `eprintln!`, which panics on
    // a closed stderr. Both formats write the same fields, redacted where they are made.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false);
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_ansi(false)
            .try_init()
    } else {
        let color = crate::commands::output::color(crate::commands::output::Stream::Stderr);
        builder.with_ansi(color).try_init()
    };
}

/// Parse the arguments and run the command.
pub fn run() -> Outcome {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage(&e),
    };
    crate::commands::output::configure(cli.quiet, cli.color);
    init_logging();
    match cli.command.run() {
        Ok(outcome) => outcome,
        Err(e) => {
            // The chain may quote a plan file or a server: its lines are kept, anything
            // hidden inside them is escaped.
            let text = format!("{e:#}");
            let lines: Vec<_> = text.lines().map(crate::text::escape).collect();
            crate::commands::output::errln!("error: {}", lines.join("\n"));
            Outcome::Failure
        }
    }
}

/// Prints what clap made of bad arguments (or the help and version it was asked for). A usage
/// error exits 1, not clap's 2: 2 means "changes pending" under `plan --detailed-exitcode`,
/// so a flag renamed by an upgrade must not pass as a plan with changes.
fn usage(e: &clap::Error) -> Outcome {
    // Printing fails only when the stream is gone; there is nowhere left to say so.
    let _ = e.print();
    if e.use_stderr() {
        Outcome::Failure
    } else {
        Outcome::Success
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_read_bound_flags_default_to_the_client_defaults() {
        let cli = Cli::try_parse_from(["warrant", "plan"]).unwrap();
        let Command::Plan(args) = cli.command else {
            panic!("not plan");
        };
        let from_flags = format!("{:?}", args.live.client_options());
        assert_eq!(from_flags, format!("{:?}", ClientOptions::default()));
        let cli = Cli::try_parse_from([
            "warrant",
            "plan",
            "--max-response-mib",
            "2",
            "--max-pages",
            "5",
            "--retry-budget",
            "90",
        ])
        .unwrap();
        let Command::Plan(args) = cli.command else {
            panic!("not plan");
        };
        let options = args.live.client_options();
        assert_eq!(options.max_body_bytes, 2 * 1024 * 1024);
        assert_eq!(options.max_pages, 5);
        assert_eq!(options.retry_budget, Duration::from_secs(90));
    }
}
