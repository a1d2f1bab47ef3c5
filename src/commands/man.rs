//! `warrant man`: roff man pages (clap_mangen) from the one CLI definition. Without `--out`
//! the page of `warrant` itself goes to stdout; with `--out DIR` one page per subcommand is
//! written too (`warrant.1`, `warrant-plan.1`, …), as `man` finds them in a `man1` directory.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::Outcome;
use super::output::{noteln, settle_stdout};

/// What `warrant man` writes.
#[derive(Debug)]
pub(crate) struct Options {
    /// A directory for one page per command; stdout (the top page only) when absent.
    pub out: Option<PathBuf>,
    /// The CLI definition (`crate::cli` passes it).
    pub command: clap::Command,
}

pub(crate) fn run(options: Options) -> anyhow::Result<Outcome> {
    let mut command = options.command;
    command.build();
    match options.out {
        None => {
            let page = render(&command)?;
            let mut out = std::io::stdout().lock();
            settle_stdout(std::io::Write::write_all(&mut out, &page))?;
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            write_pages(&dir, &command)?;
        }
    }
    Ok(Outcome::Success)
}

/// Writes the page of `command` and, recursively, of its subcommands. After `build`, clap
/// names a subcommand `warrant-plan`, which becomes its file name and title (the `help`
/// subcommand clap adds has no page of its own).
fn write_pages(dir: &Path, command: &clap::Command) -> anyhow::Result<()> {
    let man = clap_mangen::Man::new(command.clone()).source(source());
    let path = dir.join(man.get_filename());
    let mut page = Vec::new();
    man.render(&mut page)
        .context("cannot render the man page")?;
    std::fs::write(&path, page).with_context(|| format!("cannot write {}", path.display()))?;
    noteln!("wrote {}", path.display());
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        write_pages(dir, sub)?;
    }
    Ok(())
}

fn render(command: &clap::Command) -> anyhow::Result<Vec<u8>> {
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone())
        .source(source())
        .render(&mut page)
        .context("cannot render the man page")?;
    Ok(page)
}

/// The footer of every page: subcommands have no version of their own in clap.
fn source() -> String {
    format!("warrant {}", env!("CARGO_PKG_VERSION"))
}
