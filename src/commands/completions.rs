//! `warrant completions SHELL`: the shell completion script (clap_complete), generated from
//! the one CLI definition so it can never list a flag the binary does not have.

use super::Outcome;
use super::output::settle_stdout;

/// The shells a completion script is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
    Elvish,
}

impl Shell {
    fn generator(self) -> clap_complete::Shell {
        match self {
            Shell::Bash => clap_complete::Shell::Bash,
            Shell::Zsh => clap_complete::Shell::Zsh,
            Shell::Fish => clap_complete::Shell::Fish,
            Shell::Powershell => clap_complete::Shell::PowerShell,
            Shell::Elvish => clap_complete::Shell::Elvish,
        }
    }
}

/// What `warrant completions` writes.
#[derive(Debug)]
pub(crate) struct Options {
    pub shell: Shell,
    /// The CLI definition (`crate::cli` passes it: commands do not depend on the parser).
    pub command: clap::Command,
}

pub(crate) fn run(mut options: Options) -> anyhow::Result<Outcome> {
    if super::output::stdout_closed() {
        return Ok(Outcome::Success);
    }
    let mut script = Vec::new();
    clap_complete::generate(
        options.shell.generator(),
        &mut options.command,
        "warrant",
        &mut script,
    );
    let mut out = std::io::stdout().lock();
    settle_stdout(std::io::Write::write_all(&mut out, &script))?;
    Ok(Outcome::Success)
}
