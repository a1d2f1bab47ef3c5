//! `WARRANT_LOG`: the real binary logs each HTTP request (method, URL, status, timing) to
//! stderr when asked, stays quiet when not, and never logs a credential.

use crate::support::*;

/// Every credential the run holds or is given: the three configured secrets and the
/// header forms they travel in.
fn assert_no_credentials(stderr: &str) {
    for secret in [ATLAN_KEY, CONNECT_SECRET, MIST_KEY] {
        assert!(
            !stderr.contains(secret),
            "a credential was logged:\n{stderr}"
        );
    }
    // CONNECT access tokens are issued by the sandbox as `sbx.<random>`; Atlan and CONNECT
    // send `Bearer`, Mist `Token`: none of it may show.
    for marker in ["sbx.", "Bearer", "Token ", "authorization", "Authorization"] {
        assert!(
            !stderr.contains(marker),
            "`{marker}` appears in the log:\n{stderr}"
        );
    }
}

fn plan_with_log(world: &World, level: Option<&str>) -> Output {
    let mut args = vec!["plan", "manifests"];
    let endpoints = world.endpoint_args();
    args.extend(endpoints.iter().map(String::as_str));
    match level {
        Some(level) => warrant_with_log(world, &args, level),
        None => world.warrant(&args),
    }
}

/// `World::warrant` with `WARRANT_LOG` set, the same credentials in the environment only.
fn warrant_with_log(world: &World, args: &[&str], level: &str) -> Output {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_warrant"))
        .current_dir(world.dir())
        .args(args)
        .env("ATLAN_API_KEY", ATLAN_KEY)
        .env("CONNECT_CLIENT_ID", CONNECT_ID)
        .env("CONNECT_CLIENT_SECRET", CONNECT_SECRET)
        .env("MIST_API_TOKEN", MIST_KEY)
        .env("NO_COLOR", "1")
        .env("WARRANT_LOG", level)
        .output()
        .unwrap();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warrant_log_debug_shows_each_request_with_status_and_timing_but_no_credential() {
    let world = World::example().await;

    let out = plan_with_log(&world, Some("debug"));

    assert_eq!(out.code, 0, "{out:#?}");
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("request=") && l.contains("status="))
        .collect();
    // One line per platform at least, each with the method, the full URL, status and time.
    for (base, method) in [
        (&world.sandbox.atlan, "GET"),
        (&world.sandbox.connect, "POST"),
        (&world.sandbox.mist, "GET"),
    ] {
        let base = base.trim_end_matches('/');
        assert!(
            lines
                .iter()
                .any(|l| l.contains(&format!("{method} {base}/"))
                    && l.contains("status=200")
                    && l.contains("elapsed_ms=")),
            "no `{method} {base}/… status=200 elapsed_ms=…` line in:\n{}",
            out.stderr
        );
    }
    assert!(out.stderr.contains("DEBUG"), "{}", out.stderr);
    assert_no_credentials(&out.stderr);
    assert_no_credentials(&out.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_warrant_log_nothing_is_logged() {
    let world = World::example().await;

    let out = plan_with_log(&world, None);

    assert_eq!(out.code, 0, "{out:#?}");
    assert!(!out.stderr.contains("request="), "{}", out.stderr);
    assert!(!out.stderr.contains("DEBUG"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_warrant_log_is_a_warning_and_the_command_still_runs() {
    let world = World::example().await;

    let out = plan_with_log(&world, Some("warrant=loud"));

    assert_eq!(out.code, 0, "{out:#?}");
    assert!(
        out.stderr
            .contains("WARRANT_LOG=warrant=loud is not a valid log filter"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("request="), "{}", out.stderr);
}
