//! Postgres through `spin:postgres@4.0.0`: connecting, row mapping, transactions.

use spin_sdk::pg4::{Connection, Decode, ParameterValue, PgError, QueryError, Row, RowSet};

use crate::db::{is_unavailable_sqlstate, DbError};

impl From<PgError> for DbError {
    fn from(e: PgError) -> Self {
        match e {
            PgError::ConnectionFailed(m) => DbError::Connect(m),
            // A session ended by a server shutdown or crash is the outage, not the statement.
            PgError::QueryFailed(QueryError::DbError(d)) if is_unavailable_sqlstate(&d.code) => DbError::Connect(d.message),
            PgError::QueryFailed(QueryError::DbError(d)) => {
                DbError::Query { code: Some(d.code), message: d.message }
            }
            PgError::QueryFailed(QueryError::Text(m)) => DbError::Query { code: None, message: m },
            PgError::BadParameter(m) | PgError::ValueConversionFailed(m) | PgError::Other(m) => {
                DbError::Query { code: None, message: m }
            }
        }
    }
}

pub fn connect(url: &str) -> Result<Connection, DbError> {
    Connection::open(url).map_err(DbError::from)
}

/// A type built from one result row, column by column.
pub trait FromRow: Sized {
    fn from_row(row: &Row<'_>) -> Result<Self, DbError>;
}

/// The value of `column`, decoded; a missing column or a type mismatch is a [`DbError::Decode`]
/// naming the column (unlike `Row::get`, which folds both into `None`).
pub fn col<T: Decode>(row: &Row<'_>, column: &str) -> Result<T, DbError> {
    // `Option<T>` decodes NULL as None, so a real NULL in a nullable column is not an error.
    row.get::<T>(column)
        .ok_or_else(|| DbError::Decode { column: column.into(), reason: "missing or of another type".into() })
}

/// Every row of `rows`, mapped.
pub fn map_rows<T: FromRow>(rows: &RowSet) -> Result<Vec<T>, DbError> {
    rows.rows().map(|r| T::from_row(&r)).collect()
}

/// Runs `query` and maps at most one row.
pub fn query_opt<T: FromRow>(conn: &Connection, sql: &str, params: &[ParameterValue]) -> Result<Option<T>, DbError> {
    let rows = conn.query(sql, params)?;
    let first = rows.rows().next().map(|r| T::from_row(&r)).transpose();
    first
}

/// Runs `work` inside `BEGIN` … `COMMIT`, or `ROLLBACK` if it fails (with any error type that
/// a database error converts into). The transaction is always ended before returning:
/// Spin hands a connection back to its pool as it is, open transaction included.
pub fn transaction<T, E: From<DbError>>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> Result<T, E>,
) -> Result<T, E> {
    begin(conn)?;
    end(conn, work(conn))
}

/// [`transaction`] whose `COMMIT` returns without waiting for the WAL flush
/// (`SET LOCAL synchronous_commit = off`, this transaction only). Postgres still applies it
/// atomically and in order, and any later flushed commit on the same server makes it durable
/// too (the WAL is one sequence); what a server crash can lose is at most the last few hundred
/// milliseconds of such commits, never a half of one. Two uses, each argued where it is made:
/// a step whose loss recovery re-drives (a saga marker behind a durable one, an event's
/// "published" mark), and work followed by [`flush_wal`] before anyone is answered, which
/// releases its row locks before the disk wait instead of after it.
pub fn transaction_unflushed<T, E: From<DbError>>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> Result<T, E>,
) -> Result<T, E> {
    begin(conn)?;
    if let Err(error) = conn.execute("SET LOCAL synchronous_commit = off", &[]) {
        let _ = conn.execute("ROLLBACK", &[]);
        return Err(E::from(error.into()));
    }
    end(conn, work(conn))
}

/// A select-list item that makes a step written as **one statement** commit unflushed: the
/// statement is its own (implicit) transaction, and `set_config(…, true)` is `SET LOCAL` for
/// it, read when it commits. One round trip instead of four (`BEGIN`, `SET LOCAL`, the work,
/// `COMMIT`); [`transaction_unflushed`]'s argument must hold for the step. Never put it in a
/// statement run inside a [`transaction`]: it would make that whole transaction unflushed.
pub const UNFLUSHED: &str = "set_config('synchronous_commit', 'off', true) AS unflushed";

/// Waits until everything this server has committed so far is flushed to disk: a transaction
/// of its own with a transaction id and no data (`pg_current_xact_id()` assigns one, so its
/// commit writes a record and, synchronous, waits for the WAL up to it, which holds every
/// earlier commit). After [`transaction_unflushed`] it makes that work as durable as a
/// [`transaction`] before the caller answers anyone, without the work's locks held during the
/// wait.
pub fn flush_wal(conn: &Connection) -> Result<(), DbError> {
    conn.query("SELECT pg_current_xact_id()::text AS xid", &[])?;
    Ok(())
}

/// [`transaction`] for work that awaits inside it (a payment provider's answer, while the
/// order's row stays locked). Ended the same way on every path that returns; only a component
/// cancelled in mid-await (its caller gave up and the host dropped it) leaves the ending to
/// the host, as any other statement in flight would.
pub async fn transaction_async<T, E: From<DbError>>(
    conn: &Connection,
    work: impl AsyncFnOnce(&Connection) -> Result<T, E>,
) -> Result<T, E> {
    begin(conn)?;
    let outcome = work(conn).await;
    end(conn, outcome)
}

fn begin<E: From<DbError>>(conn: &Connection) -> Result<(), E> {
    conn.execute("BEGIN", &[]).map(drop).map_err(|e| E::from(e.into()))
}

/// `COMMIT` after work that succeeded, `ROLLBACK` after work that failed.
fn end<T, E: From<DbError>>(conn: &Connection, outcome: Result<T, E>) -> Result<T, E> {
    match outcome {
        Ok(value) => {
            conn.execute("COMMIT", &[]).map_err(|e| E::from(e.into()))?;
            Ok(value)
        }
        Err(err) => {
            // The original error is what matters; a failed ROLLBACK also ends the transaction.
            let _ = conn.execute("ROLLBACK", &[]);
            Err(err)
        }
    }
}

/// A text parameter.
pub fn text(s: &str) -> ParameterValue {
    ParameterValue::Str(s.to_owned())
}

/// A parameter that may be NULL (the SQL should cast it, e.g. `$2::text`, so its type is known).
pub fn nullable<T: Into<ParameterValue>>(value: Option<T>) -> ParameterValue {
    value.map_or(ParameterValue::DbNull, Into::into)
}

/// A column that must hold a valid `T` (an id, an amount): anything else is a broken row.
fn checked<T, E: std::fmt::Display>(column: &str, parsed: Result<T, E>) -> Result<T, DbError> {
    parsed.map_err(|e| DbError::Decode { column: column.into(), reason: e.to_string() })
}

/// The `bigint` product id in `column`.
pub fn product_id(row: &Row<'_>, column: &str) -> Result<crate::ids::ProductId, DbError> {
    checked(column, crate::ids::ProductId::new(col(row, column)?))
}

/// The `NUMERIC(10,2)` amount in `column`.
pub fn money(row: &Row<'_>, column: &str) -> Result<crate::money::Money, DbError> {
    checked(column, crate::money::Money::new(col(row, column)?))
}

/// The user role in `column`.
pub fn role(row: &Row<'_>, column: &str) -> Result<crate::auth::Role, DbError> {
    let role: String = col(row, column)?;
    crate::auth::Role::parse(&role).ok_or_else(|| DbError::Decode { column: column.into(), reason: format!("unknown role `{role}`") })
}

impl FromRow for crate::users::User {
    fn from_row(row: &Row<'_>) -> Result<Self, DbError> {
        let id: String = col(row, "id")?;
        Ok(Self {
            id: checked("id", crate::ids::UserId::parse(&id))?,
            username: col(row, "username")?,
            mobile: col(row, "mobile")?,
            role: role(row, "role")?,
            created_at: col(row, "created_at")?,
        })
    }
}

impl FromRow for crate::catalog::Product {
    fn from_row(row: &Row<'_>) -> Result<Self, DbError> {
        Ok(Self {
            id: product_id(row, "id")?,
            name: col(row, "name")?,
            price: money(row, "price")?,
            description: col(row, "description")?,
        })
    }
}

impl FromRow for crate::inventory::Line {
    fn from_row(row: &Row<'_>) -> Result<Self, DbError> {
        let quantity = checked("quantity", crate::inventory::Quantity::new(col(row, "quantity")?))?;
        Ok(Self { product_id: product_id(row, "product_id")?, quantity })
    }
}

impl FromRow for crate::inventory::StockLevel {
    fn from_row(row: &Row<'_>) -> Result<Self, DbError> {
        Ok(Self { product_id: product_id(row, "product_id")?, on_hand: col(row, "on_hand")? })
    }
}

impl From<crate::ids::ProductId> for ParameterValue {
    fn from(id: crate::ids::ProductId) -> Self {
        ParameterValue::Int64(id.get())
    }
}

impl From<crate::money::Money> for ParameterValue {
    fn from(amount: crate::money::Money) -> Self {
        amount.decimal().into()
    }
}

/// A uuid parameter, as text: the SQL casts it (`CAST($1::text AS uuid)`), since Spin's
/// Postgres interface has no uuid value.
impl From<&crate::ids::UserId> for ParameterValue {
    fn from(id: &crate::ids::UserId) -> Self {
        text(id.as_str())
    }
}

impl From<&crate::ids::OrderId> for ParameterValue {
    fn from(id: &crate::ids::OrderId) -> Self {
        text(id.as_str())
    }
}

impl From<&crate::ids::FileId> for ParameterValue {
    fn from(id: &crate::ids::FileId) -> Self {
        text(id.as_str())
    }
}
