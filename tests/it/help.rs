//! `--help` of the binary and of every subcommand shows runnable examples; the list of
//! subcommands comes from the CLI definition, so a new subcommand without examples fails here.

use std::process::Command;

use clap::CommandFactory;

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_warrant"))
        .args(args)
        .arg("--help")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "warrant {args:?} --help: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The lines of the `Example:`/`Examples:` section, up to the next blank line.
fn examples(text: &str) -> Vec<String> {
    let mut lines = text.lines().skip_while(|l| !l.starts_with("Example"));
    assert!(lines.next().is_some(), "no examples section in:\n{text}");
    lines
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_string())
        .collect()
}

#[test]
fn every_subcommand_help_shows_examples_of_itself() {
    let subcommands: Vec<String> = warrant::cli::Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .filter(|name| name != "help")
        .collect();
    assert!(subcommands.len() >= 8, "{subcommands:?}");
    for name in &subcommands {
        let text = help(&[name]);
        let examples = examples(&text);
        assert!(
            !examples.is_empty(),
            "`warrant {name} --help` has no examples"
        );
        for example in &examples {
            assert!(
                example.starts_with(&format!("warrant {name}"))
                    || example.starts_with("cargo run --release -- demo"),
                "`warrant {name} --help` example is not a `warrant {name}` command: {example}"
            );
        }
    }
}

#[test]
fn top_level_help_shows_examples_exit_codes_and_logging() {
    let text = help(&[]);
    let examples = examples(&text);
    assert!(examples.len() >= 5, "{examples:?}");
    assert!(
        examples.iter().all(|e| e.starts_with("warrant ")),
        "{examples:?}"
    );
    assert!(text.contains("Exit codes: 0"), "{text}");
    assert!(text.contains("3 stale plan refused"), "{text}");
    assert!(text.contains("WARRANT_LOG=debug"), "{text}");
}

#[test]
fn apply_help_shows_the_ci_form_and_its_exit_codes() {
    let text = help(&["apply"]);
    let examples = examples(&text);
    assert!(
        examples
            .iter()
            .any(|e| e.starts_with("warrant apply plan.json --manifests manifests/")),
        "{examples:?}"
    );
    assert!(
        examples
            .iter()
            .any(|e| e.starts_with("warrant apply manifests/ --auto-approve")),
        "{examples:?}"
    );
    assert!(text.contains("3 stale object refused"), "{text}");
}
