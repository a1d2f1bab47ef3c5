//! [`GrantRoute`] on Atlan's legacy (Argo) workflow API, as pyatlan 10.0.0 drives it
//! (contracts/atlan-workflows.md §1–3): templates found through `workflows/indexsearch`
//! (the `prefix` query the docs' raw REST sends), runs through `runs/indexsearch`, a rerun
//! through `…/submit`, a new workflow through `…?submit=true`. API token callers use
//! `workflows…`, other callers `package-workflows…`, as pyatlan decides from `whoami`.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde_json::{Value, json};

use super::{
    GrantRoute, PACKAGE, Phase, RunRef, RunState, Submit, Template, package_missing, timed_out,
};
use crate::platform::http::{Http, Method, Request};
use crate::platform::listing::{Listing, Next};
use crate::platform::{ErrorKind, PlatformError};

const TEMPLATES_ROUTE: &str = "/api/service/workflows/indexsearch";
const RUNS_ROUTE: &str = "/api/service/runs/indexsearch";
/// Templates per page of the listing.
const TEMPLATE_PAGE: usize = 100;
/// Runs of one template looked at, newest first (pyatlan's idempotent rerun looks at 50).
const RUNS_PAGE: usize = 50;
/// Template names tried when a name is taken (two creates in the same second).
const NAME_ATTEMPTS: i64 = 30;
/// The first and the longest pause between two looks at a run.
const FIRST_POLL: Duration = Duration::from_millis(200);
const MAX_POLL: Duration = Duration::from_secs(3);

/// The last epoch second used in a template name, so that parallel creates of one process
/// do not race for the same name.
static LAST_NAME: AtomicI64 = AtomicI64::new(0);

/// The legacy workflow API of one tenant.
pub(in crate::platform::atlan) struct Legacy<'a> {
    pub(in crate::platform::atlan) http: &'a Http,
    /// Whether the caller is an API token user (`workflows…`) or not (`package-workflows…`).
    pub(in crate::platform::atlan) token_user: bool,
}

impl Legacy<'_> {
    fn not_found_is_missing(&self, e: PlatformError) -> PlatformError {
        if e.status == Some(404) {
            package_missing(self.http.target())
        } else {
            e
        }
    }

    async fn templates(&self) -> Result<Vec<Template>, PlatformError> {
        let mut listing = Listing::new(
            self.http,
            format!("POST {TEMPLATES_ROUTE}"),
            Some(TEMPLATE_PAGE as u64),
        );
        let mut out = Vec::new();
        loop {
            let body = json!({
                "from": listing.received(),
                "size": TEMPLATE_PAGE,
                "track_total_hits": true,
                "query": {"bool": {"filter": [
                    {"prefix": {"metadata.name.keyword": {"value": PACKAGE}}}
                ]}},
                "sort": [{"metadata.creationTimestamp": {"order": "asc", "nested": {"path": "metadata"}}}],
            });
            let page = self.search(TEMPLATES_ROUTE, body).await?;
            let (claim, hits) = hits_of(&page);
            let next = listing.record(claim, &hits, |h| h.get("_id").and_then(Value::as_str))?;
            out.extend(hits.iter().filter_map(template_of));
            if next == Next::Done {
                return Ok(out);
            }
        }
    }

    /// The runs of a template the index shows, newest first.
    async fn runs(&self, template: &str) -> Result<Vec<RunState>, PlatformError> {
        let body = json!({
            "from": 0,
            "size": RUNS_PAGE,
            "track_total_hits": true,
            "query": {"bool": {"filter": [{"nested": {"path": "spec", "query": {
                "term": {"spec.workflowTemplateRef.name.keyword": {"value": template}}
            }}}]}},
            "sort": [{"metadata.creationTimestamp": {"order": "desc", "nested": {"path": "metadata"}}}],
        });
        let page = self.search(RUNS_ROUTE, body).await?;
        let (_, hits) = hits_of(&page);
        Ok(hits.iter().filter_map(run_of).collect())
    }

    /// One query of a workflow index (`route`); a 404 means the package is missing.
    async fn search(&self, route: &'static str, body: Value) -> Result<Value, PlatformError> {
        let request = Request::new(Method::POST, route, route).json(body);
        self.http
            .call(&request)
            .await
            .map_err(|e| self.not_found_is_missing(e))?
            .json()
    }

    fn path(&self, submit: bool) -> &'static str {
        match (self.token_user, submit) {
            (true, false) => "/api/service/workflows",
            (true, true) => "/api/service/workflows/submit",
            (false, false) => "/api/service/package-workflows",
            (false, true) => "/api/service/package-workflows/submit",
        }
    }

    /// Sends a request that starts something once: it is not repeated, since a repeat could
    /// start a second run (the next apply joins or verifies whatever the first one did).
    async fn post_once(&self, request: &Request) -> Result<Value, PlatformError> {
        match self.http.send(request).await {
            Ok(r) => r.json(),
            Err(f) => Err(f.error),
        }
    }

    async fn rerun(&self, template: &Template, join: bool) -> Result<RunRef, PlatformError> {
        if join
            && let Some(active) = self
                .runs(&template.name)
                .await?
                .into_iter()
                .find(|r| r.phase.is_active())
        {
            return Ok(RunRef {
                template: template.name.clone(),
                run: Some(active.name),
                joined: true,
                created: false,
            });
        }
        let path = self.path(true);
        let request = Request::new(Method::POST, path, path).json(json!({
            "namespace": "default",
            "resourceKind": "WorkflowTemplate",
            "resourceName": template.name,
        }));
        let run = self.post_once(&request).await.map_err(|e| {
            if e.status == Some(404) {
                e.context(format_args!(
                    "re-running package workflow {} (deleted since it was found, or the package is gone)",
                    template.name
                ))
            } else {
                e.context(format_args!("re-running package workflow {}", template.name))
            }
        })?;
        let Some(name) = run.pointer("/metadata/name").and_then(Value::as_str) else {
            return Err(self.http.error(
                ErrorKind::Malformed,
                format!(
                    "the rerun of package workflow {} answered no run name",
                    template.name
                ),
            ));
        };
        Ok(RunRef {
            template: template.name.clone(),
            run: Some(crate::secret::redact(name).into_owned()),
            joined: false,
            created: false,
        })
    }

    async fn create(&self, connection: &str, guid: &str) -> Result<RunRef, PlatformError> {
        let path = self.path(false);
        for _ in 0..NAME_ATTEMPTS {
            let name = format!("{PACKAGE}-{}", next_epoch());
            let request = Request::new(Method::POST, path, path)
                .query("submit", "true")
                .json(package_workflow(&name, connection, guid));
            match self.post_once(&request).await {
                Ok(answer) => {
                    let said = answer.pointer("/metadata/name").and_then(Value::as_str);
                    if said != Some(name.as_str()) {
                        return Err(self.http.error(
                            ErrorKind::Malformed,
                            format!("creating package workflow {name}: the answer names another workflow"),
                        ));
                    }
                    return Ok(RunRef {
                        template: name,
                        run: None,
                        joined: false,
                        created: true,
                    });
                }
                // The name is taken (someone created one in the same second): the next one.
                Err(e) if e.status == Some(409) => continue,
                Err(e) => {
                    return Err(self
                        .not_found_is_missing(e)
                        .context(format_args!("creating package workflow {name}")));
                }
            }
        }
        Err(self.http.error(
            ErrorKind::Rejected,
            format!("creating a package workflow: {NAME_ATTEMPTS} names in a row were taken"),
        ))
    }

    async fn wait_for(&self, run: &RunRef, timeout: Duration) -> Result<RunState, PlatformError> {
        let deadline = Instant::now() + timeout;
        let mut pause = FIRST_POLL;
        let mut last = None;
        // The progress display says what this target waits for (the newest run of a template
        // just created has no name yet: the template names it).
        let _told = crate::platform::wait::announce(
            self.http.target(),
            crate::platform::wait::WaitReason::WorkflowRun {
                run: run.run.clone().unwrap_or_else(|| run.template.clone()),
            },
            None,
        );
        loop {
            let runs = self.runs(&run.template).await?;
            // A run the index does not show yet is being waited for, never "absent".
            let seen = match &run.run {
                Some(name) => runs.into_iter().find(|r| &r.name == name),
                None => runs.into_iter().next(),
            };
            if let Some(state) = seen {
                if state.phase.is_final() {
                    return Ok(state);
                }
                last = Some(state);
            }
            if Instant::now() + pause > deadline {
                return Err(timed_out(self.http.target(), run, last.as_ref(), timeout));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 3 / 2).min(MAX_POLL);
        }
    }
}

impl GrantRoute for Legacy<'_> {
    fn find(&self) -> BoxFuture<'_, Result<Vec<Template>, PlatformError>> {
        Box::pin(self.templates())
    }

    fn submit<'a>(&'a self, what: Submit<'a>) -> BoxFuture<'a, Result<RunRef, PlatformError>> {
        Box::pin(async move {
            match what {
                Submit::Rerun { template, join } => self.rerun(template, join).await,
                Submit::Create {
                    connection,
                    token_guid,
                } => self.create(connection, token_guid).await,
            }
        })
    }

    fn wait<'a>(
        &'a self,
        run: &'a RunRef,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<RunState, PlatformError>> {
        Box::pin(self.wait_for(run, timeout))
    }
}

/// A number for a new template name: this second, or one after the last this process used.
fn next_epoch() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let mut last = LAST_NAME.load(Ordering::Relaxed);
    loop {
        let next = now.max(last + 1);
        match LAST_NAME.compare_exchange(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

/// The stated total and the hits of an Elasticsearch answer.
fn hits_of(page: &Value) -> (Option<u64>, Vec<Value>) {
    let total = page
        .pointer("/hits/total/value")
        .or_else(|| page.pointer("/hits/total"))
        .and_then(Value::as_u64);
    let hits = page
        .pointer("/hits/hits")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    (total, hits)
}

/// A template of the package from its index document; `None` for one of another package or
/// without both parameters.
fn template_of(hit: &Value) -> Option<Template> {
    let source = hit.get("_source")?;
    let name = source
        .pointer("/metadata/name")
        .or_else(|| hit.get("_id"))
        .and_then(Value::as_str)?;
    let task = source
        .pointer("/spec/templates")
        .and_then(Value::as_array)?
        .iter()
        .filter_map(|t| t.pointer("/dag/tasks").and_then(Value::as_array))
        .flatten()
        .find(|t| t.pointer("/templateRef/name").and_then(Value::as_str) == Some(PACKAGE))?;
    let parameter = |wanted: &str| {
        task.pointer("/arguments/parameters")
            .and_then(Value::as_array)?
            .iter()
            .find(|p| p.get("name").and_then(Value::as_str) == Some(wanted))?
            .get("value")?
            .as_str()
            .map(|v| v.trim().to_string())
    };
    let connection = first_of_multi_select(&parameter("connection_qualified_name")?)?;
    let token_guid = parameter("api_token_guid").filter(|g| !g.is_empty())?;
    let created_ms = source
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as i64);
    Some(Template {
        // Server text: shown in plans and reports, so redacted like every other.
        name: crate::secret::redact(name).into_owned(),
        created_ms,
        connection,
        token_guid,
    })
}

/// The connection the package acts on: the parameter, or the first element of the JSON
/// array string the UI's multi-select sends.
pub(in crate::platform::atlan) fn first_of_multi_select(value: &str) -> Option<String> {
    let value = value.trim();
    let connection = if value.starts_with('[') {
        match serde_json::from_str::<Value>(value).ok()? {
            Value::Array(items) => items.first()?.as_str()?.trim().to_string(),
            _ => return None,
        }
    } else {
        value.to_string()
    };
    (!connection.is_empty()).then_some(connection)
}

/// A run from its index document.
fn run_of(hit: &Value) -> Option<RunState> {
    let source = hit.get("_source")?;
    let name = source
        .pointer("/metadata/name")
        .or_else(|| hit.get("_id"))
        .and_then(Value::as_str)?;
    let phase = source
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .map_or(Phase::Pending, Phase::parse);
    let message = source
        .pointer("/status/message")
        .and_then(Value::as_str)
        .map(|m| crate::secret::redact(m).into_owned());
    Some(RunState {
        name: crate::secret::redact(name).into_owned(),
        phase,
        message,
    })
}

/// The workflow pyatlan 10.0.0's `APITokenConnectionAdmin().config(…).to_workflow()` builds.
fn package_workflow(name: &str, connection: &str, guid: &str) -> Value {
    json!({
        "metadata": {
            "name": name,
            "namespace": "default",
            "labels": {
                "orchestration.atlan.com/certified": "true",
                "orchestration.atlan.com/source": "atlan",
                "orchestration.atlan.com/sourceCategory": "utility",
                "orchestration.atlan.com/type": "custom",
                "orchestration.atlan.com/preview": "true",
                "orchestration.atlan.com/verified": "true",
                "package.argoproj.io/installer": "argopm",
                "package.argoproj.io/name": "a-t-rcsas-l-a-s-hapi-token-connection-admin",
                "package.argoproj.io/registry": "httpsc-o-l-o-ns-l-a-s-hs-l-a-s-hpackages.atlan.com",
                "orchestration.atlan.com/atlan-ui": "true",
            },
            "annotations": {
                "orchestration.atlan.com/name": "API Token Connection Admin",
                "package.argoproj.io/name": "@csa/api-token-connection-admin",
                "orchestration.atlan.com/atlanName": name,
            },
        },
        "spec": {
            "entrypoint": "main",
            "templates": [{"name": "main", "dag": {"tasks": [{
                "name": "run",
                "arguments": {"parameters": [
                    {"name": "connection_qualified_name", "value": connection},
                    {"name": "api_token_guid", "value": guid},
                ]},
                "templateRef": {"name": PACKAGE, "template": "main", "clusterScope": true},
            }]}}],
            "workflowMetadata": {"annotations": {"package.argoproj.io/name": "@csa/api-token-connection-admin"}},
        },
        "payload": [],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_is_the_parameter_or_the_first_of_a_json_array() {
        assert_eq!(
            first_of_multi_select(" default/x/1 ").as_deref(),
            Some("default/x/1")
        );
        assert_eq!(
            first_of_multi_select(r#"["default/x/1", "default/y/2"]"#).as_deref(),
            Some("default/x/1")
        );
        assert_eq!(first_of_multi_select("[]"), None);
        assert_eq!(first_of_multi_select("[1]"), None);
        assert_eq!(first_of_multi_select("[not json"), None);
        assert_eq!(first_of_multi_select(""), None);
    }

    #[test]
    fn names_of_one_process_never_repeat() {
        let a = next_epoch();
        let b = next_epoch();
        assert!(b > a);
    }

    #[test]
    fn a_template_of_another_package_is_not_one_of_ours() {
        let mut doc = json!({"_id": "x", "_source": package_workflow("x", "default/a/1", "g")});
        assert_eq!(
            template_of(&doc).map(|t| (t.connection, t.token_guid)),
            Some(("default/a/1".into(), "g".into()))
        );
        doc["_source"]["spec"]["templates"][0]["dag"]["tasks"][0]["templateRef"]["name"] =
            json!("other-package");
        assert_eq!(template_of(&doc), None);
    }
}
