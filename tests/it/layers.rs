//! The layers of the library point one way (docs/ARCHITECTURE.md, `src/lib.rs`).
//!
//! Reads every `src/**/*.rs` of the library, collects the top-level modules each one names
//! through `crate::…` paths (grouped `use crate::{a, b}` and `super::` chains that climb to
//! the crate root included; comments left out), and fails on:
//!
//! - a cycle between top-level modules (each one printed with the edges inside it);
//! - a library module that depends on `cli` or `commands`, the two modules of the binary's
//!   glue;
//! - an edge that points up the layer order of [`LAYERS`], or a top-level module the order
//!   does not place (a new module must be given its layer here and in the docs).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The top-level modules from the bottom layer up; a module may name only modules of its own
/// row or a lower one, and the cycle check keeps modules of one row from naming each other
/// both ways. Keep in step with the drawing in `src/lib.rs` and docs/ARCHITECTURE.md.
const LAYERS: &[&[&str]] = &[
    &["secret", "text"],
    &["model"],
    &["manifest"],
    &["platform", "sandbox"],
    &["plan", "export"],
    &["apply"],
    &["render"],
    &["commands"],
    &["cli"],
];

/// The modules of the binary's glue: nothing in the library may depend on them.
const GLUE: [&str; 2] = ["cli", "commands"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file under `src/` (`src/plan/gather.rs` → `["plan", "gather"]`).
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_string());
    }
    parts
}

/// The code of a file without its comments (`//…` to the end of the line, outside strings is
/// not tracked: a `crate::` path in a string literal would count, and there is none).
fn code(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The first path segments after each `crate::` (expanding `crate::{a, b::c}`) and after each
/// `super::` chain that climbs out of the file's own top-level module.
fn referenced(code: &str, module: &[String]) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let bytes = code.as_bytes();
    let mut at = 0;
    while let Some(offset) = code[at..].find("crate::") {
        let start = at + offset;
        at = start + "crate::".len();
        // `$crate::` in a macro is the same crate; `foo_crate::` is another identifier.
        if start > 0 && is_ident(bytes[start - 1] as char) {
            continue;
        }
        let rest = &code[at..];
        if let Some(group) = rest.strip_prefix('{') {
            // The first segment of each item of the group, nested groups skipped.
            let mut depth = 0;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && depth == 0 && is_ident(c) => {
                        let name: String =
                            group[i..].chars().take_while(|c| is_ident(*c)).collect();
                        found.insert(name);
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let name: String = rest.chars().take_while(|c| is_ident(*c)).collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    // `super::` chains: from `src/a/b.rs` (module a::b), `super::super::x` names crate::x.
    let mut at = 0;
    while let Some(offset) = code[at..].find("super::") {
        let start = at + offset;
        at = start + "super::".len();
        if start > 0 && is_ident(bytes[start - 1] as char) {
            continue;
        }
        let mut depth = 1;
        let mut rest = &code[at..];
        while let Some(r) = rest.strip_prefix("super::") {
            depth += 1;
            rest = r;
        }
        if depth >= module.len() {
            let name: String = rest.chars().take_while(|c| is_ident(*c)).collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

/// Top-level module → the top-level modules it names (itself left out), with one file that
/// makes each edge.
fn graph() -> BTreeMap<String, BTreeMap<String, String>> {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files.sort();
    let mut modules: BTreeSet<String> = BTreeSet::new();
    let mut edges: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut uses: Vec<(String, PathBuf, BTreeSet<String>)> = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&root).unwrap().to_path_buf();
        // The binary's root is not part of the library.
        if relative == Path::new("main.rs") || relative == Path::new("lib.rs") {
            continue;
        }
        let module = module_path(&relative);
        let top = module[0].clone();
        modules.insert(top.clone());
        let text = std::fs::read_to_string(&file).unwrap();
        uses.push((top, relative, referenced(&code(&text), &module)));
    }
    for (top, file, names) in uses {
        let entry = edges.entry(top.clone()).or_default();
        for name in names {
            if name != top && modules.contains(&name) {
                entry
                    .entry(name)
                    .or_insert_with(|| file.display().to_string());
            }
        }
    }
    edges
}

/// The cycles of the graph: its strongly connected components of more than one module
/// (Tarjan's algorithm), each sorted.
fn cycles(edges: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<Vec<String>> {
    struct Tarjan<'g> {
        edges: &'g BTreeMap<String, BTreeMap<String, String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        found: Vec<Vec<String>>,
    }
    impl<'g> Tarjan<'g> {
        fn visit(&mut self, node: &'g str) {
            let n = self.index.len();
            self.index.insert(node, n);
            self.low.insert(node, n);
            self.stack.push(node);
            self.on_stack.insert(node);
            for next in self.edges.get(node).into_iter().flat_map(|e| e.keys()) {
                let next = next.as_str();
                if !self.index.contains_key(next) {
                    self.visit(next);
                    let low = self.low[node].min(self.low[next]);
                    self.low.insert(node, low);
                } else if self.on_stack.contains(next) {
                    let low = self.low[node].min(self.index[next]);
                    self.low.insert(node, low);
                }
            }
            if self.low[node] == self.index[node] {
                let mut component = Vec::new();
                while let Some(top) = self.stack.pop() {
                    self.on_stack.remove(top);
                    component.push(top.to_string());
                    if top == node {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut tarjan = Tarjan {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for node in edges.keys() {
        if !tarjan.index.contains_key(node.as_str()) {
            tarjan.visit(node);
        }
    }
    tarjan.found.sort();
    tarjan.found
}

/// Every way the graph breaks the rules, one line each.
fn violations(edges: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<String> {
    let mut out = Vec::new();
    for cycle in cycles(edges) {
        // The edges inside the cycle, each with a file that makes it.
        let steps: Vec<String> = cycle
            .iter()
            .flat_map(|from| {
                edges[from]
                    .iter()
                    .filter(|(to, _)| cycle.contains(to))
                    .map(move |(to, file)| format!("{from} → {to} ({file})"))
            })
            .collect();
        out.push(format!(
            "cycle of {}: {}",
            cycle.join(", "),
            steps.join(", ")
        ));
    }
    let layer = |m: &str| LAYERS.iter().position(|row| row.contains(&m));
    for (from, to) in edges {
        if layer(from).is_none() {
            out.push(format!("{from} has no layer in LAYERS"));
        }
        for (name, file) in to {
            if GLUE.contains(&name.as_str()) && !GLUE.contains(&from.as_str()) {
                out.push(format!("library module {from} depends on {name} ({file})"));
            }
            if let (Some(a), Some(b)) = (layer(from), layer(name))
                && b > a
            {
                out.push(format!("{from} points up to {name} ({file})"));
            }
        }
    }
    out
}

#[test]
fn the_library_layers_point_one_way() {
    let edges = graph();
    assert!(edges.len() >= 8, "too few modules found: {edges:?}");
    let found = violations(&edges);
    assert!(
        found.is_empty(),
        "layer violations:\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn the_check_sees_cycles_glue_and_upward_edges() {
    let edge = |pairs: &[(&str, &str)]| {
        let mut edges: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for (a, b) in pairs {
            edges
                .entry(a.to_string())
                .or_default()
                .insert(b.to_string(), "f.rs".into());
            edges.entry(b.to_string()).or_default();
        }
        edges
    };
    let found = violations(&edge(&[("plan", "model"), ("model", "plan")]));
    assert!(
        found
            .iter()
            .any(|v| v.starts_with("cycle of model, plan: ")),
        "{found:?}"
    );
    let found = violations(&edge(&[
        ("apply", "cli"),
        ("cli", "commands"),
        ("commands", "apply"),
        ("manifest", "platform"),
        ("platform", "manifest"),
    ]));
    let reported: Vec<&String> = found.iter().filter(|v| v.starts_with("cycle")).collect();
    assert_eq!(reported.len(), 2, "every cycle is reported: {found:?}");
    let found = violations(&edge(&[("apply", "cli")]));
    assert!(
        found
            .iter()
            .any(|v| v.contains("library module apply depends on cli")),
        "{found:?}"
    );
    let found = violations(&edge(&[("model", "platform")]));
    assert!(found.iter().any(|v| v.contains("points up")), "{found:?}");
    let found = violations(&edge(&[("newcomer", "model")]));
    assert!(found.iter().any(|v| v.contains("no layer")), "{found:?}");
    assert!(violations(&edge(&[("plan", "model"), ("apply", "plan")])).is_empty());

    // The parsing of paths: grouped imports, `$crate`, `super::` climbing to the root.
    let module = |p: &str| module_path(Path::new(p));
    let names = referenced(
        "use crate::{model::X, plan::{a, b}};\nlet x = $crate::commands::f();",
        &module("apply/mod.rs"),
    );
    assert_eq!(
        names,
        BTreeSet::from(["commands".into(), "model".into(), "plan".into()])
    );
    assert_eq!(
        referenced("use super::super::render::x;", &module("plan/gather.rs")),
        BTreeSet::from(["render".into()])
    );
    assert!(referenced("use super::diff;", &module("plan/gather.rs")).is_empty());
    assert_eq!(
        referenced("use super::model;", &module("secret.rs")),
        BTreeSet::from(["model".into()])
    );
    assert!(referenced(&code("// see crate::cli::run"), &module("model.rs")).is_empty());
}
