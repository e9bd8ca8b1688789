//! Component sources that are WebAssembly core modules, turned into components at load as Spin
//! does.
//!
//! wit-bindgen, building for `wasm32-unknown-unknown` or `wasm32-wasip1`, emits a core module
//! that carries its component type in `component-type*` custom sections; `wasm-tools component
//! new` (or the host) turns that into a component. Spin accepts such a module as a component
//! `source`, and so does galley: wit-component encodes it, linking in the WASI preview-1
//! adapter published by the wasmtime project (the "reactor" one, as Spin uses) when the module
//! imports `wasi_snapshot_preview1`; a module that does not (`wasm32-unknown-unknown`) needs
//! none. The result is cached with the compiled code (`engine.rs`), so it is done once per
//! module. Modules with no component type (the Spin 1 SDKs' wit-bindgen 0.2 modules, WAGI
//! modules) are refused with a message that says so.

use anyhow::{bail, Context, Result};
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wasmparser::{Parser, Payload};

/// Custom sections wit-bindgen names `component-type:<world>` (or `component-type` alone).
const COMPONENT_TYPE_SECTION: &str = "component-type";

/// True for a core module, false for a component (or anything else, which wasmtime then refuses).
pub fn is_core_module(bytes: &[u8]) -> bool {
    Parser::is_core_wasm(bytes)
}

/// What identifies the conversion, for the compiled-code cache key: the adapter's bytes (and
/// so the wasmtime release that published it).
pub fn conversion_identity() -> &'static [u8] {
    WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER
}

/// Encodes a core module that carries its component type as a component.
pub fn componentize(module: &[u8]) -> Result<Vec<u8>> {
    if !has_component_type(module)? {
        bail!(
            "it is a core WebAssembly module with no embedded component type (no `{COMPONENT_TYPE_SECTION}` section): \
             rebuild it with a current Spin SDK / wit-bindgen, or turn it into a component with `wasm-tools component new`"
        );
    }
    wit_component::ComponentEncoder::default()
        .validate(true)
        .module(module)
        .context("reading the module's component type")?
        .adapter(WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER)
        .context("loading the WASI preview-1 adapter")?
        .encode()
        .context("encoding the module as a component")
}

fn has_component_type(module: &[u8]) -> Result<bool> {
    for payload in Parser::new(0).parse_all(module) {
        if let Payload::CustomSection(section) = payload.context("not a valid WebAssembly module")? {
            if section.name().starts_with(COMPONENT_TYPE_SECTION) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest core module: the magic number and version 1.
    const EMPTY_MODULE: &[u8] = b"\0asm\x01\0\0\0";

    #[test]
    fn core_modules_are_told_from_components() {
        assert!(is_core_module(EMPTY_MODULE));
        assert!(!is_core_module(b"\0asm\x0d\0\x01\0"));
        assert!(!is_core_module(b"not wasm"));
    }

    #[test]
    fn a_module_without_a_component_type_is_refused_plainly() {
        let error = componentize(EMPTY_MODULE).unwrap_err().to_string();
        assert!(error.contains("no embedded component type"), "{error}");
    }
}
