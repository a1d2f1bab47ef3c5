//! Platforms × anomalies: warrant against servers that lie, truncate, repeat, never end, drip,
//! answer with absurd `Retry-After`s or echo writes they never store.
//!
//! Every case runs the ACME example world on the sandbox behind the scripted proxy of
//! `fake_server` (one per platform), with small bounds in `ClientOptions` so a case takes
//! milliseconds, and asserts two things: warrant fails clearly (a plan error naming the read,
//! a conflict naming the field, an object refused or failed by apply) within the bound, and
//! the sandbox's state after the case shows nothing removed and nothing duplicated. A guard
//! timeout far above the bounds turns a hang into a failure rather than a stuck test run.
//! `bounds_hold_with_the_default_options` repeats the cheap cases with the real defaults.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::http::Method;
use serde_json::{Value, json};
use warrant::apply::{self, ApplyReport, ReportOutcome, Silent, Status};
use warrant::plan::gather::{PlanError, make_plan, open_session};
use warrant::plan::{Action, Change, Plan};
use warrant::platform::{ClientOptions, ErrorKind, LiveOptions, PlatformError, Session};
use warrant::sandbox::Seed;

use crate::fake_server::*;
use crate::hostile_scripts::*;
use crate::support::*;

/// No case may take longer than this, whatever the server does: far above every bound below.
const GUARD: Duration = Duration::from_secs(20);

/// Bounds small enough that every anomaly ends in milliseconds.
fn small_bounds() -> ClientOptions {
    ClientOptions {
        request_timeout: Duration::from_millis(800),
        idle_timeout: Duration::from_millis(300),
        retry_budget: Duration::from_millis(1500),
        max_body_bytes: 1024 * 1024,
        max_pages: 20,
        ..quick_client()
    }
}

/// The example world, with one Mist token gaining a privilege (so every platform has an
/// update), behind three scripted proxies.
struct Hostile {
    world: World,
    atlan: FakeServer,
    connect: FakeServer,
    mist: FakeServer,
    before: Value,
    options: ClientOptions,
}

impl Hostile {
    async fn start() -> Hostile {
        Hostile::with_options(small_bounds()).await
    }

    async fn with_options(options: ClientOptions) -> Hostile {
        Hostile::with_manifests(options, |text| text).await
    }

    /// The example manifests, as `edit` changes each file's text.
    async fn with_manifests(options: ClientOptions, edit: impl Fn(String) -> String) -> Hostile {
        const READ_ONLY: &str =
            "    - {role: read, scope: org}\n  keySink: {file: ../keys/monitoring-ro.key}";
        let files: Vec<(String, String)> = example_manifests()
            .into_iter()
            .map(|(name, text)| {
                let text = if name == "mist.yaml" {
                    assert!(text.contains(READ_ONLY), "the example Mist token changed");
                    text.replace(
                        READ_ONLY,
                        &format!("    - {{role: read, scope: org}}\n    - {{role: write, scope: site, siteId: {HQ_SITE}}}\n  keySink: {{file: ../keys/monitoring-ro.key}}"),
                    )
                } else {
                    text
                };
                (name, edit(text))
            })
            .collect();
        let world = World::start(Seed::example(), &files).await;
        let atlan = FakeServer::start(&world.sandbox.atlan).await;
        let connect = FakeServer::start(&world.sandbox.connect).await;
        let mist = FakeServer::start(&world.sandbox.mist).await;
        let before = world.sandbox.state();
        Hostile {
            world,
            atlan,
            connect,
            mist,
            before,
            options,
        }
    }

    fn fake(&self, platform: Platform) -> &FakeServer {
        match platform {
            Platform::Atlan => &self.atlan,
            Platform::Connect => &self.connect,
            Platform::Mist => &self.mist,
        }
    }

    /// A session that reaches every platform through its proxy.
    fn session(&self) -> Session {
        let live = LiveOptions {
            endpoints: BTreeMap::from([
                ("atlan-prod".to_string(), self.atlan.url.clone()),
                ("connect-prod".to_string(), self.connect.url.clone()),
                ("mist-prod".to_string(), self.mist.url.clone()),
            ]),
            environment: environment(ATLAN_KEY),
            client: self.options.clone(),
        };
        open_session(&self.world.manifests, &[], &live).unwrap()
    }

    /// Plans through the proxies; a plan that does not end within the guard fails the test.
    async fn plan(&self) -> (Result<Plan, PlanError>, Duration) {
        let session = self.session();
        let started = Instant::now();
        let plan = tokio::time::timeout(GUARD, make_plan(&self.world.manifests, &[], &session))
            .await
            .expect("plan hung")
            .map(|made| made.plan);
        (plan, started.elapsed())
    }

    /// The plan of the untouched world (no rule yet): what a reviewer approved.
    async fn clean_plan(&self) -> Plan {
        self.plan().await.0.expect("the clean plan")
    }

    async fn apply(&self, plan: &Plan) -> ApplyReport {
        let session = self.session();
        tokio::time::timeout(
            GUARD,
            apply::apply_plan(
                plan,
                &self.world.declared(&session),
                &session,
                &self.world.options(64),
                &Silent,
            ),
        )
        .await
        .expect("apply hung")
        .expect("not refused before any request")
    }

    /// The plan fails with one error of `kind` whose text contains `contains`.
    async fn plan_fails(&self, kind: ErrorKind, contains: &str) -> PlatformError {
        let (plan, took) = self.plan().await;
        let error = match plan {
            Err(PlanError::Platform(errors)) => errors
                .into_iter()
                .find(|e| e.kind == kind)
                .unwrap_or_else(|| panic!("no {kind:?} error")),
            Err(other) => panic!("unexpected plan error: {other}"),
            Ok(plan) => panic!(
                "the plan succeeded: {:?}",
                plan.changes
                    .iter()
                    .map(|c| (c.address.name.clone(), c.action))
                    .collect::<Vec<_>>()
            ),
        };
        let text = error.to_string();
        assert!(
            text.contains(contains),
            "{text}\n  does not say {contains:?}"
        );
        assert!(took < GUARD / 2, "giving up took {took:?}: {text}");
        error
    }

    /// Nothing live before the case is gone, and no name is held by more objects than before
    /// (or than one, for names that were not live).
    fn assert_intact(&self) {
        let after = self.world.sandbox.state();
        assert_nothing_lost(&self.before, &after);
        let before = name_counts(&self.before);
        for (name, n) in name_counts(&after) {
            let allowed = before.get(&name).copied().unwrap_or(0).max(1);
            assert!(n <= allowed, "{name} is live {n} times");
        }
    }

    /// The state is exactly what it was: nothing written at all.
    fn assert_untouched(&self) {
        assert_eq!(facts(&self.before), facts(&self.world.sandbox.state()));
    }
}

/// How many identities and tokens hold each name.
fn name_counts(state: &Value) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    let mut count = |kind: &str, items: &Value| {
        for item in items.as_array().into_iter().flatten() {
            let name = item["name"].as_str().unwrap_or("").to_string();
            *counts.entry(format!("{kind} {name}")).or_default() += 1;
        }
    };
    for t in state["connect"]["tenants"].as_array().into_iter().flatten() {
        count("identity", &t["automationIdentities"]);
    }
    for o in state["mist"]["orgs"].as_array().into_iter().flatten() {
        count("token", &o["apiTokens"]);
    }
    count("atlan token", &state["atlan"]["apiTokens"]);
    counts
}

fn change<'a>(plan: &'a Plan, name: &str) -> &'a Change {
    plan.changes
        .iter()
        .find(|c| c.address.name == name)
        .unwrap_or_else(|| panic!("{name} is not in the plan"))
}

fn object<'a>(report: &'a ApplyReport, name: &str) -> &'a apply::ObjectReport {
    report
        .objects
        .iter()
        .find(|o| o.address.name == name)
        .unwrap_or_else(|| panic!("{name} is not in the report"))
}

// ------------------------------------------------------------------------ the anomalies

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_list_on_a_list_read_is_a_conflict_and_apply_refuses_it() {
    for platform in PLATFORMS {
        for how in Unknown::ALL {
            let h = Hostile::start().await;
            let reviewed = h.clean_plan().await;
            assert_eq!(change(&reviewed, platform.updated()).action, Action::Update);
            unknown_list_in_listing(h.fake(platform), platform, how);

            // Plan: a conflict naming the field and the response, never "empty".
            let plan = h.plan().await.0.expect("a plan with a conflict");
            let c = change(&plan, platform.updated());
            assert_eq!(c.action, Action::Conflict, "{platform:?} {how:?}");
            let reason = words(&c.reasons).join("; ");
            let field = platform.list_field();
            assert!(
                reason.contains(&format!(
                    "live state unreadable: field {field} {}",
                    how.says()
                )),
                "{platform:?} {how:?}: {reason}"
            );
            let (_, route) = platform.list();
            let route_start = route.split('*').next().unwrap();
            assert!(reason.contains(route_start), "{reason}");

            // Apply of the reviewed plan: the fresh read is unreadable, the object refused
            // and failed (planning again would not make the value known), not stale.
            let report = h.apply(&reviewed).await;
            let o = object(&report, platform.updated());
            assert_eq!(o.status, Status::Failed, "{platform:?} {how:?}: {o:?}");
            let error = o.error.as_deref().unwrap_or_default();
            assert!(
                error.starts_with("not applied: live state unreadable"),
                "{o:?}"
            );
            assert_eq!(report.outcome, ReportOutcome::Failure);
            h.assert_intact();
            let after = h.world.sandbox.state();
            let updated_before: Vec<String> = facts(&h.before)
                .into_iter()
                .filter(|f| f.contains(platform.updated()))
                .collect();
            let updated_after: Vec<String> = facts(&after)
                .into_iter()
                .filter(|f| f.contains(platform.updated()))
                .collect();
            assert_eq!(
                updated_before, updated_after,
                "{platform:?} {how:?}: written"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_list_on_the_single_read_before_a_write_fails_the_write() {
    // Atlan re-reads with the search (covered above); CONNECT and Mist GET the one object.
    for (platform, route, field) in [
        (Platform::Connect, IDENTITY, "RoleIds"),
        (Platform::Mist, TOKEN, "privileges"),
    ] {
        for how in Unknown::ALL {
            let h = Hostile::start().await;
            let reviewed = h.clean_plan().await;
            h.fake(platform).on(
                Method::GET,
                route,
                rewrite_json(move |_, body| how.apply(body, field)),
            );
            let report = h.apply(&reviewed).await;
            let o = object(&report, platform.updated());
            assert_eq!(o.status, Status::Failed, "{platform:?} {how:?}: {o:?}");
            let error = o.error.clone().unwrap_or_default();
            assert!(
                error.contains(&format!("field {field} {}", how.says()))
                    && error.contains("nothing was written"),
                "{platform:?} {how:?}: {error}"
            );
            h.assert_intact();
            let written: Vec<String> = h
                .fake(platform)
                .seen()
                .into_iter()
                .filter(|r| r.starts_with("PUT "))
                .collect();
            assert!(written.is_empty(), "{written:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_caps_the_page_size_is_paged_to_the_end() {
    for platform in PLATFORMS {
        let h = Hostile::start().await;
        let clean = h.clean_plan().await;
        one_per_page(h.fake(platform), platform, |_, _, _| {});
        let capped = h
            .plan()
            .await
            .0
            .expect("a capped listing is still complete");
        let actions = |p: &Plan| -> Vec<(String, Action)> {
            p.changes
                .iter()
                .map(|c| (c.address.name.clone(), c.action))
                .collect()
        };
        assert_eq!(actions(&capped), actions(&clean), "{platform:?}");
        assert!(
            h.fake(platform).scripted() >= 2,
            "{platform:?}: one page only"
        );
        h.assert_untouched();
    }
}

/// On every platform in turn: with `install` on its proxy, the plan fails with an error of
/// `kind` saying `says`, and nothing is written. Returns the proxies' scripted answers.
async fn each_platform_fails_the_plan(
    install: fn(&FakeServer, Platform),
    kind: ErrorKind,
    says: &str,
) -> Vec<usize> {
    let mut scripted = Vec::new();
    for platform in PLATFORMS {
        let h = Hostile::start().await;
        install(h.fake(platform), platform);
        h.plan_fails(kind.clone(), says).await;
        h.assert_untouched();
        scripted.push(h.fake(platform).scripted());
    }
    scripted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connect_listing_without_total_count_is_counted_with_one_head() {
    let h = Hostile::start().await;
    let clean = h.clean_plan().await;
    // The GET states no total, so the client asks the HEAD; a HEAD that lies is caught.
    h.connect.on(
        Method::GET,
        IDENTITIES,
        rewrite(|_, answer| answer.remove_header("total-count")),
    );
    let plan = h.plan().await.0.expect("counted with a HEAD");
    assert_eq!(plan.summary, clean.summary);
    let heads = h
        .connect
        .seen()
        .iter()
        .filter(|r| r.starts_with("HEAD "))
        .count();
    assert_eq!(heads, 1);
    h.connect.on(
        Method::HEAD,
        IDENTITIES,
        rewrite(|_, answer| answer.set_header("total-count", 3)),
    );
    h.plan_fails(ErrorKind::Incomplete, "came back empty after 2 of the 3")
        .await;
    h.assert_untouched();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_page_before_the_stated_total_fails_the_plan() {
    each_platform_fails_the_plan(
        short_page,
        ErrorKind::Incomplete,
        "came back empty after 1 of the",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_page_fails_the_plan() {
    each_platform_fails_the_plan(
        repeated_page,
        ErrorKind::Incomplete,
        "repeats items already read",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_next_pages_stop_at_the_page_bound() {
    for platform in PLATFORMS {
        let h = Hostile::start().await;
        let served = endless_pages(h.fake(platform), platform, Some(50), None);
        let expect = match platform {
            Platform::Mist => "the stated total changed",
            Platform::Atlan | Platform::Connect => "does not end within 20 pages",
        };
        let kind = match platform {
            Platform::Mist => ErrorKind::Incomplete,
            Platform::Atlan | Platform::Connect => ErrorKind::TooLarge,
        };
        h.plan_fails(kind, expect).await;
        let pages = served.load(Ordering::SeqCst);
        assert!(
            (2..=20).contains(&pages),
            "{platform:?}: {pages} pages read"
        );
        h.assert_untouched();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_pages_under_a_total_that_fits_the_bound_stop_there() {
    // A total one short of what 20 pages of 50 hold: the listing walks to the bound and no
    // further, whatever the server keeps sending.
    for platform in PLATFORMS {
        let h = Hostile::start().await;
        let served = endless_pages(h.fake(platform), platform, Some(50), Some(20 * 50 - 1));
        let error = h
            .plan_fails(ErrorKind::Incomplete, "more than the 999")
            .await;
        let pages = served.load(Ordering::SeqCst);
        assert!(pages <= 20, "{platform:?}: {pages} pages read: {error}");
        h.assert_untouched();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_total_fails_the_plan() {
    for platform in PLATFORMS {
        for (lie, says) in [
            (Lie::OneMore, "came back empty"),
            (Lie::OneLess, "more than the"),
            (Lie::Absurd, "more than 20 pages"),
        ] {
            let h = Hostile::start().await;
            lie.tell_on(h.fake(platform), platform);
            let kind = match lie {
                Lie::Absurd => ErrorKind::TooLarge,
                Lie::OneMore | Lie::OneLess => ErrorKind::Incomplete,
            };
            let error = h.plan_fails(kind, says).await;
            if lie == Lie::Absurd {
                // Refused from the first page: the absurd total is never paged towards.
                assert!(h.fake(platform).scripted() <= 2, "{platform:?}: {error}");
            }
            h.assert_untouched();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_fails_without_being_buffered() {
    each_platform_fails_the_plan(oversized_body, ErrorKind::TooLarge, "larger than 1 MiB").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_drip_or_a_stall_fails_within_the_timeouts() {
    for platform in PLATFORMS {
        for (every, says) in [
            // Steady bytes, never done: the attempt's deadline.
            (Duration::from_millis(20), "request timeout"),
            // Nothing after the first byte: the idle timeout (retried once within the budget).
            (Duration::from_secs(30), "idle timeout"),
        ] {
            let h = Hostile::start().await;
            drip_listing(h.fake(platform), platform, every);
            h.plan_fails(ErrorKind::Unavailable, says).await;
            h.assert_untouched();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_retry_after_fails_at_once_naming_the_wait() {
    let scripted = each_platform_fails_the_plan(
        retry_after_forever,
        ErrorKind::RateLimited,
        "wait 18446744073709551615 s",
    )
    .await;
    assert_eq!(scripted, [1, 1, 1], "a 429 was retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_echo_only_write_is_never_reported_applied() {
    for platform in PLATFORMS {
        let h = Hostile::start().await;
        let reviewed = h.clean_plan().await;
        echo_writes(h.fake(platform), platform);
        let report = h.apply(&reviewed).await;
        let target = match platform {
            Platform::Atlan => "atlan-prod",
            Platform::Connect => "connect-prod",
            Platform::Mist => "mist-prod",
        };
        let written: Vec<_> = reviewed
            .changes
            .iter()
            .filter(|c| c.address.target == target)
            .filter(|c| matches!(c.action, Action::Create | Action::Update))
            .collect();
        assert!(written.len() >= 2, "{platform:?}: {}", written.len());
        for c in written {
            let o = object(&report, &c.address.name);
            assert_eq!(o.status, Status::Failed, "{platform:?}: {o:?}");
            let error = o.error.clone().unwrap_or_default();
            let why = match c.action {
                Action::Create => "reading it back does not show it",
                _ => "missing",
            };
            assert!(
                error.contains(why),
                "{platform:?} {}: {error}",
                c.address.name
            );
        }
        // Nothing reached the sandbox: not the writes, and no create a second time.
        let creates = h
            .fake(platform)
            .seen()
            .iter()
            .filter(|r| {
                r.starts_with("POST ")
                    && (r.ends_with("/AutomationIdentities") || r.ends_with("/apitokens"))
            })
            .count();
        let reviewed_creates = reviewed
            .changes
            .iter()
            .filter(|c| c.address.target == target && c.action == Action::Create)
            .count();
        if platform != Platform::Atlan {
            assert_eq!(creates, reviewed_creates, "{platform:?}: creates sent");
        }
        let others: Vec<&str> = ["atlan", "connect", "mist"]
            .into_iter()
            .filter(|p| !target.starts_with(p))
            .collect();
        let after = h.world.sandbox.state();
        let touched: Vec<String> = facts(&after)
            .symmetric_difference(&facts(&h.before))
            .filter(|f| !others.iter().any(|o| f.starts_with(o)))
            .cloned()
            .collect();
        assert!(touched.is_empty(), "{platform:?} changed: {touched:?}");
        h.assert_intact();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mist_token_named_like_one_to_create_since_the_plan_is_not_created_again() {
    let h = Hostile::start().await;
    let reviewed = h.clean_plan().await;
    assert_eq!(change(&reviewed, "installer-app").action, Action::Create);
    // Right after apply's own read of the batch, someone creates a token of that name.
    h.mist.on_times(
        1,
        Method::GET,
        TOKENS,
        forward_then(|exchange| {
            Box::pin(async move {
                let created = exchange
                    .upstream_request(
                        Method::POST,
                        &exchange.path,
                        Some(json!({"name": "installer-app", "privileges": [{"role": "read", "scope": "org"}]})),
                    )
                    .await;
                assert!(created.status.is_success(), "{:?}", created.body);
            })
        }),
    );
    let report = h.apply(&reviewed).await;
    let o = object(&report, "installer-app");
    assert_eq!(o.status, Status::Failed, "{o:?}");
    let error = o.error.clone().unwrap_or_default();
    assert!(
        error.contains("appeared since the plan") && error.contains("duplicate"),
        "{error}"
    );
    let counts = name_counts(&h.world.sandbox.state());
    assert_eq!(counts["token installer-app"], 1, "a duplicate was created");
    // One re-list right before the creates of the batch, not one per create.
    let lists = h
        .mist
        .seen()
        .iter()
        .filter(|r| r.starts_with("GET ") && r.ends_with("/apitokens"))
        .count();
    assert!(lists <= 4, "{lists} token lists: {:?}", h.mist.seen());
    h.assert_intact();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ambiguous_token_name_is_decided_only_on_a_complete_read() {
    // Two live tokens are named shared-bot. A manifest names it; the server leaves the
    // second one out of the first page and states no count.
    let h = Hostile::with_manifests(small_bounds(), |text| {
        text.replace(
            "  connection: default/databricks/1700000003\n  apiTokens:\n",
            "  connection: default/databricks/1700000003\n  apiTokens:\n    - name: shared-bot\n",
        )
    })
    .await;
    h.atlan.on(
        Method::GET,
        APIKEYS,
        rewrite_json(|request, body| {
            let map = body.as_object_mut().unwrap();
            map.remove("totalRecord");
            map.remove("filterRecord");
            if request.query_value("offset") == Some("0") {
                let records = map["records"].as_array_mut().unwrap();
                if let Some(last) = records
                    .iter()
                    .rposition(|r| r["displayName"] == "shared-bot")
                {
                    records.remove(last);
                }
            }
        }),
    );
    let plan = h.plan().await.0.expect("plan");
    let c = change(&plan, "databricks-lakehouse");
    assert_eq!(c.action, Action::Conflict);
    assert!(
        c.reasons.iter().any(|r| r
            .to_string()
            .contains("ambiguous: 2 tokens named shared-bot")),
        "{:?}",
        c.reasons
    );
    // The listing went on past the cut page until an empty one.
    assert!(h.atlan.scripted() >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_allocates_from_what_arrives_not_from_a_stated_total() {
    let h = Hostile::start().await;
    h.atlan.on(
        Method::GET,
        APIKEYS,
        rewrite_json(|_, body| {
            body["totalRecord"] = json!(u64::MAX);
            body["filterRecord"] = json!(u64::MAX);
        }),
    );
    let session = h.session();
    let client = session.client("atlan-prod").unwrap();
    let error = tokio::time::timeout(GUARD, client.export())
        .await
        .expect("export hung")
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::TooLarge, "{error}");
    assert!(
        error.to_string().contains("18446744073709551615"),
        "{error}"
    );
    assert_eq!(h.atlan.scripted(), 1, "the absurd total was paged towards");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounds_hold_with_the_default_options() {
    // The cheap anomalies, with the defaults a user gets: a 64 MiB body cap and a Retry-After
    // beyond any budget.
    let h = Hostile::with_options(ClientOptions::default()).await;
    h.mist.on(Method::GET, TOKENS, endless_body());
    h.plan_fails(ErrorKind::TooLarge, "larger than 64 MiB")
        .await;
    h.mist.clear();
    h.connect.on(
        Method::GET,
        IDENTITIES,
        answer(429, &[("Retry-After", "18446744073709551615")], ""),
    );
    h.plan_fails(ErrorKind::RateLimited, "wait 18446744073709551615 s")
        .await;
    h.assert_untouched();
}
