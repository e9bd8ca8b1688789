//! A loaded application: the manifest validated, every component compiled and
//! pre-instantiated, its routes, stores and connection pools ready.
//!
//! Everything that can be checked is checked here, before the first request: manifest keys,
//! variables, outbound-host patterns, key-value and SQLite labels, and that each component's
//! imports are satisfiable and its exports fit its trigger.
//!
//! The parts: the manifest and the runtime config as read, `{{ name }}` templates, the engine
//! and its compiled-code cache, core modules made components, and reloading a new version
//! beside the one serving. [`App::new_store`] is where an instance's capabilities are built.

pub mod componentize;
pub mod engine;
pub mod manifest;
pub mod reload;
pub mod runtime_config;
pub mod template;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use anyhow::{bail, Context, Result};
use wasmtime::{Engine, Store};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::capabilities::allowed_hosts::AllowList;
use crate::bindings::redis_trigger::RedisTriggerPre;
use self::engine::{CodeOrigin, CompiledCode, InstanceLimits};
use crate::capabilities::key_value::{KeyValueState, KeyValueStores};
use self::manifest::{ComponentRef, Manifest, RouteDecl, StaticResponse};
use crate::capabilities::postgres::{PgPools, PgState, PgTuning};
use crate::capabilities::redis_outbound::{RedisClients, RedisState};
use crate::http_trigger::router::{Route, Router};
use crate::app::runtime_config::RuntimeConfig;
use crate::capabilities::sqlite::{SqliteDatabases, SqliteState};
use crate::component_log::ComponentLog;
use crate::capabilities::mqtt::MqttState;
use crate::capabilities::outbound_http::OutboundHttp;
use crate::capabilities::sockets;
use crate::state::{self, Capabilities, InstanceState};
use crate::trace::TraceContext;
use self::template::ResolvedVariables;
use crate::capabilities::variables::{self, VariableSources, VariablesState};

/// How `galley up` was asked to run the app.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub manifest: PathBuf,
    pub runtime_config: Option<PathBuf>,
    pub variables: Vec<(String, String)>,
    /// `None`: `.spin` beside the manifest, as Spin does.
    pub state_dir: Option<PathBuf>,
    pub limits: InstanceLimits,
    pub postgres: PgTuning,
}

/// What an HTTP route leads to.
#[derive(Debug, Clone)]
pub enum HttpTarget {
    Component(String),
    Static(StaticResponse),
}

/// One `[[trigger.redis]]`, templates rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisSubscription {
    pub address: String,
    pub channel: String,
    pub component: String,
}

/// A component ready to instantiate, with its configuration. The parts each instance's
/// capabilities keep are shared (`Arc`), so a new instance copies no configuration.
pub struct AppComponent {
    pub id: Arc<str>,
    pub http: Option<ProxyPre<InstanceState>>,
    pub redis: Option<RedisTriggerPre<InstanceState>>,
    pub allowed_hosts: Arc<AllowList>,
    pub key_value_labels: Arc<HashSet<String>>,
    pub sqlite_labels: Arc<HashSet<String>>,
    pub variables: Arc<HashMap<String, String>>,
    pub environment: Vec<(String, String)>,
}

pub struct App {
    pub name: String,
    /// The manifest's `application.version` and a digest of the manifest and every
    /// component's code: what the metrics report as the version serving.
    pub version: String,
    pub engine: Engine,
    pub limits: InstanceLimits,
    pub components: HashMap<String, Arc<AppComponent>>,
    pub router: Router<HttpTarget>,
    pub redis_subscriptions: Vec<RedisSubscription>,
    /// Per-app state of the capabilities, shared by every instance.
    pub key_value: Arc<KeyValueStores>,
    pub sqlite: Arc<SqliteDatabases>,
    pub postgres: Arc<PgPools>,
    pub redis: Arc<RedisClients>,
    /// Where the HTTP server listens, for self-requests; set once it is bound.
    pub listen_addr: OnceLock<SocketAddr>,
    /// Machine code by source hash, shared with the versions before and after this one.
    pub compiled: Arc<CompiledCode>,
    /// The files this version was loaded from (manifest, runtime config, component sources):
    /// what `--watch` looks at.
    pub sources: Vec<PathBuf>,
    /// The runtime config's text, to tell on reload whether the stores can be kept.
    runtime_config_text: Option<Vec<u8>>,
}

/// What loading a version of the app did, for the log.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Components whose code was compiled now or read from the disk cache.
    pub compiled: Vec<String>,
    /// Components whose code an earlier version in this process had already loaded.
    pub reused: Vec<String>,
}

impl App {
    /// Loads the app for the first time.
    pub async fn load(options: &LoadOptions) -> Result<Arc<App>> {
        Ok(App::load_version(options, None).await?.0)
    }

    /// Loads a version of the app. Given the version now serving, it keeps what can be kept:
    /// the engine, the compiled code of unchanged components, the connection pools, and the
    /// key-value stores and SQLite databases while the runtime config is unchanged (an
    /// in-memory store keeps its data across a reload).
    pub async fn load_version(options: &LoadOptions, previous: Option<&App>) -> Result<(Arc<App>, LoadReport)> {
        let manifest = manifest::load(&options.manifest)?;
        let manifest_dir = manifest_dir(&options.manifest)?;
        let state_dir = options.state_dir.clone().unwrap_or_else(|| manifest_dir.join(".spin"));
        let runtime_config_text = match &options.runtime_config {
            Some(path) => Some(std::fs::read(path).with_context(|| format!("cannot read runtime config {}", path.display()))?),
            None => None,
        };
        let runtime_config = match &options.runtime_config {
            Some(path) => RuntimeConfig::load(path)?,
            None => RuntimeConfig::default(),
        };
        let environment: HashMap<String, String> = std::env::vars().collect();
        let dotenv = variables::read_dotenv(&manifest_dir)?;
        let resolved = variables::resolve(
            &manifest,
            &VariableSources { command_line: &options.variables, environment: &environment, dotenv: &dotenv },
        )?;

        let same_stores = previous.filter(|previous| previous.runtime_config_text == runtime_config_text);
        let (key_value, sqlite) = match same_stores {
            Some(previous) => (previous.key_value.clone(), previous.sqlite.clone()),
            None => (
                Arc::new(KeyValueStores::open(&runtime_config, &state_dir)?),
                Arc::new(SqliteDatabases::new(&runtime_config, &state_dir)),
            ),
        };
        let (engine, compiled) = match previous {
            Some(previous) => (previous.engine.clone(), previous.compiled.clone()),
            None => (engine::new_engine(&options.limits)?, Arc::new(CompiledCode::new(state_dir.join("compiled")))),
        };
        let linker = state::new_linker(&engine)?;
        let mut report = LoadReport::default();
        let mut code_in_use = HashSet::new();
        let mut sources = vec![options.manifest.clone()];
        sources.extend(options.runtime_config.clone());

        let (router, http_components) = build_router(&manifest);
        let redis_subscriptions = redis_subscriptions(&manifest, &resolved)?;
        let redis_components: HashSet<&str> =
            redis_subscriptions.iter().map(|s| s.component.as_str()).collect();

        let mut components = HashMap::new();
        for (id, decl) in &manifest.component {
            let in_http = http_components.contains(id.as_str());
            let in_redis = redis_components.contains(id.as_str());
            if !in_http && !in_redis {
                // Spin loads only components some trigger uses; so does galley.
                continue;
            }
            let key = format!("component.{id}");
            let allowed_hosts = allowed_hosts(decl.allowed_outbound_hosts.iter(), &resolved)
                .with_context(|| format!("`{key}.allowed_outbound_hosts`"))?;
            for label in &decl.key_value_stores {
                if !key_value.has_label(label) {
                    bail!("`{key}.key_value_stores` names `{label}`, but no store backs it: add `[key_value_store.{label}]` to the runtime config");
                }
            }
            for label in &decl.sqlite_databases {
                if !sqlite.has_label(label) {
                    bail!("`{key}.sqlite_databases` names `{label}`, but no database backs it: add `[sqlite_database.{label}]` to the runtime config");
                }
            }
            let variables = variables::component_variables(&decl.variables, &resolved)
                .with_context(|| format!("`{key}.variables`"))?;
            let source = manifest_dir.join(decl.source_path(id)?);
            let (component, code_key, origin) =
                compiled.load(&engine, &source).with_context(|| format!("`{key}.source`"))?;
            match origin {
                CodeOrigin::Memory => report.reused.push(id.clone()),
                CodeOrigin::Disk | CodeOrigin::Compiled => report.compiled.push(id.clone()),
            }
            code_in_use.insert(code_key);
            sources.push(source);
            let pre = linker
                .instantiate_pre(&component)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("component `{id}` imports something galley does not provide"))?;
            let http = if in_http {
                Some(ProxyPre::new(pre.clone()).map_err(anyhow::Error::from).with_context(|| {
                    format!("component `{id}` is used by an HTTP trigger but does not export wasi:http/incoming-handler@0.2")
                })?)
            } else {
                None
            };
            let redis = if in_redis {
                Some(RedisTriggerPre::new(pre).map_err(anyhow::Error::from).with_context(|| {
                    format!("component `{id}` is used by a Redis trigger but does not export fermyon:spin/inbound-redis")
                })?)
            } else {
                None
            };
            components.insert(
                id.clone(),
                Arc::new(AppComponent {
                    id: id.as_str().into(),
                    http,
                    redis,
                    allowed_hosts: Arc::new(allowed_hosts),
                    key_value_labels: Arc::new(decl.key_value_stores.iter().cloned().collect()),
                    sqlite_labels: Arc::new(decl.sqlite_databases.iter().cloned().collect()),
                    variables: Arc::new(variables),
                    environment: decl.environment.clone().into_iter().collect(),
                }),
            );
        }

        // The version being replaced keeps its own handles to its code until it is dropped.
        compiled.retain(&code_in_use);
        let version = version_label(manifest.application.version.as_deref(), &options.manifest, &code_in_use);
        let app = App {
            name: manifest.application.name.clone(),
            version,
            engine,
            limits: options.limits,
            components,
            router,
            redis_subscriptions,
            key_value,
            sqlite,
            postgres: previous.map(|p| p.postgres.clone()).unwrap_or_else(|| Arc::new(PgPools::new(options.postgres))),
            redis: previous.map(|p| p.redis.clone()).unwrap_or_default(),
            listen_addr: OnceLock::new(),
            compiled,
            sources,
            runtime_config_text,
        };
        if let Some(listen) = previous.and_then(|p| p.listen_addr.get()) {
            let _ = app.listen_addr.set(*listen);
        }
        Ok((Arc::new(app), report))
    }

    pub fn component(&self, id: &str) -> Option<&Arc<AppComponent>> {
        self.components.get(id)
    }

    /// A fresh store for one run of `component`: WASI with the component's environment, its
    /// output logged as its own and its sockets held to its allow-list; each capability given
    /// the app's part it serves from and the component's own configuration, nothing more.
    pub fn new_store(self: &Arc<App>, component: &AppComponent, trace: TraceContext) -> Store<InstanceState> {
        let mut wasi = WasiCtx::builder();
        wasi.stdout(ComponentLog::stdout(&component.id, trace))
            .stderr(ComponentLog::stderr(&component.id, trace))
            .envs(&component.environment)
            // The component's own sockets reach what its allow-list allows (`sockets.rs`).
            .allow_tcp(true)
            .allow_udp(true)
            .allow_ip_name_lookup(false)
            .socket_addr_check(sockets::address_check(component.id.clone(), component.allowed_hosts.clone()));
        let id = &component.id;
        let allowed_hosts = &component.allowed_hosts;
        let capabilities = Capabilities {
            outbound_http: OutboundHttp::new(self.clone(), allowed_hosts.clone(), id.clone(), trace),
            key_value: KeyValueState::new(self.key_value.clone(), component.key_value_labels.clone(), id.clone(), trace),
            sqlite: SqliteState::new(self.sqlite.clone(), component.sqlite_labels.clone()),
            postgres: PgState::new(self.postgres.clone(), allowed_hosts.clone(), id.clone(), trace),
            redis: RedisState::new(self.redis.clone(), allowed_hosts.clone(), id.clone(), trace),
            mqtt: MqttState::new(allowed_hosts.clone(), id.clone()),
            variables: VariablesState::new(component.variables.clone()),
        };
        InstanceState::new_store(&self.engine, &self.limits, wasi.build(), capabilities)
    }
}

/// The folder holding the manifest, where component sources, `.env` and the default state dir
/// are found. Resolved once, to an absolute path, so that every path derived from it names its
/// file plainly in messages.
/// `1.2.0+3f9a0c1d2e4b`: the declared version, and what actually runs (the manifest's bytes
/// and each component's code), so two loads of "1.2.0" with different code tell apart.
fn version_label(declared: Option<&str>, manifest: &Path, code_keys: &HashSet<String>) -> String {
    use sha2::{Digest, Sha256};
    let mut digest = Sha256::new();
    digest.update(std::fs::read(manifest).unwrap_or_default());
    let mut keys: Vec<&String> = code_keys.iter().collect();
    keys.sort();
    for key in keys {
        digest.update(key.as_bytes());
    }
    let hash = hex::encode(digest.finalize());
    format!("{}+{}", declared.unwrap_or("unversioned"), &hash[..12])
}

fn manifest_dir(manifest: &Path) -> Result<PathBuf> {
    let dir = match manifest.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    dir.canonicalize().with_context(|| format!("cannot resolve the folder of manifest {}", manifest.display()))
}

fn allowed_hosts<'a>(entries: impl Iterator<Item = &'a String>, resolved: &ResolvedVariables) -> Result<AllowList> {
    let rendered = entries.map(|entry| template::render(entry, resolved)).collect::<Result<Vec<_>>>()?;
    AllowList::parse(rendered.iter().map(String::as_str))
}

/// The public routes (private ones are not in the router) and every component an HTTP
/// trigger names, private ones included.
fn build_router(manifest: &Manifest) -> (Router<HttpTarget>, HashSet<&str>) {
    let mut components = HashSet::new();
    let mut routes = Vec::new();
    for trigger in &manifest.trigger.http {
        let target = match (&trigger.component, &trigger.static_response) {
            (Some(ComponentRef::Id(id)), _) => {
                components.insert(id.as_str());
                HttpTarget::Component(id.clone())
            }
            (_, Some(response)) => HttpTarget::Static(response.clone()),
            // `manifest::load` has refused every other shape.
            _ => continue,
        };
        if let RouteDecl::Path(path) = &trigger.route {
            routes.push((Route::parse(path), target));
        }
    }
    let (router, duplicates) = Router::build(routes);
    for duplicate in duplicates {
        tracing::error!(route = %duplicate.route, "duplicate route: a later trigger with the same route replaces it");
    }
    (router, components)
}

fn redis_subscriptions(manifest: &Manifest, resolved: &ResolvedVariables) -> Result<Vec<RedisSubscription>> {
    let default_address = manifest.application.trigger.redis.as_ref().map(|r| r.address.as_str());
    manifest
        .trigger
        .redis
        .iter()
        .enumerate()
        .map(|(index, trigger)| {
            let key = format!("trigger.redis[{index}]");
            let ComponentRef::Id(component) = &trigger.component else {
                bail!("`{key}.component` must name a component");
            };
            let address = trigger.address.as_deref().or(default_address).context("no address")?;
            Ok(RedisSubscription {
                address: template::render(address, resolved).with_context(|| format!("`{key}.address`"))?,
                channel: template::render(&trigger.channel, resolved).with_context(|| format!("`{key}.channel`"))?,
                component: component.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_dir_is_absolute_whatever_the_manifest_path() {
        let cwd = std::env::current_dir().unwrap().canonicalize().unwrap();
        assert_eq!(manifest_dir(Path::new("spin.toml")).unwrap(), cwd);
        assert_eq!(manifest_dir(Path::new("./spin.toml")).unwrap(), cwd);
        assert_eq!(manifest_dir(Path::new("src/../spin.toml")).unwrap(), cwd);
        assert_eq!(manifest_dir(&cwd.join("src").join("spin.toml")).unwrap(), cwd.join("src"));
        assert!(manifest_dir(Path::new("no-such-folder/spin.toml")).is_err());
    }
}
