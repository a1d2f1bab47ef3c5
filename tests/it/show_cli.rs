//! `warrant show PLANFILE` renders a saved plan exactly as `warrant plan` printed it — text,
//! markdown (within the same budget, truncated the same way) and JSON — and refuses a plan
//! file edited after warrant wrote it, or one from another format.

use warrant::sandbox::{Faults, Seed};

use crate::support::{Output, World, example_manifests};

fn world() -> World {
    World::blocking(Seed::example(), Faults::default(), &example_manifests())
}

/// `warrant plan manifests/ --out plan.json ARGS` in the world, then `warrant show plan.json
/// ARGS`; the two outputs.
fn plan_then_show(world: &World, args: &[&str]) -> (Output, Output) {
    let mut plan_args = vec!["plan", "manifests", "--out", "plan.json"];
    plan_args.extend(args);
    let plan = world.warrant_live(&plan_args);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let mut show_args = vec!["show", "plan.json"];
    show_args.extend(args);
    let show = world.warrant(&show_args);
    assert_eq!(show.code, 0, "{}", show.stderr);
    (plan, show)
}

#[test]
fn show_reproduces_plan_byte_for_byte_in_every_format() {
    let world = world();
    for args in [
        vec!["--format", "text"],
        vec!["--format", "markdown"],
        // Truncated: the same pieces are cut, the same notice names the same link.
        vec![
            "--format",
            "markdown",
            "--max-bytes",
            "900",
            "--full-plan-link",
            "https://example.test/run/1",
        ],
        vec!["--format", "json"],
    ] {
        let (plan, show) = plan_then_show(&world, &args);
        assert!(!plan.stdout.is_empty(), "{args:?}");
        assert_eq!(show.stdout, plan.stdout, "{args:?}");
        if args.contains(&"900") {
            assert!(show.stdout.contains("Truncated"), "{}", show.stdout);
            assert!(show.stdout.len() <= 900);
        }
    }
    // The example plan has creates and undeclared access, so the rendering is not trivial.
    let (_, show) = plan_then_show(&world, &["--format", "text"]);
    assert!(show.stdout.contains("+ OrgApiToken/"), "{}", show.stdout);
    assert!(show.stdout.contains("Undeclared access"), "{}", show.stdout);
    // And the JSON is the file itself.
    let (_, json) = plan_then_show(&world, &["--format", "json"]);
    let file = std::fs::read_to_string(world.dir().join("plan.json")).unwrap();
    assert_eq!(json.stdout, file);
}

#[test]
fn show_refuses_an_edited_plan_file() {
    let world = world();
    let made = world.warrant_live(&["plan", "manifests", "--out", "plan.json"]);
    assert_eq!(made.code, 0, "{}", made.stderr);
    let path = world.dir().join("plan.json");
    let text = std::fs::read_to_string(&path).unwrap();

    // A value changed after the plan was written: the recorded id no longer matches.
    let edited = text.replacen("ci-pipeline", "ci-pipelinf", 1);
    assert_ne!(edited, text);
    std::fs::write(&path, &edited).unwrap();
    let show = world.warrant(&["show", "plan.json"]);
    assert_eq!(show.code, 1, "{}", show.stdout);
    assert!(show.stdout.is_empty(), "nothing is shown: {}", show.stdout);
    assert!(show.stderr.contains("was edited"), "{}", show.stderr);

    // Reformatted JSON (same data) is not the file warrant wrote either.
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    std::fs::write(&path, serde_json::to_string(&value).unwrap()).unwrap();
    let show = world.warrant(&["show", "plan.json"]);
    assert_eq!(show.code, 1);
    assert!(show.stderr.contains("plan_id line"), "{}", show.stderr);

    // Another format version, and a file that is not a plan.
    std::fs::write(
        &path,
        text.replacen("\"format_version\": 2", "\"format_version\": 99", 1),
    )
    .unwrap();
    let show = world.warrant(&["show", "plan.json"]);
    assert_eq!(show.code, 1);
    assert!(show.stderr.contains("format_version"), "{}", show.stderr);
    std::fs::write(&path, "not json").unwrap();
    let show = world.warrant(&["show", "plan.json"]);
    assert_eq!(show.code, 1);
    assert!(
        show.stderr.contains("not a valid warrant plan"),
        "{}",
        show.stderr
    );
    let show = world.warrant(&["show", "missing.json"]);
    assert_eq!(show.code, 1);
    assert!(
        show.stderr.contains("cannot read plan file"),
        "{}",
        show.stderr
    );
}

#[test]
fn show_never_prints_a_raw_hidden_character_of_a_hand_made_plan() {
    let world = world();
    let made = world.warrant_live(&["plan", "manifests", "--out", "plan.json"]);
    assert_eq!(made.code, 0, "{}", made.stderr);
    let path = world.dir().join("plan.json");
    let text = std::fs::read_to_string(&path).unwrap();
    // A raw right-to-left override inside a value, and a plan_id recomputed to match: what
    // someone who knows the id rule can make.
    let edited = text.replacen("ci-pipeline", "ci-\u{202e}pipeline", 1);
    let id = warrant::plan::file::id_of_text(&edited).unwrap();
    let (head, rest) = edited.split_once("\"plan_id\": \"").unwrap();
    let (_, rest) = rest.split_once('"').unwrap();
    let forged = format!("{head}\"plan_id\": \"{id}\"{rest}");
    assert_eq!(
        warrant::plan::file::id_of_text(&forged).as_deref(),
        Some(id.as_str())
    );
    std::fs::write(&path, &forged).unwrap();
    for format in ["text", "markdown", "json"] {
        let show = world.warrant(&["show", "plan.json", "--format", format]);
        assert_eq!(show.code, 0, "{format}: {}", show.stderr);
        crate::support::assert_no_hidden(format, &show.stdout);
        if format == "json" {
            // The same data, the character written as an escape.
            assert!(
                show.stdout.contains("ci-\\u202epipeline"),
                "{}",
                show.stdout
            );
            let value: serde_json::Value = serde_json::from_str(&show.stdout).unwrap();
            assert!(value.to_string().contains("ci-\u{202e}pipeline"));
        }
    }
}
