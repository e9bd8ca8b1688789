//! `fermyon:spin/sqlite@2.0.0` and `spin:sqlite/sqlite@3.0.0`: labelled SQLite databases, run
//! in process the way Spin's default (`type = "spin"`) backend runs them.
//!
//! The label `default` always exists: the file `<state dir>/sqlite_db.db`, which is Spin's
//! `.spin/sqlite_db.db` beside the manifest. Other labels come from `[sqlite_database.<label>]`
//! in the runtime config (`runtime_config.rs`). A component may open only the labels in its
//! `sqlite_databases`; any other label is `access-denied`, and a declared label with no
//! database stops the app at load.
//!
//! As in Spin, each `open` is a SQLite connection of its own, made at its first statement: a
//! transaction is the guest connection's alone, `last-insert-rowid` and `changes` (3.0.0) are
//! per connection, and a database without a `path` is an in-memory database private to the
//! connection that opened it. The file format and journal mode are SQLite's defaults, so a
//! database file works under either host. Statements run on the blocking pool, never on the
//! async executor.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Result;
use rusqlite::types::{Value as SqlValue, ValueRef};
use wasmtime::component::Resource;

use crate::bindings::{sqlite2 as v2, sqlite3 as v3};
use crate::app::runtime_config::{RuntimeConfig, SqliteDatabaseConfig};
use crate::capabilities::view::View;

/// Spin's file name for the `default` database, inside the state dir.
const DEFAULT_DATABASE_FILE: &str = "sqlite_db.db";

/// Spin's limit on connections one instance may hold open at once.
const MAX_CONNECTIONS_PER_INSTANCE: usize = 256;

/// Where a label's database lives.
#[derive(Debug, Clone, PartialEq)]
enum Location {
    File(PathBuf),
    /// A fresh, private in-memory database per connection (Spin's behaviour without `path`).
    Memory,
}

/// Every label the app can open: the capability's per-app state.
pub struct SqliteDatabases {
    databases: HashMap<String, Location>,
}

impl SqliteDatabases {
    pub fn new(config: &RuntimeConfig, state_dir: &Path) -> SqliteDatabases {
        let mut databases: HashMap<String, Location> = config
            .sqlite_database
            .iter()
            .filter_map(|(label, database)| match database {
                SqliteDatabaseConfig::Spin { path: Some(path) } => Some((label.clone(), Location::File(path.clone()))),
                SqliteDatabaseConfig::Spin { path: None } => Some((label.clone(), Location::Memory)),
                // `RuntimeConfig::parse` has refused every other type.
                SqliteDatabaseConfig::Libsql { .. } => None,
            })
            .collect();
        databases
            .entry("default".to_string())
            .or_insert_with(|| Location::File(state_dir.join(DEFAULT_DATABASE_FILE)));
        SqliteDatabases { databases }
    }

    pub fn has_label(&self, label: &str) -> bool {
        self.databases.contains_key(label)
    }
}

/// A failure, before it is put into the caller's WIT version.
#[derive(Debug, Clone, PartialEq)]
enum SqliteError {
    NoSuchDatabase,
    AccessDenied,
    Io(String),
}

fn io(error: impl std::fmt::Display) -> SqliteError {
    SqliteError::Io(error.to_string())
}

/// One result value, before it is put into the caller's WIT version.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
    Null,
}

impl From<Cell> for SqlValue {
    fn from(cell: Cell) -> SqlValue {
        match cell {
            Cell::Integer(i) => SqlValue::Integer(i),
            Cell::Real(r) => SqlValue::Real(r),
            Cell::Text(t) => SqlValue::Text(t),
            Cell::Blob(b) => SqlValue::Blob(b),
            Cell::Null => SqlValue::Null,
        }
    }
}

struct Rows {
    columns: Vec<String>,
    rows: Vec<Vec<Cell>>,
}

/// A guest's open connection (`fermyon:spin/sqlite@2.0.0`).
pub struct SqliteConnection {
    location: Location,
    /// Opened by the first statement, as Spin does: `open` itself never touches the file.
    connection: Arc<Mutex<Option<rusqlite::Connection>>>,
    _slot: ConnectionSlot,
}

/// The same, for `spin:sqlite/sqlite@3.0.0` (a distinct resource type to the guest).
pub struct Sqlite3Connection(SqliteConnection);

/// Counts an instance's open connections; the count drops with the connection.
struct ConnectionSlot(Arc<AtomicUsize>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl SqliteConnection {
    async fn execute(&self, statement: String, parameters: Vec<Cell>) -> Result<Rows, SqliteError> {
        let location = self.location.clone();
        let connection = self.connection.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = connection.lock().map_err(|_| io("connection lock poisoned"))?;
            if guard.is_none() {
                *guard = Some(connect(&location)?);
            }
            let connection = guard.as_ref().ok_or_else(|| io("connection not open"))?;
            run(connection, &statement, parameters)
        })
        .await
        .map_err(io)?
    }

    /// Reads a per-connection counter; 0 before the first statement, as SQLite would say.
    fn counter(&self, read: impl FnOnce(&rusqlite::Connection) -> i64) -> i64 {
        match self.connection.lock() {
            Ok(guard) => guard.as_ref().map_or(0, read),
            Err(_) => 0,
        }
    }
}

fn connect(location: &Location) -> Result<rusqlite::Connection, SqliteError> {
    match location {
        Location::Memory => rusqlite::Connection::open_in_memory().map_err(io),
        Location::File(path) => {
            if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|error| io(format!("failed to create sqlite database directory '{}': {error}", dir.display())))?;
            }
            // rusqlite's default busy timeout (5 s) applies, as in Spin.
            rusqlite::Connection::open(path).map_err(io)
        }
    }
}

fn run(connection: &rusqlite::Connection, statement: &str, parameters: Vec<Cell>) -> Result<Rows, SqliteError> {
    let mut prepared = connection.prepare_cached(statement).map_err(io)?;
    let columns: Vec<String> = prepared.column_names().into_iter().map(str::to_string).collect();
    let width = columns.len();
    let mut results = prepared
        .query(rusqlite::params_from_iter(parameters.into_iter().map(SqlValue::from)))
        .map_err(io)?;
    let mut rows = Vec::new();
    while let Some(row) = results.next().map_err(io)? {
        let values = (0..width)
            .map(|index| cell(row.get_ref(index).map_err(io)?, index))
            .collect::<Result<Vec<Cell>, SqliteError>>()?;
        rows.push(values);
    }
    Ok(Rows { columns, rows })
}

fn cell(value: ValueRef<'_>, index: usize) -> Result<Cell, SqliteError> {
    Ok(match value {
        ValueRef::Null => Cell::Null,
        ValueRef::Integer(i) => Cell::Integer(i),
        ValueRef::Real(r) => Cell::Real(r),
        ValueRef::Text(bytes) => Cell::Text(
            String::from_utf8(bytes.to_vec()).map_err(|_| io(format!("column {index} holds text that is not valid UTF-8")))?,
        ),
        ValueRef::Blob(bytes) => Cell::Blob(bytes.to_vec()),
    })
}

/// What one instance may open: the app's databases, through its component's labels.
pub struct SqliteState {
    databases: Arc<SqliteDatabases>,
    allowed_labels: Arc<HashSet<String>>,
    open_connections: Arc<AtomicUsize>,
}

impl SqliteState {
    /// `databases`: the app's; `allowed_labels`: the component's `sqlite_databases`.
    pub fn new(databases: Arc<SqliteDatabases>, allowed_labels: Arc<HashSet<String>>) -> SqliteState {
        SqliteState { databases, allowed_labels, open_connections: Arc::default() }
    }

    fn open(&self, label: &str) -> Result<SqliteConnection, SqliteError> {
        if !self.allowed_labels.contains(label) {
            return Err(SqliteError::AccessDenied);
        }
        let location = self.databases.databases.get(label).ok_or(SqliteError::NoSuchDatabase)?;
        if self.open_connections.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS_PER_INSTANCE {
            self.open_connections.fetch_sub(1, Ordering::SeqCst);
            return Err(io("too many connections opened"));
        }
        Ok(SqliteConnection {
            location: location.clone(),
            connection: Arc::default(),
            _slot: ConnectionSlot(self.open_connections.clone()),
        })
    }
}

// The two WIT versions have the same shapes under different names: one set of conversions
// per version.
macro_rules! conversions {
    ($wit:ident) => {
        impl From<SqliteError> for $wit::Error {
            fn from(error: SqliteError) -> $wit::Error {
                match error {
                    SqliteError::NoSuchDatabase => $wit::Error::NoSuchDatabase,
                    SqliteError::AccessDenied => $wit::Error::AccessDenied,
                    SqliteError::Io(text) => $wit::Error::Io(text),
                }
            }
        }

        impl From<$wit::Value> for Cell {
            fn from(value: $wit::Value) -> Cell {
                match value {
                    $wit::Value::Integer(i) => Cell::Integer(i),
                    $wit::Value::Real(r) => Cell::Real(r),
                    $wit::Value::Text(t) => Cell::Text(t),
                    $wit::Value::Blob(b) => Cell::Blob(b),
                    $wit::Value::Null => Cell::Null,
                }
            }
        }

        impl From<Cell> for $wit::Value {
            fn from(cell: Cell) -> $wit::Value {
                match cell {
                    Cell::Integer(i) => $wit::Value::Integer(i),
                    Cell::Real(r) => $wit::Value::Real(r),
                    Cell::Text(t) => $wit::Value::Text(t),
                    Cell::Blob(b) => $wit::Value::Blob(b),
                    Cell::Null => $wit::Value::Null,
                }
            }
        }

        impl From<Rows> for $wit::QueryResult {
            fn from(rows: Rows) -> $wit::QueryResult {
                $wit::QueryResult {
                    columns: rows.columns,
                    rows: rows
                        .rows
                        .into_iter()
                        .map(|values| $wit::RowResult { values: values.into_iter().map(Into::into).collect() })
                        .collect(),
                }
            }
        }
    };
}

conversions!(v2);
conversions!(v3);

impl v2::Host for View<'_, SqliteState> {}

impl v2::HostConnection for View<'_, SqliteState> {
    async fn open(&mut self, database: String) -> wasmtime::Result<Result<Resource<SqliteConnection>, v2::Error>> {
        match self.state.open(&database) {
            Ok(connection) => Ok(Ok(self.table.push(connection)?)),
            Err(error) => Ok(Err(error.into())),
        }
    }

    async fn execute(
        &mut self,
        connection: Resource<SqliteConnection>,
        statement: String,
        parameters: Vec<v2::Value>,
    ) -> wasmtime::Result<Result<v2::QueryResult, v2::Error>> {
        let connection = self.table.get(&connection)?;
        let parameters = parameters.into_iter().map(Cell::from).collect();
        Ok(connection.execute(statement, parameters).await.map(Into::into).map_err(Into::into))
    }

    async fn drop(&mut self, connection: Resource<SqliteConnection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

impl v3::Host for View<'_, SqliteState> {}

impl v3::HostConnection for View<'_, SqliteState> {
    async fn open(&mut self, database: String) -> wasmtime::Result<Result<Resource<Sqlite3Connection>, v3::Error>> {
        match self.state.open(&database) {
            Ok(connection) => Ok(Ok(self.table.push(Sqlite3Connection(connection))?)),
            Err(error) => Ok(Err(error.into())),
        }
    }

    async fn execute(
        &mut self,
        connection: Resource<Sqlite3Connection>,
        statement: String,
        parameters: Vec<v3::Value>,
    ) -> wasmtime::Result<Result<v3::QueryResult, v3::Error>> {
        let connection = &self.table.get(&connection)?.0;
        let parameters = parameters.into_iter().map(Cell::from).collect();
        Ok(connection.execute(statement, parameters).await.map(Into::into).map_err(Into::into))
    }

    async fn last_insert_rowid(&mut self, connection: Resource<Sqlite3Connection>) -> wasmtime::Result<i64> {
        Ok(self.table.get(&connection)?.0.counter(rusqlite::Connection::last_insert_rowid))
    }

    async fn changes(&mut self, connection: Resource<Sqlite3Connection>) -> wasmtime::Result<u64> {
        let changes = self.table.get(&connection)?.0.counter(|c| i64::try_from(c.changes()).unwrap_or(i64::MAX));
        Ok(u64::try_from(changes).unwrap_or(0))
    }

    async fn drop(&mut self, connection: Resource<Sqlite3Connection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh folder under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, Ordering::SeqCst);
            let dir = std::env::temp_dir().join(format!("galley-sqlite-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn state(labels: &[&str], config: &str, dir: &Path) -> SqliteState {
        let config = RuntimeConfig::parse(config).unwrap();
        SqliteState {
            databases: Arc::new(SqliteDatabases::new(&config, dir)),
            allowed_labels: Arc::new(labels.iter().map(|l| l.to_string()).collect()),
            open_connections: Arc::default(),
        }
    }

    #[test]
    fn labels_must_be_declared_and_backed() {
        let dir = TempDir::new();
        let state = state(&["default", "ghost"], "[sqlite_database.other]\ntype = \"spin\"\n", dir.path());
        assert!(state.open("default").is_ok());
        assert_eq!(state.open("other").err(), Some(SqliteError::AccessDenied));
        assert_eq!(state.open("ghost").err(), Some(SqliteError::NoSuchDatabase));
        assert_eq!(
            state.databases.databases["default"],
            Location::File(dir.path().join("sqlite_db.db")),
            "the default database is Spin's file in the state dir"
        );
    }

    #[tokio::test]
    async fn statements_values_and_per_connection_counters() {
        let dir = TempDir::new();
        let state = state(&["default"], "", dir.path());
        let first = state.open("default").unwrap();
        assert!(!dir.path().join("sqlite_db.db").exists(), "open alone does not create the file");
        first.execute("CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n)".into(), vec![]).await.unwrap();
        let cells = vec![Cell::Integer(7), Cell::Real(1.5), Cell::Text("héllo".into()), Cell::Blob(vec![0, 255]), Cell::Null];
        first.execute("INSERT INTO t VALUES (?, ?, ?, ?, ?)".into(), cells.clone()).await.unwrap();
        assert_eq!(first.counter(rusqlite::Connection::last_insert_rowid), 1);

        let second = state.open("default").unwrap();
        assert_eq!(second.counter(rusqlite::Connection::last_insert_rowid), 0, "counters are per connection");
        let rows = second.execute("SELECT * FROM t WHERE i = ?".into(), vec![Cell::Integer(7)]).await.unwrap();
        assert_eq!(rows.columns, ["i", "r", "s", "b", "n"]);
        assert_eq!(rows.rows, vec![cells]);

        let error = second.execute("SELEC nonsense".into(), vec![]).await.err().unwrap();
        assert!(matches!(error, SqliteError::Io(text) if text.contains("syntax error")));
    }

    #[tokio::test]
    async fn an_in_memory_database_is_private_to_its_connection() {
        let dir = TempDir::new();
        let state = state(&["mem"], "[sqlite_database.mem]\ntype = \"spin\"\n", dir.path());
        let first = state.open("mem").unwrap();
        first.execute("CREATE TABLE t (x)".into(), vec![]).await.unwrap();
        let second = state.open("mem").unwrap();
        assert!(second.execute("SELECT * FROM t".into(), vec![]).await.is_err());
    }

    #[test]
    fn connections_per_instance_are_capped_and_released() {
        let dir = TempDir::new();
        let state = state(&["default"], "", dir.path());
        let held: Vec<_> = (0..MAX_CONNECTIONS_PER_INSTANCE).map(|_| state.open("default").unwrap()).collect();
        assert!(matches!(state.open("default"), Err(SqliteError::Io(_))));
        drop(held);
        assert!(state.open("default").is_ok());
    }
}
