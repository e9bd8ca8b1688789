//! Test harness for galley's own tests: builds the probe components, starts a real `galley up`
//! on a free port against the project's test Postgres and Redis, and talks HTTP to it.
//!
//! Postgres and Redis are the ones `scripts/services.sh up test` starts (`make test` does);
//! their ports come from `GALLEY_TEST_PG_PORT` and `GALLEY_TEST_REDIS_PORT`.



use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub fn workspace_root() -> PathBuf {
    // This crate lives in host/tests.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the workspace root")
}

/// The galley binary under test: `GALLEY_BIN`, or the workspace's release build.
pub fn galley_bin() -> PathBuf {
    let path = std::env::var_os("GALLEY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/release/galley"));
    assert!(path.exists(), "{} is missing: run `cargo build --release -p galley` (make build) first", path.display());
    path
}

pub fn manifest() -> PathBuf {
    workspace_root().join("host/tests/app/spin.toml")
}

/// A variant of the test manifest written next to the original (so its relative paths hold),
/// removed on drop.
pub struct ManifestVariant(PathBuf);

impl ManifestVariant {
    pub fn new(name: &str, edit: impl Fn(String) -> String) -> ManifestVariant {
        let original = std::fs::read_to_string(manifest()).expect("reading the test manifest");
        let edited = edit(original.clone());
        assert_ne!(edited, original, "the variant `{name}` changes nothing");
        let path = manifest().with_file_name(format!("spin.{name}.{}.toml", std::process::id()));
        std::fs::write(&path, edited).expect("writing a manifest variant");
        ManifestVariant(path)
    }

    pub fn path(&self) -> PathBuf {
        self.0.clone()
    }
}

impl Drop for ManifestVariant {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn env_port(name: &str) -> u16 {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run these tests through `make test`, or start `scripts/services.sh up test` and export {name}"))
        .parse()
        .unwrap_or_else(|_| panic!("{name} is not a port"))
}

pub fn pg_port() -> u16 {
    env_port("GALLEY_TEST_PG_PORT")
}

pub fn redis_port() -> u16 {
    env_port("GALLEY_TEST_REDIS_PORT")
}

pub const TEST_DATABASE: &str = "galley_host_test";

/// The test Postgres's superuser password: TCP connections need one (`scripts/services.sh up
/// test` generates it into `.data/test/db-secrets.env`).
pub fn pg_password() -> String {
    let path = workspace_root().join(".data/test/db-secrets.env");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e} (`scripts/services.sh up test` writes it)", path.display()));
    text.lines()
        .find_map(|line| line.strip_prefix("GALLEY_PG_PASSWORD="))
        .unwrap_or_else(|| panic!("no GALLEY_PG_PASSWORD in {}", path.display()))
        .to_owned()
}

/// Builds the probe components once per test run: the components for wasm32-wasip2, and
/// `host-probe-core` for wasm32-wasip1, where the result is a core module carrying its
/// component type (what galley must turn into a component itself).
pub fn build_probes() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        for (target, packages) in [
            ("wasm32-wasip2", &["-p", "host-probe", "-p", "host-probe-redis"][..]),
            ("wasm32-wasip1", &["-p", "host-probe-core"][..]),
        ] {
            ensure_rust_target(target);
            let status = Command::new(&cargo)
                .current_dir(workspace_root())
                .args(["build", "--release", "--target", target])
                .args(packages)
                .status()
                .expect("running cargo to build the probe components");
            assert!(status.success(), "building the probe components for {target} failed");
        }
    });
}

/// Installs a Rust target with rustup when it is missing (CI machines start with wasip2 only).
pub fn ensure_rust_target(target: &str) {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).lines().any(|line| line.trim() == target))
        .unwrap_or(false);
    if !installed {
        let status = Command::new("rustup").args(["target", "add", target]).status().expect("running rustup");
        assert!(status.success(), "rustup target add {target} failed");
    }
}

/// The test MQTT broker's port: `GALLEY_TEST_MQTT_PORT`, else 18831. The broker (mosquitto,
/// installed with apt when missing) is started by `scripts/services.sh mqtt test` unless it is
/// already running; `scripts/services.sh down test` stops it.
pub fn mqtt_port() -> u16 {
    static PORT: OnceLock<u16> = OnceLock::new();
    *PORT.get_or_init(|| {
        let port: u16 = std::env::var("GALLEY_TEST_MQTT_PORT")
            .ok()
            .map(|p| p.parse().expect("GALLEY_TEST_MQTT_PORT is not a port"))
            .unwrap_or(18831);
        let status = Command::new(workspace_root().join("scripts/services.sh"))
            .args(["mqtt", "test"])
            .env("GALLEY_MQTT_PORT", port.to_string())
            .status()
            .expect("running scripts/services.sh mqtt test");
        assert!(status.success(), "could not start the test MQTT broker on port {port}");
        port
    })
}

/// Creates the test database if it is missing.
pub async fn ensure_database() {
    static READY: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    READY
        .get_or_init(|| async {
            let admin = connect("postgres").await;
            let exists = admin
                .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&TEST_DATABASE])
                .await
                .expect("checking for the test database");
            if exists.is_none() {
                // Two test binaries may race here; losing the race is fine.
                let _ = admin.batch_execute(&format!("CREATE DATABASE {TEST_DATABASE}")).await;
            }
        })
        .await;
}

/// A direct connection, for checking what the host did.
pub async fn connect(database: &str) -> tokio_postgres::Client {
    let url = format!("postgres://galley:{}@127.0.0.1:{}/{database}", pg_password(), pg_port());
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
    tokio::spawn(connection);
    client
}

pub fn free_port() -> u16 {
    galley_launcher::free_port().expect("a free port")
}

/// A running `galley up`, stopped on drop.
pub struct Host {
    child: Option<Child>,
    pub address: String,
    pub dir: tempfile::TempDir,
    pub client: reqwest::Client,
}

/// How to start a host.
pub struct HostBuilder {
    manifest: PathBuf,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    runtime_config: Option<String>,
    state_dir: Option<PathBuf>,
}

impl HostBuilder {
    pub fn new() -> HostBuilder {
        HostBuilder {
            manifest: manifest(),
            args: vec![
                "--variable".into(),
                format!("pg_port={}", pg_port()),
                "--variable".into(),
                format!("pg_password={}", pg_password()),
                "--variable".into(),
                format!("redis_port={}", redis_port()),
            ],
            envs: Vec::new(),
            runtime_config: Some("[key_value_store.mem]\ntype = \"spin\"\n".into()),
            state_dir: None,
        }
    }

    pub fn manifest(mut self, manifest: PathBuf) -> Self {
        self.manifest = manifest;
        self
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.envs.push((key.into(), value.into()));
        self
    }

    pub fn without_variables(mut self) -> Self {
        self.args.clear();
        self
    }

    pub fn runtime_config(mut self, text: Option<&str>) -> Self {
        self.runtime_config = text.map(str::to_string);
        self
    }

    /// Share a state dir (key-value file, compiled code) with another host.
    pub fn state_dir(mut self, dir: &Path) -> Self {
        self.state_dir = Some(dir.to_path_buf());
        self
    }

    fn command(&self, dir: &Path, port: u16) -> Command {
        build_probes();
        let mut command = Command::new(galley_bin());
        let state_dir = self.state_dir.clone().unwrap_or_else(shared_state_dir);
        command
            .arg("up")
            .arg("--manifest")
            .arg(&self.manifest)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--state-dir")
            .arg(state_dir)
            .args(&self.args)
            .env("GALLEY_LOG", "galley=debug,warn")
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::from(std::fs::File::create(dir.join("stdout")).expect("stdout file")))
            .stderr(Stdio::from(std::fs::File::create(dir.join("stderr")).expect("stderr file")));
        if let Some(config) = &self.runtime_config {
            let path = dir.join("runtime-config.toml");
            std::fs::write(&path, config).expect("writing the runtime config");
            command.arg("--runtime-config-file").arg(path);
        }
        command
    }

    /// Starts the host and waits until its health check answers.
    pub async fn start(self) -> Host {
        let dir = tempfile::tempdir().expect("a temp dir");
        let port = free_port();
        let child = self.command(dir.path(), port).spawn().expect("starting galley");
        let mut host = Host {
            child: Some(child),
            address: format!("http://127.0.0.1:{port}"),
            dir,
            client: reqwest::Client::new(),
        };
        host.wait_healthy().await;
        host
    }

    /// Runs the host expecting it to refuse to start; returns its stderr.
    pub fn start_expecting_failure(self) -> String {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut child = self.command(dir.path(), free_port()).spawn().expect("starting galley");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().expect("waiting for galley") {
                assert!(!status.success(), "galley should have refused to start");
                return std::fs::read_to_string(dir.path().join("stderr")).unwrap_or_default();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("galley kept running; it should have refused to start");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Compiled code is cached under the state dir; sharing one across tests keeps them fast.
fn shared_state_dir() -> PathBuf {
    workspace_root().join("target/host-test-state")
}

impl Host {
    async fn wait_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("galley exited ({status}) before it was healthy:\n{}", self.stderr());
                }
            }
            if let Ok(response) = self.client.get(self.url("/.well-known/spin/health")).send().await {
                if response.status() == 200 {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "galley did not become healthy:\n{}", self.stderr());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// The host's process id (to send it signals).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    /// GET in the caller's trace `trace_id` (a `traceparent` whose span is the caller's).
    pub async fn get_traced(&self, path: &str, trace_id: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
            .send()
            .await
            .expect("GET")
    }

    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let response = self.get(path).await;
        let status = response.status();
        let text = response.text().await.expect("body");
        assert_eq!(status, 200, "GET {path}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("GET {path} is not JSON: {text}"))
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stdout")).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(status) = child.try_wait().expect("waiting for galley") {
                return status;
            }
            assert!(Instant::now() < deadline, "galley did not stop after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits until `check` holds, or fails after `limit` with `what`.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
