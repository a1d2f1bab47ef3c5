//! The one integration-test binary (as in cargo's own testsuite): every module below talks to
//! the `warrant` library, the `warrant` binary or the sandbox over real HTTP on 127.0.0.1.
//! `support` is the one harness (credentials, the sandbox world builder, the ACME plan and
//! goldens); `fake_server` is a scripted proxy for hostile-server tests, `hostile_scripts` its
//! scripts; `tools` runs external programs and installs the ones a new machine lacks under
//! `target/`.

mod actionlint;
mod apply_cli;
mod apply_concurrent;
mod apply_executor;
mod apply_journal;
mod apply_journal_failed_creates;
mod apply_props;
mod apply_signals;
mod apply_sink;
mod apply_tampered;
mod broken_pipe;
mod ci_recipe;
mod cli_meta;
mod demo;
mod e2e_apply;
mod e2e_apply_faults;
mod e2e_plan;
mod export_cli;
mod export_roundtrip;
mod fake_server;
mod help;
mod hostile_scripts;
mod hostile_servers;
mod identity_name_case;
mod install_script;
mod layers;
mod local_inputs;
mod logging;
mod lookalike_warnings;
mod manifest_examples;
mod manifest_invalid;
mod manifest_proptest;
mod output_escaping;
mod plan_artifact_provenance;
mod plan_file;
mod plan_file_golden;
mod plan_gather;
mod plan_props;
mod platform_clients;
mod platform_http;
mod platform_writes;
mod release_workflow;
mod render_golden;
mod render_markdown_budget;
mod sandbox_atlan;
mod sandbox_atlan_fidelity;
mod sandbox_atlan_workflows;
mod sandbox_bench;
mod sandbox_connect;
mod sandbox_faults;
mod sandbox_fidelity;
mod sandbox_mist;
mod sandbox_seed;
mod sdk_python;
mod sdk_python_fidelity;
mod sdk_python_workflows;
mod secrets_echo;
mod shellcheck;
mod support;
mod tools;
mod validate_cli;
