//! `spin:postgres/postgres@4.0.0` on tokio-postgres with one deadpool pool per connection
//! string.
//!
//! A `connection` resource holds one pooled client for its whole life, so `BEGIN … COMMIT`
//! across calls is one transaction. Statements are prepared once per pooled client and cached
//! (Spin prepares every statement afresh). Handing a client back is cheap: no cleanup query
//! unless the guest may have left a transaction open, in which case it is rolled back first —
//! never returned dirty (Spin 4.0.2 returns it dirty).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod};
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;
use wasmtime::component::Resource;

use crate::capabilities::allowed_hosts::{AllowList, OutboundAddress};
use crate::bindings::postgres::{self as wit, Column, DbError, DbValue, Error, ParameterValue, QueryError, RowSet};
use crate::capabilities::view::View;
use crate::telemetry;
use opentelemetry::KeyValue;
use crate::trace::TraceContext;
use crate::metrics::{self, PoolStatus};

mod values;

/// Spin's limit on connections per pool.
const MAX_POOL_SIZE: usize = 64;

/// A connection that carried a message this large (a file's bytes as a parameter or a
/// result) is closed when the guest lets go of it instead of going back to the pool:
/// tokio-postgres keeps its buffers at their largest size for the connection's life, so a
/// burst of 16 uploads of 10 MiB left ~200 MiB held by idle pooled connections. The next
/// checkout opens a fresh connection, a cost only requests that large pay (4 MiB: a pool of
/// 64 connections that carried 1 MiB files keeps ~128 MiB at most, and pays no reconnects).
const LARGE_MESSAGE: usize = 4 << 20;

/// Switches that turn galley's Postgres savings off (hidden flags of `galley up`), so
/// `bench/postgres.sh` can measure each one against Spin's behaviour in the same run.
#[derive(Debug, Clone, Copy)]
pub struct PgTuning {
    /// Off: prepare every statement afresh, as Spin does.
    pub statement_cache: bool,
    /// On: run deadpool's cleanup batch on every checkout, as Spin does.
    pub clean_on_recycle: bool,
}

/// One pool per distinct connection string, created on first use: the capability's per-app
/// state.
pub struct PgPools {
    pools: Mutex<HashMap<String, (Pool, Arc<Endpoint>)>>,
    tuning: PgTuning,
}

/// Where a pool's connections go, as spans and metrics name it (never the password).
#[derive(Debug)]
pub struct Endpoint {
    pub database: Arc<str>,
    pub server_address: Arc<str>,
    pub server_port: u16,
}

impl Endpoint {
    fn of(config: &tokio_postgres::Config) -> Endpoint {
        let server_address = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(name)) => Arc::from(name.as_str()),
            _ => Arc::from(""),
        };
        Endpoint {
            database: Arc::from(config.get_dbname().or(config.get_user()).unwrap_or("postgres")),
            server_address,
            server_port: config.get_ports().first().copied().unwrap_or(5432),
        }
    }
}


impl PgPools {
    pub fn new(tuning: PgTuning) -> PgPools {
        PgPools { pools: Mutex::default(), tuning }
    }

    fn pool_for(&self, address: &str, config: tokio_postgres::Config) -> Result<(Pool, Arc<Endpoint>), Error> {
        let mut pools = self.pools.lock().map_err(|_| Error::Other("pool registry poisoned".into()))?;
        if let Some(entry) = pools.get(address) {
            return Ok(entry.clone());
        }
        let endpoint = Arc::new(Endpoint::of(&config));
        let recycling_method = if self.tuning.clean_on_recycle { RecyclingMethod::Clean } else { RecyclingMethod::Fast };
        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method });
        let pool = Pool::builder(manager)
            .max_size(MAX_POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| Error::ConnectionFailed(e.to_string()))?;
        pools.insert(address.to_string(), (pool.clone(), endpoint.clone()));
        Ok((pool, endpoint))
    }

    /// Every pool's size and use now. Two addresses naming one database (another user, say)
    /// are two pools and two entries.
    pub fn statuses(&self) -> Vec<PoolStatus> {
        let Ok(pools) = self.pools.lock() else { return Vec::new() };
        pools
            .values()
            .map(|(pool, endpoint)| {
                let status = pool.status();
                PoolStatus {
                    database: endpoint.database.to_string(),
                    idle: status.available,
                    in_use: status.size.saturating_sub(status.available),
                    max: status.max_size,
                    waiting: status.waiting,
                }
            })
            .collect()
    }
}

/// What one instance may reach: the app's pools, at the addresses its component may use.
pub struct PgState {
    pools: Arc<PgPools>,
    allowed_hosts: Arc<AllowList>,
    component_id: Arc<str>,
    /// The instance's span: each statement is a client span under it.
    trace: TraceContext,
}

impl PgState {
    /// `pools`: the app's; `allowed_hosts`: the component's allow-list.
    pub fn new(pools: Arc<PgPools>, allowed_hosts: Arc<AllowList>, component_id: Arc<str>, trace: TraceContext) -> PgState {
        PgState { pools, allowed_hosts, component_id, trace }
    }

    /// Every host:port of the address must be allowed as `postgres://host:port`.
    fn check_allowed(&self, config: &tokio_postgres::Config) -> Result<(), Error> {
        let ports = config.get_ports();
        for (index, host) in config.get_hosts().iter().enumerate() {
            let tokio_postgres::config::Host::Tcp(name) = host else {
                return Err(Error::ConnectionFailed("unix-socket addresses are not allowed".into()));
            };
            let port = ports.get(index).or(ports.first()).copied().unwrap_or(5432);
            let address = OutboundAddress { scheme: "postgres", host: name, port: Some(port) };
            if !self.allowed_hosts.allows(&address) {
                return Err(Error::ConnectionFailed(format!(
                    "address postgres://{name}:{port} is not permitted: add it to component `{}`'s allowed_outbound_hosts",
                    self.component_id
                )));
            }
        }
        Ok(())
    }
}

/// A guest's open connection: one pooled client, pinned until the guest drops it.
pub struct PgConnection {
    client: Option<Object>,
    /// Set when a statement may have opened a transaction, cleared when one ends.
    maybe_in_transaction: bool,
    /// Whether statements are prepared through the client's cache ([`PgTuning`]).
    statement_cache: bool,
    endpoint: Arc<Endpoint>,
    /// Set once a statement's parameters or rows passed [`LARGE_MESSAGE`].
    carried_large_message: bool,
}

impl PgConnection {
    fn client(&self) -> Result<&Object, Error> {
        self.client.as_ref().ok_or_else(|| Error::Other("connection already closed".into()))
    }

    fn note_size(&mut self, bytes: usize) {
        self.carried_large_message |= bytes >= LARGE_MESSAGE;
    }

    fn note_transaction_control(&mut self, statement: &str) {
        match TransactionEffect::of(statement) {
            TransactionEffect::Opens => self.maybe_in_transaction = true,
            TransactionEffect::Ends => self.maybe_in_transaction = false,
            TransactionEffect::None => {}
        }
    }
}

impl Drop for PgConnection {
    /// Covers the guest forgetting to drop the resource (the store is torn down with it
    /// still in the table): roll back before the client goes back to the pool.
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            if self.carried_large_message {
                drop(Object::take(client));
            } else if self.maybe_in_transaction {
                tokio::spawn(release_after_rollback(client));
            }
        }
    }
}

/// Rolls back, then returns the client to the pool; if even that fails, the client is
/// detached from the pool and closed rather than reused.
async fn release_after_rollback(client: Object) {
    if let Err(error) = client.batch_execute("ROLLBACK").await {
        tracing::warn!(%error, "rollback of an abandoned transaction failed; discarding the connection");
        drop(Object::take(client));
    }
}

/// What a statement does to the session's transaction state, judged by its first keyword.
#[derive(Debug, PartialEq, Eq)]
enum TransactionEffect {
    Opens,
    Ends,
    None,
}

impl TransactionEffect {
    fn of(statement: &str) -> TransactionEffect {
        let mut words = statement
            .trim_start_matches(|c: char| c.is_whitespace() || c == '(' || c == ';')
            .split(|c: char| c.is_whitespace() || c == ';')
            .filter(|w| !w.is_empty());
        let first = words.next().unwrap_or("").to_ascii_uppercase();
        match first.as_str() {
            "BEGIN" | "START" => TransactionEffect::Opens,
            "COMMIT" | "END" | "ABORT" => TransactionEffect::Ends,
            // `ROLLBACK TO [SAVEPOINT] x` keeps the transaction open.
            "ROLLBACK" if words.next().is_some_and(|w| w.eq_ignore_ascii_case("TO")) => TransactionEffect::None,
            "ROLLBACK" => TransactionEffect::Ends,
            _ => TransactionEffect::None,
        }
    }
}

/// The error and its causes, as one line: tokio-postgres's own message names only the kind of
/// failure (`db error`, `error serializing parameter 0`); the cause says what went wrong.
fn error_text(error: &tokio_postgres::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn query_error(error: tokio_postgres::Error) -> Error {
    match error.as_db_error() {
        Some(db) => Error::QueryFailed(QueryError::DbError(DbError {
            as_text: error_text(&error),
            severity: db.severity().to_string(),
            code: db.code().code().to_string(),
            message: db.message().to_string(),
            detail: db.detail().map(str::to_string),
            extras: [
                ("hint", db.hint()),
                ("table", db.table()),
                ("column", db.column()),
                ("constraint", db.constraint()),
                ("schema", db.schema()),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_string(), v.to_string())))
            .collect(),
        })),
        None if error.code() == Some(&SqlState::CONNECTION_FAILURE) || error.is_closed() => {
            Error::ConnectionFailed(error_text(&error))
        }
        // Everything else is `query-failed` with the error's text, as in Spin — a parameter
        // whose type does not fit the placeholder's (`$1::int4` given a string) included:
        // tokio-postgres refuses to encode it for the type the server inferred, and Spin
        // reports that as a failed query, not a bad parameter. (`bad-parameter` is for values
        // that are not valid at all, such as a malformed UUID: `values::to_sql_params`.)
        None => Error::QueryFailed(QueryError::Text(error_text(&error))),
    }
}

impl wit::Host for View<'_, PgState> {}

impl wit::HostConnection for View<'_, PgState> {
    async fn open(&mut self, address: String) -> wasmtime::Result<Result<Resource<PgConnection>, Error>> {
        let config: tokio_postgres::Config = match address.parse() {
            Ok(config) => config,
            Err(error) => return Ok(Err(Error::ConnectionFailed(format!("invalid address: {error}")))),
        };
        if let Err(denied) = self.state.check_allowed(&config) {
            return Ok(Err(denied));
        }
        let (pool, endpoint) = match self.state.pools.pool_for(&address, config) {
            Ok(entry) => entry,
            Err(error) => return Ok(Err(error)),
        };
        let waiting_since = Instant::now();
        let checked_out = pool.get().await;
        metrics::pool_wait(&endpoint.database, waiting_since.elapsed());
        let client = match checked_out {
            Ok(client) => client,
            // The server's own words (`password authentication failed for user …`, `permission
            // denied for database …`), as Spin reports them; the pool's wrapper says only "db error".
            Err(PoolError::Backend(error)) => return Ok(Err(Error::ConnectionFailed(error_text(&error)))),
            Err(error) => return Ok(Err(Error::ConnectionFailed(error.to_string()))),
        };
        let statement_cache = self.state.pools.tuning.statement_cache;
        let connection =
            PgConnection { client: Some(client), maybe_in_transaction: false, statement_cache, endpoint, carried_large_message: false };
        Ok(Ok(self.table.push(connection)?))
    }

    async fn query(
        &mut self,
        connection: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<RowSet, Error>> {
        let connection = self.table.get_mut(&connection)?;
        connection.note_transaction_control(&statement);
        connection.note_size(values::parameter_bytes(&params));
        let (name, attributes) = statement_span(self.state, connection, &statement);
        let result = telemetry::client_call(&self.state.trace, name, attributes, run_query(connection, &statement, params)).await;
        if let Ok(rows) = &result {
            connection.note_size(values::row_bytes(rows));
        }
        Ok(result)
    }

    async fn execute(
        &mut self,
        connection: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<u64, Error>> {
        let connection = self.table.get_mut(&connection)?;
        connection.note_transaction_control(&statement);
        connection.note_size(values::parameter_bytes(&params));
        let (name, attributes) = statement_span(self.state, connection, &statement);
        Ok(telemetry::client_call(&self.state.trace, name, attributes, run_execute(connection, &statement, params)).await)
    }

    async fn drop(&mut self, connection: Resource<PgConnection>) -> wasmtime::Result<()> {
        let mut connection = self.table.delete(connection)?;
        if let Some(client) = connection.client.take() {
            if connection.carried_large_message {
                // Closing ends any transaction left open, as a rollback would.
                drop(Object::take(client));
            } else if connection.maybe_in_transaction {
                release_after_rollback(client).await;
            }
        }
        Ok(())
    }
}

/// One statement's client span: named and described as OpenTelemetry's database conventions
/// say. The statement is the guest's text with its `$n` placeholders: parameter values never
/// reach a span.
fn statement_span<'a>(
    state: &'a PgState,
    connection: &PgConnection,
    statement: &'a str,
) -> (impl FnOnce() -> String + 'a, impl FnOnce() -> Vec<KeyValue> + 'a) {
    let endpoint = connection.endpoint.clone();
    let named = connection.endpoint.clone();
    let name = move || format!("{} {}", first_keyword(statement), named.database);
    let attributes = move || {
        vec![
            KeyValue::new("db.system", "postgresql"),
            KeyValue::new("db.namespace", endpoint.database.clone()),
            KeyValue::new("db.operation.name", first_keyword(statement)),
            KeyValue::new("db.query.text", statement.to_string()),
            KeyValue::new("server.address", endpoint.server_address.clone()),
            KeyValue::new("server.port", i64::from(endpoint.server_port)),
            KeyValue::new("spin.component", state.component_id.clone()),
        ]
    };
    (name, attributes)
}

/// `SELECT`, `INSERT`, `BEGIN`…: the statement's first word, upper-cased.
fn first_keyword(statement: &str) -> String {
    statement
        .trim_start_matches(|c: char| c.is_whitespace() || c == '(')
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or("")
        .to_ascii_uppercase()
}

/// Prepares `statement` on the pinned client, reusing the client's cached plan when it has one.
async fn prepare(client: &Object, statement: &str, cached: bool) -> Result<tokio_postgres::Statement, Error> {
    let prepared = if cached { client.prepare_cached(statement).await } else { client.prepare(statement).await };
    prepared.map_err(query_error)
}

async fn run_query(connection: &PgConnection, statement: &str, params: Vec<ParameterValue>) -> Result<RowSet, Error> {
    let client = connection.client()?;
    let prepared = prepare(client, statement, connection.statement_cache).await?;
    let params = values::to_sql_params(params)?;
    let rows = client
        .query(&prepared, &values::as_refs(&params))
        .await
        .map_err(query_error)?;
    // Columns come from the prepared statement, so a query with no rows still has them.
    let columns = prepared
        .columns()
        .iter()
        .map(|column| Column { name: column.name().to_string(), data_type: values::data_type(column.type_()) })
        .collect();
    let rows = rows
        .iter()
        .map(|row| (0..row.len()).map(|index| values::read_value(row, index)).collect())
        .collect::<Result<Vec<Vec<DbValue>>, Error>>()?;
    Ok(RowSet { columns, rows })
}

async fn run_execute(connection: &PgConnection, statement: &str, params: Vec<ParameterValue>) -> Result<u64, Error> {
    let client = connection.client()?;
    let prepared = prepare(client, statement, connection.statement_cache).await?;
    let params = values::to_sql_params(params)?;
    client.execute(&prepared, &values::as_refs(&params)).await.map_err(query_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_are_named_by_the_statements_first_word() {
        assert_eq!(first_keyword("  select * from orders where id = $1"), "SELECT");
        assert_eq!(first_keyword("(SELECT 1) UNION (SELECT 2)"), "SELECT");
        assert_eq!(first_keyword("WITH x AS (SELECT 1) UPDATE t SET a = 1"), "WITH");
        assert_eq!(first_keyword("BEGIN"), "BEGIN");
    }

    #[test]
    fn endpoints_never_carry_the_password() {
        let config: tokio_postgres::Config = "host=db.internal port=6543 user=orders password=hunter2 dbname=orders".parse().unwrap();
        let endpoint = Endpoint::of(&config);
        assert_eq!((&*endpoint.database, &*endpoint.server_address, endpoint.server_port), ("orders", "db.internal", 6543));
        assert!(!format!("{endpoint:?}").contains("hunter2"));
    }

    #[test]
    fn transaction_control_is_recognised() {
        assert_eq!(TransactionEffect::of("BEGIN"), TransactionEffect::Opens);
        assert_eq!(TransactionEffect::of("  begin isolation level serializable"), TransactionEffect::Opens);
        assert_eq!(TransactionEffect::of("START TRANSACTION"), TransactionEffect::Opens);
        assert_eq!(TransactionEffect::of("commit"), TransactionEffect::Ends);
        assert_eq!(TransactionEffect::of("ROLLBACK"), TransactionEffect::Ends);
        assert_eq!(TransactionEffect::of("rollback to savepoint a"), TransactionEffect::None);
        assert_eq!(TransactionEffect::of("SELECT 1"), TransactionEffect::None);
        assert_eq!(TransactionEffect::of("update t set begin = 1"), TransactionEffect::None);
    }
}
