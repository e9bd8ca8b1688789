//! inventory-adjust: the owner of the `inventory` database, reachable only by service chaining
//! (`route = { private = true }`): other functions create and read stock rows, reserve,
//! release and commit stock for an order, and set or adjust stock (the public, admin-only
//! restock route is `inventory-restock`, which checks the token and calls in here).
//!
//! Stock never goes below zero: every decrement is one conditional `UPDATE … WHERE on_hand >= n`
//! (never a read followed by a write), with `CHECK (on_hand >= 0)` behind it. Reservations are
//! idempotent per order: the `reservations` primary key lets exactly one request per order do
//! the work, and every other one answers from what that one recorded. Every stock change
//! deletes the product's entry in the `cache` store once committed.

pub mod domain;

use galley_common::catalog::{cache_key, CACHE_STORE};
use galley_common::db::{DbError, NOW_UTC as NOW};
use galley_common::edge::endpoint::{database, Request};
use galley_common::edge::http::json;
use galley_common::edge::{kv, pg};
use galley_common::ids::{OrderId, ProductId};
use galley_common::inventory::{Line, NewStock, Reservation, ReserveRequest, State, StockLevel, StockLevels};
use spin_sdk::http::Response;
use spin_sdk::pg4::{Connection, ParameterValue};

use domain::{InventoryError, Op, StockChange, StockChangeRequest};

galley_common::http_endpoint!(serve);

async fn serve(mut req: Request) -> Result<Response, InventoryError> {
    let op = Op::route(&req.method, req.path(), req.query())?;
    let conn = database()?;
    let response = match op {
        Op::CreateStock => {
            let new: NewStock = req.json().await?;
            json(200, &create_stock(&conn, new.product_id)?)
        }
        Op::GetStock(id) => json(200, &stock(&conn, id)?.ok_or(InventoryError::UnknownProduct(id))?),
        Op::GetStocks(ids) => json(200, &StockLevels { items: stocks(&conn, &ids)? }),
        Op::ChangeStock(id) => {
            let change = req.json::<StockChangeRequest>().await?.validate()?;
            let level = change_stock(&conn, id, change)?;
            kv::invalidate_all(CACHE_STORE, [cache_key(id)]);
            json(200, &level)
        }
        Op::Reserve => {
            let (order, lines) = domain::validate_reservation(req.json::<ReserveRequest>().await?)?;
            // Every order of a product updates its one `stock` row, and a flushed commit holds
            // that row's lock until the disk has the WAL: orders of one product would take
            // turns at a flush each (~300/s on a 3 ms disk). So the work commits unflushed,
            // releasing the lock, and the flush follows before the answer: the reservation
            // is as durable when the saga hears of it, and concurrent reservations share
            // their flushes. (Both paths turn the flush off in their first statement: one
            // round trip fewer than `transaction_unflushed`'s `SET LOCAL`.)
            let (stored, fresh) = match reserve_one_line(&conn, &order, &lines)? {
                Some(stored) => (stored, true),
                None => pg::transaction(&conn, |c| reserve(c, &order, &lines))?,
            };
            pg::flush_wal(&conn)?;
            if fresh && stored.state == State::Reserved {
                invalidate_lines(&stored.lines);
            }
            json(200, &domain::reserve_answer(stored, &lines)?)
        }
        Op::Release(order) => {
            let (released, restored) = pg::transaction(&conn, |c| release(c, &order))?;
            if restored {
                invalidate_lines(&released.lines);
            }
            json(200, &released)
        }
        Op::Commit(order) => json(200, &commit(&conn, &order)?),
    };
    Ok(response)
}

fn invalidate_lines(lines: &[Line]) {
    kv::invalidate_all(CACHE_STORE, lines.iter().map(|l| cache_key(l.product_id)));
}

const STOCK_COLUMNS: &str = "product_id, on_hand::bigint AS on_hand";

fn stock(conn: &Connection, product_id: ProductId) -> Result<Option<StockLevel>, DbError> {
    pg::query_opt(conn, &format!("SELECT {STOCK_COLUMNS} FROM stock WHERE product_id = $1"), &[product_id.into()])
}

/// The stock rows of `ids` (those that exist), in one statement with one parameter.
fn stocks(conn: &Connection, ids: &[ProductId]) -> Result<Vec<StockLevel>, DbError> {
    let list = ids.iter().map(ProductId::to_string).collect::<Vec<_>>().join(",");
    let sql = format!("SELECT {STOCK_COLUMNS} FROM stock WHERE product_id = ANY(string_to_array($1, ',')::bigint[]) ORDER BY product_id");
    pg::map_rows(&conn.query(&sql, &[list.into()])?)
}

/// Idempotent: a product that already has a row keeps it (and its quantity).
fn create_stock(conn: &Connection, product_id: ProductId) -> Result<StockLevel, InventoryError> {
    conn.execute("INSERT INTO stock (product_id, on_hand) VALUES ($1, 0) ON CONFLICT (product_id) DO NOTHING", &[
        product_id.into(),
    ])
    .map_err(DbError::from)?;
    stock(conn, product_id)?.ok_or(InventoryError::UnknownProduct(product_id))
}

/// One statement either way, so concurrent changes and reservations compose; an adjustment
/// that would leave the range changes nothing.
fn change_stock(conn: &Connection, product_id: ProductId, change: StockChange) -> Result<StockLevel, InventoryError> {
    // `$2::bigint`: the values are i64 parameters, and Postgres would otherwise type them as the
    // integer column, which the driver refuses to fill from an i64.
    let (sql, value) = match change {
        StockChange::Set(n) => (
            format!("UPDATE stock SET on_hand = $2::bigint, updated_at = {NOW} WHERE product_id = $1 RETURNING {STOCK_COLUMNS}"),
            n,
        ),
        StockChange::Adjust(d) => (
            format!(
                "UPDATE stock SET on_hand = on_hand + $2::bigint, updated_at = {NOW} \
                 WHERE product_id = $1 AND on_hand + $2::bigint BETWEEN 0 AND 2147483647 RETURNING {STOCK_COLUMNS}"
            ),
            d,
        ),
    };
    if let Some(level) = pg::query_opt::<StockLevel>(conn, &sql, &[product_id.into(), value.into()])? {
        return Ok(level);
    }
    match (stock(conn, product_id)?, change) {
        (Some(level), StockChange::Adjust(delta)) => {
            Err(InventoryError::OutOfRange { product_id, on_hand: level.on_hand, delta })
        }
        _ => Err(InventoryError::UnknownProduct(product_id)),
    }
}



/// The stored reservation of `order`, if any. `lock` takes its row lock for the rest of the
/// transaction, so a release and a commit of one order run one after the other.
fn load(conn: &Connection, order: &OrderId, lock: bool) -> Result<Option<Reservation>, InventoryError> {
    let sql = format!(
        "SELECT state, detail FROM reservations WHERE order_id = CAST($1::text AS uuid){}",
        if lock { " FOR UPDATE" } else { "" }
    );
    let rows = conn.query(&sql, &[order.into()]).map_err(DbError::from)?;
    let Some(row) = rows.rows().next() else { return Ok(None) };
    let state: String = pg::col(&row, "state")?;
    let state = State::parse(&state)
        .ok_or_else(|| DbError::Decode { column: "state".into(), reason: format!("unknown state `{state}`") })?;
    let detail: Option<String> = pg::col(&row, "detail")?;
    let lines = pg::map_rows::<Line>(&conn.query(
        "SELECT product_id, quantity::bigint AS quantity FROM reservation_lines \
         WHERE order_id = CAST($1::text AS uuid) ORDER BY product_id",
        &[order.into()],
    )
    .map_err(DbError::from)?)?;
    Ok(Some(Reservation { order_id: order.clone(), state, lines, detail }))
}

fn set_state(conn: &Connection, order: &OrderId, state: State, detail: Option<&str>) -> Result<(), DbError> {
    conn.execute(
        &format!("UPDATE reservations SET state = $2, detail = $3::text, updated_at = {NOW} WHERE order_id = CAST($1::text AS uuid)"),
        &[order.into(), pg::text(state.as_str()), pg::nullable(detail.map(str::to_owned))],
    )?;
    Ok(())
}

/// Records `order` in `state` unless it has a row already; whether this call recorded it.
/// A concurrent claim of the same order waits on the primary key until the first one's
/// transaction ends, then records nothing.
fn claim(conn: &Connection, order: &OrderId, state: State) -> Result<bool, DbError> {
    let inserted = conn.execute(
        "INSERT INTO reservations (order_id, state) VALUES (CAST($1::text AS uuid), $2) ON CONFLICT (order_id) DO NOTHING",
        &[order.into(), pg::text(state.as_str())],
    )?;
    Ok(inserted == 1)
}

/// [`claim`] as `reserved` with the order's lines, in one statement of the caller's unflushed
/// transaction (it makes that transaction unflushed itself: [`pg::UNFLUSHED`]); whether this
/// call recorded it. Lines go in only with the claim.
fn claim_with_lines(conn: &Connection, order: &OrderId, lines: &[Line]) -> Result<bool, DbError> {
    let products: Vec<i64> = lines.iter().map(|line| line.product_id.get()).collect();
    let quantities: Vec<i32> = lines.iter().map(|line| line.quantity.get() as i32).collect();
    let rows = conn.query(
        &format!(
            "WITH claimed AS ( \
               INSERT INTO reservations (order_id, state) VALUES (CAST($1::text AS uuid), 'reserved') \
               ON CONFLICT (order_id) DO NOTHING RETURNING order_id), \
             lines AS ( \
               INSERT INTO reservation_lines (order_id, product_id, quantity) \
               SELECT claimed.order_id, line.product_id, line.quantity \
               FROM claimed, unnest($2::bigint[], $3::integer[]) AS line(product_id, quantity)) \
             SELECT (SELECT count(*) FROM claimed) AS claimed, {}",
            pg::UNFLUSHED
        ),
        &[order.into(), products.into(), quantities.into()],
    )?;
    let row = rows.rows().next().ok_or(DbError::NoRow("reservations"))?;
    Ok(pg::col::<i64>(&row, "claimed")? == 1)
}

/// The usual reservation in one statement: one line, its stock there, no earlier call for the
/// order. The take, the claim and its line commit together, so the product's `stock` row is
/// locked only while the statement runs, not across round trips to a busy component (every
/// order of a product queues on that row). `None` when it does not apply: a short line
/// writes nothing, and an order claimed before fails the primary key, which undoes the take;
/// either way [`reserve`] then does the whole work (refusal, repeat, tombstone).
fn reserve_one_line(conn: &Connection, order: &OrderId, lines: &[Line]) -> Result<Option<Reservation>, InventoryError> {
    let [line] = lines else { return Ok(None) };
    let taken = conn.query(
        &format!(
            "WITH taken AS ( \
               UPDATE stock SET on_hand = on_hand - $3, updated_at = {NOW} \
               WHERE product_id = $2 AND on_hand >= $3 RETURNING product_id), \
             claimed AS ( \
               INSERT INTO reservations (order_id, state) SELECT CAST($1::text AS uuid), 'reserved' FROM taken RETURNING order_id), \
             claimed_line AS ( \
               INSERT INTO reservation_lines (order_id, product_id, quantity) SELECT order_id, $2, $3 FROM claimed) \
             SELECT (SELECT count(*) FROM claimed) AS claimed, {}",
            pg::UNFLUSHED
        ),
        &[order.into(), line.product_id.into(), quantity_param(line)],
    );
    let rows = match taken.map_err(DbError::from) {
        Ok(rows) => rows,
        Err(error) if error.is_unique_violation() => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    let row = rows.rows().next().ok_or(DbError::NoRow("reservations"))?;
    if pg::col::<i64>(&row, "claimed")? != 1 {
        return Ok(None);
    }
    Ok(Some(Reservation { order_id: order.clone(), state: State::Reserved, lines: lines.to_vec(), detail: None }))
}

/// Reserves every line or none; returns the stored reservation and whether this call made it.
///
/// The `INSERT … ON CONFLICT DO NOTHING` claims the order: a concurrent reserve of the same
/// order waits on the primary key until this transaction ends, inserts nothing, and reads
/// what this one stored. The decrements run under a savepoint, so a short line undoes the
/// others and the refusal itself is still recorded for the next repeat.
fn reserve(conn: &Connection, order: &OrderId, lines: &[Line]) -> Result<(Reservation, bool), InventoryError> {
    if !claim_with_lines(conn, order, lines)? {
        let stored = load(conn, order, false)?.ok_or_else(|| InventoryError::UnknownOrder(order.clone()))?;
        return Ok((stored, false));
    }
    // Only a later line's shortage has earlier takes to undo: one line needs no savepoint.
    let several = lines.len() > 1;
    if several {
        conn.execute("SAVEPOINT take_stock", &[]).map_err(DbError::from)?;
    }
    let mut short = Vec::new();
    for line in lines {
        let taken = conn
            .execute(
                &format!("UPDATE stock SET on_hand = on_hand - $2, updated_at = {NOW} WHERE product_id = $1 AND on_hand >= $2"),
                &[line.product_id.into(), quantity_param(line)],
            )
            .map_err(DbError::from)?;
        if taken == 0 {
            short.push(*line);
        }
    }
    let mut stored = Reservation { order_id: order.clone(), state: State::Reserved, lines: lines.to_vec(), detail: None };
    if !short.is_empty() {
        if several {
            conn.execute("ROLLBACK TO SAVEPOINT take_stock", &[]).map_err(DbError::from)?;
        }
        let mut found = Vec::with_capacity(short.len());
        for line in short {
            found.push((line, stock(conn, line.product_id)?.map(|s| s.on_hand)));
        }
        let detail = domain::shortage_detail(&found);
        set_state(conn, order, State::Rejected, Some(&detail))?;
        stored.state = State::Rejected;
        stored.detail = Some(detail);
    }
    Ok((stored, true))
}

/// The `integer` column's parameter: a [`Quantity`] is at most a million, so it fits.
fn quantity_param(line: &Line) -> ParameterValue {
    ParameterValue::Int32(line.quantity.get() as i32)
}

/// Gives an order's reserved stock back, once. A release of an order never reserved records
/// a `released` tombstone, so a reserve that arrives late (a timed-out call still in flight)
/// reserves nothing. Returns the reservation and whether stock was restored.
fn release(conn: &Connection, order: &OrderId) -> Result<(Reservation, bool), InventoryError> {
    let tombstone = claim(conn, order, State::Released)?;
    let mut stored = load(conn, order, true)?.ok_or_else(|| InventoryError::UnknownOrder(order.clone()))?;
    if tombstone {
        return Ok((stored, false));
    }
    match stored.state {
        State::Reserved => {
            for line in &stored.lines {
                conn.execute(
                    &format!("UPDATE stock SET on_hand = on_hand + $2, updated_at = {NOW} WHERE product_id = $1"),
                    &[line.product_id.into(), quantity_param(line)],
                )
                .map_err(DbError::from)?;
            }
            set_state(conn, order, State::Released, None)?;
            stored.state = State::Released;
            Ok((stored, true))
        }
        State::Released | State::Rejected => Ok((stored, false)),
        State::Committed => Err(InventoryError::Closed { order: order.clone(), state: "committed", action: "released" }),
    }
}

/// Makes a reservation final once the order is paid (the stock was already taken at reserve).
///
/// Unflushed: the stock was taken, durably, at reserve; a commit lost in a database crash
/// leaves the reservation `reserved` under an order that recovery finds `committing` and
/// commits again (nothing ever releases a paid order's reservation). The usual case, a
/// `reserved` reservation, is one statement: the transition and the lines it answers with.
/// Anything else (committed already, released, rejected, unknown) is found out under the
/// row's lock, as before.
fn commit(conn: &Connection, order: &OrderId) -> Result<Reservation, InventoryError> {
    let moved = conn
        .query(
            &format!(
                "WITH committed AS ( \
                   UPDATE reservations SET state = 'committed', detail = NULL, updated_at = {NOW} \
                   WHERE order_id = CAST($1::text AS uuid) AND state = 'reserved' RETURNING order_id) \
                 SELECT line.product_id, line.quantity::bigint AS quantity, {} \
                 FROM committed JOIN reservation_lines line USING (order_id) ORDER BY line.product_id",
                pg::UNFLUSHED
            ),
            &[order.into()],
        )
        .map_err(DbError::from)?;
    let lines = pg::map_rows::<Line>(&moved)?;
    if !lines.is_empty() {
        return Ok(Reservation { order_id: order.clone(), state: State::Committed, lines, detail: None });
    }
    pg::transaction_unflushed(conn, |c| settled_commit(c, order))
}

/// Why a reservation was not `reserved` when committed: committed already is done; released
/// or rejected is closed.
fn settled_commit(conn: &Connection, order: &OrderId) -> Result<Reservation, InventoryError> {
    let mut stored = load(conn, order, true)?.ok_or_else(|| InventoryError::UnknownOrder(order.clone()))?;
    match stored.state {
        // Reserved after all: a reserve committed between the two statements.
        State::Reserved => {
            set_state(conn, order, State::Committed, None)?;
            stored.state = State::Committed;
            Ok(stored)
        }
        State::Committed => Ok(stored),
        State::Released | State::Rejected => {
            Err(InventoryError::Closed { order: order.clone(), state: stored.state.as_str(), action: "committed" })
        }
    }
}
