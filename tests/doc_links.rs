//! Every relative link in README.md and docs/ points at a file that exists, and README.md stays a
//! front page.
//!
//! The reference lives in chapters under docs/ that link to each other, to BENCHMARKS.md, to the
//! screenshots, protos and scripts. A renamed or moved file breaks such links silently, so this
//! test reads the Markdown and checks each relative target on disk. It uses only std: it needs
//! nothing from the library. Links written over several lines are not seen; fenced code blocks
//! and inline code spans are skipped. Fragments (`#section`) are not checked.

use std::fs;
use std::path::{Path, PathBuf};

/// A README longer than this is a reference manual again: move the detail into docs/.
const README_MAX_LINES: usize = 250;

/// Fewer relative links than this means the parser matched nothing, not that all is well.
const MIN_RELATIVE_LINKS: usize = 10;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every `.md` file under docs/, in a stable order.
fn markdown_files() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md")];
    let mut dirs = vec![root().join("docs")];
    while let Some(dir) = dirs.pop() {
        let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|ext| ext == "md") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The targets of the links and images `[text](target)` on one line, outside code spans.
fn link_targets(line: &str) -> Vec<&str> {
    let mut targets = Vec::new();
    // Splitting on backticks leaves code spans at the odd positions.
    for text in line.split('`').step_by(2) {
        let mut rest = text;
        while let Some(start) = rest.find("](") {
            let after = &rest[start + 2..];
            let end = after.find(')').unwrap_or(after.len());
            // `[text](target "title")`: the target ends at the first space.
            let target = after[..end].split_whitespace().next().unwrap_or("");
            targets.push(target.trim_start_matches('<').trim_end_matches('>'));
            rest = &after[end..];
        }
    }
    targets
}

fn is_relative(target: &str) -> bool {
    !target.is_empty()
        && !["http://", "https://", "mailto:", "#"]
            .iter()
            .any(|prefix| target.starts_with(prefix))
}

#[test]
fn relative_links_point_at_existing_files() {
    let mut broken = Vec::new();
    let mut relative = 0;
    for file in markdown_files() {
        let text = fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let folder = file.parent().unwrap();
        let shown = file.strip_prefix(root()).unwrap().display();
        let mut in_code_block = false;
        for (index, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("```") {
                in_code_block = !in_code_block;
                continue;
            }
            if in_code_block {
                continue;
            }
            for target in link_targets(line).into_iter().filter(|t| is_relative(t)) {
                relative += 1;
                let path = target.split('#').next().unwrap();
                if !folder.join(path).exists() {
                    broken.push(format!("{shown}:{}: {target}", index + 1));
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "{} broken relative link(s):\n{}",
        broken.len(),
        broken.join("\n")
    );
    assert!(
        relative >= MIN_RELATIVE_LINKS,
        "found only {relative} relative links in README.md and docs/; is the link parser broken?"
    );
}

#[test]
fn readme_is_a_front_page() {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(
        lines <= README_MAX_LINES,
        "README.md has {lines} lines, more than {README_MAX_LINES}: move the reference into docs/"
    );
}
