//! The components `spin.toml` declares, with the `.wasm` file each one runs: the set to make
//! wasmCloud builds of.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct SpinToml {
    #[serde(default)]
    component: BTreeMap<String, ComponentEntry>,
}

#[derive(Debug, Deserialize)]
struct ComponentEntry {
    source: Source,
}

/// Only local sources can be composed; a URL source would be fetched by Spin itself.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Source {
    Local(PathBuf),
    Remote(#[allow(dead_code)] toml::Value),
}

/// One component: its id in `spin.toml` and its `.wasm`, resolved against the manifest's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpinComponent {
    pub id: String,
    pub wasm: PathBuf,
}

pub fn components(spin_toml: &Path) -> anyhow::Result<Vec<SpinComponent>> {
    let text = std::fs::read_to_string(spin_toml)
        .with_context(|| format!("reading {}", spin_toml.display()))?;
    let manifest: SpinToml =
        toml::from_str(&text).with_context(|| format!("parsing {}", spin_toml.display()))?;
    let base = spin_toml.parent().unwrap_or(Path::new("."));
    manifest
        .component
        .into_iter()
        .map(|(id, entry)| match entry.source {
            Source::Local(path) => Ok(SpinComponent {
                wasm: base.join(path),
                id,
            }),
            Source::Remote(_) => anyhow::bail!(
                "component `{id}` has a remote source; only local files can be composed"
            ),
        })
        .collect()
}
