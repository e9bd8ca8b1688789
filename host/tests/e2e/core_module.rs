//! Core modules as component sources: `probe-core` is a `wasm32-wasip1` core module carrying its
//! component type, served over HTTP once galley has made it a component (with the WASI
//! preview-1 adapter), and made once: the result is cached with the compiled code.

use crate::support::{HostBuilder, ManifestVariant};

const MADE: &str = "made a component of a core module";

#[tokio::test]
async fn a_core_module_is_served_and_its_component_cached() {
    let module = crate::support::workspace_root().join("target/wasm32-wasip1/release/host_probe_core.wasm");
    let state = tempfile::tempdir().unwrap();
    let host = HostBuilder::new().state_dir(state.path()).start().await;
    let bytes = std::fs::read(&module).unwrap();
    assert_eq!(&bytes[..8], b"\0asm\x01\0\0\0", "the source is a core module, not a component");

    let response = host.get("/core/hello?x=1").await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // The body, the route header, and the environment read through WASI preview 1.
    assert_eq!(lines, ["core-module", "/core/hello?x=1", "/core/...", "core-env"], "{text}");
    crate::support::eventually(std::time::Duration::from_secs(5), "the module's stdout in the log", || {
        let log = host.stdout() + &host.stderr();
        async move { log.contains("[probe-core] core module handled /core/hello?x=1") }
    })
    .await;
    assert!(host.stderr().contains(MADE), "{}", host.stderr());
    drop(host);

    // A second start on the same state dir takes the component from the cache.
    let host = HostBuilder::new().state_dir(state.path()).start().await;
    assert_eq!(host.get("/core/again").await.status(), 200);
    assert!(!host.stderr().contains(MADE), "made again instead of cached:\n{}", host.stderr());
}

#[test]
fn a_core_module_without_a_component_type_is_refused_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("bare.wasm");
    std::fs::write(&bare, b"\0asm\x01\0\0\0").unwrap();
    let manifest = ManifestVariant::new("bare-module", |m| {
        m.replace("../../../target/wasm32-wasip1/release/host_probe_core.wasm", &bare.display().to_string())
    });
    let stderr = HostBuilder::new().manifest(manifest.path()).start_expecting_failure();
    assert!(stderr.contains("component.probe-core.source") && stderr.contains("no embedded component type"), "{stderr}");
}
