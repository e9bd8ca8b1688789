//! The host's modules depend on each other one way: read from its sources, the only cycle of
//! imports is the generated bindings and the capability modules whose types they name (as in
//! wasmtime's own crates). A capability that imported the app, or a trigger and a capability
//! that called each other, would close a cycle here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::support::workspace_root;

/// Every module of `host/src` (as `app::engine`, `capabilities`, `main`) and its source text
/// without its unit tests.
fn modules(dir: &Path, prefix: &str, found: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).expect("host/src").flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().trim_end_matches(".rs").to_string();
        let module = if name == "mod" { prefix.trim_end_matches("::").to_string() } else { format!("{prefix}{name}") };
        if path.is_dir() {
            modules(&path, &format!("{module}::"), found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("a source file");
            // A module's own unit tests (`mod tests { use super::*; }`) are not its imports.
            let code = text.split("#[cfg(test)]").next().unwrap_or_default().to_string();
            found.insert(module, code);
        }
    }
}

/// The modules `text` (the source of `module`) refers to: `crate::a::b::…`, and `self::x` /
/// `super::x` resolved, each as the longest known module it names.
fn dependencies(module: &str, text: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let parent = module.rsplit_once("::").map_or("", |(p, _)| p);
    let mut found = BTreeSet::new();
    for (prefix, base) in [("crate::", String::new()), ("self::", format!("{module}::")), ("super::", if parent.is_empty() { String::new() } else { format!("{parent}::") })] {
        for (at, _) in text.match_indices(prefix) {
            let preceded_by_ident = text[..at].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
            if preceded_by_ident {
                continue;
            }
            let path: String = text[at + prefix.len()..].chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
            let full = format!("{base}{path}");
            let mut parts: Vec<&str> = full.split("::").filter(|p| !p.is_empty()).collect();
            while !parts.is_empty() {
                let candidate = parts.join("::");
                if known.contains(&candidate) {
                    if candidate != module {
                        found.insert(candidate);
                    }
                    break;
                }
                parts.pop();
            }
        }
    }
    found
}

/// The strongly connected components with more than one module (Tarjan).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    struct Walk<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        found: Vec<BTreeSet<String>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            for w in &self.graph[v] {
                if !self.index.contains_key(w.as_str()) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w.as_str()]);
                    self.low.insert(v, low);
                } else if self.stack.contains(&w.as_str()) {
                    let low = self.low[v].min(self.index[w.as_str()]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = BTreeSet::new();
                while let Some(w) = self.stack.pop() {
                    component.insert(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk = Walk { graph, index: BTreeMap::new(), low: BTreeMap::new(), stack: Vec::new(), found: Vec::new() };
    for v in graph.keys() {
        if !walk.index.contains_key(v.as_str()) {
            walk.visit(v);
        }
    }
    walk.found
}

#[test]
fn the_only_import_cycle_is_the_bindings_and_the_capabilities_they_name() {
    let mut sources = BTreeMap::new();
    modules(&workspace_root().join("host/src"), "", &mut sources);
    let known: BTreeSet<String> = sources.keys().cloned().collect();
    assert!(known.contains("capabilities::postgres") && known.contains("app") && known.contains("http_trigger"), "{known:?}");
    let graph: BTreeMap<String, BTreeSet<String>> =
        sources.iter().map(|(module, text)| (module.clone(), dependencies(module, text, &known))).collect();
    for cycle in cycles(&graph) {
        let only_bindings = cycle.contains("bindings") && cycle.iter().all(|m| m == "bindings" || m.starts_with("capabilities::"));
        assert!(only_bindings, "an import cycle: {cycle:?}");
    }
}

#[test]
fn a_cycle_is_found_where_there_is_one() {
    let graph: BTreeMap<String, BTreeSet<String>> = [("a", vec!["b"]), ("b", vec!["c"]), ("c", vec!["a"]), ("d", vec!["a"])]
        .into_iter()
        .map(|(m, deps)| (m.to_string(), deps.into_iter().map(String::from).collect()))
        .collect();
    assert_eq!(cycles(&graph), vec![BTreeSet::from(["a".to_string(), "b".to_string(), "c".to_string()])]);
    let known: BTreeSet<String> = ["app", "app::engine", "capabilities::view"].map(String::from).into();
    let text = "use crate::app::engine::{self, X};\nuse crate::capabilities::view::View; // crate::app::App\n";
    assert_eq!(dependencies("main", text, &known), ["app", "app::engine", "capabilities::view"].map(String::from).into());
}
