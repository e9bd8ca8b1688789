//! The interfaces a component imports and exports, read from its top-level import and export
//! sections (what a host must link and may call), not from the modules nested inside it.

use anyhow::Context;
use wasmparser::{Parser, Payload};

/// A component's top-level import and export names, in the order they appear.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interfaces {
    pub imports: Vec<String>,
    pub exports: Vec<String>,
}

impl Interfaces {
    pub fn of(wasm: &[u8]) -> anyhow::Result<Self> {
        let mut found = Interfaces::default();
        // parse_all walks nested modules and components too; only depth 0 is the component's own.
        let mut depth = 0usize;
        for payload in Parser::new(0).parse_all(wasm) {
            match payload.context("not a valid WebAssembly component")? {
                Payload::Version {
                    encoding: wasmparser::Encoding::Module,
                    ..
                } if depth == 0 => {
                    anyhow::bail!("a core module, not a component")
                }
                Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
                Payload::End(_) => depth = depth.saturating_sub(1),
                Payload::ComponentImportSection(section) if depth == 0 => {
                    for import in section {
                        found
                            .imports
                            .push(import.context("unreadable import")?.name.name.to_owned());
                    }
                }
                Payload::ComponentExportSection(section) if depth == 0 => {
                    for export in section {
                        found
                            .exports
                            .push(export.context("unreadable export")?.name.name.to_owned());
                    }
                }
                _ => {}
            }
        }
        Ok(found)
    }

    pub fn read(path: &std::path::Path) -> anyhow::Result<Self> {
        let wasm = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        Self::of(&wasm).with_context(|| format!("reading the interfaces of {}", path.display()))
    }

    pub fn imports(&self, name: &str) -> bool {
        self.imports.iter().any(|i| i == name)
    }

    pub fn exports(&self, name: &str) -> bool {
        self.exports.iter().any(|e| e == name)
    }
}
