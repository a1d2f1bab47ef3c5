//! `via: workflow`: API tokens made connection admins by Atlan's **API token connection admin
//! package**, run as a workflow (contracts/atlan-workflows.md, docs/atlan-workflows.md).
//!
//! The planner and the applier do not know this route exists: the client marks the objects
//! declared with it (`DesiredObject::route`, part of the declaration the plan binds), and
//! routes their writes here. What the route needs from Atlan is one small interface,
//! [`GrantRoute`] — find the package's workflows, submit one, wait for a run — implemented
//! for the legacy workflow API in [`legacy`]; Atlan's newer apps API can be a second
//! implementation beside it without touching anything above this file.
//!
//! A grant goes like this, per token to add (the tokens of one connection one after another,
//! since each run rewrites the connection's admin list; connections in parallel within
//! `--parallelism`):
//!
//! 1. find a template of the package with the same parameters (`connection_qualified_name`,
//!    possibly a JSON-array string of which the package uses the first, and
//!    `api_token_guid`); re-run the newest such template idempotently (a run of it already
//!    Pending or Running is joined, not duplicated), or else create and run a new one;
//! 2. wait for the run's final phase, polling with backoff up to `--workflow-timeout`; a run
//!    the index does not show yet is still being waited for, never "absent";
//! 3. read the connection: the token among its `adminUsers` is the only proof. The phase is
//!    never trusted: a run that ends Succeeded without the grant fails the write. A joined run
//!    (someone else's) that did not grant it is followed by one run of warrant's own.

pub(super) mod legacy;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{StreamExt, stream};

use super::spec::Via;
use crate::model::{Address, Route, RouteRun, WriteOp, WriteOutcome};
use crate::platform::{ErrorKind, PlatformError};

/// The package's cluster template, and the prefix of the workflows made from it.
pub(super) const PACKAGE: &str = "csa-api-token-connection-admin";
/// The route in a reader's words (`~ ConnectionAdmins/x via package workflow`).
pub(super) const SHOWN: &str = "package workflow";

/// One workflow template of the package, with the parameters it runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Template {
    pub(super) name: String,
    /// Epoch milliseconds, for "the newest" (0 when the server did not say).
    pub(super) created_ms: i64,
    /// The connection the package acts on: the parameter, or the first element of a
    /// JSON-array string.
    pub(super) connection: String,
    pub(super) token_guid: String,
}

impl Template {
    fn grants(&self, connection: &str, guid: &str) -> bool {
        self.connection == connection && self.token_guid.eq_ignore_ascii_case(guid)
    }
}

/// What [`GrantRoute::submit`] is asked to do.
#[derive(Debug, Clone)]
pub(super) enum Submit<'a> {
    /// Run this template again; with `join`, a run of it that is Pending or Running is
    /// joined instead.
    Rerun { template: &'a Template, join: bool },
    /// Create a new template for the connection and token, and run it.
    Create {
        connection: &'a str,
        token_guid: &'a str,
    },
}

/// A run warrant waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RunRef {
    pub(super) template: String,
    /// The run's name; `None` right after a create (the create answers the template), when
    /// the newest run of the new template is the one.
    pub(super) run: Option<String>,
    pub(super) joined: bool,
    pub(super) created: bool,
}

/// A run's phase, as Argo names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Pending,
    Running,
    Succeeded,
    Failed,
    Error,
    /// Any other word: not final, not trusted.
    Other,
}

impl Phase {
    pub(super) fn parse(word: &str) -> Phase {
        match word {
            "Pending" => Phase::Pending,
            "Running" => Phase::Running,
            "Succeeded" => Phase::Succeeded,
            "Failed" => Phase::Failed,
            "Error" => Phase::Error,
            _ => Phase::Other,
        }
    }

    pub(super) fn is_final(self) -> bool {
        matches!(self, Phase::Succeeded | Phase::Failed | Phase::Error)
    }

    pub(super) fn is_active(self) -> bool {
        matches!(self, Phase::Pending | Phase::Running)
    }

    fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Running => "Running",
            Phase::Succeeded => "Succeeded",
            Phase::Failed => "Failed",
            Phase::Error => "Error",
            Phase::Other => "unknown",
        }
    }
}

/// A run as the index showed it last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RunState {
    pub(super) name: String,
    pub(super) phase: Phase,
    /// Redacted where it was read.
    pub(super) message: Option<String>,
}

/// The one interface of the route: how warrant finds, starts and waits for the package's
/// runs on some Atlan workflow API.
pub(super) trait GrantRoute: Send + Sync {
    /// Every template of the package, complete.
    fn find(&self) -> BoxFuture<'_, Result<Vec<Template>, PlatformError>>;
    /// Starts (or joins) a run.
    fn submit<'a>(&'a self, what: Submit<'a>) -> BoxFuture<'a, Result<RunRef, PlatformError>>;
    /// Waits up to `timeout` for the run's final phase; a run not visible yet is waited for.
    fn wait<'a>(
        &'a self,
        run: &'a RunRef,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<RunState, PlatformError>>;
}

/// The error of a tenant without the package: its routes answer 404.
pub(super) fn package_missing(target: &str) -> PlatformError {
    PlatformError::new(
        target,
        ErrorKind::NotFound,
        format!(
            "the API token connection admin package ({PACKAGE}) is not available on this tenant: its workflow routes answer 404"
        ),
    )
    .with_hint("declare `via: direct` for these connections, or have the package enabled in Atlan")
}

// ------------------------------------------------------------------------ the client's state

/// Writes, each with its index among the writes of one call.
pub(super) type Indexed = Vec<(usize, WriteOp)>;

/// What the Atlan client remembers for the route: the target's default, the route of each
/// object it resolved (from the trusted manifests, never from a plan file), and each token's
/// GUID by username (the package takes the GUID).
#[derive(Debug)]
pub(super) struct Routes {
    default: Via,
    by_address: Mutex<BTreeMap<Address, Via>>,
    guids: Mutex<BTreeMap<String, String>>,
}

impl Routes {
    pub(super) fn new(default: Via) -> Routes {
        Routes {
            default,
            by_address: Mutex::new(BTreeMap::new()),
            guids: Mutex::new(BTreeMap::new()),
        }
    }

    /// The route of an object declared with `via` (or the target's default).
    pub(super) fn choose(&self, address: &Address, via: Option<Via>) -> Via {
        let via = via.unwrap_or(self.default);
        if let Ok(mut map) = self.by_address.lock() {
            map.insert(address.clone(), via);
        }
        via
    }

    fn of(&self, address: &Address) -> Via {
        self.by_address
            .lock()
            .ok()
            .and_then(|m| m.get(address).copied())
            .unwrap_or_default()
    }

    pub(super) fn remember_guid(&self, username: String, guid: String) {
        if let Ok(mut map) = self.guids.lock() {
            map.insert(username, guid);
        }
    }

    pub(super) fn guid(&self, username: &str) -> Option<String> {
        self.guids.lock().ok()?.get(username).cloned()
    }

    /// Splits writes into the direct ones and those made by the package, each with its
    /// index among `ops`.
    pub(super) fn split(&self, ops: Vec<WriteOp>) -> (Indexed, Indexed) {
        ops.into_iter()
            .enumerate()
            .partition(|(_, op)| self.of(op.address()) == Via::Direct)
    }
}

/// The route of an object declared via the package, with a note per token GUID on whether
/// an existing workflow will be re-run or a new one created.
pub(super) fn route(
    usernames: &[(String, String)],
    templates: &[Template],
    connection: &str,
) -> Route {
    let notes = usernames
        .iter()
        .map(|(username, guid)| {
            let note = match newest(templates, connection, guid) {
                Some(t) => format!("re-runs package workflow {}", t.name),
                None => "creates a new package workflow".to_string(),
            };
            (username.clone(), note)
        })
        .collect();
    Route {
        via: SHOWN.to_string(),
        notes,
    }
}

/// The newest template granting `guid` on `connection`.
pub(super) fn newest<'t>(
    templates: &'t [Template],
    connection: &str,
    guid: &str,
) -> Option<&'t Template> {
    templates
        .iter()
        .filter(|t| t.grants(connection, guid))
        .max_by(|a, b| {
            a.created_ms
                .cmp(&b.created_ms)
                .then_with(|| a.name.cmp(&b.name))
        })
}

// ------------------------------------------------------------------------ the writes

/// What a grant needs from the Atlan client besides the route: the connection's admins as a
/// fresh read shows them (`None`: the connection is gone).
pub(super) trait Reader: Send + Sync {
    fn admin_users<'a>(
        &'a self,
        connection: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<String>>, PlatformError>>;
}

/// Makes the writes `ops` through the package: one connection per op, in parallel up to
/// `parallelism`; the tokens of one connection one after another.
pub(super) async fn write(
    route: &dyn GrantRoute,
    reader: &dyn Reader,
    routes: &Routes,
    target: &str,
    ops: Vec<(usize, WriteOp)>,
    parallelism: usize,
    timeout: Duration,
) -> Vec<(usize, Result<WriteOutcome, PlatformError>)> {
    if ops.is_empty() {
        return Vec::new();
    }
    // One listing for the whole call: the templates that exist now.
    let templates = match route.find().await {
        Ok(t) => t,
        Err(e) => return ops.into_iter().map(|(i, _)| (i, Err(e.clone()))).collect(),
    };
    let templates = &templates;
    stream::iter(ops)
        .map(|(i, op)| async move {
            (
                i,
                grant_op(route, reader, routes, target, op, templates, timeout).await,
            )
        })
        .buffer_unordered(parallelism.max(1))
        .collect()
        .await
}

async fn grant_op(
    route: &dyn GrantRoute,
    reader: &dyn Reader,
    routes: &Routes,
    target: &str,
    op: WriteOp,
    templates: &[Template],
    timeout: Duration,
) -> Result<WriteOutcome, PlatformError> {
    let WriteOp::Update {
        address, additions, ..
    } = op
    else {
        return Err(PlatformError::new(
            target,
            ErrorKind::Other,
            format!(
                "connection {} not found; warrant never creates connections",
                op.address().remote_key
            ),
        ));
    };
    let connection = address.remote_key.as_str();
    let mut outcome = WriteOutcome::already_there();
    for username in additions.values().flatten() {
        let Some(guid) = routes.guid(username) else {
            return Err(PlatformError::new(
                target,
                ErrorKind::Other,
                format!(
                    "{username}: the API token's GUID is unknown, so the package cannot be run for it"
                ),
            ));
        };
        let runs = grant_one(
            route, reader, target, connection, username, &guid, templates, timeout,
        )
        .await?;
        outcome.runs.extend(runs);
    }
    Ok(outcome)
}

/// One token on one connection: submit or join, wait, verify; once more with a run of our
/// own when a joined run (someone else's, with other rights) did not grant it. Returns the
/// runs it took, the joined one first.
#[allow(clippy::too_many_arguments)]
async fn grant_one(
    route: &dyn GrantRoute,
    reader: &dyn Reader,
    target: &str,
    connection: &str,
    username: &str,
    guid: &str,
    templates: &[Template],
    timeout: Duration,
) -> Result<Vec<RouteRun>, PlatformError> {
    let existing = newest(templates, connection, guid);
    let submit = match existing {
        Some(template) => Submit::Rerun {
            template,
            join: true,
        },
        None => Submit::Create {
            connection,
            token_guid: guid,
        },
    };
    let mut attempt = run_once(route, reader, connection, username, submit, timeout).await?;
    let mut runs = Vec::new();
    if !attempt.run.verified
        && attempt.run.joined
        && let Some(template) = existing
    {
        let own = Submit::Rerun {
            template,
            join: false,
        };
        let joined = std::mem::replace(
            &mut attempt,
            run_once(route, reader, connection, username, own, timeout).await?,
        );
        runs.push(joined.run);
    }
    if attempt.run.verified {
        runs.push(attempt.run);
        return Ok(runs);
    }
    Err(not_granted(target, connection, &attempt))
}

/// One run and the read after it.
struct Attempt {
    run: RouteRun,
    phase: Phase,
    gone: bool,
}

async fn run_once(
    route: &dyn GrantRoute,
    reader: &dyn Reader,
    connection: &str,
    username: &str,
    submit: Submit<'_>,
    timeout: Duration,
) -> Result<Attempt, PlatformError> {
    let started = route.submit(submit).await?;
    let state = route.wait(&started, timeout).await?;
    let admins = reader.admin_users(connection).await?;
    let verified = admins
        .as_ref()
        .is_some_and(|a| a.iter().any(|u| u == username));
    Ok(Attempt {
        run: RouteRun {
            value: username.to_string(),
            template: started.template,
            run: state.name,
            joined: started.joined,
            created: started.created,
            phase: state.phase.as_str().to_string(),
            message: state.message,
            verified,
        },
        phase: state.phase,
        gone: admins.is_none(),
    })
}

/// The error of a run after which the token is not an admin: the phase is never the proof.
fn not_granted(target: &str, connection: &str, attempt: &Attempt) -> PlatformError {
    let run = &attempt.run;
    let said = run
        .message
        .as_deref()
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    let what = format!(
        "package workflow {} run {} ended {}{said}",
        run.template, run.run, run.phase
    );
    let message = if attempt.gone {
        format!("{what}; connection {connection} is gone or ambiguous when read after the run")
    } else if attempt.phase == Phase::Succeeded {
        format!(
            "the package reported success but the token is not an admin of connection {connection} ({what})"
        )
    } else {
        format!("{what}; the token is not an admin of connection {connection}")
    };
    PlatformError::new(target, ErrorKind::Rejected, message)
}

/// The deadline error of a run still going.
pub(super) fn timed_out(
    target: &str,
    run: &RunRef,
    last: Option<&RunState>,
    timeout: Duration,
) -> PlatformError {
    let seen = match last {
        Some(s) => format!("run {} was {}", s.name, s.phase.as_str()),
        None => "no run of it was visible in the index yet".to_string(),
    };
    PlatformError::new(
        target,
        ErrorKind::Unavailable,
        format!(
            "package workflow {} did not finish within {}s ({seen})",
            run.template,
            timeout.as_secs()
        ),
    )
    .with_hint("the run goes on in Atlan; the next apply joins it or finds the grant made (raise --workflow-timeout)")
}
