//! `warrant demo` as a newcomer runs it: a subprocess with no credentials in its environment.
//! It must succeed, show the expected plan, converge, and never print a secret — neither the
//! seed's credentials nor the Mist keys created during the demo.

use std::process::Command;
use std::time::{Duration, Instant};

use warrant::sandbox::Seed;

#[test]
fn demo_runs_the_whole_story_and_prints_no_secret() {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_warrant"))
        .args(["demo", "--keep"])
        .env_remove("ATLAN_API_KEY")
        .env_remove("CONNECT_CLIENT_ID")
        .env_remove("CONNECT_CLIENT_SECRET")
        .env_remove("MIST_API_TOKEN")
        .env("NO_COLOR", "1")
        .output()
        .expect("run warrant demo");
    // Issue 7: the demo finishes in under 10 s. A generous sanity bound, not a benchmark (it
    // normally takes well under a second, in a debug build too).
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "demo failed: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    assert!(
        elapsed < Duration::from_secs(10),
        "the demo took {elapsed:?}, more than 10 s"
    );

    // The first plan: the example world needs 4 creates and 3 updates, and one Atlan change
    // is a conflict: warrant-bot is a workspace admin but not an admin of that connection.
    assert!(
        stdout
            .contains(": 4 to create, 3 to update, 1 conflicts; 3 objects with undeclared access"),
        "first plan summary missing:\n{stdout}"
    );
    // The demo says that it changed the example's `gh` sink, and to what.
    assert!(
        stdout.contains(
            "note: for the demo, the key of OrgApiToken/installer-app goes to keys/installer-app.key in the demo's directory instead of the command `gh secret set MIST_INSTALLER_KEY`"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("is not an admin of connection default/postgres/1700000004"),
        "{stdout}"
    );
    assert!(
        stdout.contains("a connection admin must apply this"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Apply incomplete: 7 applied, 1 conflict-skipped"),
        "{stdout}"
    );
    // The way out: jsmith, an admin of that connection, applies the one change left.
    let way_out = stdout
        .split("== 4. the way out")
        .nth(1)
        .and_then(|s| s.split("== 5.").next())
        .expect("the demo shows the way out");
    assert!(
        way_out.contains("0 to create, 1 to update, 0 conflicts"),
        "{way_out}"
    );
    assert!(way_out.contains("Apply complete: 1 applied"), "{way_out}");
    // The last plan has nothing left to do.
    let second = stdout
        .split("== 5. plan again")
        .nth(1)
        .expect("the demo prints a last plan");
    assert!(second.contains("No changes."), "last plan:\n{second}");
    assert!(second.contains("0 to create, 0 to update, 0 conflicts"));
    // Drift names the undeclared admins of the seed, which stay in place.
    assert!(stdout.contains("legacy-etl"));
    assert!(stdout.contains("data-engineers"));

    // No credential of the seed, and no key created during the demo, is ever printed.
    let seed = Seed::example();
    let mut secrets: Vec<String> = seed
        .atlan
        .callers
        .iter()
        .map(|c| c.api_key.clone())
        .collect();
    for tenant in &seed.connect.tenants {
        secrets.extend(tenant.clients.iter().map(|c| c.client_secret.clone()));
    }
    for org in &seed.mist.orgs {
        secrets.extend(org.api_tokens.iter().map(|t| t.key.clone()));
    }
    let kept = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("(the demo's files are kept in "))
        .and_then(|l| l.strip_suffix(')'))
        .expect("--keep names the kept directory");
    let keys_dir = std::path::Path::new(kept).join("keys");
    let mut created = 0;
    for entry in std::fs::read_dir(&keys_dir).expect("the key directory exists") {
        let key = std::fs::read_to_string(entry.expect("entry").path()).expect("read key");
        assert!(key.len() >= 16, "a created key looks too short");
        secrets.push(key);
        created += 1;
    }
    assert_eq!(
        created, 2,
        "two Mist tokens are created, each key in its sink"
    );
    for secret in &secrets {
        assert!(!stdout.contains(secret.as_str()), "stdout leaks a secret");
        assert!(!stderr.contains(secret.as_str()), "stderr leaks a secret");
    }
    let plan = std::fs::read_to_string(std::path::Path::new(kept).join("plan.json"))
        .expect("the demo saves its plan");
    for secret in &secrets {
        assert!(
            !plan.contains(secret.as_str()),
            "the plan file leaks a secret"
        );
    }
    let _ = std::fs::remove_dir_all(kept);
}
