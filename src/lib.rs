//! warrant: GitOps for machine-identity access.
//!
//! # Layers
//!
//! A module depends only on modules of its own row or below, and never in a cycle;
//! `tests/it/layers.rs` checks this from the `crate::` paths of the sources, and that nothing
//! in the library depends on `cli` or `commands`.
//!
//! ```text
//! cli              arguments (clap), turned into the commands' options once; dispatch
//! commands         one file per subcommand, shared glue in common.rs; Outcome → exit code
//! render           the words: plans (text, markdown, json), reasons, apply lines, progress
//! apply            the executor: manifests (trusted) ∩ reviewed plan (untrusted)
//! plan · export    the pure diff, Plan and its file · manifests written from live state
//! platform · sandbox   one module per platform behind LiveTarget, the one list of
//!                  platforms, http, listing, session, wait · the simulators of the platforms
//! manifest         generic: files, YAML with spans, the envelope, diagnostics, the rules
//!                  across documents, the Dialect interface the platforms implement
//! model            objects with set-valued fields, policies, typed reasons, write operations
//! secret · text    secrets, the one redaction function, key sinks · hidden characters
//! ```
//!
//! This is the order of the design (model ← manifest ← platform ← plan ← apply ← render ←
//! commands ← cli) with the small modules placed: `secret` and `text` under everything (the
//! model's key sinks and every output use them); `sandbox`, which depends on nothing, beside
//! the platforms it simulates; `export` beside `plan`, both reading through the platforms.
//! The manifest layer sits below the platforms and stays generic: it asks each platform, as a
//! [`manifest`] dialect, to read and check its own Target settings and resource spec, so the
//! validated [`platform::Manifests`] hold the platforms' own types.
//!
//! # Modules, in the order data flows through them
//!
//! - [`manifest`]: load YAML manifests (files, multi-document, source locations), have each
//!   platform read its documents, validate, and report every problem at once.
//! - [`model`]: the vocabulary shared by everything above it — objects with set-valued
//!   fields, field policies, live state, typed [`model::Reason`]s, write operations (which
//!   have no remove variant); its small sorted-vector collections keep plans of 100,000
//!   objects compact.
//! - [`platform`]: Atlan, AVEVA CONNECT and Juniper Mist, each one module behind
//!   [`platform::LiveTarget`] over one HTTP layer; resolves names to ids, reads live state in
//!   batches, performs append-only writes. [`platform::Session`] opens one per target.
//! - [`plan`]: the pure diff of desired against live, the `Plan` data and its versioned file.
//! - [`apply`]: executes the reviewed changes of a plan file (untrusted) that the merged
//!   manifests (trusted) declare: bind each change to its declaration, re-read, re-diff,
//!   write the union, verify, report; journals every create that returns a key
//!   (`apply::journal`), locks each target against a second apply on the machine
//!   (`apply::lock`), and reports a run abandoned by a second interrupt (`apply::abandon`).
//! - [`render`]: text, markdown and json renderings of a plan, and the lines of an apply;
//!   decides nothing.
//! - [`export`]: manifests written from live state, to adopt warrant on an existing tenant.
//! - [`sandbox`]: faithful local simulators of the three APIs, for the demo, tests and
//!   benchmarks.
//! - [`secret`]: a secret type that cannot be printed, the one redaction function every text
//!   from a server passes, and the confined key sinks for new Mist keys.
//! - [`text`]: the one rule of hidden characters (controls, bidi, zero-width): refused in
//!   manifests, escaped in every output.
//! - [`cli`] and [`commands`]: argument parsing and the glue of each subcommand.
//!
//! # The library API
//!
//! Everything is `pub(crate)` unless this list names it. Public are: the manifest data and
//! its loading ([`platform::Manifests`] with the platforms' settings and specs, diagnostics
//! and their renderings); the object model; [`platform::LiveTarget`] with
//! [`platform::Session`], its options and errors, and the HTTP layer ([`platform::http`], so
//! its retry and bound policy can be tested on its own); planning ([`plan::gather`],
//! [`plan::diff`], the plan and its file); applying ([`apply::apply_plan`], its report, and the create journal's records,
//! `apply::journal`);
//! the renderings; export; the sandbox; secrets; and the binary's entry points ([`cli::run`],
//! [`commands::Outcome`], the schemas of [`commands::schema`]). The integration tests,
//! `benches/` and `examples/` use exactly this.

pub mod apply;
pub mod cli;
pub mod commands;
pub mod export;
pub mod manifest;
pub mod model;
pub mod plan;
pub mod platform;
pub mod render;
pub mod sandbox;
pub mod secret;
pub mod text;
