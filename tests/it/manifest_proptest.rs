//! Hostile and damaged input never panics the loader: arbitrary text, and random mutations of
//! the example manifests, give either documents or diagnostics that all have a location.

use std::path::Path;

use proptest::prelude::*;
use warrant::platform;

fn check(text: &str) -> Result<(), TestCaseError> {
    let file = Path::new("fuzz.yaml");
    if let Err(diags) = platform::Manifests::parse(file, text) {
        prop_assert!(!diags.is_empty());
        for d in &diags {
            prop_assert_eq!(d.location.file.as_path(), file);
            prop_assert!(d.location.line >= 1 && d.location.column >= 1, "{:?}", d);
            prop_assert!(!d.message.is_empty());
        }
    }
    Ok(())
}

fn example_texts() -> Vec<String> {
    let mut files: Vec<_> = std::fs::read_dir("examples/manifests")
        .expect("examples")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    let mut texts: Vec<String> = files
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("readable"))
        .collect();
    // All files as one stream too, so that mutations reach the rules across documents.
    texts.push(texts.join("---\n"));
    texts
}

#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    ReplaceChar(usize, char),
    Indent(usize, i8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let yamlish = prop::sample::select(vec![
        ':', '-', ' ', '{', '}', '[', ']', '&', '*', '!', '#', '\'', '"', '|', '>', '\t', 'x', '0',
        '\n', '%', '@', '?', ',', 'é',
    ]);
    prop_oneof![
        any::<usize>().prop_map(Mutation::DeleteLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<usize>(), yamlish).prop_map(|(i, c)| Mutation::ReplaceChar(i, c)),
        (any::<usize>(), -4i8..=4).prop_map(|(i, d)| Mutation::Indent(i, d)),
    ]
}

fn apply(text: &str, m: &Mutation) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.is_empty() {
        return text.to_string();
    }
    let n = lines.len();
    match *m {
        Mutation::DeleteLine(i) => {
            lines.remove(i % n);
        }
        Mutation::DuplicateLine(i) => {
            let line = lines[i % n].clone();
            lines.insert(i % n, line);
        }
        Mutation::SwapLines(a, b) => lines.swap(a % n, b % n),
        Mutation::ReplaceChar(i, c) => {
            let chars: Vec<char> = text.chars().collect();
            let mut chars = chars;
            let len = chars.len();
            if len > 0 {
                chars[i % len] = c;
            }
            return chars.into_iter().collect();
        }
        Mutation::Indent(i, d) => {
            let line = &mut lines[i % n];
            if d >= 0 {
                line.insert_str(0, &" ".repeat(d as usize));
            } else {
                let strip = line.len() - line.trim_start_matches(' ').len();
                line.drain(..strip.min(d.unsigned_abs() as usize));
            }
        }
    }
    lines.join("\n") + "\n"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        check(&text)?;
    }

    #[test]
    fn yaml_like_text_never_panics(text in "[a-zA-Z0-9:{}\\[\\],&*!|>'\" \n\t#%-]{0,200}") {
        check(&text)?;
    }

    #[test]
    fn mutated_examples_never_panic(
        which in 0usize..5,
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let texts = example_texts();
        let mut text = texts[which % texts.len()].clone();
        for m in &mutations {
            text = apply(&text, m);
        }
        check(&text)?;
    }
}

#[test]
fn the_unmutated_examples_are_valid() {
    let texts = example_texts();
    let all = texts.last().expect("joined stream");
    assert!(platform::Manifests::parse(Path::new("examples/manifests/all.yaml"), all).is_ok());
}
