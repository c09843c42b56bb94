//! The layering rule of `docs/architecture.md`, checked on the source: every
//! `crate::…` and `super::…` path a file names must point to a file of the
//! same or a lower layer, and no two files may import each other, directly
//! or through others (no import cycles). Unit-test modules are left out:
//! they may reach anything.
//!
//! The layers, from the ground up (the table below is the one place they are
//! written as data; the document draws them):
//!
//! 0. foundation: `time`, `rooms`, `config/`, `store/error`
//! 1. models: each domain's `mod.rs` (types, error enum, storage trait),
//!    its pure parts (`validate`, `state`, `queue`, `sign`), `auth`, `fanout`,
//!    `cluster`
//! 2. errors, telemetry and storage backends: `error`, `telemetry/`, `store/`
//! 3. the context every service takes: `app` (with the after-store hook)
//! 4. domain services: `<domain>/service.rs`, `webhooks/{deliver,replies,worker}`
//! 5. edges: `realtime/`, `api/`, `http`, `security`, `<domain>/events.rs`,
//!    `<domain>/routes.rs`, the connect middleware, `messages/typing`
//! 6. wiring: `background`, `server`, `shutdown`, `cli`, `main`, `lib`

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layer of a source file (path relative to `src/`).
fn layer(file: &str) -> u8 {
    let stem = file.trim_end_matches(".rs");
    let parts: Vec<&str> = stem.split('/').collect();
    let last = *parts.last().unwrap();
    match parts[0] {
        "time" | "rooms" | "ids" | "config" => 0,
        "store" if last == "error" => 0,
        "fanout" => 1,
        "error" | "telemetry" | "store" | "testing" => 2,
        "app" | "hooks" => 3,
        "realtime" | "api" | "http" | "security" | "transports" => 5,
        "background" | "server" | "shutdown" | "cli" | "main" | "lib" => 6,
        "auth" => match last {
            "connect" | "events" => 5,
            _ => 1,
        },
        _domain => match last {
            "mod" | "validate" | "state" | "queue" | "sign" => 1,
            "service" | "replies" | "worker" | "deliver" => 4,
            "events" | "routes" | "typing" | "console" => 5,
            other => panic!("{file}: no layer declared for `{other}`; add it to tests/layers.rs"),
        },
    }
}

fn src_dir() -> PathBuf {
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

/// The module path of a file: `chat/service.rs` → `["chat", "service"]`.
fn module_of(file: &str) -> Vec<String> {
    let stem = file.trim_end_matches(".rs");
    let mut parts: Vec<String> = stem.split('/').map(String::from).collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The file that defines a module path, or its closest ancestor.
fn file_of(module: &[String], files: &BTreeSet<String>) -> Option<String> {
    for n in (1..=module.len()).rev() {
        let base = module[..n].join("/");
        for candidate in [format!("{base}.rs"), format!("{base}/mod.rs")] {
            if files.contains(&candidate) {
                return Some(candidate);
            }
        }
    }
    None
}

/// The code of a file without comments, string contents and unit tests.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests {") {
        Some(i) => &text[..i],
        None => text,
    };
    let mut out = String::new();
    for line in text.lines() {
        let line = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        let mut in_str = false;
        let mut prev = ' ';
        for c in line.chars() {
            if c == '"' && prev != '\\' {
                in_str = !in_str;
            }
            if !in_str {
                out.push(c);
            }
            prev = c;
        }
        out.push('\n');
    }
    out
}

fn ident(s: &str) -> usize {
    s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len())
}

/// Every module path a file names through `crate::` or `super::`,
/// including the items of `use …::{a, b::c}` groups.
fn imports(file: &str, text: &str) -> Vec<Vec<String>> {
    let me = module_of(file);
    let code = code(text);
    let mut out = Vec::new();
    for (root, base) in [
        ("crate::", Vec::new()),
        ("super::", me[..me.len().saturating_sub(1)].to_vec()),
    ] {
        let mut rest = code.as_str();
        while let Some(i) = rest.find(root) {
            let before = rest[..i].chars().last();
            rest = &rest[i + root.len()..];
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            collect(&base, rest, &mut out);
        }
    }
    out
}

/// Reads `a::b::Item` or `{a, b::c}` after a root and records the paths.
fn collect(base: &[String], rest: &str, out: &mut Vec<Vec<String>>) {
    let mut path = base.to_vec();
    let mut s = rest;
    loop {
        if let Some(group) = s.strip_prefix('{') {
            let mut depth = 1;
            let end = group
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '{' => 1,
                        '}' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map_or(group.len(), |(i, _)| i);
            let mut start = 0;
            let mut d = 0;
            let inner = &group[..end];
            for (i, c) in inner.char_indices().chain([(inner.len(), ',')]) {
                match c {
                    '{' => d += 1,
                    '}' => d -= 1,
                    ',' if d == 0 => {
                        let item = inner[start..i].trim();
                        if !item.is_empty() {
                            collect(&path, item, out);
                        }
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            return;
        }
        let n = ident(s);
        let seg = &s[..n];
        if n == 0 || seg.starts_with(|c: char| c.is_ascii_uppercase()) || seg == "self" {
            break;
        }
        path.push(seg.to_string());
        match s[n..].strip_prefix("::") {
            Some(more) => s = more,
            None => break,
        }
    }
    out.push(path);
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = src_dir();
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    let files: BTreeSet<String> = paths
        .iter()
        .map(|p| {
            p.strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/")
        })
        .collect();
    let mut edges = BTreeMap::new();
    for file in &files {
        // Unit-test files (`#[cfg(test)] mod tests;`) may reach anything.
        if file.ends_with("/tests.rs") || file.starts_with("store/suite") {
            continue;
        }
        let text = std::fs::read_to_string(src.join(file)).unwrap();
        let mut targets = BTreeSet::new();
        for module in imports(file, &text) {
            if let Some(target) = file_of(&module, &files) {
                if &target != file {
                    targets.insert(target);
                }
            }
        }
        edges.insert(file.clone(), targets);
    }
    edges
}

#[test]
fn imports_only_point_down() {
    let mut upward = Vec::new();
    for (file, targets) in graph() {
        for target in targets {
            if layer(&target) > layer(&file) {
                upward.push(format!(
                    "{file} (layer {}) imports {target} (layer {})",
                    layer(&file),
                    layer(&target)
                ));
            }
        }
    }
    assert!(upward.is_empty(), "upward imports:\n{}", upward.join("\n"));
}

#[test]
fn no_file_imports_itself_through_others() {
    let g = graph();
    // Depth-first search for a back edge; report the cycle it closes.
    fn visit(
        f: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
        cycles: &mut Vec<String>,
    ) {
        state.insert(f.to_string(), 1);
        stack.push(f.to_string());
        for t in g.get(f).into_iter().flatten() {
            match state.get(t.as_str()).copied().unwrap_or(0) {
                0 => visit(t, g, state, stack, cycles),
                1 => {
                    let from = stack.iter().position(|s| s == t).unwrap();
                    cycles.push(format!("{} → {t}", stack[from..].join(" → ")));
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(f.to_string(), 2);
    }
    let mut state = BTreeMap::new();
    let mut cycles = Vec::new();
    for f in g.keys() {
        if !state.contains_key(f) {
            visit(f, &g, &mut state, &mut Vec::new(), &mut cycles);
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_checker_sees_imports() {
    // The parser itself: a group, a nested group, `super` and a plain path.
    let found = imports(
        "chat/events.rs",
        "use crate::{a, b::{c, D}};\nuse super::service::create;\nlet x = crate::e::f::G;\n// crate::comment\n",
    );
    let found: Vec<String> = found.iter().map(|p| p.join("::")).collect();
    assert_eq!(found, ["a", "b::c", "b", "e::f", "chat::service::create"]);
    assert_eq!(layer("chat/mod.rs"), 1);
    assert_eq!(layer("chat/service.rs"), 4);
    assert_eq!(layer("chat/events.rs"), 5);
    assert_eq!(layer("server.rs"), 6);
}

#[test]
fn no_source_file_is_over_500_lines() {
    let src = src_dir();
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    let long: Vec<String> = paths
        .iter()
        .filter_map(|p| {
            let n = std::fs::read_to_string(p).unwrap().lines().count();
            (n > 500).then(|| format!("{} ({n} lines)", p.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these files:\n{}", long.join("\n"));
}
