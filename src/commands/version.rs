//! `warrant version [--json]`: the version of the binary and of the file formats it reads and
//! writes, so a CI job can check it has the warrant its plan files were made with.

use super::Outcome;
use super::output::outln;

/// What `warrant version` prints.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub json: bool,
}

/// Version of the `warrant version --json` object itself.
pub(crate) const VERSION_FORMAT: u32 = 1;

pub(crate) fn run(options: Options) -> anyhow::Result<Outcome> {
    let version = env!("CARGO_PKG_VERSION");
    if options.json {
        let value = serde_json::json!({
            "format_version": VERSION_FORMAT,
            "name": "warrant",
            "version": version,
            "plan_format_version": crate::plan::FORMAT_VERSION,
            "report_version": crate::apply::REPORT_VERSION,
            "validate_format_version": super::validate::FORMAT_VERSION,
            "os": std::env::consts::OS,
            "arch": std::env::consts::ARCH,
        });
        outln!("{}", crate::text::to_json_string_pretty(&value)?)?;
    } else {
        outln!("warrant {version}")?;
    }
    Ok(Outcome::Success)
}
