//! The plan file: round trip, refusals of other formats and versions, clear errors on
//! malformed files.

use crate::support::acme;

use warrant::plan::file::{PlanFileError, parse, read, to_json, write};

#[test]
fn written_plan_reads_back_equal_and_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.json");
    let plan = acme::acme_plan();
    write(&path, &plan).unwrap();
    let back = read(&path).unwrap();
    assert_eq!(back, plan.plan);
    // Written again with the request counts it was written with (`read` leaves them out).
    let again = warrant::plan::file::PlanFile {
        plan: back,
        requests: plan.requests.clone(),
    };
    assert_eq!(std::fs::read_to_string(&path).unwrap(), to_json(&again));
}

fn with(field: &str, value: serde_json::Value) -> String {
    let mut v: serde_json::Value = serde_json::from_str(&to_json(&acme::acme_plan())).unwrap();
    v[field] = value;
    v.to_string()
}

#[test]
fn other_format_versions_are_refused_by_name() {
    // Format 1 had no plan id and no per-object declarations: apply could not bind it.
    let err = parse("p.json".as_ref(), &with("format_version", 1.into())).unwrap_err();
    assert!(
        matches!(err, PlanFileError::UnsupportedFormat { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("format_version 1"), "{err}");
    // A future format whose body would not even parse still gets the version error.
    let err = parse(
        "p.json".as_ref(),
        r#"{"format_version": 9, "changes": "elsewhere"}"#,
    )
    .unwrap_err();
    assert!(
        matches!(err, PlanFileError::UnsupportedFormat { .. }),
        "{err}"
    );
}

#[test]
fn plans_of_other_warrant_versions_are_refused() {
    let err = parse("p.json".as_ref(), &with("warrant_version", "0.0.1".into())).unwrap_err();
    assert!(
        matches!(err, PlanFileError::VersionMismatch { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("warrant 0.0.1"), "{err}");
}

#[test]
fn malformed_files_get_a_clear_error_not_a_panic() {
    for text in [
        "",
        "{",
        "[1,2]",
        "{\"format_version\": 1}",
        "{\"format_version\": \"1\"}",
    ] {
        let err = parse("bad.json".as_ref(), text).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("bad.json"), "{msg}");
    }
    let mut truncated = to_json(&acme::acme_plan());
    truncated.truncate(truncated.len() / 2);
    let err = parse("half.json".as_ref(), &truncated).unwrap_err();
    assert!(
        matches!(err, PlanFileError::Malformed { line, .. } if line > 1),
        "{err}"
    );
    let err = read("/nonexistent/plan.json".as_ref()).unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot read plan file /nonexistent/plan.json"),
        "{err}"
    );
}

/// The id is over the file's bytes: what `plan` wrote has its own id; any edit, and any
/// reformatting, gives another (or none, when the `plan_id` line is not where warrant puts it).
#[test]
fn the_plan_id_is_recomputed_from_the_file_bytes() {
    let plan = acme::acme_plan();
    let text = to_json(&plan);
    assert_eq!(
        warrant::plan::file::id_of_text(&text).as_deref(),
        Some(plan.plan_id.as_str())
    );

    let edited = text.replacen("\"update\"", "\"create\"", 1);
    assert_ne!(edited, text);
    let id = warrant::plan::file::id_of_text(&edited).expect("still begins with its plan_id");
    assert_ne!(id, plan.plan_id);

    let compact = serde_json::to_string(&plan).unwrap();
    assert_eq!(warrant::plan::file::id_of_text(&compact), None);
    let no_id = text.replacen(&plan.plan_id, "", 1);
    assert_eq!(warrant::plan::file::id_of_text(&no_id), None);
}
