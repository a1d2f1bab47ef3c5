//! warrant: GitOps for machine-identity access.
//!
//! Map of the major components, in the order data flows through them:
//!
//! - [`manifest`]: load YAML manifests (files, multi-document, source locations), deserialize
//!   them into the kinds of `manifest::kinds`, validate, and report every problem at once.
//! - [`model`]: the vocabulary shared by everything below — objects with set-valued fields,
//!   field policies, live state, write operations (which have no remove variant); its small
//!   sorted-vector collections (`Values`, `SmallMap`) keep plans of 100,000 objects compact.
//! - [`platform`]: one client per platform (Atlan, AVEVA CONNECT, Juniper Mist) over one HTTP
//!   layer; resolves names to ids, reads live state in batches, performs append-only writes.
//! - [`plan`]: the pure diff of desired against live, the `Plan` data and its versioned file.
//! - [`render`]: text, markdown and json renderings of a plan; decides nothing.
//! - [`apply`]: executes the reviewed changes of a plan file (untrusted) that the merged manifests
//!   (trusted) declare: bind each change to its declaration, re-read, re-diff, write the union,
//!   verify, report; journals every create that returns a key (`apply::journal`), locks each
//!   target against a second apply on the machine (`apply::lock`), and reports a run abandoned
//!   by a second interrupt (`apply::abandon`).
//! - [`secret`]: a secret type that cannot be printed, the one redaction function every text
//!   from a server passes, and the confined key sinks for new Mist keys.
//! - [`export`]: manifests written from live state, to adopt warrant on an existing tenant.
//! - [`sandbox`]: faithful local simulators of the three APIs, for the demo, tests and benchmarks.
//! - [`session`]: one client per target, opened from settings, credentials and overrides.
//! - [`text`]: the one rule of hidden characters (controls, bidi, zero-width): refused in
//!   manifests, escaped in every output.
//! - [`cli`] and [`commands`]: argument parsing and the glue of each subcommand.

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
pub mod session;
pub mod text;
