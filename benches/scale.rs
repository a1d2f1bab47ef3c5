//! The scale benchmark: how close `warrant validate`, `plan` and `apply` come to the fewest
//! possible requests and to the ideal wall time, and how much memory they take, for worlds of
//! 1,000 to 100,000 objects; plus a naive baseline doing the same work the way SDK scripts do.
//!
//! `cargo bench --bench scale` (all sizes), `cargo bench --bench scale -- --quick` (N = 1,000),
//! `-- --n 1000,10000 --latency-ms 20 --plan-only-above 10000`.
//! `--mix 1000,1000,100` runs one world where 1,000 connections gain admins and 1,000
//! identities and 100 Mist tokens are created, instead of the sizes.
//! `--keep DIR` keeps each world (seed.yaml, manifests/) in DIR/nN, to profile one step by hand.
//!
//! For each N it writes a sandbox seed and manifests into a scratch directory, starts
//! `warrant sandbox` as a separate process (so its memory is not counted) with a fixed latency
//! per request, and runs the warrant binary as a subprocess for each step. Requests are counted
//! by the sandbox (`GET /_sandbox/requests`, diffed around each step); peak memory is the
//! subprocess's own `VmHWM`, printed at exit when `WARRANT_REPORT_PEAK_RSS=1`.
//!
//! The world (objects split across the three kinds; Mist is capped because a Mist org with
//! tens of thousands of API tokens is not realistic and its API allows 5,000 requests an hour):
//! - ConnectionAdmins: every connection exists; each declares 3 API tokens; odd ones lack two.
//! - AutomationIdentity: even ones exist as declared, j % 4 == 1 lack a tag, j % 4 == 3 are
//!   absent.
//! - OrgApiToken: even ones exist as declared, odd ones are absent.
//!
//! Lower bounds of requests: reads are the pages of the list APIs the step needs (Atlan token
//! lookups of 50 names + connection search pages + whoami; apply: the entity-store reads of
//! 100 connections before and after the writes; CONNECT OAuth token + role pages + the
//! caller's own roles + identity pages; the Mist token list + `/self`), writes are one per changed object, or one per batch where the
//! API takes batches (Atlan `entity/bulk`, 20 connections per request as the client sends).
//! Apply must re-read what it changes (promise 1), so its bound also holds those list pages.
//!
//! This is a program that prints numbers, not a test: it asserts nothing.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const WARRANT: &str = env!("CARGO_BIN_EXE_warrant");
/// `--parallelism` given to warrant (its default).
const PARALLELISM: usize = 8;
/// Mist org API tokens at most (see the module comment).
const MIST_CAP: usize = 1000;
/// Atlan connections per search page and per bulk write, CONNECT items per page: the sizes
/// the clients use (src/platform).
const ATLAN_SEARCH_PAGE: usize = 1000;
const ATLAN_WRITE_BATCH: usize = 20;
/// Display names per filtered token lookup, and connections per entity-store read.
const ATLAN_TOKEN_LOOKUP: usize = 50;
const ATLAN_STORE_READ: usize = 100;
/// The id the sandbox gives the `$admin` workspace role.
const ATLAN_ADMIN_ROLE: &str = "0c54f4e3-4ff0-4b8b-9a7e-5d2c1b0a9f01";
const CONNECT_PAGE: usize = 1000;
/// Default limits of the real APIs, for the line saying what they would cost.
const ATLAN_DEFAULT_PER_MINUTE: f64 = 1800.0;
const MIST_DEFAULT_PER_HOUR: f64 = 5000.0;

const TENANT: &str = "7fc97c8b-8f60-4f29-af71-3178c414e7a0";
const ORG: &str = "a40f5d1f-d889-42e9-94ea-b9b33585fc6b";
const SITE: &str = "d96e3952-53e8-4266-959a-45acd55f5114";
const ATLAN_KEY: &str = "bench-atlan-key";
const CONNECT_CLIENT: &str = "2b7d4e9f-1c3a-4b5d-8e6f-0a9b8c7d6e5f";
const CONNECT_SECRET: &str = "bench-connect-secret";
const MIST_KEY: &str = "BenchMistWarrantAdminKey000000000000001";
const TENANT_ADMIN: &str = "9b1e2c3d-4f5a-4b6c-8d7e-0f1a2b3c4d01";
const TENANT_MEMBER: &str = "9b1e2c3d-4f5a-4b6c-8d7e-0f1a2b3c4d04";
/// Custom roles the identities reference by name, besides Tenant Member.
const CUSTOM_ROLES: usize = 3;

struct Options {
    sizes: Vec<usize>,
    latency_ms: u64,
    /// Above this N only validate and plan run (apply and the naive baseline are estimated).
    apply_up_to: usize,
    /// Largest N at which the naive baseline is run rather than estimated.
    naive_up_to: usize,
    /// Write each world (seed.yaml, manifests/) under this directory and keep it, to profile
    /// a single step by hand (e.g. `heaptrack warrant plan manifests ...`).
    keep: Option<std::path::PathBuf>,
    /// `--mix C,I,M`: instead of the sizes, one world where C connections each gain admins,
    /// I identities and M Mist tokens are all created (the apply workload of issue 6).
    mix: Option<[usize; 3]>,
}

impl Options {
    fn parse() -> Result<Options, String> {
        let mut options = Options {
            sizes: vec![1_000, 10_000, 100_000],
            latency_ms: 20,
            apply_up_to: usize::MAX,
            naive_up_to: 1_000,
            keep: None,
            mix: None,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
            match arg.as_str() {
                // The naive baseline takes about a minute at N = 1,000: estimate it instead.
                "--quick" => {
                    options.sizes = vec![1_000];
                    options.naive_up_to = 0;
                }
                "--n" => {
                    options.sizes = value("--n")?
                        .split(',')
                        .map(|s| s.trim().replace('_', "").parse::<usize>())
                        .collect::<Result<_, _>>()
                        .map_err(|e| format!("--n: {e}"))?;
                }
                "--latency-ms" => {
                    options.latency_ms = value("--latency-ms")?
                        .parse()
                        .map_err(|e| format!("--latency-ms: {e}"))?;
                }
                "--plan-only-above" => {
                    options.apply_up_to = value("--plan-only-above")?
                        .parse()
                        .map_err(|e| format!("--plan-only-above: {e}"))?;
                }
                "--naive-up-to" => {
                    options.naive_up_to = value("--naive-up-to")?
                        .parse()
                        .map_err(|e| format!("--naive-up-to: {e}"))?;
                }
                "--keep" => options.keep = Some(value("--keep")?.into()),
                "--mix" => {
                    let parts: Vec<usize> = value("--mix")?
                        .split(',')
                        .map(|s| s.trim().replace('_', "").parse::<usize>())
                        .collect::<Result<_, _>>()
                        .map_err(|e| format!("--mix: {e}"))?;
                    let [c, i, m] = parts[..] else {
                        return Err("--mix takes three counts: connections,identities,mist".into());
                    };
                    options.mix = Some([c, i, m]);
                }
                // cargo bench passes --bench to every bench binary.
                "--bench" => {}
                other => return Err(format!("unknown argument {other}")),
            }
        }
        if options.sizes.iter().any(|&n| n < 3) {
            return Err("every N must be at least 3".into());
        }
        Ok(options)
    }
}

fn main() {
    let options = match Options::parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("scale: {e}");
            eprintln!(
                "usage: cargo bench --bench scale -- [--quick] [--n 1000,10000] [--latency-ms 20] [--plan-only-above N] [--naive-up-to N] [--keep DIR] [--mix C,I,M]"
            );
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    println!(
        "scale benchmark: sandbox latency {} ms per request, warrant --parallelism {PARALLELISM}",
        options.latency_ms
    );
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    let worlds: Vec<World> = match options.mix {
        Some([c, i, m]) => vec![World::mix(c, i, m)],
        None => options.sizes.iter().map(|&n| World::new(n)).collect(),
    };
    for world in worlds {
        let n = world.n;
        match runtime.block_on(bench_size(world, &options, &mut rows, &mut notes)) {
            Ok(()) => {}
            Err(e) => {
                eprintln!("scale: N = {n}: {e}");
                std::process::exit(1);
            }
        }
    }
    println!();
    print_table(&rows);
    println!();
    for note in notes {
        println!("{note}");
    }
}

// ---------------------------------------------------------------------------------------------
// The generated world

/// How many objects of each kind, and what changes.
struct World {
    n: usize,
    connections: usize,
    api_tokens: usize,
    identities: usize,
    mist_tokens: usize,
    /// Every declared object needs a write and nothing to create exists (`--mix`).
    all_change: bool,
}

impl World {
    /// `connections` connections that each gain two admins, `identities` identities and
    /// `mist_tokens` Mist tokens to create.
    fn mix(connections: usize, identities: usize, mist_tokens: usize) -> World {
        World {
            n: connections + identities + mist_tokens,
            connections,
            api_tokens: (connections / 10).max(30),
            identities,
            mist_tokens,
            all_change: true,
        }
    }

    fn new(n: usize) -> World {
        let mist_tokens = (n / 3).min(MIST_CAP);
        let connections = (n - mist_tokens) / 2;
        World {
            n,
            connections,
            api_tokens: (connections / 10).max(30),
            identities: n - mist_tokens - connections,
            mist_tokens,
            all_change: false,
        }
    }

    /// The three API tokens connection `i` declares (distinct, since api_tokens >= 30).
    fn tokens_of(&self, i: usize) -> [usize; 3] {
        let step = self.api_tokens / 3;
        [0, 1, 2].map(|g| (i + g * step) % self.api_tokens)
    }

    fn connection_changes(&self, i: usize) -> bool {
        self.all_change || i % 2 == 1
    }

    fn changed_connections(&self) -> usize {
        (0..self.connections)
            .filter(|&i| self.connection_changes(i))
            .count()
    }

    /// Whether identity `j` exists live.
    fn identity_exists(&self, j: usize) -> bool {
        !self.all_change && j % 4 != 3
    }

    fn live_identities(&self) -> usize {
        (0..self.identities)
            .filter(|&j| self.identity_exists(j))
            .count()
    }

    fn changed_identities(&self) -> usize {
        (0..self.identities)
            .filter(|&j| !self.identity_exists(j) || j % 4 == 1)
            .count()
    }

    /// Identities that exist and gain a tag: apply reads each one right before its PUT.
    fn updated_identities(&self) -> usize {
        (0..self.identities)
            .filter(|&j| self.identity_exists(j) && j % 4 == 1)
            .count()
    }

    fn mist_exists(&self, k: usize) -> bool {
        !self.all_change && k.is_multiple_of(2)
    }

    fn created_mist_tokens(&self) -> usize {
        (0..self.mist_tokens)
            .filter(|&k| !self.mist_exists(k))
            .count()
    }

    /// Fewest requests for `plan`: every list page it must read.
    fn plan_bound(&self) -> usize {
        // Tokens are looked up by name, 50 a request (never listed whole).
        let atlan = self.api_tokens.div_ceil(ATLAN_TOKEN_LOOKUP)
            + self.connections.div_ceil(ATLAN_SEARCH_PAGE)
            + 1;
        let roles = (5 + CUSTOM_ROLES).div_ceil(CONNECT_PAGE);
        // The caller's own roles (one page) and the Mist token's `/self`: what the plan reads
        // to predict the role-subset rule and a read-only token.
        let connect = 1 + roles + 1 + self.live_identities().max(1).div_ceil(CONNECT_PAGE);
        // A platform the mix leaves out has no target, so nothing is read from it.
        let mist = 1 + 1;
        self.in_use(atlan, connect, mist)
    }

    /// The sum of these per-platform counts over the platforms the mix uses.
    fn in_use(&self, atlan: usize, connect: usize, mist: usize) -> usize {
        [
            (self.connections, atlan),
            (self.identities, connect),
            (self.mist_tokens, mist),
        ]
        .iter()
        .filter(|(objects, _)| *objects > 0)
        .map(|(_, requests)| requests)
        .sum()
    }

    /// Fewest requests for `apply`: re-read what changes, then one write per object or batch.
    fn apply_bound(&self) -> usize {
        let changed = self.changed_connections();
        // The GUIDs by search, then the entity store before and after the writes.
        let atlan = changed.div_ceil(ATLAN_SEARCH_PAGE)
            + 2 * changed.div_ceil(ATLAN_STORE_READ)
            + changed.div_ceil(ATLAN_WRITE_BATCH);
        let connect =
            1 + self.live_identities().max(1).div_ceil(CONNECT_PAGE) + self.changed_identities();
        let mist = 1 + self.created_mist_tokens();
        self.in_use(atlan, connect, mist)
    }
}

fn guid(prefix: u32, n: usize) -> String {
    format!("{prefix:08x}-0000-4000-8000-{n:012x}")
}

fn client_id(t: usize) -> String {
    format!("apikey-{}", guid(2, t))
}

fn username(t: usize) -> String {
    format!("service-account-{}", client_id(t))
}

fn custom_role(r: usize) -> String {
    guid(4, r)
}

fn identity_tags(j: usize) -> Vec<String> {
    vec!["managed-by:warrant".into(), format!("team:t{}", j % 5)]
}

fn seed(world: &World) -> Value {
    let tokens: Vec<Value> = (0..world.api_tokens)
        .map(|t| {
            json!({"guid": guid(1, t), "clientId": client_id(t),
                   "displayName": format!("token-{t}"), "createdAt": 1_699_000_000_000u64 + t as u64})
        })
        .collect();
    let connections: Vec<Value> = (0..world.connections)
        .map(|i| {
            let declared = world.tokens_of(i);
            let mut admins = vec!["jsmith".to_string(), username(declared[0])];
            if !world.connection_changes(i) {
                admins.extend(declared[1..].iter().map(|&t| username(t)));
            }
            json!({"guid": guid(3, i), "qualifiedName": format!("default/snowflake/{i}"),
                   "name": format!("conn-{i}"), "connectorName": "snowflake", "adminUsers": admins,
                   // The bench caller is a workspace admin: under Atlan's rule it administers
                   // a connection through the $admin role in its adminRoles.
                   "adminRoles": [ATLAN_ADMIN_ROLE]})
        })
        .collect();
    let mut roles = vec![
        json!({"id": TENANT_ADMIN, "name": "Tenant Administrator", "roleTypeId": "2dc742ab-39ea-4fc0-a39e-2bcb71c26a5f"}),
        json!({"id": "9b1e2c3d-4f5a-4b6c-8d7e-0f1a2b3c4d02", "name": "Tenant Contributor", "roleTypeId": "f1439595-e5a2-487f-8a4f-0627fefe75df"}),
        json!({"id": "9b1e2c3d-4f5a-4b6c-8d7e-0f1a2b3c4d03", "name": "Tenant Data Steward", "roleTypeId": "45b66433-5f57-420b-bbdf-8bbd60c1cd9d"}),
        json!({"id": TENANT_MEMBER, "name": "Tenant Member", "roleTypeId": "7ad2b9ef-5386-4ead-ac9f-ad99c5c5b977"}),
        json!({"id": "9b1e2c3d-4f5a-4b6c-8d7e-0f1a2b3c4d05", "name": "Tenant Viewer", "roleTypeId": "e6cbf91e-0be8-4858-92b5-f88ecafd5574"}),
    ];
    roles.extend(
        (0..CUSTOM_ROLES)
            .map(|r| json!({"id": custom_role(r), "name": format!("Custom Role {r}")})),
    );
    let identities: Vec<Value> = (0..world.identities)
        .filter(|&j| world.identity_exists(j))
        .map(|j| {
            let mut tags = identity_tags(j);
            if j % 4 == 1 {
                tags.pop();
            }
            json!({"id": guid(5, j), "name": format!("identity-{j}"),
                   "roleIds": [TENANT_MEMBER, custom_role(j % CUSTOM_ROLES)], "tags": tags})
        })
        .collect();
    let mut mist_tokens: Vec<Value> = (0..world.mist_tokens)
        .filter(|&k| world.mist_exists(k))
        .map(|k| {
            json!({"id": guid(6, k), "name": format!("mist-token-{k}"), "key": format!("BenchMistKey{k:028}"),
                   "privileges": [{"role": "read", "scope": "org"}, {"role": "write", "scope": "site", "siteId": SITE}]})
        })
        .collect();
    mist_tokens.push(json!({"id": guid(7, 0), "name": "warrant", "key": MIST_KEY,
                            "privileges": [{"role": "admin", "scope": "org"}]}));
    json!({
        "atlan": {
            "callers": [{"apiKey": ATLAN_KEY, "username": "service-account-apikey-warrant", "roles": ["$admin"]}],
            "apiTokens": tokens,
            "connections": connections,
        },
        "connect": {"tenants": [{
            "id": TENANT, "name": "Bench", "roles": roles, "automationIdentities": identities,
            "clients": [{"clientId": CONNECT_CLIENT, "clientSecret": CONNECT_SECRET,
                         "roleIds": [TENANT_ADMIN, TENANT_MEMBER], "tokenLifetimeSeconds": 3600}],
        }]},
        "mist": {"requestsPerHour": 100_000_000u64, "orgs": [{
            "id": ORG, "name": "Bench", "sites": [{"id": SITE, "name": "hq"}], "apiTokens": mist_tokens,
        }]},
    })
}

const TARGETS: &str = "\
apiVersion: warrant/v1
kind: Target
metadata: {name: atlan-bench}
spec:
  atlan: {baseUrl: https://bench.atlan.invalid, apiKeyEnv: BENCH_ATLAN_KEY, requestsPerMinute: 100000000}
---
apiVersion: warrant/v1
kind: Target
metadata: {name: connect-bench}
spec:
  connect: {tenantId: 7fc97c8b-8f60-4f29-af71-3178c414e7a0, clientIdEnv: BENCH_CONNECT_ID, clientSecretEnv: BENCH_CONNECT_SECRET}
---
apiVersion: warrant/v1
kind: Target
metadata: {name: mist-bench}
spec:
  mist: {baseUrl: https://bench.mist.invalid, orgId: a40f5d1f-d889-42e9-94ea-b9b33585fc6b, apiTokenEnv: BENCH_MIST_KEY, requestsPerHour: 100000000}
";

/// Every resource document of the world, in order.
fn documents(world: &World) -> Vec<String> {
    let mut docs = Vec::with_capacity(world.n);
    for i in 0..world.connections {
        let tokens: String = world
            .tokens_of(i)
            .iter()
            .map(|t| format!("    - name: token-{t}\n"))
            .collect();
        docs.push(format!(
            "apiVersion: warrant/v1\nkind: ConnectionAdmins\nmetadata: {{name: conn-{i}}}\nspec:\n  target: atlan-bench\n  connection: default/snowflake/{i}\n  apiTokens:\n{tokens}"
        ));
    }
    for j in 0..world.identities {
        let tags = identity_tags(j).join(", ");
        docs.push(format!(
            "apiVersion: warrant/v1\nkind: AutomationIdentity\nmetadata: {{name: identity-{j}}}\nspec:\n  target: connect-bench\n  roles:\n    - Tenant Member\n    - Custom Role {}\n  tags: [{tags}]\n",
            j % CUSTOM_ROLES
        ));
    }
    for k in 0..world.mist_tokens {
        docs.push(format!(
            "apiVersion: warrant/v1\nkind: OrgApiToken\nmetadata: {{name: mist-token-{k}}}\nspec:\n  target: mist-bench\n  privileges:\n    - {{role: read, scope: org}}\n    - {{role: write, scope: site, siteId: {SITE}}}\n  keySink: {{file: ../keys/mist-token-{k}.key}}\n"
        ));
    }
    docs
}

/// Writes the seed and the manifests (100 documents per file) into `dir`.
fn write_world(world: &World, dir: &Path) -> std::io::Result<()> {
    std::fs::write(dir.join("seed.yaml"), seed(world).to_string())?;
    let manifests = dir.join("manifests");
    std::fs::create_dir_all(&manifests)?;
    std::fs::create_dir_all(dir.join("keys"))?;
    std::fs::write(manifests.join("targets.yaml"), TARGETS)?;
    for (f, chunk) in documents(world).chunks(100).enumerate() {
        std::fs::write(manifests.join(format!("m{f:05}.yaml")), chunk.join("---\n"))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The sandbox process

struct Sandbox {
    child: Child,
    atlan: String,
    connect: String,
    mist: String,
    http: reqwest::Client,
}

impl Sandbox {
    fn start(seed: &Path, latency_ms: u64) -> Result<Sandbox, String> {
        let mut child = Command::new(WARRANT)
            .arg("sandbox")
            .arg("--seed")
            .arg(seed)
            .arg("--faults")
            .arg(format!("latency={latency_ms}ms"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start the sandbox: {e}"))?;
        let mut line = String::new();
        let stdout = child.stdout.take().ok_or("the sandbox has no stdout")?;
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the sandbox's first line: {e}"))?;
        let urls: Value = serde_json::from_str(&line)
            .map_err(|e| format!("the sandbox's first line is not JSON ({e}): {line:?}"))?;
        let url = |k: &str| {
            urls[k]
                .as_str()
                .map(str::to_string)
                .ok_or(format!("the sandbox did not print the {k} URL"))
        };
        Ok(Sandbox {
            atlan: url("atlan")?,
            connect: url("connect")?,
            mist: url("mist")?,
            child,
            http: reqwest::Client::new(),
        })
    }

    /// Requests counted so far, per `platform METHOD route`.
    async fn counts(&self) -> Result<BTreeMap<String, u64>, String> {
        let body: Value = self
            .http
            .get(format!("{}/_sandbox/requests", self.atlan))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("GET /_sandbox/requests: {e}"))?
            .json()
            .await
            .map_err(|e| format!("GET /_sandbox/requests: {e}"))?;
        Ok(body["counts"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Back to the seed, so the baseline starts from the same world as warrant did.
    async fn reset(&self) -> Result<(), String> {
        self.http
            .post(format!("{}/_sandbox/reset", self.atlan))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map(|_| ())
            .map_err(|e| format!("POST /_sandbox/reset: {e}"))
    }

    fn endpoints(&self) -> [String; 3] {
        [
            format!("atlan-bench={}", self.atlan),
            format!("connect-bench={}", self.connect),
            format!("mist-bench={}", self.mist),
        ]
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Requests made between two snapshots, per endpoint.
fn diff(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, n)| (k.clone(), n - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Running warrant

struct Run {
    wall: Duration,
    peak_kib: Option<u64>,
    exit: Option<i32>,
    stderr_tail: String,
}

fn run_warrant(dir: &Path, args: &[String]) -> Result<Run, String> {
    let started = Instant::now();
    let output = Command::new(WARRANT)
        .args(args)
        .current_dir(dir)
        .env("WARRANT_REPORT_PEAK_RSS", "1")
        .env("BENCH_ATLAN_KEY", ATLAN_KEY)
        .env("BENCH_CONNECT_ID", CONNECT_CLIENT)
        .env("BENCH_CONNECT_SECRET", CONNECT_SECRET)
        .env("BENCH_MIST_KEY", MIST_KEY)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run warrant: {e}"))?;
    let wall = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let peak_kib = stderr
        .lines()
        .find_map(|l| l.strip_prefix("warrant-peak-rss: "))
        .and_then(|v| v.trim_end_matches("kB").trim().parse().ok());
    let tail: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("warrant-peak-rss"))
        .collect();
    Ok(Run {
        wall,
        peak_kib,
        exit: output.status.code(),
        stderr_tail: tail[tail.len().saturating_sub(5)..].join("\n"),
    })
}

struct Row {
    n: usize,
    step: &'static str,
    requests: Option<u64>,
    bound: Option<usize>,
    wall: Duration,
    ideal: Option<Duration>,
    peak_kib: Option<u64>,
}

async fn bench_size(
    world: World,
    options: &Options,
    rows: &mut Vec<Row>,
    notes: &mut Vec<String>,
) -> Result<(), String> {
    let n = world.n;
    let scratch = tempfile::Builder::new()
        .prefix("warrant-scale-")
        .tempdir()
        .map_err(|e| format!("cannot create a scratch directory: {e}"))?;
    let kept = options.keep.as_ref().map(|k| k.join(format!("n{n}")));
    let dir = match &kept {
        Some(k) => {
            std::fs::create_dir_all(k)
                .map_err(|e| format!("cannot create {}: {e}", k.display()))?;
            k.as_path()
        }
        None => scratch.path(),
    };
    write_world(&world, dir).map_err(|e| format!("cannot write the world: {e}"))?;
    println!();
    println!(
        "N = {n}: {} ConnectionAdmins ({} API tokens, {} to update), {} AutomationIdentity ({} to change), {} OrgApiToken ({} to create)",
        world.connections,
        world.api_tokens,
        world.changed_connections(),
        world.identities,
        world.changed_identities(),
        world.mist_tokens,
        world.created_mist_tokens(),
    );
    let sandbox = Sandbox::start(&dir.join("seed.yaml"), options.latency_ms)?;
    let latency = Duration::from_millis(options.latency_ms);
    let ideal = |requests: u64| latency.mul_f64(requests as f64 / PARALLELISM as f64);
    let endpoint_args: Vec<String> = sandbox
        .endpoints()
        .into_iter()
        .flat_map(|e| ["--endpoint".to_string(), e])
        .collect();
    let parallelism = ["--parallelism".to_string(), PARALLELISM.to_string()];

    // validate: offline, no requests.
    let run = run_warrant(dir, &["validate".into(), "manifests".into()])?;
    check(&run, "validate", &[0])?;
    rows.push(Row {
        n,
        step: "validate",
        requests: None,
        bound: None,
        wall: run.wall,
        ideal: None,
        peak_kib: run.peak_kib,
    });
    report_row(rows.last());

    // plan, saved for apply.
    let mut args: Vec<String> = vec![
        "plan".into(),
        "manifests".into(),
        "--out".into(),
        "plan.json".into(),
    ];
    args.extend(endpoint_args.iter().cloned());
    args.extend(parallelism.iter().cloned());
    let before = sandbox.counts().await?;
    let run = run_warrant(dir, &args)?;
    check(&run, "plan", &[0, 2])?;
    let used = diff(&before, &sandbox.counts().await?);
    let requests: u64 = used.values().sum();
    rows.push(Row {
        n,
        step: "plan",
        requests: Some(requests),
        bound: Some(world.plan_bound()),
        wall: run.wall,
        ideal: Some(ideal(requests)),
        peak_kib: run.peak_kib,
    });
    report_row(rows.last());
    print_endpoints(&used);

    // apply the plan file, unless N is above --plan-only-above.
    let apply_requests = if n <= options.apply_up_to {
        let mut args: Vec<String> = vec![
            "apply".into(),
            "plan.json".into(),
            "--report".into(),
            "report.json".into(),
        ];
        args.extend(endpoint_args.iter().cloned());
        args.extend(parallelism.iter().cloned());
        let before = sandbox.counts().await?;
        let run = run_warrant(dir, &args)?;
        check(&run, "apply", &[0])?;
        let used = diff(&before, &sandbox.counts().await?);
        let requests: u64 = used.values().sum();
        rows.push(Row {
            n,
            step: "apply",
            requests: Some(requests),
            bound: Some(world.apply_bound()),
            wall: run.wall,
            ideal: Some(ideal(requests)),
            peak_kib: run.peak_kib,
        });
        report_row(rows.last());
        print_endpoints(&used);
        if world.updated_identities() > 0 {
            notes.push(format!(
                "N = {n}: apply reads each CONNECT identity it updates right before its PUT, to keep the window in which a foreign write could be overwritten to one round trip: {} GETs not counted in the lower bound",
                world.updated_identities()
            ));
        }
        Some((requests, run.wall))
    } else {
        notes.push(format!(
            "N = {n}: apply not run (above --plan-only-above {}); its lower bound is {} requests, {:.1} s ideal",
            options.apply_up_to,
            world.apply_bound(),
            ideal(world.apply_bound() as u64).as_secs_f64()
        ));
        None
    };

    let naive_requests = naive_request_count(&world);
    let plan_and_apply = rows
        .iter()
        .filter(|r| r.n == n && matches!(r.step, "plan" | "apply"))
        .fold((0u64, Duration::ZERO), |(q, w), r| {
            (q + r.requests.unwrap_or(0), w + r.wall)
        });
    if n <= options.naive_up_to && apply_requests.is_some() {
        sandbox.reset().await?;
        let before = sandbox.counts().await?;
        let started = Instant::now();
        naive(&world, &sandbox).await?;
        let wall = started.elapsed();
        let used = diff(&before, &sandbox.counts().await?);
        let requests: u64 = used.values().sum();
        notes.push(format!(
            "N = {n}: naive baseline (measured): {requests} requests (model {naive_requests}), {:.1} s; warrant plan+apply: {} requests, {:.1} s: {:.1}x fewer requests, {:.1}x faster",
            wall.as_secs_f64(),
            plan_and_apply.0,
            plan_and_apply.1.as_secs_f64(),
            requests as f64 / plan_and_apply.0.max(1) as f64,
            wall.as_secs_f64() / plan_and_apply.1.as_secs_f64().max(1e-9),
        ));
    } else {
        let wall = latency.mul_f64(naive_requests as f64);
        let warrant = match apply_requests {
            Some(_) => format!(
                "warrant plan+apply: {} requests, {:.1} s: {:.1}x fewer requests, {:.1}x faster",
                plan_and_apply.0,
                plan_and_apply.1.as_secs_f64(),
                naive_requests as f64 / plan_and_apply.0.max(1) as f64,
                wall.as_secs_f64() / plan_and_apply.1.as_secs_f64().max(1e-9)
            ),
            None => "warrant apply not run".into(),
        };
        notes.push(format!(
            "N = {n}: naive baseline (estimated, not run: sequential requests x latency): {naive_requests} requests, {:.0} s; {warrant}",
            wall.as_secs_f64()
        ));
    }

    // What the real APIs' default limits would cost for this world's requests.
    let atlan_reads = world.plan_bound() as f64;
    let mist_writes = world.created_mist_tokens() as f64 + 2.0;
    notes.push(format!(
        "N = {n}: with the real APIs' default limits, Atlan at {ATLAN_DEFAULT_PER_MINUTE}/minute costs at least {:.1} s for plan's reads and {:.0} s for apply's {} bulk writes; Mist at {MIST_DEFAULT_PER_HOUR}/hour per token allows apply's {} Mist requests in one hour{} (the benchmark raises both limits so latency, not limits, is measured)",
        atlan_reads * 60.0 / ATLAN_DEFAULT_PER_MINUTE,
        world.changed_connections().div_ceil(ATLAN_WRITE_BATCH) as f64 * 60.0
            / ATLAN_DEFAULT_PER_MINUTE,
        world.changed_connections().div_ceil(ATLAN_WRITE_BATCH),
        mist_writes,
        if mist_writes > MIST_DEFAULT_PER_HOUR {
            format!(
                " only if spread over {:.1} hours",
                mist_writes / MIST_DEFAULT_PER_HOUR
            )
        } else {
            String::new()
        },
    ));
    drop(sandbox);
    Ok(())
}

fn check(run: &Run, step: &str, ok: &[i32]) -> Result<(), String> {
    match run.exit {
        Some(code) if ok.contains(&code) => Ok(()),
        other => Err(format!(
            "warrant {step} exited with {other:?}:\n{}",
            run.stderr_tail
        )),
    }
}

fn print_endpoints(used: &BTreeMap<String, u64>) {
    for (endpoint, n) in used {
        println!("      {n:>7}  {endpoint}");
    }
}

fn report_row(row: Option<&Row>) {
    if let Some(row) = row {
        println!("  {}", format_row(row));
    }
}

const HEADER: &str = "|       N | step     | requests | lower bound | ratio |   wall s |  ideal s | ratio | peak MB |";
const RULE: &str = "|--------:|----------|---------:|------------:|------:|---------:|---------:|------:|--------:|";

fn format_row(row: &Row) -> String {
    let mut s = String::new();
    let dash = || "-".to_string();
    let requests = row.requests.map(|r| r.to_string()).unwrap_or_else(dash);
    let bound = row.bound.map(|b| b.to_string()).unwrap_or_else(dash);
    let ratio = match (row.requests, row.bound) {
        (Some(r), Some(b)) if b > 0 => format!("{:.2}", r as f64 / b as f64),
        _ => dash(),
    };
    let ideal = row
        .ideal
        .map(|i| format!("{:.2}", i.as_secs_f64()))
        .unwrap_or_else(dash);
    let wall_ratio = match row.ideal {
        Some(i) if !i.is_zero() => format!("{:.2}", row.wall.as_secs_f64() / i.as_secs_f64()),
        _ => dash(),
    };
    let peak = row
        .peak_kib
        .map(|k| format!("{:.1}", k as f64 / 1024.0))
        .unwrap_or_else(dash);
    let _ = write!(
        s,
        "| {:>7} | {:<8} | {requests:>8} | {bound:>11} | {ratio:>5} | {:>8.2} | {ideal:>8} | {wall_ratio:>5} | {peak:>7} |",
        row.n,
        row.step,
        row.wall.as_secs_f64(),
    );
    s
}

fn print_table(rows: &[Row]) {
    println!("{HEADER}");
    println!("{RULE}");
    for row in rows {
        println!("{}", format_row(row));
    }
}

// ---------------------------------------------------------------------------------------------
// The naive baseline: what a script on the official SDKs does today. Sequential; per object one
// read of the object, per reference one lookup, one write per changed object.

/// The requests the naive baseline makes for this world (the same count `naive` makes).
fn naive_request_count(world: &World) -> u64 {
    let atlan = world.connections * (3 + 1) + world.changed_connections();
    let live = world.live_identities();
    let connect = 1
        + live.div_ceil(CONNECT_PAGE).max(1)
        + if live.is_multiple_of(CONNECT_PAGE) && live > 0 {
            1
        } else {
            0
        }
        + world.identities
        + live
        + world.changed_identities();
    let mist = world.mist_tokens + world.created_mist_tokens();
    (atlan + connect + mist) as u64
}

async fn naive(world: &World, sandbox: &Sandbox) -> Result<(), String> {
    let http = &sandbox.http;
    let fail = |what: &str, e: reqwest::Error| format!("naive baseline: {what}: {e}");
    let get_json = |request: reqwest::RequestBuilder, what: &'static str| async move {
        request
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| fail(what, e))?
            .json::<Value>()
            .await
            .map_err(|e| fail(what, e))
    };

    // Atlan: per grant one token lookup, per connection one read, one bulk write of one entity.
    let bearer = format!("Bearer {ATLAN_KEY}");
    for i in 0..world.connections {
        let mut wanted = Vec::new();
        for t in world.tokens_of(i) {
            let filter = json!({"displayName": format!("token-{t}")}).to_string();
            let page = get_json(
                http.get(format!("{}/api/service/apikeys", sandbox.atlan))
                    .header("Authorization", &bearer)
                    .query(&[("filter", filter.as_str()), ("limit", "5")]),
                "token lookup",
            )
            .await?;
            let client = page["records"][0]["clientId"]
                .as_str()
                .ok_or("naive baseline: token not found")?;
            wanted.push(format!("service-account-{client}"));
        }
        let qualified_name = format!("default/snowflake/{i}");
        let entity = get_json(
            http.get(format!(
                "{}/api/meta/entity/uniqueAttribute/type/Connection",
                sandbox.atlan
            ))
            .header("Authorization", &bearer)
            .query(&[("attr:qualifiedName", qualified_name.as_str())]),
            "connection read",
        )
        .await?;
        let mut admins: Vec<String> = entity["entity"]["attributes"]["adminUsers"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let missing: Vec<String> = wanted.into_iter().filter(|w| !admins.contains(w)).collect();
        if !missing.is_empty() {
            admins.extend(missing);
            let body = json!({"entities": [{"typeName": "Connection", "attributes": {
                "qualifiedName": qualified_name, "name": format!("conn-{i}"), "adminUsers": admins}}]});
            get_json(
                http.post(format!("{}/api/meta/entity/bulk", sandbox.atlan))
                    .header("Authorization", &bearer)
                    .json(&body),
                "connection write",
            )
            .await?;
        }
    }

    // CONNECT: a token; one list scan to learn ids by name (there is no lookup by name); per
    // identity one role list (to resolve its role names) and one read; one write per change.
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("client_id", CONNECT_CLIENT)
        .append_pair("client_secret", CONNECT_SECRET)
        .finish();
    let token = get_json(
        http.post(format!("{}/identity/connect/token", sandbox.connect))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form),
        "connect token",
    )
    .await?;
    let bearer = format!(
        "Bearer {}",
        token["access_token"]
            .as_str()
            .ok_or("naive baseline: no access_token")?
    );
    let tenant = format!("{}/api/v1/Tenants/{TENANT}", sandbox.connect);
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    loop {
        let skip = ids.len().to_string();
        let page = get_json(
            http.get(format!("{tenant}/AutomationIdentities"))
                .header("Authorization", &bearer)
                .query(&[("skip", skip.as_str()), ("count", "1000")]),
            "identity list",
        )
        .await?;
        let items = page.as_array().cloned().unwrap_or_default();
        for item in &items {
            if let (Some(name), Some(id)) = (item["Name"].as_str(), item["Id"].as_str()) {
                ids.insert(name.to_string(), id.to_string());
            }
        }
        if items.len() < CONNECT_PAGE {
            break;
        }
    }
    for j in 0..world.identities {
        let roles = get_json(
            http.get(format!("{tenant}/Roles"))
                .header("Authorization", &bearer)
                .query(&[("skip", "0"), ("count", "1000")]),
            "role list",
        )
        .await?;
        let role_id = |name: &str| {
            roles
                .as_array()
                .and_then(|a| a.iter().find(|r| r["Name"] == name))
                .and_then(|r| r["Id"].as_str().map(str::to_string))
                .ok_or(format!("naive baseline: no role {name}"))
        };
        let wanted_roles = vec![
            role_id("Tenant Member")?,
            role_id(&format!("Custom Role {}", j % CUSTOM_ROLES))?,
        ];
        let wanted_tags = identity_tags(j);
        let name = format!("identity-{j}");
        match ids.get(&name) {
            Some(id) => {
                let live = get_json(
                    http.get(format!("{tenant}/AutomationIdentities/{id}"))
                        .header("Authorization", &bearer),
                    "identity read",
                )
                .await?;
                let list = |key: &str| -> Vec<String> {
                    live[key]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|v| v.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default()
                };
                let (mut role_ids, mut tags) = (list("RoleIds"), list("Tags"));
                let before = (role_ids.len(), tags.len());
                for r in wanted_roles {
                    if !role_ids.contains(&r) {
                        role_ids.push(r);
                    }
                }
                for t in wanted_tags {
                    if !tags.contains(&t) {
                        tags.push(t);
                    }
                }
                if (role_ids.len(), tags.len()) != before {
                    http.put(format!("{tenant}/AutomationIdentities/{id}"))
                        .header("Authorization", &bearer)
                        .json(&json!({"RoleIds": role_ids, "Tags": tags}))
                        .send()
                        .await
                        .and_then(|r| r.error_for_status())
                        .map_err(|e| fail("identity update", e))?;
                }
            }
            None => {
                get_json(
                    http.post(format!("{tenant}/AutomationIdentities"))
                        .header("Authorization", &bearer)
                        .json(&json!({"Name": name, "RoleIds": wanted_roles, "Tags": wanted_tags})),
                    "identity create",
                )
                .await?;
            }
        }
    }

    // Mist: per token one read of the token list (there is no lookup by name); one create.
    let auth = format!("Token {MIST_KEY}");
    let tokens_url = format!("{}/api/v1/orgs/{ORG}/apitokens", sandbox.mist);
    for k in 0..world.mist_tokens {
        let name = format!("mist-token-{k}");
        let list = get_json(
            http.get(&tokens_url).header("Authorization", &auth),
            "mist token list",
        )
        .await?;
        let exists = list
            .as_array()
            .is_some_and(|a| a.iter().any(|t| t["name"] == name.as_str()));
        if !exists {
            get_json(
                http.post(&tokens_url).header("Authorization", &auth).json(
                    &json!({"name": name, "privileges": [
                        {"role": "read", "scope": "org"},
                        {"role": "write", "scope": "site", "site_id": SITE}]}),
                ),
                "mist token create",
            )
            .await?;
        }
    }
    Ok(())
}
