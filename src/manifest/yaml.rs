//! A YAML document tree in which every node knows its line and column.
//!
//! serde_yaml reports no positions for the values it hands to serde, yet every manifest error
//! must name file, line and column. So the loader parses with `saphyr_parser`'s event stream
//! (which carries spans) into this small tree, and `de.rs` deserializes the typed kinds from it.
//! Building the tree ourselves is also where the hostile-input rules live: duplicate keys are
//! refused, alias expansion is bounded (no "billion laughs"), and nesting depth is capped so
//! nothing downstream can overflow the stack.

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// Nodes an alias may add to one document, in total; real manifests need a handful.
pub(crate) const MAX_ALIAS_NODES: usize = 1_000;
/// Deepest nesting accepted; manifests need about six levels.
pub(crate) const MAX_DEPTH: usize = 64;

/// A 1-based line and column in the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    fn of(span: &Span) -> Pos {
        Pos {
            line: span.start.line().max(1),
            column: span.start.col() + 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub pos: Pos,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// A scalar; `plain` is false for quoted and block scalars, which are always strings.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// What a plain scalar means under the YAML 1.2 core schema.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Resolved<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
}

impl Node {
    /// The scalar's meaning: quoted scalars are strings, plain ones follow the core schema.
    pub(crate) fn resolve(&self) -> Option<Resolved<'_>> {
        let Value::Scalar { text, plain } = &self.value else {
            return None;
        };
        if !plain {
            return Some(Resolved::Str(text));
        }
        Some(match text.as_str() {
            "" | "~" | "null" | "Null" | "NULL" => Resolved::Null,
            "true" | "True" | "TRUE" => Resolved::Bool(true),
            "false" | "False" | "FALSE" => Resolved::Bool(false),
            t => {
                if let Some(i) = parse_int(t) {
                    Resolved::Int(i)
                } else if let Some(f) = parse_float(t) {
                    Resolved::Float(f)
                } else {
                    Resolved::Str(t)
                }
            }
        })
    }

    /// The scalar's text, whatever it resolves to.
    pub(crate) fn text(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The value under `key` of a mapping.
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.text() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// A short name of the node's YAML type for messages; never includes the value, which may
    /// be a secret pasted in the wrong place.
    pub(crate) fn type_name(&self) -> &'static str {
        match &self.value {
            Value::Seq(_) => "a sequence",
            Value::Map(_) => "a mapping",
            Value::Scalar { .. } => match self.resolve() {
                Some(Resolved::Null) => "null",
                Some(Resolved::Bool(_)) => "a boolean",
                Some(Resolved::Int(_)) => "an integer",
                Some(Resolved::Float(_)) => "a number",
                _ => "a string",
            },
        }
    }
}

fn parse_int(t: &str) -> Option<i64> {
    let (neg, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let magnitude = if let Some(hex) = digits.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()?
    } else if let Some(oct) = digits.strip_prefix("0o") {
        i64::from_str_radix(oct, 8).ok()?
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()?
    } else {
        return None;
    };
    Some(if neg { -magnitude } else { magnitude })
}

fn parse_float(t: &str) -> Option<f64> {
    match t {
        ".inf" | "+.inf" | ".Inf" | "+.Inf" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" => return Some(f64::NAN),
        _ => {}
    }
    let looks_numeric = t
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        && t.bytes().any(|b| b.is_ascii_digit());
    if looks_numeric { t.parse().ok() } else { None }
}

/// A problem found while building the tree.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct YamlError {
    pub pos: Pos,
    pub message: String,
    pub hint: Option<String>,
}

/// One document of a file; `None` root for an empty document.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Document {
    pub pos: Pos,
    pub root: Option<Node>,
}

/// Parses a whole YAML stream. A syntax error ends the stream (the parser cannot resume after
/// it); structural problems (duplicate keys, aliases) are collected and parsing goes on.
pub(crate) fn parse_stream(text: &str) -> (Vec<Document>, Vec<YamlError>) {
    let mut builder = Builder::default();
    for event in Parser::new_from_str(text) {
        match event {
            Ok((event, span)) => {
                if builder.on_event(event, span).is_err() {
                    break;
                }
            }
            Err(e) => {
                let marker = e.marker();
                builder.errors.push(YamlError {
                    pos: Pos {
                        line: marker.line().max(1),
                        column: marker.col() + 1,
                    },
                    message: format!("YAML syntax error: {}", e.info()),
                    hint: Some(
                        "check the indentation here and above, and that every quote and bracket is closed".into(),
                    ),
                });
                break;
            }
        }
    }
    (builder.documents, builder.errors)
}

/// A node under construction.
enum Open {
    Seq(Node, Vec<Node>, usize),
    /// Mapping: node, finished entries, a key waiting for its value, anchor id.
    Map(Node, Vec<(Node, Node)>, Option<Node>, usize),
}

#[derive(Default)]
struct Builder {
    documents: Vec<Document>,
    errors: Vec<YamlError>,
    stack: Vec<Open>,
    doc_pos: Option<Pos>,
    root: Option<Node>,
    /// Anchored nodes of the current document, with their size in nodes.
    anchors: HashMap<usize, (Node, usize)>,
    alias_nodes: usize,
}

/// Stops the event loop: the stream cannot be read further safely.
struct Abort;

impl Builder {
    fn on_event(&mut self, event: Event<'_>, span: Span) -> Result<(), Abort> {
        let pos = Pos::of(&span);
        match event {
            Event::DocumentStart(_) => {
                self.doc_pos = Some(pos);
                self.root = None;
                self.anchors.clear();
                self.alias_nodes = 0;
            }
            Event::DocumentEnd => {
                let root = self.root.take();
                let doc_pos = self.doc_pos.take().unwrap_or(pos);
                self.documents.push(Document { pos: doc_pos, root });
            }
            Event::Scalar(text, style, anchor, _tag) => {
                let node = Node {
                    pos,
                    value: Value::Scalar {
                        text: text.into_owned(),
                        plain: matches!(style, ScalarStyle::Plain),
                    },
                };
                self.finish(node, anchor, 1);
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _)
                if self.stack.len() >= MAX_DEPTH =>
            {
                let _ = anchor;
                self.errors.push(YamlError {
                    pos,
                    message: format!("nesting deeper than {MAX_DEPTH} levels"),
                    hint: Some("no manifest needs this depth; check the indentation".into()),
                });
                return Err(Abort);
            }
            Event::SequenceStart(anchor, _) => {
                let node = Node {
                    pos,
                    value: Value::Seq(Vec::new()),
                };
                self.stack.push(Open::Seq(node, Vec::new(), anchor));
            }
            Event::MappingStart(anchor, _) => {
                let node = Node {
                    pos,
                    value: Value::Map(Vec::new()),
                };
                self.stack.push(Open::Map(node, Vec::new(), None, anchor));
            }
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Open::Seq(mut node, items, anchor)) => {
                    let size = 1 + items.iter().map(size_of).sum::<usize>();
                    node.value = Value::Seq(items);
                    self.finish(node, anchor, size);
                }
                Some(Open::Map(mut node, entries, _, anchor)) => {
                    let size = 1 + entries
                        .iter()
                        .map(|(k, v)| size_of(k) + size_of(v))
                        .sum::<usize>();
                    node.value = Value::Map(entries);
                    self.finish(node, anchor, size);
                }
                None => return Err(Abort),
            },
            Event::Alias(id) => {
                let Some((node, size)) = self.anchors.get(&id).cloned() else {
                    self.errors.push(YamlError {
                        pos,
                        message: "alias to an unknown anchor".into(),
                        hint: Some("define the anchor (`&name`) before using it (`*name`)".into()),
                    });
                    return Err(Abort);
                };
                self.alias_nodes += size;
                if self.alias_nodes > MAX_ALIAS_NODES {
                    self.errors.push(YamlError {
                        pos,
                        message: format!(
                            "aliases expand to more than {MAX_ALIAS_NODES} nodes in this document"
                        ),
                        hint: Some(
                            "write the values out instead of using anchors and aliases".into(),
                        ),
                    });
                    return Err(Abort);
                }
                // The copy takes the alias's position: that is where the value is used.
                let node = Node { pos, ..node };
                self.finish(node, 0, size);
            }
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
        }
        Ok(())
    }

    /// Attaches a completed node to its parent (or makes it the document root).
    fn finish(&mut self, node: Node, anchor: usize, size: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), size));
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Open::Seq(_, items, _)) => items.push(node),
            Some(Open::Map(_, entries, pending, _)) => match pending.take() {
                None => {
                    if let Value::Map(_) | Value::Seq(_) = node.value {
                        self.errors.push(YamlError {
                            pos: node.pos,
                            message: "a mapping key must be a scalar".into(),
                            hint: Some("keys are plain names such as `target`".into()),
                        });
                    }
                    *pending = Some(node);
                }
                Some(key) => {
                    if let Some((first, _)) = entries
                        .iter()
                        .find(|(k, _)| k.text().is_some() && k.text() == key.text())
                    {
                        self.errors.push(YamlError {
                            pos: key.pos,
                            message: format!(
                                "duplicate key \"{}\" (first defined at line {})",
                                key.text().map(Cow::from).unwrap_or_default(),
                                first.pos.line
                            ),
                            hint: Some("remove one of the two entries".into()),
                        });
                    } else {
                        entries.push((key, node));
                    }
                }
            },
        }
    }
}

fn size_of(node: &Node) -> usize {
    match &node.value {
        Value::Scalar { .. } => 1,
        Value::Seq(items) => 1 + items.iter().map(size_of).sum::<usize>(),
        Value::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| size_of(k) + size_of(v))
                .sum::<usize>()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let (docs, errors) = parse_stream("a: 1\nb:\n  c: x\n");
        assert!(errors.is_empty());
        let root = docs[0].root.as_ref().unwrap();
        let Value::Map(entries) = &root.get("b").unwrap().value else {
            panic!("b is a mapping")
        };
        assert_eq!(entries[0].0.pos, Pos { line: 3, column: 3 });
        assert_eq!(entries[0].1.pos, Pos { line: 3, column: 6 });
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let (_, errors) = parse_stream("a: 1\na: 2\n");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].pos, Pos { line: 2, column: 1 });
        assert!(errors[0].message.contains("first defined at line 1"));
    }

    #[test]
    fn billion_laughs_is_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let (_, errors) = parse_stream(&text);
        assert!(errors.iter().any(|e| e.message.contains("aliases expand")));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = "[".repeat(10_000);
        let (_, errors) = parse_stream(&text);
        assert!(!errors.is_empty());
    }

    #[test]
    fn core_schema_resolution() {
        let (docs, _) = parse_stream("[1, '1', true, ~, 1.5, x]");
        let Value::Seq(items) = &docs[0].root.as_ref().unwrap().value else {
            panic!("not a sequence")
        };
        let kinds: Vec<_> = items.iter().map(|n| n.type_name()).collect();
        assert_eq!(
            kinds,
            [
                "an integer",
                "a string",
                "a boolean",
                "null",
                "a number",
                "a string"
            ]
        );
    }
}
