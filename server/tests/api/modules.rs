//! The module graph of `server/src` (docs/architecture.md, "The server's modules"): three
//! wings (`edge`, `hub`, `host`) beside the command line; no import cycle between top-level
//! modules nor between the modules of the edge and the hub (each was a top-level module before
//! the wings); the host imports nothing of the hub, the edge
//! nothing of either; the registry knows nothing of NATS or replicas and `cli` imports only the
//! edge. Imports are read from the sources: every `crate::…` and `super::…` path outside
//! comments, `use` groups included.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The wings whose modules are the graph's nodes one by one; the host, one program with one
/// state, is a single node.
const SPLIT_WINGS: [&str; 2] = ["edge", "hub"];

/// A module of the graph: a top-level module, or a module directly inside the edge or the hub
/// (`hub::registry`).
fn unit(path: &[String]) -> Option<String> {
    let first = path.first()?;
    match path.get(1) {
        Some(second) if SPLIT_WINGS.contains(&first.as_str()) => Some(format!("{first}::{second}")),
        _ => Some(first.clone()),
    }
}

/// Module → the modules it imports, for every file under `src` but `lib.rs` and `main.rs`.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let mut module: Vec<String> = relative
            .iter()
            .map(|part| part.to_string_lossy().trim_end_matches(".rs").to_owned())
            .collect();
        if module.last().is_some_and(|last| last == "mod") {
            module.pop();
        }
        if matches!(module.as_slice(), [only] if only == "lib" || only == "main") {
            continue;
        }
        let own = unit(&module).unwrap();
        let used = graph.entry(own.clone()).or_default();
        let text = strip_comments(&std::fs::read_to_string(&file).unwrap());
        for path in paths(&text, &module) {
            if let Some(other) = unit(&path) {
                if other != own && is_module(&src, &path) {
                    used.insert(other);
                }
            }
        }
    }
    graph
}

/// Whether `path` starts with a module of the crate (not an item of `lib.rs`).
fn is_module(src: &Path, path: &[String]) -> bool {
    path.first()
        .is_some_and(|first| src.join(first).is_dir() || src.join(format!("{first}.rs")).is_file())
}

fn strip_comments(text: &str) -> String {
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .map(|line| line.split(" //").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every absolute path named in `text` (a file of module `module`): `crate::a::b`,
/// `super::c` and the members of `use crate::{…}` groups.
fn paths(text: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut at = 0;
    while at < text.len() {
        let rest = &text[at..];
        let boundary = at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_');
        let base = if !boundary {
            None
        } else if rest.starts_with("crate::") {
            Some((Vec::new(), "crate::".len()))
        } else if rest.starts_with("super::") {
            let mut base = module.to_vec();
            let mut len = 0;
            while text[at + len..].starts_with("super::") {
                base.pop();
                len += "super::".len();
            }
            Some((base, len))
        } else {
            None
        };
        match base {
            Some((base, len)) => {
                let (tree, used) = tree(&text[at + len..]);
                out.extend(tree.into_iter().map(|p| [base.clone(), p].concat()));
                at += len + used.max(1);
            }
            None => at += rest.chars().next().map_or(1, char::len_utf8),
        }
    }
    out
}

/// The paths of a use tree at the start of `text` (`a::b`, `a::{b, c::d}`, `{a, b}`) and the
/// bytes it spans.
fn tree(text: &str) -> (Vec<Vec<String>>, usize) {
    let ident = |s: &str| {
        s.char_indices()
            .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
            .map_or(s.len(), |(i, _)| i)
    };
    let mut prefix = Vec::new();
    let mut at = 0;
    loop {
        let rest = &text[at..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut end = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    end = i;
                    break;
                }
            }
            let mut paths = Vec::new();
            let inner = &group[..end];
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in inner.char_indices().chain([(inner.len(), ',')]) {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        let member = inner[start..i].trim();
                        if !member.is_empty() {
                            let (sub, _) = tree(member);
                            paths.extend(sub.into_iter().map(|p| [prefix.clone(), p].concat()));
                        }
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            return (paths, at + end + 2);
        }
        let len = ident(rest);
        if len == 0 {
            return (vec![prefix], at);
        }
        prefix.push(rest[..len].to_owned());
        at += len;
        if text[at..].starts_with("::") {
            at += 2;
        } else {
            return (vec![prefix], at);
        }
    }
}

fn collect(path: &Path, files: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap().flatten() {
            collect(&entry.path(), files);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        files.push(path.to_owned());
    }
}

/// A cycle through `from`, if any.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> Option<Vec<String>> {
    let mut todo = vec![vec![from.to_owned()]];
    let mut seen = BTreeSet::new();
    while let Some(trail) = todo.pop() {
        for used in graph.get(trail.last().unwrap()).into_iter().flatten() {
            let next = [trail.clone(), vec![used.clone()]].concat();
            if used == from {
                return Some(next);
            }
            if seen.insert(used.clone()) {
                todo.push(next);
            }
        }
    }
    None
}

/// The graph between top-level modules: a wing stands for all its modules.
fn top_level(graph: &BTreeMap<String, BTreeSet<String>>) -> BTreeMap<String, BTreeSet<String>> {
    let top = |m: &str| m.split("::").next().unwrap().to_owned();
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, used) in graph {
        let entry = out.entry(top(module)).or_default();
        entry.extend(used.iter().map(|u| top(u)).filter(|u| *u != top(module)));
    }
    out
}

#[test]
fn the_module_graph_has_three_wings_and_no_cycle() {
    let graph = imports();
    assert!(graph.contains_key("hub::registry") && graph.contains_key("edge::coop_ws"));
    let top = top_level(&graph);
    for graph in [&top, &graph] {
        for module in graph.keys() {
            if let Some(cycle) = cycle(graph, module) {
                panic!("import cycle: {}", cycle.join(" → "));
            }
        }
    }
    assert!(
        !top["host"].contains("hub"),
        "the host imports the hub: {:?}",
        host_to_hub(&graph)
    );
    for wing in ["hub", "host", "cli", "commands", "logging"] {
        assert!(
            !top["edge"].contains(wing),
            "the edge imports {wing}: {:?}",
            top["edge"]
        );
    }
}

fn host_to_hub(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    (graph.iter())
        .filter(|(module, _)| *module == "host")
        .flat_map(|(module, used)| {
            (used.iter())
                .filter(|u| u.starts_with("hub::"))
                .map(move |u| format!("{module} → {u}"))
        })
        .collect()
}

#[test]
fn the_registry_is_at_the_bottom_and_cli_imports_only_the_edge() {
    let graph = imports();
    let registry = &graph["hub::registry"];
    for above in [
        "hub::nats",
        "hub::fleet",
        "hub::replication",
        "hub::discovery",
        "hub::credentials",
        "cli",
    ] {
        assert!(
            !registry.contains(above),
            "registry imports {above}: {registry:?}"
        );
    }
    let cli = &graph["cli"];
    assert!(
        cli.iter().all(|m| m.starts_with("edge::")),
        "cli imports {cli:?}"
    );
    assert!(
        graph["edge::nats"].iter().all(|m| m.starts_with("edge::")),
        "the NATS link imports {:?}",
        graph["edge::nats"]
    );
}

/// The reader itself: groups, `super` chains and the two levels of the graph.
#[test]
fn the_import_reader_sees_groups_and_super_paths() {
    let module = ["hub".to_owned(), "api".to_owned(), "x".to_owned()];
    let text =
        "use crate::{hub::{registry::R, upstream}, edge::guard};\nuse super::super::feed::F;";
    let units: BTreeSet<String> = (paths(text, &module).iter())
        .filter_map(|p| unit(p))
        .collect();
    let expected = ["edge::guard", "hub::feed", "hub::registry", "hub::upstream"];
    assert_eq!(units, expected.iter().map(|s| s.to_string()).collect());
}
