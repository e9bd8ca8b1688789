//! `spin.toml` and `functions/` describe the same components: each crate (but the shared
//! library) is one component whose source, build command and watch list point at it, and each
//! component is one crate. A new function that is not wired up, or a component whose crate was
//! renamed, fails here rather than at `spin up`.

use std::collections::BTreeSet;

use crate::support::repo_root;

/// The shared library: a dependency of every component, not one itself.
const SHARED_LIBRARY: &str = "common";

fn function_crates() -> BTreeSet<String> {
    let dir = repo_root().join("functions");
    std::fs::read_dir(&dir)
        .expect("functions/")
        .filter_map(Result::ok)
        .filter(|entry| entry.path().join("Cargo.toml").exists())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name != SHARED_LIBRARY)
        .collect()
}

fn manifest_components() -> toml::value::Table {
    let text = std::fs::read_to_string(repo_root().join("spin.toml")).expect("spin.toml");
    let manifest: toml::Value = toml::from_str(&text).expect("spin.toml parses");
    manifest["component"].as_table().expect("[component]").clone()
}

#[test]
fn every_function_crate_is_a_component_and_every_component_a_crate() {
    let crates = function_crates();
    let components: BTreeSet<String> = manifest_components().keys().cloned().collect();
    assert!(!crates.is_empty());
    let unwired: Vec<_> = crates.difference(&components).collect();
    let crateless: Vec<_> = components.difference(&crates).collect();
    assert!(unwired.is_empty(), "crates under functions/ with no [component.<name>] in spin.toml: {unwired:?}");
    assert!(crateless.is_empty(), "components in spin.toml with no functions/<name> crate: {crateless:?}");
}

#[test]
fn each_component_is_built_from_its_own_crate() {
    for (id, component) in manifest_components() {
        let cargo: toml::Value = toml::from_str(
            &std::fs::read_to_string(repo_root().join(format!("functions/{id}/Cargo.toml"))).expect("crate manifest"),
        )
        .expect("Cargo.toml parses");
        assert_eq!(cargo["package"]["name"].as_str(), Some(id.as_str()), "functions/{id} is package `{id}`");
        assert_eq!(cargo["lib"]["crate-type"].as_array().map(|t| t.len()), Some(1), "{id}: one crate type");
        assert_eq!(cargo["lib"]["crate-type"][0].as_str(), Some("cdylib"), "{id} builds a component");

        let source = format!("target/wasm32-wasip2/release/{}.wasm", id.replace('-', "_"));
        assert_eq!(component["source"].as_str(), Some(source.as_str()), "{id}: source");
        let command = format!("cargo build --release --target wasm32-wasip2 -p {id}");
        assert_eq!(component["build"]["command"].as_str(), Some(command.as_str()), "{id}: build command");
        let watch: Vec<&str> = component["build"]["watch"].as_array().expect("watch list").iter().filter_map(|w| w.as_str()).collect();
        for expected in [format!("functions/{id}/src/**/*.rs"), format!("functions/{SHARED_LIBRARY}/src/**/*.rs")] {
            assert!(watch.contains(&expected.as_str()), "{id}: watch lists {expected}");
        }
    }
}
