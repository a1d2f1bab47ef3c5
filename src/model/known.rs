//! Live list fields whose value a read proved: [`KnownList`], or why it could not
//! ([`UnreadableField`]).
//!
//! A platform may answer with a list field that is missing, `null` or of the wrong type.
//! Reading that as "empty" is how a write of *fresh live ∪ additions* silently drops what is
//! live, so it is never done: a field is either a `KnownList`, built from a JSON value that
//! was present and well-formed, or an `UnreadableField` the plan turns into a conflict
//! ([`crate::model::LiveState::Unreadable`]). Every client builds the list part of a write
//! body from a `KnownList` of a fresh read, through [`KnownList::union`] — the one place
//! *fresh live ∪ additions* is built; there is no default to fall back on.

use std::fmt;

use serde_json::Value;

use super::{Reason, Values};

/// A live list field that was present and well-formed in the read it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KnownList<T = String> {
    items: Vec<T>,
}

/// Why a live list field is unknown: `field` is the platform's own name for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnreadableField {
    pub field: String,
    pub problem: String,
}

impl fmt::Display for UnreadableField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "field {} {}", self.field, self.problem)
    }
}

impl UnreadableField {
    /// The conflict reason: what was wrong and in which response.
    pub(crate) fn reason(&self, read_with: &str) -> Reason {
        Reason::Unreadable {
            field: self.field.clone(),
            problem: self.problem.clone(),
            read_with: read_with.to_string(),
        }
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

impl<T> KnownList<T> {
    /// Reads the list field `field` from `value` (`None`: the key was absent). Each element
    /// goes through `item`; an element it refuses makes the whole field unreadable, since a
    /// list written back without it would remove it.
    pub(crate) fn from_json(
        field: &str,
        value: Option<&Value>,
        mut item: impl FnMut(&Value) -> Option<T>,
    ) -> Result<KnownList<T>, UnreadableField> {
        let unreadable = |problem: String| UnreadableField {
            field: field.to_string(),
            problem,
        };
        let items = match value {
            None => return Err(unreadable("is missing".into())),
            Some(Value::Null) => return Err(unreadable("is null".into())),
            Some(Value::Array(items)) => items,
            Some(other) => {
                return Err(unreadable(format!(
                    "is {} instead of a list",
                    type_name(other)
                )));
            }
        };
        // The offending element is described, not quoted: server text stays out of messages.
        items
            .iter()
            .enumerate()
            .map(|(at, v)| {
                item(v).ok_or_else(|| {
                    unreadable(format!(
                        "holds an unreadable element at position {at} ({})",
                        type_name(v)
                    ))
                })
            })
            .collect::<Result<Vec<T>, _>>()
            .map(|items| KnownList { items })
    }

    pub(crate) fn items(&self) -> &[T] {
        &self.items
    }

    pub(crate) fn into_items(self) -> Vec<T> {
        self.items
    }

    /// The list of the present, well-formed field a live object was read with: a
    /// [`LiveState::Present`](super::LiveState::Present) object holds only such fields.
    pub(crate) fn of_present(items: impl IntoIterator<Item = T>) -> KnownList<T> {
        KnownList {
            items: items.into_iter().collect(),
        }
    }
}

impl<T: PartialEq> KnownList<T> {
    /// What a write sends for this list: every item of the read it came from, as read, then
    /// each addition that is not among them. The only place a write's *fresh live ∪
    /// additions* is built; each platform calls it on the freshest read it holds.
    pub(crate) fn union(self, additions: impl IntoIterator<Item = T>) -> Vec<T> {
        let mut all = self.items;
        for addition in additions {
            if !all.contains(&addition) {
                all.push(addition);
            }
        }
        all
    }
}

impl KnownList<String> {
    /// A list of strings, each element a JSON string.
    pub(crate) fn strings(
        field: &str,
        value: Option<&Value>,
    ) -> Result<KnownList, UnreadableField> {
        KnownList::from_json(field, value, |v| v.as_str().map(str::to_string))
    }

    /// The values as a set.
    pub(crate) fn values(&self) -> Values {
        self.items.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn missing_null_and_wrong_types_are_unknown_never_empty() {
        let doc = json!({"a": null, "b": "x", "c": [1], "d": {"k": 1}});
        let problem = |key: &str| KnownList::strings(key, doc.get(key)).unwrap_err().problem;
        assert_eq!(problem("missing"), "is missing");
        assert_eq!(problem("a"), "is null");
        assert_eq!(problem("b"), "is a string instead of a list");
        assert_eq!(
            problem("c"),
            "holds an unreadable element at position 0 (a number)"
        );
        assert_eq!(problem("d"), "is an object instead of a list");
        let error = KnownList::strings("adminUsers", None).unwrap_err();
        assert_eq!(
            error.reason("POST /search").to_string(),
            "live state unreadable: field adminUsers is missing in POST /search"
        );
    }

    #[test]
    fn a_known_list_writes_every_live_value_plus_the_additions() {
        let doc = json!({"roles": ["b", "a"]});
        let known = KnownList::strings("roles", doc.get("roles")).unwrap();
        let add = ["c".to_string(), "a".to_string()];
        assert_eq!(known.union(add), ["b", "a", "c"]);
        let empty = KnownList::strings("roles", Some(&json!([]))).unwrap();
        assert!(
            empty.values().is_empty(),
            "an empty list that was sent is known"
        );
    }
}
