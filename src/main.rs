//! The `warrant` binary: run the CLI and map its outcome to an exit code.
//!
//! With `WARRANT_REPORT_PEAK_RSS=1` the process prints its peak resident memory (`VmHWM` of
//! `/proc/self/status`) to stderr as it exits, so `benches/scale.rs` can measure it exactly
//! from outside without racing the child's exit.

fn main() -> std::process::ExitCode {
    let code = warrant::cli::run().code();
    if std::env::var_os("WARRANT_REPORT_PEAK_RSS").is_some_and(|v| v == "1") {
        report_peak_rss();
    }
    std::process::ExitCode::from(code)
}

fn report_peak_rss() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    match status.lines().find_map(|l| l.strip_prefix("VmHWM:")) {
        Some(value) => eprintln!("warrant-peak-rss: {}", value.trim()),
        None => eprintln!("warrant-peak-rss: unknown"),
    }
}
