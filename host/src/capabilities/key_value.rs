//! `fermyon:spin/key-value@2.0.0`: labelled stores backed by SQLite or Redis.
//!
//! The label `default` always exists: SQLite at `<state dir>/sqlite_key_value.db` (Spin keeps
//! it at `.spin/sqlite_key_value.db` beside the manifest, which is galley's default state
//! dir). Other labels come from the runtime config. A component may open only the labels in
//! its `key_value_stores`; any other label is `access-denied`. The SQLite schema is Spin's, so
//! a store file works under either host.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use wasmtime::component::Resource;

use crate::bindings::key_value::{self, Error};
use crate::app::runtime_config::{KeyValueStoreConfig, RuntimeConfig};
use crate::capabilities::view::View;
use crate::telemetry;
use crate::trace::TraceContext;
use opentelemetry::KeyValue;

/// A store opened by a guest.
pub struct OpenStore {
    backend: Arc<Backend>,
    label: Arc<str>,
}

enum Backend {
    /// The connection and the label, which is the `store` column of Spin's table.
    Sqlite(Arc<Mutex<rusqlite::Connection>>, Arc<str>),
    Redis(crate::capabilities::redis_link::RedisLink),
}

/// Every label the app can open, with its backend: the capability's per-app state.
pub struct KeyValueStores {
    stores: HashMap<String, Arc<Backend>>,
}

impl KeyValueStores {
    pub fn open(config: &RuntimeConfig, state_dir: &Path) -> Result<KeyValueStores> {
        let mut stores = HashMap::new();
        let mut configs = config.key_value_store.clone();
        configs.entry("default".to_string()).or_insert_with(|| KeyValueStoreConfig::Spin {
            path: Some(state_dir.join("sqlite_key_value.db")),
        });
        for (label, store) in configs {
            let backend = match store {
                KeyValueStoreConfig::Spin { path } => Backend::Sqlite(
                    Arc::new(Mutex::new(
                        open_sqlite(path.as_deref()).with_context(|| format!("key-value store `{label}`"))?,
                    )),
                    label.as_str().into(),
                ),
                KeyValueStoreConfig::Redis { url } => Backend::Redis(
                    crate::capabilities::redis_link::RedisLink::open(url.as_str())
                        .with_context(|| format!("key-value store `{label}`: bad url"))?,
                ),
            };
            stores.insert(label, Arc::new(backend));
        }
        Ok(KeyValueStores { stores })
    }

    pub fn has_label(&self, label: &str) -> bool {
        self.stores.contains_key(label)
    }

    fn backend(&self, label: &str) -> Option<&Arc<Backend>> {
        self.stores.get(label)
    }
}

fn open_sqlite(path: Option<&Path>) -> Result<rusqlite::Connection> {
    if let Some(dir) = path.and_then(Path::parent) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // Several galley processes may share a state dir and open the same file at once. Switching
    // to WAL and creating the table both need a write lock, and SQLite answers BUSY at once
    // (without waiting) when two connections would deadlock upgrading their locks: try again.
    let mut attempts = 0;
    loop {
        match try_open_sqlite(path) {
            Err(rusqlite::Error::SqliteFailure(error, _))
                if error.code == rusqlite::ErrorCode::DatabaseBusy && attempts < 50 =>
            {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(20 * attempts));
            }
            result => return result.with_context(|| format!("opening {}", path.map_or("an in-memory store".into(), |p| p.display().to_string()))),
        }
    }
}

fn try_open_sqlite(path: Option<&Path>) -> rusqlite::Result<rusqlite::Connection> {
    let connection = match path {
        Some(path) => rusqlite::Connection::open(path)?,
        None => rusqlite::Connection::open_in_memory()?,
    };
    connection.busy_timeout(std::time::Duration::from_secs(5))?;
    let mode: String = connection.query_row("PRAGMA journal_mode", [], |row| row.get(0))?;
    if path.is_some() && !mode.eq_ignore_ascii_case("wal") {
        connection.pragma_update(None, "journal_mode", "WAL")?;
    }
    connection.execute_batch(
        "CREATE TABLE IF NOT EXISTS spin_key_value (
            store TEXT NOT NULL,
            key   TEXT NOT NULL,
            value BLOB NOT NULL,
            PRIMARY KEY (store, key)
        )",
    )?;
    Ok(connection)
}

impl Backend {
    async fn get(&self, key: String) -> Result<Option<Vec<u8>>, Error> {
        match self {
            Backend::Sqlite(db, label) => {
                let label = label.clone();
                sqlite(db, move |c| {
                    c.query_row(
                        "SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2",
                        (&*label, &key),
                        |row| row.get(0),
                    )
                    .map(Some)
                    .or_else(|e| if e == rusqlite::Error::QueryReturnedNoRows { Ok(None) } else { Err(e) })
                })
                .await
            }
            Backend::Redis(..) => self.redis_query(redis::cmd("GET").arg(key)).await,
        }
    }

    async fn set(&self, key: String, value: Vec<u8>) -> Result<(), Error> {
        match self {
            Backend::Sqlite(db, label) => {
                let label = label.clone();
                sqlite(db, move |c| {
                    c.execute(
                        "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                         ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
                        (&*label, &key, &value),
                    )
                    .map(drop)
                })
                .await
            }
            Backend::Redis(..) => self.redis_query(redis::cmd("SET").arg(key).arg(value)).await,
        }
    }

    async fn delete(&self, key: String) -> Result<(), Error> {
        match self {
            Backend::Sqlite(db, label) => {
                let label = label.clone();
                sqlite(db, move |c| {
                    c.execute("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2", (&*label, &key))
                        .map(drop)
                })
                .await
            }
            Backend::Redis(..) => self.redis_query(redis::cmd("DEL").arg(key)).await,
        }
    }

    async fn exists(&self, key: String) -> Result<bool, Error> {
        match self {
            Backend::Sqlite(..) => Ok(self.get(key).await?.is_some()),
            Backend::Redis(..) => self.redis_query(redis::cmd("EXISTS").arg(key)).await,
        }
    }

    async fn keys(&self) -> Result<Vec<String>, Error> {
        match self {
            Backend::Sqlite(db, label) => {
                let label = label.clone();
                sqlite(db, move |c| {
                    let mut statement = c.prepare("SELECT key FROM spin_key_value WHERE store = ?1")?;
                    let keys = statement.query_map([&*label], |row| row.get(0))?;
                    keys.collect()
                })
                .await
            }
            Backend::Redis(..) => self.redis_query(redis::cmd("KEYS").arg("*")).await,
        }
    }

    /// Through the label's one shared link, which fails fast while its server is down.
    async fn redis_query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, Error> {
        let Backend::Redis(link) = self else {
            return Err(Error::Other("not a Redis store".into()));
        };
        link.query(cmd).await.map_err(other)
    }
}

/// Runs a SQLite call off the async executor.
async fn sqlite<T: Send + 'static>(
    db: &Arc<Mutex<rusqlite::Connection>>,
    call: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
) -> Result<T, Error> {
    let db = db.clone();
    tokio::task::spawn_blocking(move || {
        let connection = db.lock().map_err(|_| Error::Other("key-value store lock poisoned".into()))?;
        call(&connection).map_err(other)
    })
    .await
    .map_err(other)?
}

fn other(error: impl std::fmt::Display) -> Error {
    Error::Other(error.to_string())
}

/// What one instance may open: the app's stores, through its component's labels.
pub struct KeyValueState {
    stores: Arc<KeyValueStores>,
    allowed_labels: Arc<HashSet<String>>,
    component_id: Arc<str>,
    /// The instance's span: each call is a client span under it.
    trace: TraceContext,
}

impl KeyValueState {
    /// `stores`: the app's; `allowed_labels`: the component's `key_value_stores`.
    pub fn new(stores: Arc<KeyValueStores>, allowed_labels: Arc<HashSet<String>>, component_id: Arc<str>, trace: TraceContext) -> KeyValueState {
        KeyValueState { stores, allowed_labels, component_id, trace }
    }
}

impl View<'_, KeyValueState> {
    fn opened(&self, store: &Resource<OpenStore>) -> wasmtime::Result<(Arc<Backend>, Arc<str>)> {
        let open = self.table.get(store)?;
        Ok((open.backend.clone(), open.label.clone()))
    }
}

/// Runs one call on an open store as a client span named by the operation and label.
async fn traced<T>(
    state: &KeyValueState,
    (backend, label): (Arc<Backend>, Arc<str>),
    operation: &'static str,
    call: impl AsyncFnOnce(Arc<Backend>) -> Result<T, Error>,
) -> wasmtime::Result<Result<T, Error>> {
    {
        let system = match &*backend {
            Backend::Sqlite(..) => "sqlite",
            Backend::Redis(..) => "redis",
        };
        let name = || format!("{operation} {label}");
        let attributes = || {
            vec![
                KeyValue::new("db.system", system),
                KeyValue::new("db.operation.name", operation),
                KeyValue::new("db.namespace", label.clone()),
                KeyValue::new("spin.component", state.component_id.clone()),
            ]
        };
        Ok(telemetry::client_call(&state.trace, name, attributes, call(backend.clone())).await)
    }
}

impl key_value::Host for View<'_, KeyValueState> {}

impl key_value::HostStore for View<'_, KeyValueState> {
    async fn open(&mut self, label: String) -> wasmtime::Result<Result<Resource<OpenStore>, Error>> {
        if !self.state.allowed_labels.contains(&label) {
            return Ok(Err(Error::AccessDenied));
        }
        let Some(backend) = self.state.stores.backend(&label) else {
            return Ok(Err(Error::NoSuchStore));
        };
        let store = OpenStore { backend: backend.clone(), label: label.as_str().into() };
        Ok(Ok(self.table.push(store)?))
    }

    async fn get(&mut self, store: Resource<OpenStore>, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        traced(self.state, self.opened(&store)?, "GET", async |backend| backend.get(key).await).await
    }

    async fn set(&mut self, store: Resource<OpenStore>, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), Error>> {
        traced(self.state, self.opened(&store)?, "SET", async |backend| backend.set(key, value).await).await
    }

    async fn delete(&mut self, store: Resource<OpenStore>, key: String) -> wasmtime::Result<Result<(), Error>> {
        traced(self.state, self.opened(&store)?, "DELETE", async |backend| backend.delete(key).await).await
    }

    async fn exists(&mut self, store: Resource<OpenStore>, key: String) -> wasmtime::Result<Result<bool, Error>> {
        traced(self.state, self.opened(&store)?, "EXISTS", async |backend| backend.exists(key).await).await
    }

    async fn get_keys(&mut self, store: Resource<OpenStore>) -> wasmtime::Result<Result<Vec<String>, Error>> {
        traced(self.state, self.opened(&store)?, "KEYS", async |backend| backend.keys().await).await
    }

    async fn drop(&mut self, store: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}
