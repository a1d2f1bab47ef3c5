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
    use std::io::Write;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let value = status.lines().find_map(|l| l.strip_prefix("VmHWM:"));
    // Not `eprintln!`: it panics when stderr is closed.
    let _ = writeln!(
        std::io::stderr(),
        "warrant-peak-rss: {}",
        value.map_or("unknown", str::trim)
    );
}
