//! The glue of each subcommand: load, call the library, render, choose the outcome.
//! One file per command; each exposes `run(args) -> anyhow::Result<Outcome>`.

pub mod apply;
pub mod demo;
pub mod export;
pub mod plan;
pub mod sandbox;
pub mod schema;
pub mod validate;
