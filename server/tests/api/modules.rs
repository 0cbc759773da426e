//! The layering of `server/src` around what replicas share (docs/architecture.md, "The
//! server's modules"): the registry knows nothing of NATS or replicas, `cli` and `nats` import
//! no domain module, and no top-level module of the replication side is in an import cycle.
//! Imports are read from the sources (`crate::x` outside comments).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level module → the top-level modules it imports.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules: BTreeSet<String> = std::fs::read_dir(&src)
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let name = name.strip_suffix(".rs").unwrap_or(&name).to_owned();
            (!matches!(name.as_str(), "lib" | "main")).then_some(name)
        })
        .collect();
    let mut graph = BTreeMap::new();
    for module in &modules {
        let mut files = Vec::new();
        collect(&src.join(module), &mut files);
        collect(&src.join(format!("{module}.rs")), &mut files);
        let mut used = BTreeSet::new();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
                for (at, _) in line.match_indices("crate::") {
                    let rest = &line[at + "crate::".len()..];
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if modules.contains(&name) && name != *module {
                        used.insert(name);
                    }
                    // `use crate::{a, b::c}`
                    if let Some(group) = rest.strip_prefix('{') {
                        for part in group.split([',', '}']) {
                            let name = part.trim().split("::").next().unwrap_or("");
                            if modules.contains(name) && name != module {
                                used.insert(name.to_owned());
                            }
                        }
                    }
                }
            }
        }
        graph.insert(module.clone(), used);
    }
    graph
}

fn collect(path: &Path, files: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap().flatten() {
            collect(&entry.path(), files);
        }
    } else if path.is_file() && path.extension().is_some_and(|e| e == "rs") {
        files.push(path.to_owned());
    }
}

/// Whether `to` can be reached from `from` along imports.
fn reaches(graph: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str) -> bool {
    let mut seen = BTreeSet::new();
    let mut todo = vec![from.to_owned()];
    while let Some(next) = todo.pop() {
        for used in graph.get(&next).into_iter().flatten() {
            if used == to {
                return true;
            }
            if seen.insert(used.clone()) {
                todo.push(used.clone());
            }
        }
    }
    false
}

#[test]
fn the_registry_is_at_the_bottom_and_the_replication_side_has_no_cycle() {
    let graph = imports();
    let registry = &graph["registry"];
    for above in [
        "nats",
        "fleet",
        "replication",
        "discovery",
        "cli",
        "credentials",
    ] {
        assert!(
            !registry.contains(above),
            "registry imports {above}: {registry:?}"
        );
    }
    for leaf in ["cli", "nats"] {
        let domain: Vec<&String> = (graph[leaf].iter())
            .filter(|m| {
                !matches!(
                    m.as_str(),
                    "bind_host" | "listener" | "secret" | "backoff" | "cli"
                )
            })
            .collect();
        assert!(domain.is_empty(), "{leaf} imports {domain:?}");
    }
    for module in [
        "registry",
        "nats",
        "cli",
        "fleet",
        "replication",
        "upstream",
        "discovery",
        "credentials",
    ] {
        assert!(
            !reaches(&graph, module, module),
            "{module} is in an import cycle: {graph:?}"
        );
    }
}
