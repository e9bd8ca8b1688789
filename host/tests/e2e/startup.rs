//! Load-time validation: an app galley cannot run faithfully is refused with a message that
//! names the problem, before anything is served.

use std::path::PathBuf;

use crate::support::{manifest, HostBuilder};

/// Writes a variant of the test manifest next to the original (so relative paths hold).
fn variant(name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let original = std::fs::read_to_string(manifest()).unwrap();
    let path = manifest().with_file_name(format!("spin.{name}.{}.toml", std::process::id()));
    std::fs::write(&path, edit(original)).unwrap();
    path
}

fn refused(manifest: PathBuf, expected: &[&str]) {
    let stderr = HostBuilder::new().manifest(manifest.clone()).start_expecting_failure();
    let _ = std::fs::remove_file(&manifest);
    for text in expected {
        assert!(stderr.contains(text), "expected {text:?} in:\n{stderr}");
    }
}

#[test]
fn unknown_manifest_key_is_named() {
    refused(variant("unknown-key", |m| m.replace("[component.probe-denied]\n", "[component.probe-denied]\ncolour = \"red\"\n")), &["colour"]);
}

#[test]
fn unsupported_spin_feature_is_named() {
    refused(
        variant("files", |m| m.replace("[component.probe-denied]\n", "[component.probe-denied]\nfiles = [\"static/**\"]\n")),
        &["component.probe-denied.files", "not supported"],
    );
}

#[test]
fn missing_required_variable_stops_the_app() {
    let stderr = HostBuilder::new().without_variables().arg("--variable").arg("pg_port=1").start_expecting_failure();
    assert!(stderr.contains("redis_port") && stderr.contains("SPIN_VARIABLE_REDIS_PORT"), "{stderr}");
}

#[test]
fn declared_store_without_backing_is_refused() {
    refused(
        variant("store", |m| m.replace("key_value_stores = [\"default\", \"mem\"]", "key_value_stores = [\"default\", \"cache\"]")),
        &["component.probe.key_value_stores", "cache"],
    );
}

#[test]
fn bad_outbound_host_pattern_is_refused() {
    refused(
        variant("hosts", |m| m.replace("\"http://self\",", "\"http://self\", \"example.com\",")),
        &["component.probe.allowed_outbound_hosts", "example.com"],
    );
}

#[test]
fn missing_component_file_is_named() {
    refused(
        variant("source", |m| m.replace("release/host_probe_redis.wasm", "release/no_such.wasm")),
        &["component.probe-redis.source", "no_such.wasm"],
    );
}

#[test]
fn http_trigger_on_a_non_http_component_is_refused() {
    refused(
        variant("export", |m| m.replace("route = \"/denied/...\"\ncomponent = \"probe-denied\"", "route = \"/denied/...\"\ncomponent = \"probe-redis\"")),
        &["probe-redis", "incoming-handler"],
    );
}

#[test]
fn unknown_runtime_config_key_is_refused() {
    let stderr = HostBuilder::new().runtime_config(Some("[llm_compute]\ntype = \"spin\"\n")).start_expecting_failure();
    assert!(stderr.contains("llm_compute"), "{stderr}");
    let stderr = HostBuilder::new()
        .runtime_config(Some("[sqlite_database.default]\ntype = \"libsql\"\nurl = \"https://db.example\"\ntoken = \"t\"\n"))
        .start_expecting_failure();
    assert!(stderr.contains("sqlite_database.default") && stderr.contains("libsql"), "{stderr}");
}
