//! The shape the design asks of `src/`, checked on the source itself: dependencies point one
//! way (no cycle between top-level modules; records and reports import nothing that runs),
//! every `match` on `EnvKind` is exhaustive (no `_` or binding catch-all arm, so a new kind is
//! a compile error wherever it must be handled), and no function runs past 80 lines but the
//! data tables named here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Functions allowed past the limit: tables of data, not logic.
const DATA_TABLES: &[&str] = &[];
/// The longest function, in lines from its signature to its closing brace.
const MAX_FN_LINES: usize = 80;

/// What each module below may import from the crate (besides itself).
const LAYERS: &[(&str, &[&str])] = &[
    ("ids", &[]),
    ("stats", &[]),
    ("units", &[]),
    ("error", &[]),
    ("input", &["error"]),
    ("atomic", &["error", "input"]),
    (
        "results",
        &["atomic", "config", "error", "ids", "input", "stats"],
    ),
    (
        "report",
        &[
            "atomic",
            "config",
            "error",
            "ids",
            "input",
            "now_rfc3339",
            "results",
            "stats",
            "units",
        ],
    ),
    ("host", &["results"]),
    ("plan", &["config", "ids", "results", "stats"]),
];

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

/// The source with comments, string and character literals blanked (newlines kept), so that
/// braces and words are code.
fn code_only(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied().unwrap_or('\0');
        if c == '/' && next == '/' {
            while i < b.len() && b[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == '*' {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && (next == '"' || next == '#') && !is_ident(b.get(i.wrapping_sub(1))) {
            let mut hashes = 0;
            let mut j = i + 1;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let end: String = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            let rest: String = b[j + 1..].iter().collect();
            let len = rest.find(&end).map_or(rest.len(), |p| p + end.len());
            for ch in b[i..j + 1 + len].iter() {
                out.push(blank(*ch));
            }
            i = j + 1 + len;
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < b.len() {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && (next == '\\' || b.get(i + 2) == Some(&'\'')) {
            // A character literal (a lifetime has no closing quote two characters on).
            out.push(' ');
            i += 1;
            while i < b.len() && b[i] != '\'' {
                if b[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                out.push(' ');
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn is_ident(c: Option<&char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || *c == '_')
}

/// The index of the brace closing the one at `open`.
fn closing(code: &[u8], open: usize) -> usize {
    let mut depth = 0;
    for (i, &c) in code.iter().enumerate().skip(open) {
        match c {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    code.len()
}

/// The code with every `#[cfg(test)]` module blanked.
fn without_tests(code: &str) -> String {
    let mut code = code.to_string();
    while let Some(at) = code.find("#[cfg(test)]") {
        let bytes = code.as_bytes();
        let end = match code[at..].find(['{', ';']) {
            Some(rel) if bytes[at + rel] == b'{' => closing(bytes, at + rel) + 1,
            Some(rel) => at + rel + 1,
            None => code.len(),
        };
        let blanked: String = code[at..end]
            .chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' })
            .collect();
        code.replace_range(at..end, &blanked);
    }
    code
}

/// Every source file of `src/` as (top-level module, path, code without tests).
fn sources() -> Vec<(String, PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let rel = path.strip_prefix(&root).unwrap();
            let first = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy();
            let module = first.trim_end_matches(".rs").to_string();
            let code = without_tests(&code_only(&std::fs::read_to_string(&path).unwrap()));
            (module, path, code)
        })
        .collect()
}

/// The crate's top-level modules each module uses, from `crate::name` and `crate::{a, b}`.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, _, code) in sources() {
        if module == "main" || module == "lib" {
            continue;
        }
        let used = edges.entry(module.clone()).or_default();
        let mut rest = code.as_str();
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let names: Vec<String> = if let Some(group) = rest.strip_prefix('{') {
                let inner = &group[..group.find('}').unwrap_or(group.len())];
                inner
                    .split(',')
                    .map(|p| p.trim().split("::").next().unwrap_or("").to_string())
                    .collect()
            } else {
                vec![rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect()]
            };
            for name in names.into_iter().filter(|n| !n.is_empty() && *n != module) {
                used.insert(name);
            }
        }
    }
    edges
}

#[test]
fn no_cycle_between_top_level_modules() {
    let edges = imports();
    // Depth-first search for a back edge, naming the cycle.
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(pos) = path.iter().position(|p| p == node) {
            return Some(path[pos..].iter().cloned().chain([node.into()]).collect());
        }
        if !done.insert(node.to_string()) {
            return None;
        }
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        let mut path = Vec::new();
        if let Some(cycle) = visit(node, &edges, &mut path, &mut done) {
            panic!("import cycle: {}", cycle.join(" → "));
        }
    }
}

#[test]
fn records_and_reports_import_nothing_that_runs() {
    let edges = imports();
    for (module, allowed) in LAYERS {
        let used = edges.get(*module).cloned().unwrap_or_default();
        let extra: Vec<&String> = used
            .iter()
            .filter(|u| !allowed.contains(&u.as_str()))
            .collect();
        assert!(extra.is_empty(), "{module} imports {extra:?}");
    }
}

/// The patterns of each arm of the match block `body` (the text between its braces).
fn arm_patterns(body: &str) -> Vec<String> {
    let b = body.as_bytes();
    let (mut patterns, mut i, mut depth) = (Vec::new(), 0, 0i32);
    let mut pattern = String::new();
    let mut in_pattern = true;
    while i < b.len() {
        let c = b[i] as char;
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            _ => {}
        }
        if in_pattern {
            if depth == 0 && body[i..].starts_with("=>") {
                patterns.push(pattern.trim().to_string());
                pattern.clear();
                in_pattern = false;
                i += 2;
                // A block body ends at its closing brace, a comma optional.
                let skip = body[i..].len() - body[i..].trim_start().len();
                if body[i + skip..].starts_with('{') {
                    i = i + skip + closing(&b[i + skip..], 0) + 1;
                    let rest = body[i..].trim_start();
                    i = body.len() - rest.len() + usize::from(rest.starts_with(','));
                    in_pattern = true;
                }
                continue;
            }
            pattern.push(c);
        } else if depth == 0 && c == ',' {
            in_pattern = true;
        }
        i += 1;
    }
    patterns
}

#[test]
fn every_match_on_an_environment_kind_is_exhaustive() {
    let mut offenders = Vec::new();
    for (_, path, code) in sources() {
        let bytes = code.as_bytes();
        let mut from = 0;
        while let Some(rel) = code[from..].find("match ") {
            let at = from + rel;
            from = at + 6;
            if is_ident(code[..at].chars().last().as_ref()) {
                continue;
            }
            let Some(open) = code[at..].find('{').map(|o| at + o) else {
                break;
            };
            let close = closing(bytes, open);
            let patterns = arm_patterns(&code[open + 1..close]);
            let on_kind = patterns.iter().any(|p| p.contains("EnvKind::"));
            let catch_all = patterns.iter().any(|p| {
                let head = p.split(" if ").next().unwrap_or(p).trim();
                head == "_"
                    || (head.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                        && !head.is_empty())
                    || head.split([',', '(', ')']).any(|part| part.trim() == "_")
                        && !head.contains("Some(")
            });
            if on_kind && catch_all {
                let line = code[..at].matches('\n').count() + 1;
                offenders.push(format!("{}:{line}", path.display()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "a match on EnvKind with a catch-all arm: {offenders:?}"
    );
}

#[test]
fn no_function_runs_past_the_limit() {
    let mut long = Vec::new();
    for (_, path, code) in sources() {
        let bytes = code.as_bytes();
        let mut from = 0;
        while let Some(rel) = code[from..].find("fn ") {
            let at = from + rel;
            from = at + 3;
            if is_ident(code[..at].chars().last().as_ref()) {
                continue;
            }
            let name: String = code[at + 3..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let (Some(brace), semi) = (code[at..].find('{'), code[at..].find(';')) else {
                continue;
            };
            if semi.is_some_and(|s| s < brace) {
                continue;
            }
            let close = closing(bytes, at + brace);
            let lines = code[at..close].matches('\n').count() + 1;
            if lines > MAX_FN_LINES && !DATA_TABLES.contains(&name.as_str()) {
                long.push(format!("{} {name}: {lines} lines", path.display()));
            }
        }
    }
    assert!(long.is_empty(), "over {MAX_FN_LINES} lines: {long:#?}");
}

#[test]
fn the_checks_see_what_they_look_for() {
    // The scanners themselves: a catch-all arm and a cycle are found where they are.
    let code = code_only(
        "fn f(k: EnvKind) -> u8 { match k { EnvKind::Native => 1, _ => { 2 } } } // match x {",
    );
    let open = code.find("k {").unwrap() + 2;
    let close = closing(code.as_bytes(), open);
    assert_eq!(
        arm_patterns(&code[open + 1..close]),
        ["EnvKind::Native", "_"]
    );
    let strings = code_only(r#"let s = "crate::env {"; let c = '{'; // crate::net"#);
    assert!(!strings.contains("crate::") && !strings.contains('{'));
    let tests = without_tests("fn a() {}\n#[cfg(test)]\nmod tests { fn b() { crate::x } }\n");
    assert!(!tests.contains("crate::x") && tests.contains("fn a"));
}
