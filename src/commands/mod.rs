//! The glue of each subcommand: load, call the library, render, choose the outcome.
//! One file per command; each exposes `run(args) -> anyhow::Result<Outcome>`. All of them
//! write through [`output`], which never panics and ends quietly on a closed stdout.

pub mod apply;
pub mod demo;
pub mod export;
pub(crate) mod interrupts;
pub mod journal;
pub(crate) mod output;
pub mod plan;
pub(crate) mod report_file;
pub mod sandbox;
pub mod schema;
pub mod validate;
