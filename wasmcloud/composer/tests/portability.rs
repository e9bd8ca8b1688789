//! Every component of `spin.toml`, composed with the adapters, against what a wasmCloud host
//! provides: read from the composed files themselves. Needs the Spin components and the
//! adapters built (`make build-components wasmcloud-adapters`; `make wasmcloud` does both).

use std::path::{Path, PathBuf};

use galley_wasmcloud::adapters::{AdapterDir, CHAINING, POSTGRES, REDIS_TRIGGER, WASMCLOUD};
use galley_wasmcloud::component::Interfaces;
use galley_wasmcloud::wasmcloud::Findings;
use galley_wasmcloud::{compose, manifest};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn adapters() -> AdapterDir {
    AdapterDir::new(root().join("target/wasm32-wasip2/release"))
}

/// Each component composed into `out`: (id, its Spin build's interfaces, the composed file's).
fn composed_components(out: &Path) -> Vec<(String, Interfaces, Interfaces)> {
    let components = manifest::components(&root().join("spin.toml")).expect("spin.toml lists the components");
    assert!(components.len() >= 14, "spin.toml has every component: {components:?}");
    components
        .into_iter()
        .map(|c| {
            let output = out.join(format!("{}.wasm", c.id));
            compose::compose(&c.id, &c.wasm, &adapters(), &WASMCLOUD, &output)
                .unwrap_or_else(|e| panic!("composing {}: {e:#}", c.id));
            let spin = Interfaces::read(&c.wasm).expect("the Spin build is readable");
            let composed = Interfaces::read(&output).expect("the composed component is readable");
            (c.id, spin, composed)
        })
        .collect()
}

#[test]
fn every_composed_component_imports_only_what_wasmcloud_provides() {
    let out = tempfile::tempdir().expect("a scratch folder");
    for (id, spin, composed) in composed_components(out.path()) {
        assert!(!Findings::of(&spin).portable(), "{id}'s Spin build needs Spin: the adapters have work to do");
        let findings = Findings::of(&composed);
        assert!(findings.portable(), "{id}: {findings}");
        assert!(composed.imports.iter().all(|i| !i.starts_with("fermyon:") && !i.starts_with("spin:")), "{id}: {:?}", composed.imports);
    }
}

#[test]
fn the_redis_triggered_component_becomes_a_messaging_handler() {
    let out = tempfile::tempdir().expect("a scratch folder");
    let components = composed_components(out.path());
    let (_, _, composed) = components
        .iter()
        .find(|(_, spin, _)| spin.exports(REDIS_TRIGGER.interface))
        .expect("spin.toml has a Redis-triggered component");
    assert_eq!(composed.exports, vec!["wasmcloud:messaging/handler@0.2.0".to_owned()]);
    assert!(composed.imports("wasmcloud:messaging/consumer@0.2.0"), "its outbound Redis publishes on messaging");
}

#[test]
fn http_components_keep_their_handler_and_postgres_goes_over_sockets() {
    let out = tempfile::tempdir().expect("a scratch folder");
    let mut with_postgres = 0;
    for (id, spin, composed) in composed_components(out.path()) {
        if spin.exports("wasi:http/incoming-handler@0.2.0") {
            assert_eq!(composed.exports, spin.exports, "{id} keeps its HTTP entry point");
        }
        if spin.imports(POSTGRES.interface) {
            with_postgres += 1;
            assert!(
                composed.imports.iter().any(|i| i.starts_with("wasi:sockets/tcp@")),
                "{id} reaches Postgres over wasi:sockets: {:?}",
                composed.imports
            );
        }
    }
    assert!(with_postgres >= 10, "most components keep state in Postgres ({with_postgres})");
}

#[test]
fn every_component_that_chains_gets_the_chaining_adapter() {
    let out = tempfile::tempdir().expect("a scratch folder");
    let components = manifest::components(&root().join("spin.toml")).expect("spin.toml");
    let gateway = components.iter().find(|c| c.id == "gateway").expect("a gateway component");
    let composed = compose::compose(&gateway.id, &gateway.wasm, &adapters(), &WASMCLOUD, &out.path().join("gateway.wasm"))
        .expect("composed");
    assert!(composed.adapters.contains(&CHAINING), "the gateway calls user-lookup, order-query and product-admin: {composed:?}");
    // The adapter sends the request on through the host's outgoing HTTP, which it now imports.
    assert!(Interfaces::read(&composed.output).expect("readable").imports(CHAINING.interface));
}

#[test]
fn the_spin_build_is_left_untouched_and_no_scratch_is_left_behind() {
    let out = tempfile::tempdir().expect("a scratch folder");
    let gateway = manifest::components(&root().join("spin.toml"))
        .expect("spin.toml")
        .into_iter()
        .find(|c| c.id == "gateway")
        .expect("a gateway component");
    let before = std::fs::read(&gateway.wasm).expect("the Spin build");
    compose::compose("gateway", &gateway.wasm, &adapters(), &WASMCLOUD, &out.path().join("gateway.wasm")).expect("composed");
    assert_eq!(std::fs::read(&gateway.wasm).expect("the Spin build"), before);
    let names: Vec<_> = std::fs::read_dir(out.path()).expect("listing").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("gateway.wasm")]);
}

#[test]
fn the_committed_wasmcloud_deployment_is_what_spin_toml_gives() {
    use galley_wasmcloud::deployment::{self, ClusterValues};
    let app = manifest::App::read(&root().join("spin.toml")).expect("spin.toml");
    let dir = root().join("deploy/wasmcloud");
    let values = ClusterValues::read(&dir.join("values.toml")).expect("values.toml");
    for (name, expected) in deployment::files(&app, &values).expect("generated") {
        let committed = std::fs::read_to_string(dir.join(&name)).unwrap_or_default();
        assert!(
            committed == expected,
            "deploy/wasmcloud/{} is stale: run `make wasmcloud-deployment` and commit the result",
            name.display()
        );
    }
}
