//! `warrant show PLANFILE`: render a saved plan again, exactly as `warrant plan` printed it
//! (text, markdown within the same budget, or the file's own JSON), so a truncated comment
//! can be read whole from the artifact, and a plan can be looked at before it is applied.
//!
//! The plan file is untrusted, like everywhere: it is checked as `apply` checks it (format
//! and warrant version, known kinds) and its `plan_id` is recomputed from its content. A file
//! whose recorded id does not match its content was edited after warrant wrote it; it is
//! refused rather than shown as if it were the plan that was made (apply refuses it too).

use std::path::PathBuf;

use anyhow::{Context, bail};

use super::Outcome;
use super::plan::{PlanFormat, print_plan};
use crate::render::markdown::MarkdownOptions;

/// What `warrant show` renders, and how.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub plan_file: PathBuf,
    pub format: PlanFormat,
    pub markdown: MarkdownOptions,
}

pub(crate) fn run(options: Options) -> anyhow::Result<Outcome> {
    let path = &options.plan_file;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read plan file {}", path.display()))?;
    let file = crate::plan::file::parse_file(path, &text)?;
    match crate::plan::file::id_of_text(&text) {
        Some(id) if id == file.plan.plan_id => {}
        Some(id) => bail!(
            "plan file {} records plan_id {} but its content is plan {id}: it was edited after warrant wrote it; nothing is shown (apply refuses it too)",
            path.display(),
            crate::text::escape(&file.plan.plan_id),
        ),
        None => bail!(
            "plan file {} does not begin with a plan_id line as `warrant plan --out` writes it (reformatted?); nothing is shown (apply refuses it too)",
            path.display()
        ),
    }
    // warrant writes hidden characters as `\uXXXX` escapes, so its own files are printed as
    // they are; a file with a raw one (made by hand, with a matching id) is written out again
    // the way warrant writes it, never with the raw character.
    let own_bytes = !text.chars().any(|c| c != '\n' && crate::text::is_hidden(c));
    print_plan(
        &file,
        options.format,
        &options.markdown,
        own_bytes.then_some(text.as_str()),
    )?;
    Ok(Outcome::Success)
}
