//! Measures wall time and requests of applying 100 grants (one new API token admin on each of
//! 100 Atlan connections) through the API token connection admin package (`via: workflow`)
//! against the sandbox with 1 s runs and `--parallelism 8`, compared with `direct`
//! (docs/atlan-workflows.md). Each route gets a fresh sandbox; plan and apply run through the
//! library exactly as `warrant plan` and `warrant apply` do.
//!
//! Run: `cargo run --release --example workflow_grants` (optionally `-- GRANTS RUN_SECONDS`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use warrant::apply::{self, ApplyOptions, Declared, Silent, Status};
use warrant::plan::gather::{make_plan, open_session};
use warrant::platform::{ClientOptions, Environment, LiveOptions, Manifests};
use warrant::sandbox::seed::{AtlanApiToken, AtlanConnection};
use warrant::sandbox::{self, Faults, Seed};
use warrant::secret::Secret;

/// The example seed's `$admin` API token (warrant-bot).
const ADMIN_KEY: &str = "sandbox-atlan-key-warrant-bot";

fn uuid(prefix: u32, n: usize) -> String {
    format!("{prefix:08x}-0000-4000-8000-{n:012x}")
}

fn seed(grants: usize, run_seconds: f64) -> Seed {
    let mut seed = Seed::example();
    for i in 0..grants {
        seed.atlan.api_tokens.push(AtlanApiToken {
            guid: uuid(1, i),
            client_id: format!("apikey-{}", uuid(2, i)),
            display_name: format!("bench-token-{i}"),
            description: String::new(),
            created_at: i as i64,
            created_by: "jsmith".into(),
            lifespan_seconds: 157_680_000,
        });
        seed.atlan.connections.push(AtlanConnection {
            guid: uuid(3, i),
            qualified_name: format!("default/snowflake/{}", 1_800_000_000 + i),
            name: format!("bench-{i}"),
            connector_name: "snowflake".into(),
            category: None,
            admin_users: vec!["jsmith".into()],
            admin_groups: Vec::new(),
            admin_roles: Vec::new(),
            created_by: "jsmith".into(),
            updated_by: "jsmith".into(),
            create_time: 0,
            update_time: 0,
            version: 1,
        });
    }
    seed.atlan.workflows.run_seconds = run_seconds;
    seed.atlan.workflows.templates.clear();
    seed
}

fn manifests(grants: usize, via: &str) -> String {
    let mut text = String::from(
        "apiVersion: warrant/v1\nkind: Target\nmetadata: {name: atlan-prod}\nspec:\n  atlan: {baseUrl: https://acme.atlan.com}\n",
    );
    for i in 0..grants {
        text.push_str(&format!(
            "---\napiVersion: warrant/v1\nkind: ConnectionAdmins\nmetadata: {{name: bench-{i}}}\nspec:\n  target: atlan-prod\n  connection: default/snowflake/{}\n  via: {via}\n  apiTokens: [{{name: bench-token-{i}}}]\n",
            1_800_000_000 + i
        ));
    }
    text
}

async fn measure(via: &str, grants: usize, run_seconds: f64) {
    let sb = sandbox::start(seed(grants, run_seconds), Faults::default())
        .await
        .expect("sandbox");
    let manifests = Manifests::parse(Path::new("manifests/bench.yaml"), &manifests(grants, via))
        .expect("valid manifests");
    let live = LiveOptions {
        endpoints: BTreeMap::from([("atlan-prod".to_string(), sb.atlan.clone())]),
        environment: Environment::Given(BTreeMap::from([(
            "ATLAN_API_KEY".to_string(),
            Secret::new(ADMIN_KEY.to_string()),
        )])),
        client: ClientOptions {
            parallelism: 8,
            ..ClientOptions::default()
        },
    };
    let session = open_session(&manifests, &[], &live).expect("session");
    let started = Instant::now();
    let plan = make_plan(&manifests, &[], &session)
        .await
        .expect("plan")
        .plan;
    let planned = started.elapsed();
    let before: u64 = sb.request_counts().values().sum();
    let started = Instant::now();
    let report = apply::apply_plan(
        &plan,
        &Declared::new(&manifests, &session.endpoints),
        &session,
        &ApplyOptions::default(),
        &Silent,
    )
    .await
    .expect("apply");
    let applied = started.elapsed();
    let requests: u64 = sb.request_counts().values().sum::<u64>() - before;
    let ok = report
        .objects
        .iter()
        .filter(|o| o.status == Status::Applied)
        .count();
    println!(
        "via {via:8} {grants} grants: plan {:.2} s, apply {:.2} s, {requests} apply requests ({:.1} per grant), {ok} applied",
        planned.as_secs_f64(),
        applied.as_secs_f64(),
        requests as f64 / grants as f64
    );
    let mut counts: Vec<(String, u64)> = sb.request_counts().into_iter().collect();
    counts.sort();
    for (route, n) in counts {
        println!("    {n:6}  {route}");
    }
    sb.shutdown().await;
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let grants: usize = args.next().map_or(100, |a| a.parse().expect("GRANTS"));
    let run_seconds: f64 = args.next().map_or(1.0, |a| a.parse().expect("RUN_SECONDS"));
    println!("{grants} grants, runs of {run_seconds} s, parallelism 8, no latency");
    measure("workflow", grants, run_seconds).await;
    measure("direct", grants, run_seconds).await;
}
