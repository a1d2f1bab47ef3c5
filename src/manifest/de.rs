//! A serde `Deserializer` over the located YAML tree of `yaml.rs`.
//!
//! The platforms' settings and specs stay plain serde types; this deserializer is what ties their errors
//! to positions. Each error is tagged with the position of the innermost node it passed
//! through, so "missing field" points at its mapping and "expected u32" at the scalar. Unknown
//! fields are found before the derived visitor runs (serde hands us the list of known fields),
//! so every unknown field of a mapping is reported, not just the first. Messages never include
//! a scalar's value: a secret pasted into the wrong field must not be echoed.

use std::cell::RefCell;
use std::fmt;

use serde::de::{
    self, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess, VariantAccess,
    Visitor,
};

use super::yaml::{Node, Pos, Resolved, Value};

/// A problem found while deserializing, with the position of the node it concerns.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DeError {
    pub pos: Option<Pos>,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError {
            pos: None,
            message: msg.to_string().replace('`', "\""),
            hint: Some("see the field's description in schemas/".into()),
        }
    }

    // Overridden so that no scalar value (possibly a secret) appears in a message.
    fn invalid_type(unexp: de::Unexpected, exp: &dyn de::Expected) -> Self {
        let found = match unexp {
            de::Unexpected::Str(_) => "a string".to_string(),
            de::Unexpected::Signed(_) | de::Unexpected::Unsigned(_) => "an integer".to_string(),
            de::Unexpected::Float(_) => "a number".to_string(),
            other => other.to_string(),
        };
        let expected = exp.to_string();
        let hint = match (unexp, expected.as_str()) {
            (de::Unexpected::Str(_), "u32") => "write a whole number without quotes".to_string(),
            (_, "u32") => "write a whole number".to_string(),
            (de::Unexpected::Seq | de::Unexpected::Map, _) => {
                format!("write {expected} here, not {found}")
            }
            _ => format!("write {expected} here"),
        };
        DeError {
            pos: None,
            message: format!("expected {expected}, found {found}"),
            hint: Some(hint),
        }
    }

    fn invalid_value(unexp: de::Unexpected, exp: &dyn de::Expected) -> Self {
        let (found, hint) = match unexp {
            de::Unexpected::Signed(v) if v < 0 => {
                (v.to_string(), "write a positive whole number".to_string())
            }
            de::Unexpected::Signed(v) => (v.to_string(), "the number is too large".to_string()),
            de::Unexpected::Unsigned(v) => (v.to_string(), "the number is too large".to_string()),
            _ => (
                "this value".to_string(),
                "see the field's description in schemas/".to_string(),
            ),
        };
        DeError {
            pos: None,
            message: format!("invalid value {found}, expected {exp}"),
            hint: Some(hint),
        }
    }

    // Reached only where serde's own map handling runs (`RoleRef`'s `{id: …}`); mappings of
    // structs are checked for unknown fields by `deserialize_struct`.
    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        if secret_key_replacement(field).is_some() {
            return literal_secret_named(field, None);
        }
        unknown_field_named(field, expected, None)
    }

    fn missing_field(field: &'static str) -> Self {
        DeError {
            pos: None,
            message: format!("missing field \"{field}\""),
            hint: Some(format!("add `{field}:` to this mapping")),
        }
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let hint = match closest(variant, expected) {
            Some(c) => format!("did you mean \"{c}\"?"),
            None => format!("use one of {}", quoted(expected)),
        };
        DeError {
            pos: None,
            message: format!(
                "unknown variant \"{variant}\", expected one of {}",
                quoted(expected)
            ),
            hint: Some(hint),
        }
    }
}

fn quoted(items: &[&str]) -> String {
    items
        .iter()
        .map(|f| format!("\"{f}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

impl DeError {
    /// The error, at `pos` unless it has a position already.
    pub(crate) fn at(mut self, pos: Pos) -> Self {
        self.pos.get_or_insert(pos);
        self
    }
}

/// Deserializes `T` from `node`. Unknown fields are collected in `unknown` (all of them) and
/// skipped; any other error ends the deserialization and is returned.
pub(crate) fn from_node<'a, T: serde::Deserialize<'a>>(
    node: &'a Node,
    unknown: &RefCell<Vec<DeError>>,
) -> Result<T, DeError> {
    T::deserialize(NodeDeserializer { node, unknown })
}

/// Keys that must never carry a literal value in a manifest, normalized (lowercase, no `-`/`_`),
/// with the field that names an environment variable instead.
const SECRET_KEYS: &[(&str, &str)] = &[
    ("apikey", "apiKeyEnv"),
    ("apitoken", "apiTokenEnv"),
    ("token", "apiTokenEnv"),
    ("accesstoken", "apiTokenEnv"),
    ("bearertoken", "apiTokenEnv"),
    ("secret", "clientSecretEnv"),
    ("clientsecret", "clientSecretEnv"),
    ("password", "an `…Env` field"),
    ("passwd", "an `…Env` field"),
    ("privatekey", "an `…Env` field"),
    ("key", "an `…Env` field"),
];

/// If `key` names a credential, the `…Env` field to use instead.
pub(crate) fn secret_key_replacement(key: &str) -> Option<&'static str> {
    let normalized: String = key
        .chars()
        .filter(|c| *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_KEYS
        .iter()
        .find(|(k, _)| *k == normalized)
        .map(|(_, env)| *env)
}

/// The diagnostic for a key that holds a literal credential. Names the key, never the value.
pub(crate) fn literal_secret_error(key: &Node) -> DeError {
    literal_secret_named(key.text().unwrap_or_default(), Some(key.pos))
}

fn literal_secret_named(name: &str, pos: Option<Pos>) -> DeError {
    let env = secret_key_replacement(name).unwrap_or("an `…Env` field");
    let field = if env.starts_with("an ") {
        env.to_string()
    } else {
        format!("`{env}`")
    };
    DeError {
        pos,
        message: format!(
            "literal secret in field \"{name}\": credentials never belong in a manifest"
        ),
        hint: Some(format!(
            "remove the value and name an environment variable in {field} instead (on the Target); rotate the secret if this file was ever committed"
        )),
    }
}

/// The error of an unknown key of a mapping whose keys are `expected`.
pub(crate) fn unknown_field_error(key: &Node, expected: &[&str]) -> DeError {
    let name = key.text().unwrap_or_default();
    if secret_key_replacement(name).is_some() {
        return literal_secret_error(key);
    }
    unknown_field_named(name, expected, Some(key.pos))
}

fn unknown_field_named(name: &str, expected: &[&str], pos: Option<Pos>) -> DeError {
    let list = quoted(expected);
    DeError {
        pos,
        message: format!("unknown field \"{name}\", expected one of {list}"),
        hint: Some(match closest(name, expected) {
            Some(c) => format!("did you mean \"{c}\"?"),
            None => {
                "remove it, or check its indentation: it may belong to another mapping".to_string()
            }
        }),
    }
}

/// The error of a node that should be a mapping, as deserializing a struct from it gives.
pub(crate) fn expected_mapping(node: &Node) -> DeError {
    NodeDeserializer {
        node,
        unknown: &RefCell::new(Vec::new()),
    }
    .type_error("a mapping")
}

/// The expected name closest to a misspelt one, if it is close enough to be a likely typo.
pub(crate) fn closest<'a>(name: &str, expected: &[&'a str]) -> Option<&'a str> {
    let lower = name.to_lowercase();
    expected
        .iter()
        .map(|e| (strsim::levenshtein(&lower, &e.to_lowercase()), *e))
        .filter(|(d, e)| *d <= 2.max(e.len() / 4))
        .min()
        .map(|(_, e)| e)
}

#[derive(Clone, Copy)]
struct NodeDeserializer<'a, 'u> {
    node: &'a Node,
    unknown: &'u RefCell<Vec<DeError>>,
}

impl<'a, 'u> NodeDeserializer<'a, 'u> {
    fn child(&self, node: &'a Node) -> NodeDeserializer<'a, 'u> {
        NodeDeserializer {
            node,
            unknown: self.unknown,
        }
    }

    fn type_error(&self, expected: &str) -> DeError {
        DeError {
            pos: Some(self.node.pos),
            message: format!("expected {expected}, found {}", self.node.type_name()),
            hint: Some(match (&self.node.value, self.node.resolve()) {
                (_, Some(Resolved::Int(_) | Resolved::Float(_) | Resolved::Bool(_)))
                    if expected == "a string" =>
                {
                    "quote the value to make it a string".to_string()
                }
                (Value::Seq(_), _) => format!("write {expected} here, not a list"),
                (Value::Map(_), _) => format!("write {expected} here, not a mapping"),
                _ => format!("write {expected} here"),
            }),
        }
    }

    fn visit_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Seq(items) => visitor.visit_seq(Seq {
                de: self,
                items: items.iter(),
            }),
            Value::Map(entries) => visitor.visit_map(Map {
                de: self,
                entries: entries.iter().collect::<Vec<_>>().into_iter(),
                value: None,
            }),
            Value::Scalar { .. } => match self.node.resolve() {
                Some(Resolved::Null) => visitor.visit_unit(),
                Some(Resolved::Bool(b)) => visitor.visit_bool(b),
                Some(Resolved::Int(i)) => visitor.visit_i64(i),
                Some(Resolved::Float(f)) => visitor.visit_f64(f),
                Some(Resolved::Str(s)) => visitor.visit_borrowed_str(s),
                None => Err(self.type_error("a scalar")),
            },
        }
    }
}

macro_rules! forward_to_any {
    ($($method:ident)*) => {
        $(fn $method<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
            let pos = self.node.pos;
            self.visit_any(visitor).map_err(|e| e.at(pos))
        })*
    };
}

impl<'a> de::Deserializer<'a> for NodeDeserializer<'a, '_> {
    type Error = DeError;

    forward_to_any! {
        deserialize_any deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32
        deserialize_i64 deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32
        deserialize_u64 deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char
        deserialize_bytes deserialize_byte_buf deserialize_unit deserialize_seq
        deserialize_map deserialize_ignored_any
    }

    fn deserialize_str<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node.resolve() {
            Some(Resolved::Str(s)) => visitor
                .visit_borrowed_str(s)
                .map_err(|e: DeError| e.at(self.node.pos)),
            _ => Err(self.type_error("a string")),
        }
    }

    fn deserialize_string<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        if let Some(Resolved::Null) = self.node.resolve() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self).map_err(|e| e.at(self.node.pos))
        }
    }

    fn deserialize_unit_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor
            .visit_newtype_struct(self)
            .map_err(|e| e.at(self.node.pos))
    }

    fn deserialize_tuple<V: Visitor<'a>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let Value::Map(entries) = &self.node.value else {
            return Err(self.type_error("a mapping"));
        };
        let mut known = Vec::with_capacity(entries.len());
        for entry in entries {
            let key = &entry.0;
            match key.text() {
                Some(name) if fields.contains(&name) => known.push(entry),
                _ => self
                    .unknown
                    .borrow_mut()
                    .push(unknown_field_error(key, fields)),
            }
        }
        visitor
            .visit_map(Map {
                de: self,
                entries: known.into_iter(),
                value: None,
            })
            .map_err(|e| e.at(self.node.pos))
    }

    fn deserialize_enum<V: Visitor<'a>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let pos = self.node.pos;
        let (tag, value) = match &self.node.value {
            Value::Scalar { .. } => (self.node, None),
            Value::Map(entries) if entries.len() == 1 => (&entries[0].0, Some(&entries[0].1)),
            _ => {
                let list = variants
                    .iter()
                    .map(|v| format!("\"{v}\""))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(DeError {
                    pos: Some(pos),
                    message: format!(
                        "expected exactly one of {list}, found {}",
                        describe_keys(self.node)
                    ),
                    hint: Some(match &self.node.value {
                        Value::Map(entries) if entries.len() > 1 => {
                            "keep exactly one of the fields".to_string()
                        }
                        _ => format!("write a mapping with one of {list}"),
                    }),
                });
            }
        };
        if let Some(name) = tag.text()
            && !variants.contains(&name)
            && value.is_some()
        {
            return Err(unknown_field_error(tag, variants));
        }
        visitor
            .visit_enum(Enum {
                de: self,
                tag,
                value,
            })
            .map_err(|e| e.at(pos))
    }
}

fn describe_keys(node: &Node) -> String {
    match &node.value {
        Value::Map(entries) if entries.is_empty() => "an empty mapping".into(),
        Value::Map(entries) => format!(
            "{} fields ({})",
            entries.len(),
            entries
                .iter()
                .filter_map(|(k, _)| k.text())
                .map(|k| format!("\"{k}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => node.type_name().into(),
    }
}

struct Seq<'a, 'u> {
    de: NodeDeserializer<'a, 'u>,
    items: std::slice::Iter<'a, Node>,
}

impl<'a> SeqAccess<'a> for Seq<'a, '_> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'a>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        match self.items.next() {
            Some(node) => seed
                .deserialize(self.de.child(node))
                .map(Some)
                .map_err(|e| e.at(node.pos)),
            None => Ok(None),
        }
    }
}

struct Map<'a, 'u, I> {
    de: NodeDeserializer<'a, 'u>,
    entries: I,
    value: Option<&'a Node>,
}

impl<'a, I: Iterator<Item = &'a (Node, Node)>> MapAccess<'a> for Map<'a, '_, I> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        match self.entries.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(self.de.child(key))
                    .map(Some)
                    .map_err(|e| e.at(key.pos))
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'a>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let Some(value) = self.value.take() else {
            return Err(de::Error::custom("value requested before key"));
        };
        seed.deserialize(self.de.child(value))
            .map_err(|e| e.at(value.pos))
    }
}

struct Enum<'a, 'u> {
    de: NodeDeserializer<'a, 'u>,
    tag: &'a Node,
    value: Option<&'a Node>,
}

impl<'a, 'u> EnumAccess<'a> for Enum<'a, 'u> {
    type Error = DeError;
    type Variant = Variant<'a, 'u>;

    fn variant_seed<T: DeserializeSeed<'a>>(
        self,
        seed: T,
    ) -> Result<(T::Value, Variant<'a, 'u>), DeError> {
        let Some(name) = self.tag.text() else {
            return Err(self.de.child(self.tag).type_error("a string"));
        };
        let tag = seed
            .deserialize(name.into_deserializer())
            .map_err(|e: DeError| e.at(self.tag.pos))?;
        Ok((
            tag,
            Variant {
                de: self.de,
                tag: self.tag,
                value: self.value,
            },
        ))
    }
}

struct Variant<'a, 'u> {
    de: NodeDeserializer<'a, 'u>,
    tag: &'a Node,
    value: Option<&'a Node>,
}

impl<'a> VariantAccess<'a> for Variant<'a, '_> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        match self.value {
            None => Ok(()),
            Some(v) => Err(self.de.child(v).type_error("nothing")),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'a>>(self, seed: T) -> Result<T::Value, DeError> {
        match self.value {
            Some(v) => seed.deserialize(self.de.child(v)).map_err(|e| e.at(v.pos)),
            None => Err(self
                .de
                .child(self.tag)
                .type_error("a mapping with one field")),
        }
    }

    fn tuple_variant<V: Visitor<'a>>(self, len: usize, visitor: V) -> Result<V::Value, DeError> {
        match self.value {
            Some(v) => de::Deserializer::deserialize_tuple(self.de.child(v), len, visitor),
            None => Err(self.de.child(self.tag).type_error("a sequence")),
        }
    }

    fn struct_variant<V: Visitor<'a>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match self.value {
            Some(v) => de::Deserializer::deserialize_struct(self.de.child(v), "", fields, visitor),
            None => Err(self.de.child(self.tag).type_error("a mapping")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn a_likely_typo_gets_the_closest_name_and_a_stranger_none() {
        let expected = ["apiVersion", "kind", "metadata", "spec"];
        assert_eq!(closest("apiVersoin", &expected), Some("apiVersion"));
        assert_eq!(closest("Kind", &expected), Some("kind"), "case is ignored");
        assert_eq!(closest("metdata", &expected), Some("metadata"));
        assert_eq!(closest("spce", &expected), Some("spec"));
        assert_eq!(closest("owner", &expected), None);
        assert_eq!(closest(&"x".repeat(10_000), &expected), None);
    }
}
