//! The `warrant` binary: run the CLI and map its outcome to an exit code.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(warrant::cli::run().code())
}
