//! Plugging adapters into a component with wasm-compose (the library behind
//! `wasm-tools compose`): each adapter is a *definition* whose export satisfies the component's
//! import of the same name; everything else the component imports stays an import of the
//! composed component, for the host to provide.

use std::path::{Path, PathBuf};

use anyhow::Context;
use wasm_compose::{composer::ComponentComposer, config::Config};

use crate::adapters::{Adapter, AdapterDir, Plan, REDIS_TRIGGER};
use crate::component::Interfaces;

/// What composing one component did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composed {
    pub output: PathBuf,
    /// The adapters plugged in, in the order they were applied.
    pub adapters: Vec<Adapter>,
}

/// Composes component `id` (its Spin build at `component`) with the adapters of `plan` it needs
/// and writes the result to `output`. A component that needs none is copied unchanged, so every
/// component has a file in the output folder.
pub fn compose(id: &str, component: &Path, adapters: &AdapterDir, plan: &Plan, output: &Path) -> anyhow::Result<Composed> {
    let interfaces = Interfaces::read(component)?;
    // wasm-compose names each component after its file, and the names must be kebab case.
    let staging = Staging::new(output)?;
    let mut current = staging.copy(component, id)?;
    let mut applied = needed_by(plan.adapters, &interfaces);
    if !applied.is_empty() {
        let definitions = staging.adapters(adapters, &applied)?;
        current = staging.write(&format!("{id}-adapted"), &plug(&current, definitions)?)?;
    }
    if plan.messaging_trigger && interfaces.exports(REDIS_TRIGGER.interface) {
        // The trigger adapter is the outer component: it imports inbound-redis, which the
        // (already adapted) component exports, and whatever Spin types that interface uses.
        let trigger = adapters.path_of(&REDIS_TRIGGER)?;
        let outer = staging.copy(&trigger, REDIS_TRIGGER.name)?;
        let types = needed_by(plan.adapters, &Interfaces::read(&trigger)?);
        let mut definitions = vec![current];
        definitions.extend(staging.adapters(adapters, &types)?);
        current = staging.write(&format!("{id}-triggered"), &plug(&outer, definitions)?)?;
        applied.push(REDIS_TRIGGER);
    }

    let wasm = std::fs::read(&current).with_context(|| format!("reading {}", current.display()))?;
    validate(&wasm).with_context(|| {
        format!(
            "the composition of {} is not a valid component",
            component.display()
        )
    })?;
    std::fs::write(output, &wasm).with_context(|| format!("writing {}", output.display()))?;
    Ok(Composed {
        output: output.to_path_buf(),
        adapters: applied,
    })
}

/// Composes the component `root` (a name and its file) with `definitions` (names and files)
/// into `output`: for a composition the adapter table does not describe, such as the tests'
/// chaining adapter over Spin variables. Names must be kebab case (wasm-compose's rule).
pub fn plug_files(root: (&str, &Path), definitions: &[(&str, &Path)], output: &Path) -> anyhow::Result<()> {
    let staging = Staging::new(output)?;
    let root = staging.copy(root.1, root.0)?;
    let definitions = definitions.iter().map(|(name, path)| staging.copy(path, name)).collect::<anyhow::Result<_>>()?;
    let wasm = plug(&root, definitions)?;
    validate(&wasm).with_context(|| format!("the composition of {} is not a valid component", root.display()))?;
    std::fs::write(output, &wasm).with_context(|| format!("writing {}", output.display()))
}

/// Those of `adapters` that satisfy what a component imports from Spin.
fn needed_by(adapters: &[Adapter], interfaces: &Interfaces) -> Vec<Adapter> {
    adapters.iter().filter(|a| interfaces.imports(a.interface)).copied().collect()
}

fn plug(root: &Path, definitions: Vec<PathBuf>) -> anyhow::Result<Vec<u8>> {
    let config = Config {
        dir: root.parent().map(Path::to_path_buf).unwrap_or_default(),
        definitions,
        ..Config::default()
    };
    ComponentComposer::new(root, &config)
        .compose()
        .with_context(|| format!("composing {}", root.display()))
}

fn validate(wasm: &[u8]) -> anyhow::Result<()> {
    let mut validator = wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all());
    validator
        .validate_all(wasm)
        .map(drop)
        .map_err(anyhow::Error::from)
}

/// A scratch folder beside the output, removed when the composition ends (or fails).
struct Staging(PathBuf);

impl Staging {
    fn new(output: &Path) -> anyhow::Result<Self> {
        let stem = output
            .file_stem()
            .and_then(|s| s.to_str())
            .context("the output needs a file name")?;
        let dir = output.with_file_name(format!(".{stem}.staging"));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        // Absolute: wasm-compose reads definitions relative to the root component's folder.
        Ok(Staging(
            std::fs::canonicalize(&dir).with_context(|| format!("resolving {}", dir.display()))?,
        ))
    }

    fn copy(&self, from: &Path, name: &str) -> anyhow::Result<PathBuf> {
        let to = self.0.join(format!("{name}.wasm"));
        std::fs::copy(from, &to)
            .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
        Ok(to)
    }

    fn adapters(&self, dir: &AdapterDir, adapters: &[Adapter]) -> anyhow::Result<Vec<PathBuf>> {
        adapters
            .iter()
            .map(|a| self.copy(&dir.path_of(a)?, a.name))
            .collect()
    }

    fn write(&self, name: &str, wasm: &[u8]) -> anyhow::Result<PathBuf> {
        let to = self.0.join(format!("{name}.wasm"));
        std::fs::write(&to, wasm).with_context(|| format!("writing {}", to.display()))?;
        Ok(to)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
