//! Rendering diagnostics: compiler-like text for people, JSON for tools, and GitHub Actions
//! workflow commands so that errors appear on the pull request's diff.
//!
//! Diagnostics carry no source excerpt on purpose: the offending line may hold a secret. A
//! message may quote a name from a manifest, so the text renderings escape hidden characters
//! (`crate::text::escape`) and JSON writes them as `\uXXXX`: a name with a control or bidi
//! character cannot rewrite the terminal or the annotation it is shown in.

use std::fmt::Write;

use super::{Diagnostic, Severity};
use crate::text::escape;

fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// `error: message\n  --> file:line:col\n  = hint: …` per diagnostic.
pub fn render_text(diags: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diags {
        let _ = writeln!(out, "{}: {}", severity_word(d.severity), escape(&d.message));
        let _ = writeln!(
            out,
            "  --> {}:{}:{}",
            escape(&d.location.file.display().to_string()),
            d.location.line,
            d.location.column
        );
        if let Some(hint) = &d.hint {
            let _ = writeln!(out, "  = hint: {}", escape(hint));
        }
        out.push('\n');
    }
    out
}

/// A JSON array of `{file, line, column, severity, message, hint?}`.
pub fn render_json(diags: &[Diagnostic]) -> serde_json::Value {
    serde_json::Value::Array(
        diags
            .iter()
            .map(|d| {
                let mut o = serde_json::json!({
                    "file": d.location.file.display().to_string(),
                    "line": d.location.line,
                    "column": d.location.column,
                    "severity": severity_word(d.severity),
                    "message": d.message,
                });
                if let Some(hint) = &d.hint {
                    o["hint"] = hint.clone().into();
                }
                o
            })
            .collect(),
    )
}

/// `::error file=…,line=…,col=…::message` lines, escaped as the workflow-command syntax asks.
pub fn render_github(diags: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diags {
        let mut message = d.message.clone();
        if let Some(hint) = &d.hint {
            message.push_str(" (hint: ");
            message.push_str(hint);
            message.push(')');
        }
        let _ = writeln!(
            out,
            "::{} file={},line={},col={}::{}",
            severity_word(d.severity),
            escape_property(&d.location.file.display().to_string()),
            d.location.line,
            d.location.column,
            escape_data(&message)
        );
    }
    out
}

/// A message as a workflow command carries it: on one line (hidden characters, line breaks
/// included, as [`escape`] shows them), with `%` escaped as the syntax asks.
fn escape_data(s: &str) -> String {
    escape(s).replace('%', "%25")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Location;

    fn diag(message: &str) -> Diagnostic {
        Diagnostic {
            location: Location {
                file: "m/a,b.yaml".into(),
                line: 7,
                column: 5,
            },
            severity: Severity::Error,
            message: message.into(),
            hint: Some("fix it".into()),
        }
    }

    #[test]
    fn text_names_file_line_column_and_hint() {
        let text = render_text(&[diag("unknown field \"adminUser\"")]);
        assert_eq!(
            text,
            "error: unknown field \"adminUser\"\n  --> m/a,b.yaml:7:5\n  = hint: fix it\n\n"
        );
    }

    #[test]
    fn github_annotations_are_escaped() {
        let text = render_github(&[diag("50% bad\nreally\u{202e}")]);
        assert_eq!(
            text,
            "::error file=m/a%2Cb.yaml,line=7,col=5::50%25 bad\\nreally\\u{202e} (hint: fix it)\n"
        );
    }

    #[test]
    fn json_has_the_documented_keys() {
        let json = render_json(&[diag("x")]);
        assert_eq!(json[0]["file"], "m/a,b.yaml");
        assert_eq!(json[0]["line"], 7);
        assert_eq!(json[0]["column"], 5);
        assert_eq!(json[0]["severity"], "error");
        assert_eq!(json[0]["hint"], "fix it");
    }
}
