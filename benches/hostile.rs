//! Hostile servers, measured: for each anomaly class and platform, the time until `warrant`
//! gives up and its peak memory, with the default options (issue 13, "Measure and note").
//!
//! `cargo bench --bench hostile` runs every class; `-- --quick` leaves out the slow drip and
//! the stall, which by design take the default timeouts (15 s and about 20 s).
//!
//! Each run starts the sandbox (the example seed) in this process behind the scripted proxies
//! of `tests/it/fake_server.rs`, installs one anomaly from `tests/it/hostile_scripts.rs`,
//! writes the example manifests to a scratch directory and runs the `warrant` binary as a
//! subprocess with its credentials in the environment only: `plan` for read anomalies,
//! `apply --auto-approve` for echo-only writes. It prints the wall time until the process
//! exits, its exit code, its peak resident memory (`VmHWM`, printed by the binary itself when
//! `WARRANT_REPORT_PEAK_RSS=1`) and the first line of its error. The baseline row is the same
//! run without an anomaly. This is a program that prints numbers, not a test.

#[path = "../tests/it/fake_server.rs"]
mod fake_server;
#[path = "../tests/it/hostile_scripts.rs"]
mod hostile_scripts;
#[path = "../tests/it/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use fake_server::FakeServer;
use hostile_scripts::*;
use support::{ATLAN_KEY, example_manifests, variables};
use warrant::sandbox::{self, Faults, Seed};

const WARRANT: &str = env!("CARGO_BIN_EXE_warrant");

/// One anomaly class, installed on one platform's proxy.
struct Class {
    name: &'static str,
    /// `plan`, or `apply` for anomalies of writes.
    apply: bool,
    /// Takes the default timeouts; left out by `--quick`.
    slow: bool,
    install: fn(&FakeServer, Platform),
}

const CLASSES: &[Class] = &[
    Class {
        name: "none (baseline)",
        apply: false,
        slow: false,
        install: |_, _| {},
    },
    Class {
        name: "null list on the list read",
        apply: false,
        slow: false,
        install: |fake, platform| unknown_list_in_listing(fake, platform, Unknown::Null),
    },
    Class {
        name: "short page before the total",
        apply: false,
        slow: false,
        install: short_page,
    },
    Class {
        name: "repeated page",
        apply: false,
        slow: false,
        install: repeated_page,
    },
    Class {
        name: "endless next page",
        apply: false,
        slow: false,
        install: |fake, platform| {
            endless_pages(fake, platform, None, None);
        },
    },
    Class {
        name: "endless pages, total fits",
        apply: false,
        slow: false,
        // 99,999 fits 100 pages of 1,000 (CONNECT), of 1,001 (Atlan) and, for Mist, of 100
        // only if it is 9,999: each platform walks its whole page bound.
        install: |fake, platform| {
            let stated = match platform {
                Platform::Mist => 9_999,
                Platform::Atlan | Platform::Connect => 99_999,
            };
            endless_pages(fake, platform, None, Some(stated));
        },
    },
    Class {
        name: "lying total (one more)",
        apply: false,
        slow: false,
        install: |fake, platform| Lie::OneMore.tell_on(fake, platform),
    },
    Class {
        name: "lying total (absurd)",
        apply: false,
        slow: false,
        install: |fake, platform| Lie::Absurd.tell_on(fake, platform),
    },
    Class {
        name: "oversized body (endless)",
        apply: false,
        slow: false,
        install: oversized_body,
    },
    Class {
        name: "huge Retry-After",
        apply: false,
        slow: false,
        install: retry_after_forever,
    },
    Class {
        name: "echo-only writes (apply)",
        apply: true,
        slow: false,
        install: echo_writes,
    },
    Class {
        name: "slow drip (1 byte / 20 ms)",
        apply: false,
        slow: true,
        install: |fake, platform| drip_listing(fake, platform, Duration::from_millis(20)),
    },
    Class {
        name: "stall after the first byte",
        apply: false,
        slow: true,
        install: |fake, platform| drip_listing(fake, platform, Duration::from_secs(3600)),
    },
];

struct Measured {
    wall: Duration,
    exit: Option<i32>,
    peak_kib: Option<u64>,
    error: String,
}

async fn measure(class: &Class, platform: Platform) -> Measured {
    let sandbox = sandbox::start(Seed::example(), Faults::default())
        .await
        .expect("sandbox");
    let atlan = FakeServer::start(&sandbox.atlan).await;
    let connect = FakeServer::start(&sandbox.connect).await;
    let mist = FakeServer::start(&sandbox.mist).await;
    let fake = match platform {
        Platform::Atlan => &atlan,
        Platform::Connect => &connect,
        Platform::Mist => &mist,
    };
    (class.install)(fake, platform);

    let scratch = tempfile::tempdir().expect("scratch");
    let dir = scratch.path().join("manifests");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(scratch.path().join("keys")).unwrap();
    for (name, text) in example_manifests() {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let mut args: Vec<String> = if class.apply {
        vec!["apply".into(), "manifests".into(), "--auto-approve".into()]
    } else {
        vec!["plan".into(), "manifests".into()]
    };
    for (target, url) in [
        ("atlan-prod", &atlan.url),
        ("connect-prod", &connect.url),
        ("mist-prod", &mist.url),
    ] {
        args.push("--endpoint".into());
        args.push(format!("{target}={url}"));
    }
    let started = Instant::now();
    let output = tokio::process::Command::new(WARRANT)
        .args(&args)
        .current_dir(scratch.path())
        .envs(variables(ATLAN_KEY))
        .env("WARRANT_REPORT_PEAK_RSS", "1")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("run warrant");
    let wall = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let peak_kib = stderr
        .lines()
        .find_map(|l| l.strip_prefix("warrant-peak-rss: "))
        .and_then(|v| v.trim_end_matches("kB").trim().parse().ok());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let error = stderr
        .lines()
        .chain(stdout.lines())
        .find(|l| {
            l.contains("error")
                || l.contains("unreadable")
                || l.contains("failed")
                || l.contains("target ")
        })
        .unwrap_or("")
        .trim()
        .chars()
        .take(110)
        .collect();
    sandbox.shutdown().await;
    Measured {
        wall,
        exit: output.status.code(),
        peak_kib,
        error,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    println!("warrant against hostile servers, default options (ClientOptions::default())");
    println!(
        "{:<30} {:<8} {:>4} {:>9} {:>9}  first error line",
        "anomaly", "platform", "exit", "time", "peak MiB"
    );
    for class in CLASSES.iter().filter(|c| !(quick && c.slow)) {
        for platform in PLATFORMS {
            let m = measure(class, platform).await;
            println!(
                "{:<30} {:<8} {:>4} {:>8.2}s {:>9}  {}",
                class.name,
                format!("{platform:?}"),
                m.exit.map_or("-".into(), |c| c.to_string()),
                m.wall.as_secs_f64(),
                m.peak_kib
                    .map_or("?".into(), |k| format!("{:.1}", k as f64 / 1024.0)),
                m.error
            );
        }
    }
}
