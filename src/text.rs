//! Text from outside — manifests and servers — checked and shown so that what a reader sees is
//! what the string is.
//!
//! One rule says which characters are *hidden* ([`is_hidden`]): control characters (C0, DEL,
//! C1: they move the cursor, clear lines, start terminal escape sequences), format characters
//! (bidirectional controls that reorder text, zero-width spaces and joiners, the byte-order
//! mark, tag characters), line and paragraph separators, and the other default-ignorable code
//! points (Hangul fillers, variation selectors), which render as nothing. Such a character lets
//! `asset-rule-runner` and `asset-rule-runner` plus a zero-width space look like one name, or
//! lets a value forge a line of a plan.
//!
//! Manifests refuse hidden characters in every string (`manifest::validate`). Live data is
//! never refused for them — it is what it is — but every output shows them escaped: text,
//! markdown, errors and apply lines through [`escape`] (`\u{202e}`, `\n`), JSON through
//! `write_json_pretty`, which writes them as `\uXXXX` escapes: the same data for any JSON
//! reader, and nothing for a terminal to act on when the file is printed.
//!
//! Every output also passes the one redaction function (`crate::secret::redact`) here, before
//! escaping: a server that puts a credential into a live value (a tag, a name, an id) gets it
//! masked in the plan, the plan file, the report and every rendering, not only in error text.
//! Redaction is for output only; the values warrant writes back are never altered.
//!
//! This module sits below the object model and imports nothing from the crate but
//! `crate::secret`, so that every layer can use the one rule.

use std::borrow::Cow;
use std::io;

use unicode_general_category::{GeneralCategory, get_general_category};
use unicode_security::GeneralSecurityProfile;
use unicode_security::general_security_profile::IdentifierType;

/// Whether `c` is a control, format or otherwise invisible character (see the module docs).
pub fn is_hidden(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_control();
    }
    c.is_control()
        || matches!(
            get_general_category(c),
            GeneralCategory::Format
                | GeneralCategory::LineSeparator
                | GeneralCategory::ParagraphSeparator
        )
        || c.identifier_type() == Some(IdentifierType::Default_Ignorable)
}

/// What a hidden character is, for messages: `None` for a visible one.
pub(crate) fn hidden_kind(c: char) -> Option<&'static str> {
    if !is_hidden(c) {
        None
    } else if c.is_control() {
        Some("a control character")
    } else if is_bidi_control(c) {
        Some("a bidirectional text control")
    } else {
        Some("an invisible formatting character")
    }
}

/// The explicit bidirectional formatting characters of Unicode's bidi algorithm (UAX #9):
/// ALM, LRM, RLM, the embeddings and overrides, and the isolates.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `s` as every output shows it: each secret in use masked (`crate::secret::redact`), then
/// each hidden character escaped (`\n`, `\u{1b}`, `\u{202e}`): one line, shown as it is.
/// Borrowed when there is nothing to mask or escape, which is nearly always.
pub fn escape(s: &str) -> Cow<'_, str> {
    let s = crate::secret::redact(s);
    if !s.chars().any(is_hidden) {
        return s;
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_hidden(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `value` as pretty JSON (serde_json's layout) with every secret in use masked and every
/// hidden character written as a `\uXXXX` escape. A document without either is byte for byte
/// what `serde_json::to_writer_pretty` writes.
pub(crate) fn write_json_pretty<W: io::Write, T: serde::Serialize + ?Sized>(
    out: W,
    value: &T,
) -> serde_json::Result<()> {
    let formatter = VisibleJson(serde_json::ser::PrettyFormatter::new());
    value.serialize(&mut serde_json::Serializer::with_formatter(out, formatter))
}

/// [`write_json_pretty`] into a string.
pub(crate) fn to_json_string_pretty<T: serde::Serialize + ?Sized>(
    value: &T,
) -> serde_json::Result<String> {
    let mut bytes = Vec::new();
    write_json_pretty(&mut bytes, value)?;
    // serde_json writes UTF-8, and the escapes are ASCII.
    String::from_utf8(bytes).map_err(|e| serde_json::Error::io(io::Error::other(e)))
}

/// serde_json's layout `F`; string contents are masked ([`crate::secret::redact`]) and go
/// through [`is_hidden`]. serde_json itself escapes `"`, `\` and C0 controls before a fragment
/// gets here.
struct VisibleJson<F>(F);

impl<F: serde_json::ser::Formatter> serde_json::ser::Formatter for VisibleJson<F> {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let masked = crate::secret::redact(fragment);
        let mut rest: &str = &masked;
        while let Some((at, c)) = rest.char_indices().find(|(_, c)| is_hidden(*c)) {
            writer.write_all(&rest.as_bytes()[..at])?;
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                write!(writer, "\\u{unit:04x}")?;
            }
            rest = &rest[at + c.len_utf8()..];
        }
        writer.write_all(rest.as_bytes())
    }

    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_characters_are_controls_bidi_and_invisibles_only() {
        for c in [
            '\0',
            '\t',
            '\n',
            '\r',
            '\u{1b}',
            '\u{7f}',
            '\u{85}',
            '\u{9b}', // controls
            '\u{202e}',
            '\u{2066}',
            '\u{200e}',
            '\u{61c}', // bidi
            '\u{200b}',
            '\u{200c}',
            '\u{200d}',
            '\u{2060}',
            '\u{feff}',
            '\u{ad}', // zero width
            '\u{2028}',
            '\u{2029}',
            '\u{e0041}',
            '\u{3164}',
            '\u{115f}',
            '\u{fe0f}',
            '\u{34f}',
        ] {
            assert!(is_hidden(c), "{:?} should be hidden", c);
            assert!(hidden_kind(c).is_some());
        }
        for c in ['a', ' ', '-', '/', 'é', 'а', 'ß', '中', '\u{a0}', '✓', '🚀'] {
            assert!(!is_hidden(c), "{c:?} should be visible");
        }
        assert_eq!(
            hidden_kind('\u{202e}'),
            Some("a bidirectional text control")
        );
        assert_eq!(hidden_kind('\u{1b}'), Some("a control character"));
        assert_eq!(
            hidden_kind('\u{200b}'),
            Some("an invisible formatting character")
        );
    }

    #[test]
    fn escape_shows_every_hidden_character_and_borrows_otherwise() {
        assert!(matches!(escape("asset-rule-runner"), Cow::Borrowed(_)));
        assert_eq!(
            escape("a\u{1b}[31mb\nc\u{202e}d\u{200b}"),
            "a\\u{1b}[31mb\\nc\\u{202e}d\\u{200b}"
        );
    }

    #[test]
    fn json_escapes_hidden_characters_and_keeps_the_data() {
        let value =
            serde_json::json!({"name": "a\u{202e}b\u{7f}\u{9b}\u{e0041}\"\n", "list": [1, "é"]});
        let text = to_json_string_pretty(&value).unwrap();
        assert!(
            text.contains(r#""a\u202eb\u007f\u009b\udb40\udc41\"\n""#),
            "{text}"
        );
        assert!(!text.chars().any(|c| is_hidden(c) && c != '\n'), "{text}");
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value);
        let plain = serde_json::json!({"a": [1, {"b": "c"}], "d": {}});
        assert_eq!(
            to_json_string_pretty(&plain).unwrap(),
            serde_json::to_string_pretty(&plain).unwrap()
        );
    }
}
