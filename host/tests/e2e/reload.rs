//! Hot reload: a changed component is loaded beside the running version and switched to
//! atomically, under load, without a failed or dropped request; a version that does not load
//! is refused and the running one keeps serving; `--watch` reloads on its own.
//!
//! The app here is two routes: `/v/...` served by `changing.wasm`, a file the tests replace,
//! and `/stable/...` by the probe, never changed. The "rebuild" swaps the echo probe
//! (answers JSON) for the core-module probe (answers text starting `core-module`), the way a
//! build replaces a `.wasm`: write beside it, rename over it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::{eventually, workspace_root, Host, HostBuilder};

fn echo_probe() -> PathBuf {
    workspace_root().join("target/wasm32-wasip2/release/host_probe.wasm")
}

fn core_probe() -> PathBuf {
    workspace_root().join("target/wasm32-wasip1/release/host_probe_core.wasm")
}

/// A folder holding the two-route app, `changing.wasm` starting as the echo probe.
struct ReloadApp {
    dir: tempfile::TempDir,
}

impl ReloadApp {
    fn new() -> ReloadApp {
        crate::support::build_probes();
        let dir = tempfile::tempdir().expect("a temp dir");
        let manifest = format!(
            r#"spin_manifest_version = 2
[application]
name = "reload-test"
[[trigger.http]]
route = "/v/..."
component = "changing"
[[trigger.http]]
route = "/stable/..."
component = "stable"
[component.changing]
source = "changing.wasm"
[component.stable]
source = "{}"
"#,
            echo_probe().display()
        );
        std::fs::write(dir.path().join("spin.toml"), manifest).expect("writing the manifest");
        std::fs::copy(echo_probe(), dir.path().join("changing.wasm")).expect("copying the probe");
        ReloadApp { dir }
    }

    fn manifest(&self) -> PathBuf {
        self.dir.path().join("spin.toml")
    }

    /// Replaces `changing.wasm` the way a build does: a new file renamed over the old one.
    fn replace_component(&self, from: &Path) {
        let staged = self.dir.path().join("changing.wasm.new");
        std::fs::copy(from, &staged).expect("staging the new build");
        std::fs::rename(&staged, self.dir.path().join("changing.wasm")).expect("replacing the component");
    }

    fn write_component_bytes(&self, bytes: &[u8]) {
        let staged = self.dir.path().join("changing.wasm.new");
        std::fs::write(&staged, bytes).expect("staging");
        std::fs::rename(&staged, self.dir.path().join("changing.wasm")).expect("replacing the component");
    }

    async fn start(&self, extra: &[&str]) -> Host {
        let mut builder = HostBuilder::new().without_variables().runtime_config(None).manifest(self.manifest());
        for arg in extra {
            builder = builder.arg(*arg);
        }
        builder.start().await
    }
}

/// Which version answered `/v/...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    Echo,
    CoreModule,
}

async fn version_of(host: &Host, path: &str) -> Result<Version, String> {
    let response = host.client.get(host.url(path)).send().await.map_err(|e| format!("{path}: {e}"))?;
    let status = response.status();
    let body = response.text().await.map_err(|e| format!("{path}: body: {e}"))?;
    match (status.as_u16(), body.starts_with("core-module")) {
        (200, true) => Ok(Version::CoreModule),
        (200, false) if body.starts_with('{') => Ok(Version::Echo),
        _ => Err(format!("{path}: {status} {body}")),
    }
}

/// What a bounded load run saw.
#[derive(Default)]
struct LoadTally {
    requests: AtomicU64,
    new_version: AtomicU64,
    /// An old answer after the same client had already seen the new version.
    old_after_new: AtomicU64,
    failures: std::sync::Mutex<Vec<String>>,
}

/// `clients` loops of requests on `/v/x` and `/stable/x` until `stop` is set.
fn start_load(host: &Arc<Host>, clients: usize, stop: &Arc<AtomicBool>, tally: &Arc<LoadTally>) -> Vec<tokio::task::JoinHandle<()>> {
    (0..clients)
        .map(|client| {
            let (host, stop, tally) = (host.clone(), stop.clone(), tally.clone());
            tokio::spawn(async move {
                let mut seen_new = false;
                let mut round = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let path = if (round + client as u64) % 2 == 0 { "/v/x" } else { "/stable/x" };
                    round += 1;
                    tally.requests.fetch_add(1, Ordering::Relaxed);
                    match version_of(&host, path).await {
                        Ok(Version::CoreModule) if path == "/v/x" => {
                            seen_new = true;
                            tally.new_version.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(Version::Echo) if path == "/v/x" && seen_new => {
                            tally.old_after_new.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(Version::Echo) => {}
                        Ok(other) => tally.failures.lock().unwrap().push(format!("{path} answered by {other:?}")),
                        Err(failure) => tally.failures.lock().unwrap().push(failure),
                    }
                }
            })
        })
        .collect()
}

fn signal(host: &Host, name: &str) {
    let status = std::process::Command::new("kill").arg(format!("-{name}")).arg(host.pid().to_string()).status().expect("kill");
    assert!(status.success(), "kill -{name} failed");
}

#[tokio::test]
async fn a_rebuilt_component_is_switched_in_under_load_without_a_failed_request() {
    let app = ReloadApp::new();
    let host = Arc::new(app.start(&[]).await);
    assert_eq!(version_of(&host, "/v/x").await, Ok(Version::Echo));

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(LoadTally::default());
    let load = start_load(&host, 8, &stop, &tally);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // A request in flight across the switch finishes on the version it started on.
    let in_flight = {
        let host = host.clone();
        tokio::spawn(async move { host.get("/v/sleep/1500").await.text().await.unwrap_or_default() })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;

    app.replace_component(&core_probe());
    let reload_sent = Instant::now();
    signal(&host, "HUP");
    eventually(Duration::from_secs(60), "the reload to complete", || async { host.stderr().contains("app reloaded") }).await;
    // The switch is atomic: the first request after it gets the new version.
    assert_eq!(version_of(&host, "/v/x").await, Ok(Version::CoreModule), "{}", host.stderr());
    let served_new_after = reload_sent.elapsed();

    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    for client in load {
        client.await.expect("a load client");
    }
    assert_eq!(in_flight.await.unwrap(), "slept", "the request in flight was not finished by the old version");

    let failures = tally.failures.lock().unwrap().clone();
    let requests = tally.requests.load(Ordering::Relaxed);
    println!("reload under load: {requests} requests, new version served {served_new_after:?} after SIGHUP");
    assert!(failures.is_empty(), "{} of {requests} requests failed across the reload: {:?}", failures.len(), &failures[..failures.len().min(5)]);
    assert_eq!(tally.old_after_new.load(Ordering::Relaxed), 0, "a client got the old version after the new one");
    assert!(tally.new_version.load(Ordering::Relaxed) > 0, "the load never reached the new version");
    // Only the changed component was compiled again.
    let log = host.stderr();
    let reload_line = log.lines().find(|line| line.contains("app reloaded")).expect("the reload line");
    assert!(reload_line.contains(r#"recompiled=["changing"]"#) && reload_line.contains("reused=1"), "{reload_line}");
}

#[tokio::test]
async fn a_version_that_does_not_load_is_refused_and_the_running_one_keeps_serving() {
    let app = ReloadApp::new();
    let host = app.start(&[]).await;

    app.write_component_bytes(b"\0asm but not really");
    signal(&host, "HUP");
    eventually(Duration::from_secs(30), "the refusal", || async { host.stderr().contains("reload refused") }).await;
    assert!(host.stderr().contains("changing.wasm"), "the refusal names the file: {}", host.stderr());
    assert_eq!(version_of(&host, "/v/x").await, Ok(Version::Echo));
    assert_eq!(version_of(&host, "/stable/x").await, Ok(Version::Echo));

    // A manifest that no longer parses is refused the same way.
    let manifest = std::fs::read_to_string(app.manifest()).unwrap();
    std::fs::write(app.manifest(), manifest.replace("[application]", "[application")).unwrap();
    signal(&host, "HUP");
    eventually(Duration::from_secs(30), "the second refusal", || async { host.stderr().matches("reload refused").count() == 2 }).await;
    assert_eq!(version_of(&host, "/v/x").await, Ok(Version::Echo));

    // Once both are mended, the next reload goes through.
    std::fs::write(app.manifest(), manifest).unwrap();
    app.replace_component(&core_probe());
    signal(&host, "HUP");
    eventually(Duration::from_secs(60), "the reload", || async { host.stderr().contains("app reloaded") }).await;
    assert_eq!(version_of(&host, "/v/x").await, Ok(Version::CoreModule));
}

#[tokio::test]
async fn watch_reloads_when_a_component_file_changes() {
    let app = ReloadApp::new();
    let host = app.start(&["--watch"]).await;
    assert_eq!(version_of(&host, "/v/x").await, Ok(Version::Echo));

    app.replace_component(&core_probe());
    eventually(Duration::from_secs(60), "the new version to be served", || async {
        version_of(&host, "/v/x").await == Ok(Version::CoreModule)
    })
    .await;
    assert!(host.stderr().contains("a watched file changed"), "{}", host.stderr());
    assert_eq!(version_of(&host, "/stable/x").await, Ok(Version::Echo));
}
