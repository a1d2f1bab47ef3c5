//! The subset of the Elasticsearch query DSL the Atlan SDKs and docs send to Atlan's search
//! endpoints — `bool`, `nested`, `term`, `terms`, `prefix`, `regexp` (Lucene syntax), `exists`
//! and `match_all` — parsed once and evaluated against any document that can list the values
//! of a field ([`Fields`]). Hosted by `atlan.rs`; used by the Connection search
//! (`/api/meta/search/indexsearch`) and the workflow indexes (`atlan_workflows.rs`), so the two
//! indexes understand queries the same way.

use std::borrow::Cow;
use std::collections::HashSet;

use regex::{Regex, RegexBuilder};
use serde_json::Value;

/// A searchable document: the values it holds at a field path (`.keyword` already removed).
pub(super) trait Fields {
    fn texts(&self, field: &str) -> Vec<Cow<'_, str>>;

    /// Whether the index lowercases `field` (an Elasticsearch normalizer), so that exact
    /// terms and prefixes on it match whatever their case.
    fn normalized(&self, _field: &str) -> bool {
        false
    }
}

/// A query clause. `nested` is evaluated as its inner query: documents are searched whole,
/// with full field paths, as Elasticsearch's nested queries also name them.
pub(super) enum Query {
    All,
    Bool {
        must: Vec<Query>,
        should: Vec<Query>,
        must_not: Vec<Query>,
        minimum_should_match: usize,
    },
    Term {
        field: String,
        values: HashSet<String>,
        case_insensitive: bool,
    },
    Prefix {
        field: String,
        value: String,
        case_insensitive: bool,
    },
    Regexp {
        field: String,
        regex: Regex,
    },
    Exists {
        field: String,
    },
}

/// Deeper than any query a client builds; a hostile one cannot exhaust the stack.
const MAX_QUERY_DEPTH: usize = 32;

/// Parses one query clause; an unsupported clause is an error naming it.
pub(super) fn parse_query(v: &Value) -> Result<Query, String> {
    parse_at(v, 0)
}

fn parse_at(v: &Value, depth: usize) -> Result<Query, String> {
    if depth > MAX_QUERY_DEPTH {
        return Err(format!("the query is nested deeper than {MAX_QUERY_DEPTH}"));
    }
    let Some((kind, body)) = v
        .as_object()
        .filter(|m| m.len() == 1)
        .and_then(|m| m.iter().next())
    else {
        return Err(format!("a query clause must be a one-key object, got {v}"));
    };
    let scalar = |v: &Value| -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    };
    // `{field: value}` or `{field: {"value": …, options}}`, beside an optional boost.
    let field_and_value = |body: &Value| -> Result<(String, Value), String> {
        let fields: Vec<(&String, &Value)> = body
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| k.as_str() != "boost")
            .collect();
        match fields[..] {
            [(field, value)] => Ok((field.clone(), value.clone())),
            _ => Err(format!(
                "[{kind}] query needs exactly one field, got {body}"
            )),
        }
    };
    let value_and_ci = |spec: &Value| -> Result<(String, bool), String> {
        match spec {
            Value::Object(o) => Ok((
                o.get("value")
                    .and_then(scalar)
                    .ok_or_else(|| format!("[{kind}] query needs a value"))?,
                o.get("case_insensitive")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            )),
            other => Ok((
                scalar(other).ok_or_else(|| format!("[{kind}] query needs a scalar value"))?,
                false,
            )),
        }
    };
    match kind.as_str() {
        "match_all" => Ok(Query::All),
        "term" => {
            let (field, spec) = field_and_value(body)?;
            let (value, case_insensitive) = value_and_ci(&spec)?;
            Ok(Query::Term {
                field,
                values: HashSet::from([value]),
                case_insensitive,
            })
        }
        "terms" => {
            let (field, list) = field_and_value(body)?;
            let values = list
                .as_array()
                .ok_or("[terms] query needs an array of values")?
                .iter()
                .map(|v| scalar(v).ok_or("[terms] values must be scalars"))
                .collect::<Result<HashSet<_>, _>>()?;
            Ok(Query::Term {
                field,
                values,
                case_insensitive: false,
            })
        }
        "prefix" => {
            let (field, spec) = field_and_value(body)?;
            let (value, case_insensitive) = value_and_ci(&spec)?;
            Ok(Query::Prefix {
                field,
                value,
                case_insensitive,
            })
        }
        "regexp" => {
            let (field, spec) = field_and_value(body)?;
            let (pattern, case_insensitive) = value_and_ci(&spec)?;
            let regex = RegexBuilder::new(&lucene_regex(&pattern)?)
                .case_insensitive(case_insensitive)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| format!("[regexp] {pattern:?} is not a valid expression: {e}"))?;
            Ok(Query::Regexp { field, regex })
        }
        "exists" => {
            let field = body
                .get("field")
                .and_then(Value::as_str)
                .ok_or("[exists] query needs a field")?;
            Ok(Query::Exists {
                field: field.to_string(),
            })
        }
        "nested" => {
            if !body.get("path").is_some_and(Value::is_string) {
                return Err("[nested] query needs a path".into());
            }
            let inner = body.get("query").ok_or("[nested] query needs a query")?;
            parse_at(inner, depth + 1)
        }
        "bool" => {
            let Some(b) = body.as_object() else {
                return Err("[bool] query needs an object".into());
            };
            let list = |key: &str| -> Result<Vec<Query>, String> {
                match b.get(key) {
                    None | Some(Value::Null) => Ok(Vec::new()),
                    Some(Value::Array(items)) => {
                        items.iter().map(|q| parse_at(q, depth + 1)).collect()
                    }
                    Some(one) => Ok(vec![parse_at(one, depth + 1)?]),
                }
            };
            let mut must = list("must")?;
            must.extend(list("filter")?);
            let should = list("should")?;
            let minimum_should_match = match b.get("minimum_should_match") {
                None | Some(Value::Null) => usize::from(must.is_empty() && !should.is_empty()),
                Some(v) => v
                    .as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or("[bool] minimum_should_match must be a count")?,
            };
            Ok(Query::Bool {
                must,
                should,
                must_not: list("must_not")?,
                minimum_should_match,
            })
        }
        other => Err(format!(
            "query clause [{other}] is not supported by the sandbox (supported: bool, nested, term, terms, prefix, regexp, exists, match_all)"
        )),
    }
}

/// A Lucene regular expression (always anchored at both ends) as a `regex` pattern. The
/// optional operators (`~ < > & @ #`) are refused rather than guessed at.
fn lucene_regex(pattern: &str) -> Result<String, String> {
    let mut out = String::from("^(?:");
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        if in_class {
            match c {
                ']' => {
                    in_class = false;
                    out.push(']');
                }
                '\\' => {
                    let next = chars.next().ok_or("[regexp] ends with a backslash")?;
                    out.push_str(&regex::escape(&next.to_string()));
                }
                '-' => out.push('-'),
                c if c.is_alphanumeric() => out.push(c),
                c => out.push_str(&regex::escape(&c.to_string())),
            }
            continue;
        }
        match c {
            '\\' => {
                let next = chars.next().ok_or("[regexp] ends with a backslash")?;
                out.push_str(&regex::escape(&next.to_string()));
            }
            '"' => {
                let mut literal = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some(ch) => literal.push(ch),
                        None => return Err("[regexp] has an unterminated quote".into()),
                    }
                }
                out.push_str(&regex::escape(&literal));
            }
            '[' => {
                in_class = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    out.push('^');
                }
            }
            '.' | '?' | '+' | '*' | '|' | '(' | ')' | '{' | '}' => out.push(c),
            '~' | '<' | '>' | '&' | '@' | '#' => {
                return Err(format!(
                    "[regexp] operator `{c}` is not supported by the sandbox"
                ));
            }
            c => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    if in_class {
        return Err("[regexp] has an unterminated character class".into());
    }
    out.push_str(")$");
    Ok(out)
}

/// A field path without the `.keyword` sub-field suffix (the sandbox stores exact values).
pub(super) fn base_field(field: &str) -> &str {
    field.strip_suffix(".keyword").unwrap_or(field)
}

/// Whether `doc` matches `q`.
pub(super) fn matches<D: Fields + ?Sized>(q: &Query, doc: &D) -> bool {
    match q {
        Query::All => true,
        Query::Bool {
            must,
            should,
            must_not,
            minimum_should_match,
        } => {
            must.iter().all(|m| matches(m, doc))
                && !must_not.iter().any(|m| matches(m, doc))
                && should.iter().filter(|s| matches(s, doc)).count() >= *minimum_should_match
        }
        Query::Term {
            field,
            values,
            case_insensitive,
        } => doc.texts(base_field(field)).iter().any(|have| {
            if *case_insensitive || doc.normalized(base_field(field)) {
                values.iter().any(|want| have.eq_ignore_ascii_case(want))
            } else {
                values.contains(have.as_ref())
            }
        }),
        Query::Prefix {
            field,
            value,
            case_insensitive,
        } => doc.texts(base_field(field)).iter().any(|have| {
            if *case_insensitive || doc.normalized(base_field(field)) {
                have.to_lowercase().starts_with(&value.to_lowercase())
            } else {
                have.starts_with(value.as_str())
            }
        }),
        Query::Regexp { field, regex } => doc
            .texts(base_field(field))
            .iter()
            .any(|have| regex.is_match(have)),
        Query::Exists { field } => !doc.texts(base_field(field)).is_empty(),
    }
}

/// The values an exact term on one of `fields` restricts the hits to, when the query requires
/// one (alone or among its `must`/`filter` clauses), so a search can look them up.
pub(super) fn required_term<'a>(q: &'a Query, fields: &[&str]) -> Option<&'a HashSet<String>> {
    match q {
        Query::Term {
            field,
            values,
            case_insensitive: false,
        } if fields.contains(&base_field(field)) => Some(values),
        Query::Bool { must, .. } => must.iter().find_map(|m| required_term(m, fields)),
        _ => None,
    }
}
