//! Measurements of the sandbox, printed, never asserted on time (run them on purpose):
//!
//! ```sh
//! cargo test --release --test it -- --ignored sandbox_bench --nocapture
//! ```
//!
//! - requests per second for `GET AutomationIdentities` over a tenant of 10,000 identities;
//! - memory (VmHWM, VmRSS) of a `warrant sandbox` process seeded with 100,000 objects;
//! - time per request of the handlers a plan of 100,000 objects hits hardest: indexsearch of
//!   1,000 qualified names over 49,500 connections, AutomationIdentities pages of 1,000 over
//!   49,500 identities, and apikeys pages of 500.

use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};

use serde_json::Value;
use warrant::sandbox::seed::{
    AtlanApiToken, AtlanConnection, ConnectIdentity, MistPrivilege, MistToken,
};
use warrant::sandbox::{self, Faults, Seed};

const TENANT: &str = "7fc97c8b-8f60-4f29-af71-3178c414e7a0";
const TENANT_MEMBER: &str = "9b1e2c3d-4f5a-4b6c-8d7e-0f1a2b3c4d04";

fn uuid_from(prefix: u32, i: usize) -> String {
    format!("{prefix:08x}-0000-4000-8000-{i:012x}")
}

fn identities(n: usize) -> Vec<ConnectIdentity> {
    (0..n)
        .map(|i| ConnectIdentity {
            id: uuid_from(0xc0, i),
            name: format!("bot-{i:06}"),
            role_ids: vec![TENANT_MEMBER.to_string()],
            tags: vec!["managed-by:warrant".to_string(), format!("team:{}", i % 50)],
        })
        .collect()
}

/// A seed of `n` objects in all: a quarter each of Atlan tokens, Atlan connections, CONNECT
/// identities and Mist tokens.
fn big_seed(n: usize) -> Seed {
    let q = n / 4;
    let mut seed = Seed::example();
    seed.atlan.api_tokens.extend((0..q).map(|i| AtlanApiToken {
        guid: uuid_from(0xa1, i),
        client_id: format!("apikey-{}", uuid_from(0xa2, i)),
        display_name: format!("token-{i}"),
        description: String::new(),
        created_at: 1_700_000_000_000 + i as i64,
        created_by: "jsmith".into(),
        lifespan_seconds: 157_680_000,
    }));
    seed.atlan
        .connections
        .extend((0..q).map(|i| AtlanConnection {
            guid: uuid_from(0xa3, i),
            qualified_name: format!("default/snowflake/{}", 1_800_000_000 + i),
            name: format!("conn-{i}"),
            connector_name: "snowflake".into(),
            category: None,
            admin_users: vec![
                "jsmith".into(),
                format!("service-account-apikey-{}", uuid_from(0xa2, i)),
            ],
            admin_groups: vec![],
            admin_roles: vec![],
            created_by: "jsmith".into(),
            updated_by: "jsmith".into(),
            create_time: 0,
            update_time: 0,
            version: 0,
        }));
    seed.connect.tenants[0]
        .automation_identities
        .extend(identities(q));
    seed.mist.orgs[0]
        .api_tokens
        .extend((0..q).map(|i| MistToken {
            id: uuid_from(0xb1, i),
            name: format!("mist-{i}"),
            key: format!("BenchKey{i:032}"),
            privileges: vec![MistPrivilege {
                role: "read".into(),
                scope: "org".into(),
                site_id: None,
                sitegroup_id: None,
                views: vec![],
            }],
            src_ips: vec![],
            created_by: None,
            created_time: 1_700_000_000,
            last_used: None,
            requests_per_hour: None,
            user_email: None,
        }));
    seed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement; run with --release -- --ignored --nocapture"]
async fn identities_list_requests_per_second() {
    let mut seed = Seed::example();
    seed.connect.tenants[0].automation_identities = identities(10_000);
    let sb = sandbox::start(seed, Faults::default()).await.unwrap();
    let token_body: Value = reqwest::Client::new()
        .post(format!("{}/identity/connect/token", sb.connect))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", crate::support::CONNECT_ID),
            ("client_secret", crate::support::CONNECT_SECRET),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token_body["access_token"].as_str().unwrap().to_string();
    let url = format!(
        "{}/api/v1/Tenants/{TENANT}/AutomationIdentities",
        sb.connect
    );
    println!("identities in the tenant: 10000");
    for (label, count, query_tag, workers) in [
        ("page of 1000", 1000, false, 4),
        ("page of 100 (default)", 100, false, 4),
        ("page of 100, tag filter", 100, true, 4),
        ("page of 100, 1 client", 100, false, 1),
    ] {
        let deadline = Instant::now() + Duration::from_secs(3);
        let tasks: Vec<_> = (0..workers)
            .map(|w| {
                let (url, token) = (url.clone(), token.clone());
                tokio::spawn(async move {
                    let client = reqwest::Client::new();
                    let mut done = 0u64;
                    let pages = 10_000 / count;
                    while Instant::now() < deadline {
                        let skip = ((done as usize + w) % pages) * count;
                        let mut req = client
                            .get(&url)
                            .bearer_auth(&token)
                            .query(&[("skip", skip), ("count", count)]);
                        if query_tag {
                            req = req.query(&[("tag", "team:7"), ("tag", "managed-by:warrant")]);
                        }
                        let r = req.send().await.unwrap();
                        assert_eq!(r.status(), 200);
                        r.bytes().await.unwrap();
                        done += 1;
                    }
                    done
                })
            })
            .collect();
        let started = Instant::now();
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "GET AutomationIdentities, {label}, {workers} concurrent clients: {:.0} requests/s ({:.0} identities/s)",
            total as f64 / secs,
            total as f64 * count as f64 / secs
        );
    }
    // A full read as a client does it: 10 pages of 1000 in sequence.
    let client = reqwest::Client::new();
    let started = Instant::now();
    let rounds = 20;
    for _ in 0..rounds {
        for page in 0..10 {
            let r = client
                .get(&url)
                .bearer_auth(&token)
                .query(&[("skip", page * 1000), ("count", 1000)])
                .send()
                .await
                .unwrap();
            r.bytes().await.unwrap();
        }
    }
    println!(
        "full list of 10000 in 10 sequential pages: {:.1} ms",
        started.elapsed().as_secs_f64() * 1000.0 / rounds as f64
    );
}

fn proc_status(pid: u32, key: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "n/a".into())
}

#[test]
#[ignore = "measurement; run with --release -- --ignored --nocapture"]
fn memory_with_100k_seeded_objects() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed.yaml");
    let text = serde_yaml::to_string(&big_seed(100_000)).unwrap();
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    println!(
        "seed: 100000 objects + the example, {} MB of YAML",
        text.len() / 1_000_000
    );
    let started = Instant::now();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_warrant"))
        .args(["sandbox", "--seed"])
        .arg(&path)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    println!(
        "startup (parse + bind): {:.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    let urls: Value = serde_json::from_str(&line).unwrap();
    let pid = child.id();
    println!(
        "after start: VmHWM {}, VmRSS {}",
        proc_status(pid, "VmHWM"),
        proc_status(pid, "VmRSS")
    );
    // Touch every platform once, including a full Mist list of 25k tokens.
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let r = reqwest::Client::new()
            .get(format!(
                "{}/api/v1/orgs/a40f5d1f-d889-42e9-94ea-b9b33585fc6b/apitokens",
                urls["mist"].as_str().unwrap()
            ))
            .header(
                "Authorization",
                "Token SbxMistWarrantAdminKey0000000000000001",
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
    });
    println!(
        "after a full list: VmHWM {}, VmRSS {}",
        proc_status(pid, "VmHWM"),
        proc_status(pid, "VmRSS")
    );
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();
}

/// Mean time per request over `n` sequential requests built by `request(i)`.
async fn per_request(n: usize, request: impl Fn(usize) -> reqwest::RequestBuilder) -> Duration {
    let started = Instant::now();
    for i in 0..n {
        let r = request(i).send().await.unwrap();
        assert_eq!(r.status(), 200, "{:?}", r.text().await);
        r.bytes().await.unwrap();
    }
    started.elapsed() / n as u32
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement; run with -- --ignored --nocapture"]
async fn plan_scale_handler_costs() {
    const N: usize = 49_500;
    let mut seed = big_seed(4 * N);
    seed.atlan.api_tokens.truncate(N / 10);
    seed.mist.orgs[0].api_tokens.truncate(10);
    let sb = sandbox::start(seed, Faults::default()).await.unwrap();
    let client = reqwest::Client::new();
    let search = per_request(50, |page| {
        let names: Vec<String> = (page * 990..page * 990 + 1000)
            .map(|i| format!("default/snowflake/{}", 1_800_000_000 + i))
            .collect();
        client
            .post(format!("{}/api/meta/search/indexsearch", sb.atlan))
            .bearer_auth(crate::support::ATLAN_KEY)
            .json(&serde_json::json!({
                "attributes": ["adminUsers", "adminGroups", "adminRoles"],
                "dsl": {
                    "from": 0, "size": 1000, "track_total_hits": true,
                    "query": {"bool": {"filter": [
                        {"term": {"__typeName.keyword": {"value": "Connection", "case_insensitive": false}}},
                        {"term": {"__state": {"value": "ACTIVE", "case_insensitive": false}}},
                        {"terms": {"qualifiedName": names}},
                    ]}},
                    "sort": [{"__guid": {"order": "asc"}}],
                },
            }))
    })
    .await;
    println!("indexsearch, 1000 terms over {N} connections: {search:?} per request");
    let tokens = per_request(10, |page| {
        client
            .get(format!("{}/api/service/apikeys", sb.atlan))
            .bearer_auth(crate::support::ATLAN_KEY)
            .query(&[("limit", "500"), ("sort", "createdAt"), ("count", "true")])
            .query(&[("offset", page * 500)])
    })
    .await;
    println!("apikeys, page of 500 of {}: {tokens:?} per request", N / 10);
    let token_body: Value = client
        .post(format!("{}/identity/connect/token", sb.connect))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", crate::support::CONNECT_ID),
            ("client_secret", crate::support::CONNECT_SECRET),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token_body["access_token"].as_str().unwrap().to_string();
    let identities = per_request(50, |page| {
        client
            .get(format!(
                "{}/api/v1/Tenants/{TENANT}/AutomationIdentities",
                sb.connect
            ))
            .bearer_auth(&token)
            .query(&[("skip", page * 1000), ("count", 1000)])
    })
    .await;
    println!("AutomationIdentities, page of 1000 of {N}: {identities:?} per request");
}
