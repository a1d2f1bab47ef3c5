//! The official Python SDKs work against the sandbox unchanged (issue 3): pyatlan looks up a
//! token by name (and by clientId and GUID), reads a Connection by qualifiedName, saves it with
//! an appended admin user and saves it again as a no-op;
//! mistapi lists, creates and gets org API tokens.
//!
//! The SDKs are pip-installed at pinned versions into a venv under `target/sdk-venv`, reused
//! while it still imports exactly those versions. Each scenario starts the sandbox in-process on
//! 127.0.0.1 with OS-chosen ports, runs a script from `tests/sdk/` with the venv's python
//! (credentials from examples/WORLD.md in the environment), parses the one `SDK_RESULT <json>`
//! line it prints, and checks the sandbox's own state afterwards. A missing Python or pip, or a
//! failed install, fails the test with the reason: it never passes without running the SDKs.
//! `sdk_python_workflows.rs` uses the same machinery for its own venv (pyatlan 10.0.0).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;
use warrant::sandbox::{self, Faults, SandboxHandle, Seed};

use crate::support::{ATLAN_KEY, MIST_KEY};
use crate::tools::{find_python, lock_tool, pip_install, run, tail, target_dir};

/// The SDK versions under test. Changing one rebuilds its venv on the next run.
const PYATLAN: &str = "11.6.0";
const MISTAPI: &str = "0.64.1";
/// mistapi 0.64 needs Python 3.10 (pyatlan 11.6 and 10.0 need 3.9.1).
const MIN_PYTHON: (u32, u32) = (3, 10);

const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

// The example world (examples/WORLD.md).
const CI_PIPELINE_CLIENT_ID: &str = "apikey-ac69de56-6529-4c8f-b53c-791cb5346308";
const CI_PIPELINE_GUID: &str = "92588c67-5ddf-4a45-8b5c-dd92f4b84e99";
const BIGQUERY_QN: &str = "default/bigquery/1700000002";
const BIGQUERY_GUID: &str = "11111111-2222-4333-8444-555555555502";
const MIST_ORG: &str = "a40f5d1f-d889-42e9-94ea-b9b33585fc6b";

// ---------------------------------------------------------------------------------------------
// The venvs

/// Pinned packages installed together in one venv under `target/`: (distribution, version).
pub(crate) struct Venv {
    pub(crate) dir: &'static str,
    pub(crate) packages: &'static [(&'static str, &'static str)],
}

/// pyatlan 11.6 and mistapi, for the SDK scenarios of this module.
const SDK_VENV: Venv = Venv {
    dir: "sdk-venv",
    packages: &[("pyatlan", PYATLAN), ("mistapi", MISTAPI)],
};

impl Venv {
    /// `"a==1 b==2"`, as installed and as checked.
    fn pins(&self) -> Vec<String> {
        self.packages
            .iter()
            .map(|(name, version)| format!("{name}=={version}"))
            .collect()
    }
}

/// The python of `venv`, set up once per test process (other tests wait for it): `cell` is the
/// venv's own static.
pub(crate) fn python_of(
    cell: &'static OnceLock<Result<PathBuf, String>>,
    venv: &Venv,
) -> &'static Path {
    match cell.get_or_init(|| prepare_venv(venv)) {
        Ok(python) => python,
        Err(why) => panic!("cannot run the Python SDK tests: {why}"),
    }
}

pub(crate) fn venv_python() -> &'static Path {
    static VENV: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    python_of(&VENV, &SDK_VENV)
}

fn python_in(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    }
}

fn prepare_venv(spec: &Venv) -> Result<PathBuf, String> {
    let venv = target_dir().join(spec.dir);
    let python = python_in(&venv);
    let pins = spec.pins();
    let wanted = pins.join(" ");
    // Another `cargo test` process may be building the same venv.
    let _lock = lock_tool(spec.dir)?;

    if installed_versions(&python, spec).as_deref() == Some(wanted.as_str()) {
        eprintln!("sdk_python: reusing {venv:?} ({wanted})");
        return Ok(python);
    }

    let base = find_python(MIN_PYTHON)?;
    eprintln!("sdk_python: creating {venv:?} with {base}");
    let started = Instant::now();
    let created = run(
        Command::new(&base)
            .args(["-m", "venv", "--clear"])
            .arg(&venv),
        Duration::from_secs(120),
    )?;
    if !created.status.success() {
        return Err(format!(
            "`{base} -m venv` failed (is the venv module / python3-venv installed?):\n{}",
            tail(&created)
        ));
    }

    eprintln!("sdk_python: pip install {wanted} (about a minute on a fresh venv)");
    pip_install(&python, None, &pins)?;
    eprintln!(
        "sdk_python: {venv:?} built in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    match installed_versions(&python, spec) {
        Some(v) if v == wanted => Ok(python),
        other => Err(format!(
            "after pip install the venv has {other:?}, not {wanted}"
        )),
    }
}

/// `"a==1 b==2"` when every package of `spec` imports in this python, else `None`.
fn installed_versions(python: &Path, spec: &Venv) -> Option<String> {
    if !python.exists() {
        return None;
    }
    let names: Vec<String> = spec
        .packages
        .iter()
        .map(|(name, _)| format!("{name:?}"))
        .collect();
    let script = format!(
        "import importlib, importlib.metadata as m\n\
         names = [{}]\n\
         for n in names: importlib.import_module(n)\n\
         print(' '.join(n + '==' + m.version(n) for n in names))",
        names.join(", ")
    );
    let out = run(
        Command::new(python).args(["-c", &script]),
        Duration::from_secs(120),
    )
    .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Runs `tests/sdk/<script>` with the SDK venv's python.
fn run_script(script: &str, env: &[(&str, &str)]) -> (Value, String) {
    run_script_in(venv_python(), script, &[], env)
}

/// Runs `tests/sdk/<script> <args>` with `python` and returns its `SDK_RESULT` JSON and whole
/// output (to check that no secret was printed).
pub(crate) fn run_script_in(
    python: &Path,
    script: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Value, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("sdk")
        .join(script);
    let workdir = tempfile::tempdir().expect("temp dir");
    let mut cmd = Command::new(python);
    cmd.arg(&path)
        .args(args)
        .current_dir(workdir.path())
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost");
    // Settings the SDKs read from the environment would override or bypass the sandbox.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().to_string();
        let upper = key.to_ascii_uppercase();
        if upper.ends_with("_PROXY") && upper != "NO_PROXY"
            || upper.starts_with("MIST_")
            || upper.starts_with("ATLAN_")
        {
            cmd.env_remove(&key);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = run(&mut cmd, SCRIPT_TIMEOUT).unwrap_or_else(|e| panic!("{script}: {e}"));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{script} failed ({}):\n{}",
        out.status,
        tail(&out)
    );
    let line = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("SDK_RESULT ").map(str::to_string))
        .unwrap_or_else(|| panic!("{script} printed no SDK_RESULT line:\n{}", tail(&out)));
    let result = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("{script}: SDK_RESULT is not JSON ({e}): {line}"));
    (result, all)
}

fn start_sandbox() -> (tokio::runtime::Runtime, SandboxHandle) {
    start_sandbox_with(Seed::example())
}

/// A sandbox on its own runtime, so the test thread can block on the script meanwhile.
pub(crate) fn start_sandbox_with(seed: Seed) -> (tokio::runtime::Runtime, SandboxHandle) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let handle = rt
        .block_on(sandbox::start(seed, Faults::default()))
        .expect("sandbox starts");
    (rt, handle)
}

pub(crate) fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn connection<'a>(state: &'a Value, qn: &str) -> &'a Value {
    state["atlan"]["connections"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["qualifiedName"] == qn))
        .unwrap_or_else(|| panic!("no connection {qn} in the sandbox state"))
}

/// Every connection but `changed` is as it was; `changed` kept its other fields, and its admin
/// users are the old ones plus exactly `added` (which it must not have had).
pub(crate) fn assert_only_appended(before: &Value, after: &Value, changed: &str, added: &str) {
    let was = connection(before, changed);
    let now = connection(after, changed);
    let mut expected = strings(&was["adminUsers"]);
    assert!(
        expected.insert(added.to_string()),
        "{added} was already an admin of {changed}: the test would prove nothing"
    );
    assert_eq!(strings(&now["adminUsers"]), expected, "{changed}");
    for field in [
        "guid",
        "name",
        "connectorName",
        "category",
        "adminGroups",
        "adminRoles",
    ] {
        assert_eq!(now[field], was[field], "{changed}: {field} changed");
    }
    let connections = |state: &Value| state["atlan"]["connections"].as_array().cloned();
    for (b, a) in connections(before)
        .into_iter()
        .flatten()
        .zip(connections(after).into_iter().flatten())
    {
        if b["qualifiedName"] != changed {
            assert_eq!(b, a, "another connection changed");
        }
    }
    assert_eq!(before["atlan"]["apiTokens"], after["atlan"]["apiTokens"]);
}

// ---------------------------------------------------------------------------------------------
// The scenarios

#[test]
fn pyatlan_finds_a_token_reads_a_connection_and_appends_an_admin() {
    venv_python();
    let (_rt, sb) = start_sandbox();
    let before = sb.state();

    let (result, output) = run_script(
        "atlan_connection_admin.py",
        &[
            ("ATLAN_BASE_URL", &sb.atlan),
            ("ATLAN_API_KEY", ATLAN_KEY),
            ("TOKEN_NAME", "ci-pipeline"),
            ("CONNECTION_QN", BIGQUERY_QN),
        ],
    );
    assert!(!output.contains(ATLAN_KEY), "the API key was printed");

    // What the SDK parsed from the sandbox's responses.
    assert_eq!(result["token"]["displayName"], "ci-pipeline", "{result}");
    assert_eq!(
        result["token"]["clientId"], CI_PIPELINE_CLIENT_ID,
        "{result}"
    );
    assert_eq!(result["token"]["guid"], CI_PIPELINE_GUID, "{result}");
    assert_eq!(result["byIdGuid"], CI_PIPELINE_GUID, "{result}");
    assert_eq!(result["byGuidClientId"], CI_PIPELINE_CLIENT_ID, "{result}");
    let service_account = format!("service-account-{CI_PIPELINE_CLIENT_ID}");
    assert_eq!(result["serviceAccount"], service_account.as_str());
    assert_eq!(result["connection"]["guid"], BIGQUERY_GUID, "{result}");
    assert_eq!(result["connection"]["qualifiedName"], BIGQUERY_QN);
    let seeded = connection(&before, BIGQUERY_QN);
    assert_eq!(result["connection"]["name"], seeded["name"]);
    assert_eq!(
        strings(&result["connection"]["adminUsersBefore"]),
        strings(&seeded["adminUsers"]),
        "the SDK read different admin users than the sandbox holds"
    );
    assert_eq!(result["mutation"]["types"], serde_json::json!(["UPDATE"]));
    assert_eq!(
        result["mutation"]["updated"],
        serde_json::json!([BIGQUERY_GUID])
    );
    assert_eq!(result["mutation"]["created"], serde_json::json!([]));
    assert_eq!(result["repeat"]["types"], serde_json::json!([]), "{result}");
    assert_eq!(
        result["repeat"]["guidAssignments"],
        serde_json::json!([BIGQUERY_GUID])
    );

    // What the sandbox holds now: the admin appended, nothing else lost or changed.
    assert_only_appended(&before, &sb.state(), BIGQUERY_QN, &service_account);

    // The SDK reached the sandbox on the routes of contracts/atlan.md.
    let counts = sb.request_counts();
    let expected = [
        ("atlan GET /api/service/apikeys", 3),
        (
            "atlan GET /api/meta/entity/uniqueAttribute/type/{type_name}",
            1,
        ),
    ];
    for (route, n) in expected {
        assert_eq!(counts.get(route), Some(&n), "{route}: {counts:?}");
    }
    let bulk: u64 = counts
        .iter()
        .filter(|(k, _)| k.starts_with("atlan POST /api/meta/entity/bulk"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(bulk, 2, "{counts:?}");
}

#[test]
fn mistapi_lists_creates_and_gets_org_api_tokens() {
    venv_python();
    let (_rt, sb) = start_sandbox();
    let before = sb.state();
    let seeded: Vec<&Value> = before["mist"]["orgs"][0]["apiTokens"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    assert!(!seeded.is_empty());

    let (result, output) = run_script(
        "mist_org_apitokens.py",
        &[
            ("SANDBOX_MIST_URL", &sb.mist),
            ("MIST_SANDBOX_TOKEN", MIST_KEY),
            ("MIST_ORG_ID", MIST_ORG),
            ("NEW_TOKEN_NAME", "sdk-probe"),
        ],
    );
    assert!(!output.contains(MIST_KEY), "the API key was printed");

    // List: every seeded token, keys masked `abcd...wxyz`.
    let listed = result["listed"].as_array().expect("listed is a list");
    let names: BTreeSet<&str> = listed.iter().filter_map(|t| t["name"].as_str()).collect();
    let seeded_names: BTreeSet<&str> = seeded.iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, seeded_names);
    for t in listed {
        assert_eq!(t["key"]["masked"], true, "unmasked key in list: {t}");
        assert_eq!(t["key"]["length"], 11, "{t}");
        assert_eq!(t["org_id"], MIST_ORG, "{t}");
        assert!(!t["privileges"].as_array().is_none_or(Vec::is_empty), "{t}");
    }

    // Create: the full key, once.
    let created = &result["created"];
    let id = created["id"].as_str().expect("created id").to_string();
    assert_eq!(created["name"], "sdk-probe");
    assert_eq!(created["key"]["present"], true, "{created}");
    assert_eq!(created["key"]["masked"], false, "{created}");
    assert!(created["key"]["length"].as_u64() > Some(11), "{created}");

    // Get: the same token, key masked again, privileges present.
    let fetched = &result["fetched"];
    assert_eq!(fetched["id"], id.as_str());
    assert_eq!(fetched["name"], "sdk-probe");
    assert_eq!(fetched["key"]["masked"], true, "{fetched}");
    assert_eq!(fetched["key"]["length"], 11);
    assert_eq!(
        fetched["privileges"],
        serde_json::json!([{"scope": "org", "role": "read", "org_id": MIST_ORG}])
    );

    // The sandbox holds the new token and every seeded one.
    let after = sb.state();
    let tokens = after["mist"]["orgs"][0]["apiTokens"]
        .as_array()
        .expect("tokens");
    assert_eq!(tokens.len(), seeded.len() + 1);
    let stored = tokens
        .iter()
        .find(|t| t["id"] == id.as_str())
        .expect("created token stored");
    assert_eq!(stored["name"], "sdk-probe");
    for t in &seeded {
        assert!(
            tokens.iter().any(|n| n["id"] == t["id"]),
            "lost {}",
            t["name"]
        );
    }

    // mistapi validated its token with /self, then made the three calls.
    let counts = sb.request_counts();
    for route in [
        "mist GET /api/v1/self",
        "mist GET /api/v1/orgs/{org_id}/apitokens",
        "mist POST /api/v1/orgs/{org_id}/apitokens",
        "mist GET /api/v1/orgs/{org_id}/apitokens/{apitoken_id}",
    ] {
        assert_eq!(counts.get(route), Some(&1), "{route}: {counts:?}");
    }
    assert_eq!(result["requestCount"], 3);
}
