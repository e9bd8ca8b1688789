//! The test harness: a `galley` host serving the repo's `spin.toml` against the test
//! profile's Postgres, started on a free port and stopped when the last test using it ends.
//!
//! Tests in one binary share a host while they overlap (compiling the components once, not
//! once per test); each test uses its own fresh usernames, so they never interfere.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde_json::Value;

mod postgres;
pub use postgres::{PostgresServer, StopMode};

/// The signing secret the test host is given; tests sign their own tokens with it too.
pub const TEST_SECRET: &str = "e2e-test-secret-e2e-test-secret-0123456789";

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the end-to-end tests through `make test`, which starts the test Postgres and Redis and sets it")
    })
}

pub fn pg_port() -> String {
    required_env("GALLEY_TEST_PG_PORT")
}

/// The service databases, each reached by its own role `galley_<service>`.
pub const SERVICES: [&str; 7] = ["users", "catalog", "inventory", "orders", "payments", "files", "notifications"];

/// The test profile's Postgres passwords (`KEY=value`, written by `scripts/services.sh up
/// test`): the superuser's `GALLEY_PG_PASSWORD` and each service role's
/// `SPIN_VARIABLE_<SERVICE>_DB_PASSWORD`, which is how galley hands them to the components.
pub fn db_secrets() -> Vec<(String, String)> {
    test_profile().secrets().unwrap_or_else(|e| panic!("{e:#}"))
}

/// The launcher's test profile (its secrets file; its ports are the ones `make test` exports).
fn test_profile() -> galley_launcher::profile::Profile {
    galley_launcher::profile::Profile::named("test").unwrap_or_else(|e| panic!("{e:#}"))
}

/// One value of [`db_secrets`].
pub fn db_secret(key: &str) -> String {
    db_secrets().into_iter().find(|(k, _)| k == key).map(|(_, v)| v).unwrap_or_else(|| panic!("{key} missing from db-secrets.env"))
}

struct Host {
    child: Child,
    base: String,
    port: u16,
    state: tempfile::TempDir,
}

/// How a dedicated host differs from the shared one.
#[derive(Debug, Clone, Default)]
pub struct HostOptions {
    /// Extra environment, e.g. `SPIN_VARIABLE_PRODUCT_CACHE_TTL_SECS`.
    pub env: Vec<(String, String)>,
    /// The text of the runtime config to use instead of the test profile's.
    pub runtime_config: Option<String>,
    /// Service databases of the test's own instead of the shared ones (a host started again
    /// with the same options finds the same databases).
    pub own_databases: Option<Arc<OwnDatabases>>,
    /// Every component that uses Postgres runs composed with the wasmCloud build's Postgres
    /// adapter (Spin's Postgres spoken over wasi:sockets) instead of the host's Spin Postgres.
    pub postgres_over_sockets: bool,
    /// The gateway runs composed with the wasmCloud build's chaining adapter, pointed at this
    /// host's own listener: its chained calls arrive as requests from outside.
    pub gateway_chaining_through_adapter: bool,
}

/// Every service's database, migrated, under names of a test's own (`<service>_t<pid>_<n>`)
/// on the test Postgres, with the same roles: for a test that acts on *every* row of a table
/// (a recoverer settles every unsettled saga) and must not meet, or take, other tests' rows.
/// `galley-migrate` makes them (as for every environment, in well under a second) and drops
/// them when the last holder lets go.
///
/// Its products are numbered from 1 again, as the shared catalog's are, so the app also reads
/// and writes its product cache in a Redis database of its own (`redis://…/<1 to 15>`): a
/// shared cache would serve it another catalog's product 1.
#[derive(Debug)]
pub struct OwnDatabases {
    suffix: String,
    cache_db: usize,
}

impl OwnDatabases {
    pub fn create() -> Arc<OwnDatabases> {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let databases = OwnDatabases { suffix: format!("_t{}_{n}", std::process::id()), cache_db: 1 + n % 15 };
        databases.migrate(&[]);
        Arc::new(databases)
    }

    /// The name of `service`'s database in this set.
    pub fn name(&self, service: &str) -> String {
        format!("{service}{}", self.suffix)
    }

    fn migrate(&self, extra: &[&str]) {
        // One at a time: migrating also (re)sets the shared roles, and Postgres refuses two
        // concurrent changes of one role ("tuple concurrently updated").
        static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
        let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let bin = repo_root().join("target/release/galley-migrate");
        let out = Command::new(&bin)
            .args(["--port", &pg_port(), "--secrets-file"])
            .arg(repo_root().join(".data/test/db-secrets.env"))
            .args(["--database-suffix", &self.suffix])
            .args(extra)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e} (`make build` builds it)", bin.display()));
        assert!(out.status.success(), "galley-migrate {extra:?} for `{}`: {}", self.suffix, String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for OwnDatabases {
    fn drop(&mut self) {
        self.migrate(&["--drop"]);
    }
}

/// The compiled-code cache every host of a test run shares (entries are keyed by the wasm's
/// and the engine's hashes and written atomically, so a rebuilt component is compiled afresh):
/// the first host compiles, every later one (a dedicated host, a replica, a restarted one)
/// loads the code in seconds instead of compiling every component again.
fn shared_compiled_code() -> PathBuf {
    let compiled = repo_root().join("target/e2e-replicas-compiled");
    std::fs::create_dir_all(&compiled).expect("compiled-code cache folder");
    compiled
}

/// Route under which the test manifest exposes private components (see tests/components/chain-proxy).
pub const CHAIN_PROXY_ROUTE: &str = "/_e2e/chain/...";
/// Route of the test-only component that fails on every request (tests/components/misbehave).
pub const MISBEHAVE_ROUTE: &str = "/_e2e/misbehave/...";

/// Route of the test-only component that tries to read other services' databases (tests/components/intruder).
pub const INTRUDER_ROUTE: &str = "/_e2e/intruder/...";

/// A test-only component the harness adds to the app.
struct TestComponent {
    id: &'static str,
    wasm: &'static str,
    route: &'static str,
    allowed_outbound_hosts: &'static [&'static str],
    variables: &'static [(&'static str, &'static str)],
}

const TEST_COMPONENTS: [TestComponent; 3] = [
    TestComponent {
        id: "e2e-chain-proxy",
        wasm: "e2e_chain_proxy.wasm",
        route: CHAIN_PROXY_ROUTE,
        allowed_outbound_hosts: &["http://*.spin.internal"],
        variables: &[],
    },
    TestComponent { id: "e2e-misbehave", wasm: "e2e_misbehave.wasm", route: MISBEHAVE_ROUTE, allowed_outbound_hosts: &[], variables: &[] },
    TestComponent {
        id: "e2e-intruder",
        wasm: "e2e_intruder.wasm",
        route: INTRUDER_ROUTE,
        // The same Postgres server every service may reach.
        allowed_outbound_hosts: &["postgres://{{ db_host }}:{{ db_port }}"],
        variables: &[
            // user-lookup's credentials, with the database name left for the request to choose.
            ("users_role_url", "postgres://galley_users:{{ users_db_password }}@{{ db_host }}:{{ db_port }}/"),
            ("superuser_url", "postgres://galley@{{ db_host }}:{{ db_port }}/"),
        ],
    },
];

/// The app's `spin.toml` plus the test-only components, written into `dir` with absolute
/// `source` paths: every route of the app is served exactly as the real manifest declares it.
fn test_manifest(root: &std::path::Path, dir: &std::path::Path, options: &HostOptions, port: u16) -> PathBuf {
    let databases = options.own_databases.as_deref();
    let text = std::fs::read_to_string(root.join("spin.toml")).expect("spin.toml");
    let mut manifest: toml::Table = toml::from_str(&text).expect("spin.toml parses");
    let wasm_dir = root.join("target/wasm32-wasip2/release");
    let components = manifest.get_mut("component").and_then(|c| c.as_table_mut()).expect("[component]");
    for (id, component) in components.iter_mut() {
        let source = component.get("source").and_then(|s| s.as_str()).expect("source").to_owned();
        component["source"] = toml::Value::String(root.join(source).display().to_string());
        if options.postgres_over_sockets {
            postgres_over_sockets(id, component, &wasm_dir, dir);
        }
        if options.gateway_chaining_through_adapter && id == "gateway" {
            chaining_through_adapter(id, component, &wasm_dir, dir, port);
        }
        // Own databases: each `db_url` ends in its service's database name; the set's has the
        // set's suffix.
        if let Some(databases) = databases {
            if let Some(url) = component.get_mut("variables").and_then(|v| v.get_mut("db_url")) {
                let text = url.as_str().expect("db_url is text");
                *url = toml::Value::String(format!("{text}{}", databases.suffix));
            }
        }
    }
    for test in &TEST_COMPONENTS {
        let mut component = toml::Table::new();
        component.insert("source".into(), wasm_dir.join(test.wasm).display().to_string().into());
        let allowed = test.allowed_outbound_hosts.iter().map(|h| toml::Value::from(*h)).collect::<Vec<_>>();
        component.insert("allowed_outbound_hosts".into(), allowed.into());
        let variables: toml::Table = test.variables.iter().map(|(k, v)| (k.to_string(), toml::Value::from(*v))).collect();
        component.insert("variables".into(), variables.into());
        components.insert(test.id.into(), toml::Value::Table(component));
    }
    let triggers = manifest["trigger"]["http"].as_array_mut().expect("[[trigger.http]]");
    for test in &TEST_COMPONENTS {
        let mut trigger = toml::Table::new();
        trigger.insert("route".into(), test.route.into());
        trigger.insert("component".into(), test.id.into());
        triggers.push(toml::Value::Table(trigger));
    }
    let path = dir.join("spin.toml");
    std::fs::write(&path, toml::to_string(&manifest).expect("manifest serialises")).expect("write test manifest");
    path
}

/// Swaps `component`'s Spin build for one composed with the Postgres adapter, which opens a
/// TCP connection itself: the allow-list gets the same server as a `tcp://` entry.
fn postgres_over_sockets(id: &str, component: &mut toml::Value, wasm_dir: &std::path::Path, dir: &std::path::Path) {
    use galley_wasmcloud::adapters::{AdapterDir, Plan, POSTGRES};
    let Some(allowed) = component.get_mut("allowed_outbound_hosts").and_then(|a| a.as_array_mut()) else { return };
    let postgres: Vec<String> = allowed
        .iter()
        .filter_map(|h| h.as_str()?.strip_prefix("postgres://").map(|rest| format!("tcp://{rest}")))
        .collect();
    if postgres.is_empty() {
        return;
    }
    allowed.extend(postgres.into_iter().map(toml::Value::from));
    let spin_build = PathBuf::from(component["source"].as_str().expect("source"));
    let output = dir.join("postgres-over-sockets").join(format!("{id}.wasm"));
    std::fs::create_dir_all(output.parent().expect("a folder")).expect("create the folder");
    let plan = Plan { adapters: &[POSTGRES], messaging_trigger: false };
    let composed = galley_wasmcloud::compose::compose(id, &spin_build, &AdapterDir::new(wasm_dir), &plan, &output)
        .unwrap_or_else(|e| panic!("composing {id} with the Postgres adapter (make wasmcloud-adapters builds it): {e:#}"));
    assert_eq!(composed.adapters, vec![POSTGRES], "{id} uses Spin's Postgres");
    component["source"] = toml::Value::String(output.display().to_string());
}

/// Swaps `component`'s Spin build for one composed with the chaining adapter, which reads where
/// chained calls go from wasi:config (answered here from the component's Spin variables by the
/// test component config-from-variables): this host's own listener.
fn chaining_through_adapter(id: &str, component: &mut toml::Value, wasm_dir: &std::path::Path, dir: &std::path::Path, port: u16) {
    use galley_wasmcloud::adapters::{AdapterDir, Plan, CHAINING};
    let adapters = dir.join("chaining-adapter");
    std::fs::create_dir_all(&adapters).expect("create the folder");
    galley_wasmcloud::compose::plug_files(
        ("chaining", &wasm_dir.join(CHAINING.wasm)),
        &[("config-from-variables", &wasm_dir.join("e2e_config_from_variables.wasm"))],
        &adapters.join(CHAINING.wasm),
    )
    .unwrap_or_else(|e| panic!("composing the chaining adapter over Spin variables: {e:#}"));
    let spin_build = PathBuf::from(component["source"].as_str().expect("source"));
    let output = dir.join(format!("{id}-chaining.wasm"));
    let plan = Plan { adapters: &[CHAINING], messaging_trigger: false };
    let composed = galley_wasmcloud::compose::compose(id, &spin_build, &AdapterDir::new(&adapters), &plan, &output)
        .unwrap_or_else(|e| panic!("composing {id} with the chaining adapter: {e:#}"));
    assert_eq!(composed.adapters, vec![CHAINING], "{id} chains");
    component["source"] = toml::Value::String(output.display().to_string());
    let own_listener = format!("127.0.0.1:{port}");
    let table = component.as_table_mut().expect("a component table");
    let variables = table.entry("variables").or_insert_with(|| toml::Table::new().into());
    variables.as_table_mut().expect("variables").insert("spin_internal_authority".into(), own_listener.clone().into());
    let allowed = table.entry("allowed_outbound_hosts").or_insert_with(|| toml::Value::Array(Vec::new()));
    allowed.as_array_mut().expect("a list").push(format!("http://{own_listener}").into());
}

impl Host {
    fn log_path(&self) -> PathBuf {
        self.state.path().join("galley.log")
    }

    fn start(options: &HostOptions) -> Host {
        Host::start_sharing(options, Some(&shared_compiled_code()))
    }

    /// Starts a host; with `compiled`, its compiled-code cache is that folder (another
    /// replica's), so it loads the code instead of compiling it again.
    fn start_sharing(options: &HostOptions, compiled: Option<&std::path::Path>) -> Host {
        let root = repo_root();
        let pg_port = pg_port();
        let redis_port = required_env("GALLEY_TEST_REDIS_PORT");
        let state = tempfile::tempdir().expect("temp dir");
        let own_cache = options.own_databases.as_ref().map(|own| {
            cache_runtime_config(&format!("redis://127.0.0.1:{}/{}", required_env("GALLEY_TEST_REDIS_PORT"), own.cache_db))
        });
        let runtime_config = match options.runtime_config.as_ref().or(own_cache.as_ref()) {
            Some(text) => {
                let path = state.path().join("runtime-config.toml");
                std::fs::write(&path, text).expect("write runtime config");
                path
            }
            None => root.join(".data/test/runtime-config.toml"),
        };
        assert!(runtime_config.exists(), "{} missing: `scripts/services.sh up test` writes it", runtime_config.display());
        let port = galley_launcher::free_port().expect("free port");
        let manifest = test_manifest(&root, state.path(), options, port);
        if let Some(compiled) = compiled {
            std::os::unix::fs::symlink(compiled, state.path().join("compiled")).expect("link the compiled-code cache");
        }

        let galley = galley_launcher::galley::Galley::new(&manifest, port, state.path())
            .runtime_config(&runtime_config)
            .envs([
                ("SPIN_VARIABLE_DB_HOST", "127.0.0.1"),
                ("SPIN_VARIABLE_DB_PORT", &pg_port),
                ("SPIN_VARIABLE_REDIS_PORT", &redis_port),
                ("SPIN_VARIABLE_AUTH_SECRET", TEST_SECRET),
                // As behind nginx or an Ingress: the last X-Forwarded-For entry is the client,
                // so a test can log in "from" an address of its own (users::…login… tests).
                ("SPIN_VARIABLE_TRUSTED_PROXIES", "1"),
            ])
            // The service roles' passwords only: the superuser's is never the app's.
            .envs(db_secrets().into_iter().filter(|(k, _)| k.starts_with("SPIN_VARIABLE_")))
            .envs(options.env.clone());
        let child = galley.start().unwrap_or_else(|e| panic!("{e:#}"));
        Host { child, base: format!("http://127.0.0.1:{port}"), port, state }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// SIGKILL, as a crash or the OOM killer would: no graceful shutdown.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a [`TestApp`] talks to: one host, or replicas behind the balancer.
enum Serving {
    One(Host),
    Balanced(Replicas),
}

impl Serving {
    fn start(options: &HostOptions) -> Serving {
        match replicas_from_env() {
            Some(n) => Serving::Balanced(Replicas::start(n, options)),
            None => Serving::One(Host::start(options)),
        }
    }

    fn base(&self) -> String {
        match self {
            Serving::One(host) => host.base.clone(),
            Serving::Balanced(set) => set.balancer.base.clone(),
        }
    }
}

/// `GALLEY_E2E_REPLICAS=N` (N ≥ 1): every app the tests spawn is N replicas behind nginx, so
/// the same tests show that replicas agree (`make test` re-runs a selection this way).
fn replicas_from_env() -> Option<usize> {
    let n: usize = std::env::var("GALLEY_E2E_REPLICAS").ok()?.parse().expect("GALLEY_E2E_REPLICAS is a number");
    (n >= 1).then_some(n)
}

static SHARED: Mutex<Weak<Serving>> = Mutex::new(Weak::new());
static SHARED_REPLICAS: Mutex<Weak<Serving>> = Mutex::new(Weak::new());

/// A running app and a client for it.
pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    host: Arc<Serving>,
    /// Its own databases, if it was given some ([`HostOptions::own_databases`]).
    own_databases: Option<Arc<OwnDatabases>>,
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client")
}

fn shared(slot: &Mutex<Weak<Serving>>, start: impl FnOnce() -> Serving) -> TestApp {
    let host = {
        let mut shared = slot.lock().unwrap_or_else(|e| e.into_inner());
        match shared.upgrade() {
            Some(host) => host,
            None => {
                let host = Arc::new(start());
                *shared = Arc::downgrade(&host);
                host
            }
        }
    };
    TestApp { base: host.base(), http: client(), host, own_databases: None }
}

pub fn spawn_app() -> TestApp {
    shared(&SHARED, || Serving::start(&HostOptions::default()))
}

static SHARED_POSTGRES_OVER_SOCKETS: Mutex<Weak<Serving>> = Mutex::new(Weak::new());

/// A host shared by the tests of the Postgres adapter ([`HostOptions::postgres_over_sockets`]).
pub fn spawn_app_with_postgres_over_sockets() -> TestApp {
    shared(&SHARED_POSTGRES_OVER_SOCKETS, || {
        Serving::start(&HostOptions { postgres_over_sockets: true, ..HostOptions::default() })
    })
}

/// A host of its own (not shared), for tests that need other variables or stores.
pub fn spawn_app_with(options: HostOptions) -> TestApp {
    let host = Arc::new(Serving::start(&options));
    TestApp { base: host.base(), http: client(), host, own_databases: options.own_databases }
}

/// A host of its own whose databases are down: its `db_port` is a port where nothing listens.
pub fn spawn_app_with_databases_down() -> TestApp {
    let dead_port = galley_launcher::free_port().expect("port");
    spawn_app_with(HostOptions { env: vec![("SPIN_VARIABLE_DB_PORT".into(), dead_port.to_string())], ..HostOptions::default() })
}

/// `n` replicas of their own behind a balancer of their own; the app's base is the balancer.
pub fn spawn_replicas(n: usize, options: HostOptions) -> TestApp {
    let host = Arc::new(Serving::Balanced(Replicas::start(n, &options)));
    TestApp { base: host.base(), http: client(), host, own_databases: options.own_databases }
}

/// Three replicas behind a balancer, shared by the tests that overlap (as [`spawn_app`]).
pub fn shared_replicas() -> TestApp {
    let n = replicas_from_env().unwrap_or(3).max(2);
    shared(&SHARED_REPLICAS, || Serving::Balanced(Replicas::start(n, &HostOptions::default())))
}

/// Replicas of the app behind nginx: the local picture of a scaled-out deployment.
pub struct Replicas {
    hosts: Mutex<Vec<Host>>,
    bases: Vec<String>,
    balancer: Balancer,
}

impl Replicas {
    fn start(n: usize, options: &HostOptions) -> Replicas {
        assert!(n >= 1);
        // Every replica's `cache` and `default` stores are the test Redis: nothing per process.
        let redis_port = required_env("GALLEY_TEST_REDIS_PORT");
        let mut options = options.clone();
        if options.runtime_config.is_none() {
            let url = format!("redis://127.0.0.1:{redis_port}");
            options.runtime_config = Some(galley_launcher::replicas::redis_stores_config(&url, true));
        }
        // One compiled-code cache for every replica: the first replica compiles, the rest load
        // its code, and start together.
        let compiled = shared_compiled_code();
        let compiled = compiled.as_path();
        let first = Host::start_sharing(&options, Some(compiled));
        let rest: Vec<Host> = std::thread::scope(|scope| {
            let handles: Vec<_> = (1..n).map(|_| scope.spawn(|| Host::start_sharing(&options, Some(compiled)))).collect();
            handles.into_iter().map(|h| h.join().expect("replica start")).collect()
        });
        let mut hosts = vec![first];
        hosts.extend(rest);
        let balancer = Balancer::start(&hosts.iter().map(|h| h.port).collect::<Vec<_>>());
        let bases = hosts.iter().map(|h| h.base.clone()).collect();
        Replicas { hosts: Mutex::new(hosts), bases, balancer }
    }
}

/// nginx in front of the replicas (the launcher's, as `make up REPLICAS=N` runs it), in a
/// folder of its own.
struct Balancer {
    nginx: galley_launcher::nginx::Balancer,
    base: String,
    _dir: tempfile::TempDir,
}

impl Balancer {
    fn start(ports: &[u16]) -> Balancer {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = galley_launcher::free_port().expect("free port");
        let nginx = galley_launcher::nginx::Balancer::new(dir.path(), port, ports);
        nginx.start().unwrap_or_else(|e| panic!("{e:#}"));
        Balancer { nginx, base: format!("http://127.0.0.1:{port}"), _dir: dir }
    }

    fn log(&self) -> String {
        self.nginx.log()
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.nginx.stop();
    }
}

/// A username no other test (or earlier run) uses.
pub fn unique_username(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}_{}", &id[..12])
}

pub const MOBILE: &str = "13800138000";

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Everything the host has logged so far (every replica's, and the balancer's).
    pub fn host_log(&self) -> String {
        match &*self.host {
            Serving::One(host) => host.log(),
            Serving::Balanced(set) => {
                let hosts = set.hosts.lock().unwrap_or_else(|e| e.into_inner());
                let mut log: String =
                    hosts.iter().enumerate().map(|(i, h)| format!("--- replica {i}\n{}", h.log())).collect();
                log.push_str(&format!("--- nginx\n{}", set.balancer.log()));
                log
            }
        }
    }

    fn replicas(&self) -> &Replicas {
        match &*self.host {
            Serving::Balanced(set) => set,
            Serving::One(_) => panic!("not a replica set: use spawn_replicas or shared_replicas"),
        }
    }

    /// How many replicas serve this app (1 for a single host).
    pub fn replica_count(&self) -> usize {
        match &*self.host {
            Serving::One(_) => 1,
            Serving::Balanced(set) => set.bases.len(),
        }
    }

    /// The same app, but talking to replica `i` directly, past the balancer.
    pub fn replica(&self, i: usize) -> TestApp {
        TestApp { base: self.replicas().bases[i].clone(), http: client(), host: self.host.clone(), own_databases: self.own_databases.clone() }
    }

    /// SIGKILLs replica `i` (the balancer is not told).
    pub fn kill_replica(&self, i: usize) {
        self.replicas().hosts.lock().unwrap_or_else(|e| e.into_inner())[i].kill();
    }

    pub async fn register(&self, username: &str, password: &str) -> reqwest::Response {
        self.post_json("/api/v1/users", &serde_json::json!({"username": username, "password": password, "mobile": MOBILE}))
            .await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http.post(self.url(path)).json(body).send().await.expect("request")
    }

    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn token(&self, username: &str, password: &str) -> reqwest::Response {
        self.post_json("/api/v1/auth/token", &serde_json::json!({"username": username, "password": password})).await
    }

    /// A login from client address `from` (sent as the X-Forwarded-For the test host trusts).
    pub async fn token_from(&self, username: &str, password: &str, from: &str) -> reqwest::Response {
        self.http
            .post(self.url("/api/v1/auth/token"))
            .header("x-forwarded-for", from)
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await
            .expect("token request")
    }

    /// Registers a fresh customer and logs in: (user json, token).
    pub async fn customer(&self, prefix: &str) -> (Value, String) {
        let name = unique_username(prefix);
        let resp = self.register(&name, "customer-password").await;
        assert_eq!(resp.status(), 201, "registering {name}");
        let user: Value = resp.json().await.expect("user json");
        let token = self.token_for(&name, "customer-password").await;
        (user, token)
    }

    pub async fn token_for(&self, username: &str, password: &str) -> String {
        let resp = self.token(username, password).await;
        assert_eq!(resp.status(), 200, "token for {username}");
        let body: Value = resp.json().await.expect("token json");
        body["access_token"].as_str().expect("access_token").to_owned()
    }

    pub async fn lookup(&self, id: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(self.url(&format!("/api/v1/users/{id}")));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request")
    }
}

/// Asserts an RFC 9457 problem response with `status` and returns its body.
pub async fn assert_problem(resp: reqwest::Response, status: u16) -> Value {
    assert_eq!(resp.status().as_u16(), status, "status");
    let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert_eq!(ct, "application/problem+json", "content type");
    let body: Value = resp.json().await.expect("problem json");
    assert_eq!(body["status"], status, "status member: {body}");
    for member in ["type", "title", "detail"] {
        assert!(body[member].as_str().is_some_and(|s| !s.is_empty()), "`{member}` in {body}");
    }
    body
}

/// A Redis server of a test's own, on a free port with its own directory, configured as the
/// project's (the launcher's), that the test may stop and start again.
pub struct RedisServer {
    pub port: u16,
    redis: galley_launcher::redis::Redis,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = galley_launcher::free_port().expect("free port");
        let mut server = RedisServer { port, redis: galley_launcher::redis::Redis::new(port, dir.path()), _dir: dir };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        self.redis.url()
    }

    /// Starts the server (again, after [`RedisServer::shutdown`]) in the same directory.
    pub fn restart(&mut self) {
        self.redis.start().unwrap_or_else(|e| panic!("{e:#}"));
    }

    /// A clean shutdown, as an operator's `systemctl stop` would do (it saves a snapshot if
    /// the configuration asks for one).
    pub fn shutdown(&mut self) {
        self.redis.stop();
    }

    /// Runs a `redis-cli` command against this server; its output.
    pub fn cli(&self, args: &[&str]) -> String {
        self.redis.cli(args)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.redis.stop();
    }
}

/// A runtime config whose `cache` store is the Redis at `url`.
pub fn cache_runtime_config(url: &str) -> String {
    galley_launcher::replicas::redis_stores_config(url, false)
}

impl TestApp {
    /// A connection to this app's database of service `name`, as the superuser: its own
    /// ([`HostOptions::own_databases`]) or the shared one ([`database`]).
    pub async fn database(&self, name: &str) -> tokio_postgres::Client {
        match &self.own_databases {
            Some(own) => connect_database(&pg_port(), &own.name(name)).await,
            None => database(name).await,
        }
    }

    /// This app's databases as the consistency check reads them.
    pub async fn consistency_databases(&self) -> galley_e2e::consistency::Databases {
        let suffix = self.own_databases.as_ref().map_or("", |own| own.suffix.as_str());
        galley_e2e::consistency::Databases::connect(&pg_port(), &db_secret("GALLEY_PG_PASSWORD"), suffix)
            .await
            .expect("the service databases")
    }
}

/// A connection to one of the test profile's service databases, as the superuser, for checks
/// that look behind the API (what was stored, across services).
pub async fn database(name: &str) -> tokio_postgres::Client {
    connect_database(&pg_port(), name).await
}

/// A connection to database `name` of the Postgres on `port` as the superuser `galley` (with
/// the test profile's password, which a test's own trust-authentication server ignores).
pub async fn connect_database(port: &dyn std::fmt::Display, name: &str) -> tokio_postgres::Client {
    connect_on(port, "galley", &db_secret("GALLEY_PG_PASSWORD"), name).await.expect("test Postgres")
}

/// A connection to database `name` of the test profile's Postgres as `user` with `password`
/// over TCP, as a component connects; the error when Postgres refuses.
pub async fn connect_as(user: &str, password: &str, name: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    connect_on(&pg_port(), user, password, name).await
}

async fn connect_on(
    port: &dyn std::fmt::Display,
    user: &str,
    password: &str,
    name: &str,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let mut config = tokio_postgres::Config::new();
    config.host("127.0.0.1").port(port.to_string().parse().expect("a port number")).user(user).password(password).dbname(name);
    let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

impl TestApp {
    /// SIGKILLs this app's host, as a crash or the OOM killer would, and waits until it is
    /// gone. Only for an app of its own ([`spawn_app_with`]): the shared one serves other tests.
    /// Start it again with `spawn_app_with` and the same options: a new process (on another
    /// port) on the same databases and Redis.
    pub fn sigkill(&self) {
        let Serving::One(host) = &*self.host else { panic!("sigkill is for a single host; replicas have kill_replica") };
        assert!(galley_launcher::process::kill(host.child.id()), "kill -KILL {}", host.child.id());
        galley_launcher::wait::until("galley gone after SIGKILL", Duration::from_secs(10), || {
            Ok(!galley_launcher::wait::tcp_listening(host.port))
        })
        .unwrap_or_else(|e| panic!("{e:#}"));
    }

    /// After [`TestApp::sigkill`]: galley started again with `options` on the same databases
    /// and Redis, reusing the dead host's compiled code as a restart in place would (a new
    /// process, on another port).
    pub fn restart_killed(&self, options: &HostOptions) -> TestApp {
        let Serving::One(dead) = &*self.host else { panic!("restart_killed is for a single host") };
        let host = Arc::new(Serving::One(Host::start_sharing(options, Some(&dead.state.path().join("compiled")))));
        TestApp { base: host.base(), http: client(), host, own_databases: options.own_databases.clone() }
    }
}

/// Runs `run` on every item, `concurrency` at a time, and calls `kill` (a SIGKILL of a host or
/// a replica) once `kill_after` results count as answered, while the rest are in flight: the
/// load of the crash tests. Each item's result, in completion order, and how many were
/// answered when `kill` ran.
pub async fn kill_mid_load<'a, I, T, F>(
    items: &'a [I],
    concurrency: usize,
    kill_after: usize,
    run: impl Fn(&'a I) -> F,
    answered: impl Fn(&T) -> bool,
    kill: impl FnOnce(),
) -> (Vec<T>, usize)
where
    F: std::future::Future<Output = T>,
{
    use futures::StreamExt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let count = AtomicUsize::new(0);
    let load = futures::stream::iter(items)
        .map(|item| {
            let (count, answered, work) = (&count, &answered, run(item));
            async move {
                let result = work.await;
                if answered(&result) {
                    count.fetch_add(1, Ordering::SeqCst);
                }
                result
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>();
    let killer = async {
        while count.load(Ordering::SeqCst) < kill_after {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        kill();
        count.load(Ordering::SeqCst)
    };
    tokio::join!(load, killer)
}
