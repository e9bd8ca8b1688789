//! What the composer reads from `spin.toml`: the app's variables, its components (their `.wasm`,
//! variables, outbound hosts and stores) and the triggers that run them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub struct AppVariable {
    pub default: Option<String>,
    #[serde(default)]
    pub secret: bool,
}

#[derive(Debug, Deserialize)]
pub struct AppComponent {
    source: Source,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    pub key_value_stores: Vec<String>,
}

impl AppComponent {
    /// Whether it calls other components (Spin's service chaining).
    pub fn chains(&self) -> bool {
        self.allowed_outbound_hosts.iter().any(|h| h.contains(".spin.internal"))
    }

    /// Whether it talks to Redis (order events and their markers).
    pub fn uses_redis(&self) -> bool {
        self.allowed_outbound_hosts.iter().any(|h| h.starts_with("redis://"))
    }
}

/// Only local sources can be composed; a URL source would be fetched by Spin itself.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Source {
    Local(PathBuf),
    Remote(#[allow(dead_code)] toml::Value),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Route {
    Path(String),
    Private(#[allow(dead_code)] toml::Value),
}

#[derive(Debug, Deserialize)]
struct HttpTrigger {
    route: Route,
    component: String,
}

#[derive(Debug, Deserialize)]
struct RedisTrigger {
    channel: String,
    component: String,
}

#[derive(Debug, Default, Deserialize)]
struct Triggers {
    #[serde(default)]
    http: Vec<HttpTrigger>,
    #[serde(default)]
    redis: Vec<RedisTrigger>,
}

/// The parts of a Spin manifest the composer uses.
#[derive(Debug, Deserialize)]
pub struct App {
    #[serde(default)]
    pub variables: BTreeMap<String, AppVariable>,
    #[serde(default, rename = "component")]
    pub components: BTreeMap<String, AppComponent>,
    #[serde(default)]
    trigger: Triggers,
    #[serde(skip)]
    base: PathBuf,
}

impl App {
    pub fn read(spin_toml: &Path) -> anyhow::Result<App> {
        let text = std::fs::read_to_string(spin_toml).with_context(|| format!("reading {}", spin_toml.display()))?;
        let mut app: App = toml::from_str(&text).with_context(|| format!("parsing {}", spin_toml.display()))?;
        app.base = spin_toml.parent().unwrap_or(Path::new(".")).to_path_buf();
        Ok(app)
    }

    /// The public routes of a component (private ones are reachable by chaining only).
    pub fn http_routes(&self, component: &str) -> Vec<&str> {
        self.trigger
            .http
            .iter()
            .filter(|t| t.component == component)
            .filter_map(|t| match &t.route {
                Route::Path(path) => Some(path.as_str()),
                Route::Private(_) => None,
            })
            .collect()
    }

    /// Whether an HTTP trigger runs the component (publicly or privately).
    pub fn is_http(&self, component: &str) -> bool {
        self.trigger.http.iter().any(|t| t.component == component)
    }

    /// The Redis channel that triggers the component, if one does.
    pub fn redis_channel(&self, component: &str) -> Option<&str> {
        self.trigger.redis.iter().find(|t| t.component == component).map(|t| t.channel.as_str())
    }
}

/// One component: its id in `spin.toml` and its `.wasm`, resolved against the manifest's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpinComponent {
    pub id: String,
    pub wasm: PathBuf,
}

pub fn components(spin_toml: &Path) -> anyhow::Result<Vec<SpinComponent>> {
    let app = App::read(spin_toml)?;
    app.components
        .iter()
        .map(|(id, component)| match &component.source {
            Source::Local(path) => Ok(SpinComponent { wasm: app.base.join(path), id: id.clone() }),
            Source::Remote(_) => anyhow::bail!("component `{id}` has a remote source; only local files can be composed"),
        })
        .collect()
}
