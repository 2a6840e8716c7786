//! The layers of `src/` as a test: imports only point down, edges never import each other, and
//! no two files import each other in a circle.
//!
//! It reads every `.rs` file under `src/` (std only, no parser crate): every path that starts
//! with `crate::`, `super::` or `self::` — in `use` trees, grouped or on several lines, and in
//! full paths in code — and every `use` of a child module, resolved to the module file that
//! defines it; a name a module re-exports (`pub use`) resolves to the file that defines the
//! item. `#[cfg(test)] mod … { … }` blocks are not read: tests may build fixtures from any
//! layer. A circle counts unless every import in it is between a module and its own
//! descendants (a parent re-exporting or driving its children, a child using its parent's
//! types: how Rust modules nest); so siblings that reach each other through their parent's
//! own items are a circle. `#[path]` and `#[macro_export]` are refused, since they
//! would hide a file's module or an import from this reading.
//!
//! The layers are the table in `LAYERS`, the same as `lib.rs`'s `# Layout` and
//! `docs/architecture.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Top to bottom: a module may import modules of its own layer or of a layer below.
const LAYERS: &[(&str, &[&str])] = &[
    ("command line", &["main", "cli"]),
    ("composition root", &["server"]),
    ("edges", &["api", "http", "cluster", "replay"]),
    ("application", &["app"]),
    (
        "domain services",
        &[
            "pipeline",
            "config",
            "policy",
            "scoring",
            "classifier",
            "toxicity",
            "import",
            "retention",
            "admission",
        ],
    ),
    ("storage", &["store"]),
    (
        "domain types and leaf helpers",
        &[
            "comment",
            "moderation",
            "validate",
            "privacy",
            "near_duplicate",
            "telemetry",
            "auth",
            "akismet",
            "tls",
            "connections",
            "error",
            "dataset",
            "confusion",
            "proto",
        ],
    ),
];

/// Layers whose modules must not import each other: each edge stands alone.
const ISOLATED_LAYERS: &[&str] = &["edges"];

/// One `.rs` file: its module path and the code that counts.
struct Source {
    file: PathBuf,
    module: Vec<String>,
    code: String,
}

/// A reference from one file to another module, at a line.
#[derive(Clone)]
struct Import {
    from: usize,
    line: usize,
    target: Vec<String>,
}

#[test]
fn imports_point_down_and_never_close_a_circle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let sources = read_sources(&root);
    let modules: BTreeSet<Vec<String>> = sources.iter().map(|s| s.module.clone()).collect();
    let reexports = reexports_of(&sources, &modules);
    let mut imports = Vec::new();
    for (index, source) in sources.iter().enumerate() {
        imports.extend(imports_of(index, source, &modules, &reexports));
    }
    let mut problems = String::new();
    for source in &sources {
        for (n, line) in source.code.lines().enumerate() {
            if line.contains("#[path") || line.contains("#[macro_export") {
                let _ = writeln!(
                    problems,
                    "{}:{}: #[path] and #[macro_export] hide imports from this test",
                    source.file.display(),
                    n + 1
                );
            }
        }
    }
    let mut seen_layers = BTreeSet::new();
    for import in &imports {
        let from = &sources[import.from];
        let (Some(from_layer), Some(to_layer)) = (layer_of(&from.module), layer_of(&import.target))
        else {
            let _ = writeln!(
                problems,
                "{}:{}: `{}` or its target `{}` is in no layer of tests/architecture.rs",
                from.file.display(),
                import.line,
                from.module.join("::"),
                import.target.join("::"),
            );
            continue;
        };
        seen_layers.insert(from_layer);
        let other_module = from.module.first() != import.target.first();
        if to_layer < from_layer {
            let _ = writeln!(
                problems,
                "{}:{}: imports `{}` from the layer \"{}\" above its own \"{}\"",
                from.file.display(),
                import.line,
                import.target.join("::"),
                LAYERS[to_layer].0,
                LAYERS[from_layer].0,
            );
        } else if to_layer == from_layer
            && other_module
            && ISOLATED_LAYERS.contains(&LAYERS[from_layer].0)
        {
            let _ = writeln!(
                problems,
                "{}:{}: the edge `{}` imports another edge `{}`",
                from.file.display(),
                import.line,
                from.module[0],
                import.target.join("::"),
            );
        }
    }
    for cycle in circles(&sources, &imports) {
        let _ = writeln!(problems, "a circle of imports:");
        for import in cycle {
            let _ = writeln!(
                problems,
                "    {}:{}: imports `{}`",
                sources[import.from].file.display(),
                import.line,
                import.target.join("::"),
            );
        }
    }
    assert!(problems.is_empty(), "\n{problems}");
    for (index, (name, _)) in LAYERS.iter().enumerate().skip(1) {
        assert!(
            seen_layers.contains(&index),
            "no import was found from the layer \"{name}\": the scanner is broken"
        );
    }
}

/// The index in `LAYERS` of a module path's top-level module.
fn layer_of(module: &[String]) -> Option<usize> {
    let top = module.first().map(String::as_str).unwrap_or("lib");
    if top == "lib" {
        return Some(0);
    }
    LAYERS
        .iter()
        .position(|(_, members)| members.contains(&top))
}

fn read_sources(root: &Path) -> Vec<Source> {
    let mut files = Vec::new();
    collect_rs_files(root, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let relative = file.strip_prefix(root).expect("under src/");
            let mut module: Vec<String> = relative
                .with_extension("")
                .iter()
                .map(|part| part.to_string_lossy().into_owned())
                .collect();
            if module
                .last()
                .is_some_and(|last| last == "mod" || last == "lib")
            {
                module.pop();
            }
            let text = std::fs::read_to_string(&file).expect("readable source");
            Source {
                file: relative.to_path_buf(),
                module,
                code: without_tests(&blank_comments_and_strings(&text)),
            }
        })
        .collect()
}

fn collect_rs_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable src/") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            collect_rs_files(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// The text with comments and the insides of string and char literals replaced by spaces, so
/// line numbers stay and nothing quoted looks like a path.
fn blank_comments_and_strings(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                    continue;
                }
                out.push(blank(chars[i]));
                i += 1;
            }
        } else if c == 'r' && (next == Some('#') || next == Some('"')) && raw_string_at(&chars, i) {
            let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
            let closing: String = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            let body_start = i + 2 + hashes;
            let rest: String = chars[body_start..].iter().collect();
            let body_len = rest
                .find(&closing)
                .map_or(rest.len(), |at| rest[..at].chars().count());
            for &ch in &chars[i..body_start + body_len] {
                out.push(blank(ch));
            }
            i = body_start + body_len;
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < chars.len() {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && char_literal_len(&chars, i) > 0 {
            let len = char_literal_len(&chars, i);
            out.extend(std::iter::repeat_n(' ', len));
            i += len;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Whether a raw string literal (`r"…"`, `r#"…"#`) starts at `i`, not an identifier ending in r.
fn raw_string_at(chars: &[char], i: usize) -> bool {
    let after_ident = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
    let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
    !after_ident && chars.get(i + 1 + hashes) == Some(&'"')
}

/// The length of a char literal at `i` (`'a'`, `'\n'`, `'\u{1F600}'`), or 0 for a lifetime.
fn char_literal_len(chars: &[char], i: usize) -> usize {
    match (chars.get(i + 1), chars.get(i + 2)) {
        (Some('\\'), _) => chars[i + 2..]
            .iter()
            .position(|&c| c == '\'')
            .map_or(0, |end| end + 3),
        (Some(_), Some('\'')) => 3,
        _ => 0,
    }
}

/// The code with every `#[cfg(test)] mod … { … }` block blanked (lines kept, so line numbers
/// stay right).
fn without_tests(code: &str) -> String {
    let lines: Vec<&str> = code.lines().collect();
    let mut kept: Vec<&str> = Vec::with_capacity(lines.len());
    let mut n = 0;
    while n < lines.len() {
        let test_module = lines[n].trim() == "#[cfg(test)]"
            && lines.get(n + 1).is_some_and(|next| {
                let next = next.trim_start();
                let declaration = next.strip_prefix("pub(crate) ").unwrap_or(next);
                declaration.starts_with("mod ") && next.contains('{')
            });
        if !test_module {
            kept.push(lines[n]);
            n += 1;
            continue;
        }
        let mut depth = 0i32;
        let mut end = n + 1;
        for (offset, line) in lines[n + 1..].iter().enumerate() {
            depth += line.matches('{').count() as i32 - line.matches('}').count() as i32;
            end = n + 1 + offset;
            if depth <= 0 {
                break;
            }
        }
        kept.extend(std::iter::repeat_n("", end + 1 - n));
        n = end + 1;
    }
    kept.join("\n")
}

/// What each module re-exports: `module::Name` → the absolute path it stands for.
type Reexports = BTreeMap<Vec<String>, Vec<String>>;

/// Every `pub use` of every file, by the name it is seen under.
fn reexports_of(sources: &[Source], modules: &BTreeSet<Vec<String>>) -> Reexports {
    let mut map = Reexports::new();
    for source in sources {
        for found in paths_in(&source.code).into_iter().filter(|f| f.reexport) {
            let Some(absolute) = absolute_path(&source.module, &found.path, modules) else {
                continue;
            };
            let Some(name) = found.alias.or_else(|| absolute.last().cloned()) else {
                continue;
            };
            let mut key = source.module.clone();
            key.push(name);
            map.insert(key, absolute);
        }
    }
    map
}

/// `path` with re-exported names replaced by what they stand for, so an import names the
/// file that defines the item rather than the module that re-exports it.
fn through_reexports(mut path: Vec<String>, reexports: &Reexports) -> Vec<String> {
    for _ in 0..8 {
        let Some(len) = (1..=path.len())
            .rev()
            .find(|&len| reexports.contains_key(&path[..len]))
        else {
            break;
        };
        let mut resolved = reexports[&path[..len]].clone();
        resolved.extend_from_slice(&path[len..]);
        if resolved == path {
            break;
        }
        path = resolved;
    }
    path
}

/// Every module another file's code refers to, resolved to the module file that defines
/// it.
fn imports_of(
    index: usize,
    source: &Source,
    modules: &BTreeSet<Vec<String>>,
    reexports: &Reexports,
) -> Vec<Import> {
    let mut found = Vec::new();
    // A `pub use` is an import too (the module's code may use the name), resolved like any
    // other to the file that defines the item.
    for Found { line, path, .. } in paths_in(&source.code) {
        let Some(absolute) = absolute_path(&source.module, &path, modules) else {
            continue;
        };
        let absolute = through_reexports(absolute, reexports);
        let Some(target) = (1..=absolute.len())
            .rev()
            .map(|len| absolute[..len].to_vec())
            .find(|prefix| modules.contains(prefix))
        else {
            continue;
        };
        if target != source.module {
            found.push(Import {
                from: index,
                line,
                target,
            });
        }
    }
    found
}

/// A path as written, made absolute from the crate root; `None` for outside crates.
fn absolute_path(
    module: &[String],
    path: &[String],
    modules: &BTreeSet<Vec<String>>,
) -> Option<Vec<String>> {
    let first = path.first()?.as_str();
    let mut base: Vec<String> = match first {
        "crate" | "commentguard" => Vec::new(),
        "self" => module.to_vec(),
        "super" => module[..module.len().saturating_sub(1)].to_vec(),
        _ => {
            let mut child = module.to_vec();
            child.push(first.to_owned());
            if !modules.contains(&child) {
                return None;
            }
            module.to_vec()
        }
    };
    let mut rest = if matches!(first, "crate" | "commentguard" | "self" | "super") {
        &path[1..]
    } else {
        path
    };
    while rest.first().is_some_and(|s| s == "super") {
        base.pop();
        rest = &rest[1..];
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

/// One path in the code: where, what, and for a `use`, the name it binds and whether it is
/// re-exported (`pub use`).
struct Found {
    line: usize,
    path: Vec<String>,
    alias: Option<String>,
    reexport: bool,
}

/// Every path in the code with its line: `use` trees expanded, and `crate::`/`super::`/
/// `self::`/`commentguard::` paths anywhere else.
fn paths_in(code: &str) -> Vec<Found> {
    let tokens = tokenize(code);
    let mut paths = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if tokens[i].1 == "use" {
            let line = tokens[i].0;
            let reexport = tokens[i.saturating_sub(4)..i]
                .iter()
                .any(|(_, t)| t == "pub");
            let end = tokens[i..]
                .iter()
                .position(|(_, t)| t == ";")
                .map_or(tokens.len(), |p| i + p);
            let mut expanded = Vec::new();
            expand_use_tree(&tokens[i + 1..end], &[], &mut expanded);
            paths.extend(expanded.into_iter().map(|(path, alias)| Found {
                line,
                path,
                alias,
                reexport,
            }));
            i = end;
        } else if ["crate", "super", "self", "commentguard"].contains(&tokens[i].1.as_str())
            && tokens.get(i + 1).is_some_and(|(_, t)| t == "::")
            && (i == 0 || tokens[i - 1].1 != "::")
        {
            let line = tokens[i].0;
            let mut path = vec![tokens[i].1.clone()];
            let mut j = i + 1;
            while tokens.get(j).is_some_and(|(_, t)| t == "::")
                && tokens.get(j + 1).is_some_and(|(_, t)| is_ident(t))
            {
                path.push(tokens[j + 1].1.clone());
                j += 2;
            }
            paths.push(Found {
                line,
                path,
                alias: None,
                reexport: false,
            });
            i = j;
        }
        i += 1;
    }
    paths
}

/// Expands `a::{b, c::{d as e, f}}` into `a::b`, `a::c::d` (bound as `e`), `a::c::f`.
type UsePath = (Vec<String>, Option<String>);

fn expand_use_tree(tokens: &[(usize, String)], prefix: &[String], out: &mut Vec<UsePath>) {
    let mut current = prefix.to_vec();
    let mut alias = None;
    let mut i = 0;
    while i < tokens.len() {
        let token = tokens[i].1.as_str();
        match token {
            "{" => {
                let close = matching_brace(tokens, i);
                for group in split_top_level_commas(&tokens[i + 1..close]) {
                    expand_use_tree(group, &current, out);
                }
                return;
            }
            "as" => {
                alias = tokens.get(i + 1).map(|(_, t)| t.clone());
                break;
            }
            "::" | "*" | "pub" | "(" | ")" | "in" => {}
            _ if is_ident(token) => current.push(token.to_owned()),
            _ => {}
        }
        i += 1;
    }
    if !current.is_empty() {
        out.push((current, alias));
    }
}

fn matching_brace(tokens: &[(usize, String)], open: usize) -> usize {
    let mut depth = 0;
    for (offset, (_, token)) in tokens[open..].iter().enumerate() {
        match token.as_str() {
            "{" => depth += 1,
            "}" => {
                depth -= 1;
                if depth == 0 {
                    return open + offset;
                }
            }
            _ => {}
        }
    }
    tokens.len()
}

fn split_top_level_commas(tokens: &[(usize, String)]) -> Vec<&[(usize, String)]> {
    let mut groups = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, (_, token)) in tokens.iter().enumerate() {
        match token.as_str() {
            "{" => depth += 1,
            "}" => depth -= 1,
            "," if depth == 0 => {
                groups.push(&tokens[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    groups.push(&tokens[start..]);
    groups
}

fn is_ident(token: &str) -> bool {
    token
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// Identifiers, `::` and single punctuation characters, each with its line.
fn tokenize(code: &str) -> Vec<(usize, String)> {
    let mut tokens = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c.is_alphanumeric() || c == '_' {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                tokens.push((n + 1, chars[start..i].iter().collect()));
                continue;
            }
            if c == ':' && chars.get(i + 1) == Some(&':') {
                tokens.push((n + 1, "::".to_owned()));
                i += 2;
                continue;
            }
            if !c.is_whitespace() {
                tokens.push((n + 1, c.to_string()));
            }
            i += 1;
        }
    }
    tokens
}

/// Whether one module is the other or one of its ancestors (how modules nest).
fn nested(a: &[String], b: &[String]) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// Circles among files, each as the imports that close it: for every import between files
/// that do not nest, the shortest way back. Circles made only of a module and its own
/// descendants are how Rust modules nest and are not reported.
fn circles(sources: &[Source], imports: &[Import]) -> Vec<Vec<Import>> {
    let index_of: BTreeMap<&[String], usize> = sources
        .iter()
        .enumerate()
        .map(|(i, s)| (s.module.as_slice(), i))
        .collect();
    let mut edges: BTreeMap<usize, BTreeMap<usize, Import>> = BTreeMap::new();
    for import in imports {
        if let Some(&to) = index_of.get(import.target.as_slice()) {
            edges
                .entry(import.from)
                .or_default()
                .entry(to)
                .or_insert_with(|| import.clone());
        }
    }
    let mut seen: BTreeSet<BTreeSet<usize>> = BTreeSet::new();
    let mut found = Vec::new();
    for (&from, targets) in &edges {
        for (&to, import) in targets {
            if nested(&sources[from].module, &sources[to].module) {
                continue;
            }
            let Some(back) = shortest_path(to, from, &edges) else {
                continue;
            };
            let mut cycle = vec![import.clone()];
            cycle.extend(back);
            if seen.insert(cycle.iter().map(|i| i.from).collect()) {
                found.push(cycle);
            }
        }
    }
    found
}

/// The shortest chain of imports from `start` to `goal` (breadth first).
fn shortest_path(
    start: usize,
    goal: usize,
    edges: &BTreeMap<usize, BTreeMap<usize, Import>>,
) -> Option<Vec<Import>> {
    let mut came_from: BTreeMap<usize, Import> = BTreeMap::new();
    let mut frontier = vec![start];
    while !frontier.is_empty() {
        let mut next = Vec::new();
        for node in frontier {
            for (&to, import) in edges.get(&node).into_iter().flatten() {
                if to == start || came_from.contains_key(&to) {
                    continue;
                }
                came_from.insert(to, import.clone());
                if to == goal {
                    let mut path = vec![import.clone()];
                    let mut at = node;
                    while at != start {
                        let step = came_from[&at].clone();
                        at = step.from;
                        path.push(step);
                    }
                    path.reverse();
                    return Some(path);
                }
                next.push(to);
            }
        }
        frontier = next;
    }
    None
}
