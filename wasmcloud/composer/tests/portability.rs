//! Every component of `spin.toml`, composed with the adapters, against what a wasmCloud host
//! provides: read from the composed files themselves. Needs the Spin components and the
//! adapters built (`make build-components` and the adapter crates; `make wasmcloud` does both).

use std::path::{Path, PathBuf};

use galley_wasmcloud::adapters::{AdapterDir, REDIS_TRIGGER};
use galley_wasmcloud::component::Interfaces;
use galley_wasmcloud::wasmcloud::{Findings, NOT_YET_ADAPTED};
use galley_wasmcloud::{compose, manifest};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Each component composed into a fresh folder: (id, Spin build, composed file).
fn composed_components(out: &Path) -> Vec<(String, Interfaces, Interfaces)> {
    let adapters = AdapterDir::new(root().join("target/wasm32-wasip2/release"));
    let components =
        manifest::components(&root().join("spin.toml")).expect("spin.toml lists the components");
    assert!(
        components.len() >= 14,
        "spin.toml has every component: {components:?}"
    );
    components
        .into_iter()
        .map(|c| {
            let output = out.join(format!("{}.wasm", c.id));
            compose::compose(&c.id, &c.wasm, &adapters, &output)
                .unwrap_or_else(|e| panic!("composing {}: {e:#}", c.id));
            let spin = Interfaces::read(&c.wasm).expect("the Spin build is readable");
            let composed = Interfaces::read(&output).expect("the composed component is readable");
            (c.id, spin, composed)
        })
        .collect()
}

#[test]
fn composed_components_import_only_what_wasmcloud_provides_but_postgres() {
    let out = tempfile::tempdir().expect("a scratch folder");
    let mut adapted_anything = false;
    for (id, spin, composed) in composed_components(out.path()) {
        let findings = Findings::of(&composed);
        assert!(!findings.no_entry_point, "{id}: {findings}");
        let unexpected: Vec<_> = findings
            .unprovided
            .iter()
            .filter(|i| !NOT_YET_ADAPTED.contains(&i.as_str()))
            .collect();
        assert!(unexpected.is_empty(), "{id} still imports {unexpected:?}");
        // No Spin interface is left but the one listed as not yet adapted.
        assert!(
            composed
                .imports
                .iter()
                .all(|i| !i.starts_with("fermyon:spin/")),
            "{id}: {:?}",
            composed.imports
        );
        adapted_anything |= spin.imports.iter().any(|i| i.starts_with("fermyon:spin/"));
    }
    assert!(
        adapted_anything,
        "the Spin builds import Spin's interfaces, so the adapters had work to do"
    );
}

#[test]
fn the_redis_triggered_component_becomes_a_messaging_handler() {
    let out = tempfile::tempdir().expect("a scratch folder");
    let components = composed_components(out.path());
    let (_, spin, composed) = components
        .iter()
        .find(|(_, spin, _)| spin.exports(REDIS_TRIGGER.spin_interface))
        .expect("spin.toml has a Redis-triggered component");
    assert!(
        !Findings::of(spin).portable(),
        "the Spin build is not callable by wasmCloud"
    );
    assert_eq!(
        composed.exports,
        vec!["wasmcloud:messaging/handler@0.2.0".to_owned()]
    );
    assert!(
        composed.imports("wasmcloud:messaging/consumer@0.2.0"),
        "its outbound Redis publishes on messaging"
    );
}

#[test]
fn components_without_postgres_are_portable_and_http_ones_keep_their_handler() {
    let out = tempfile::tempdir().expect("a scratch folder");
    let mut portable = Vec::new();
    for (id, spin, composed) in composed_components(out.path()) {
        if spin.exports("wasi:http/incoming-handler@0.2.0") {
            assert_eq!(
                composed.exports, spin.exports,
                "{id} keeps its HTTP entry point"
            );
        }
        if NOT_YET_ADAPTED.iter().all(|pending| !spin.imports(pending)) {
            assert!(
                Findings::of(&composed).portable(),
                "{id}: {}",
                Findings::of(&composed)
            );
            portable.push(id);
        }
    }
    assert!(portable.contains(&"gateway".to_owned()), "{portable:?}");
}

#[test]
fn the_spin_build_is_left_untouched() {
    let out = tempfile::tempdir().expect("a scratch folder");
    let adapters = AdapterDir::new(root().join("target/wasm32-wasip2/release"));
    let gateway = manifest::components(&root().join("spin.toml"))
        .expect("spin.toml")
        .into_iter()
        .find(|c| c.id == "gateway")
        .expect("a gateway component");
    let before = std::fs::read(&gateway.wasm).expect("the Spin build");
    compose::compose(
        "gateway",
        &gateway.wasm,
        &adapters,
        &out.path().join("gateway.wasm"),
    )
    .expect("composed");
    assert_eq!(
        std::fs::read(&gateway.wasm).expect("the Spin build"),
        before
    );
    assert!(
        std::fs::read_dir(out.path()).expect("listing").all(|e| !e
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .starts_with('.')),
        "no staging folder is left behind"
    );
}
