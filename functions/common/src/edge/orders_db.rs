//! Reading orders from the `orders` database, for the two components of the orders service
//! (order-create answers an order and lists them on its route, order-query reads them).

use spin_sdk::pg4::{Connection, ParameterValue, Row};

use super::pg::{self, col, FromRow};
use crate::db::DbError;
use crate::ids::{OrderId, UserId};
use crate::order_listing::{Listing, Owner, Page};
use crate::orders::{Order, OrderLine, Status};

/// The `SELECT` list that yields an order's head (its lines come from [`lines`]).
pub const ORDER_COLUMNS: &str = "id::text AS id, user_id::text AS user_id, status, total, payment_method, \
     cancel_reason, cancel_detail, to_char(created_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS created_at";

/// An order's head, lines still empty.
struct Head(Order);

impl FromRow for Head {
    fn from_row(row: &Row<'_>) -> Result<Self, DbError> {
        let id: String = col(row, "id")?;
        let user: String = col(row, "user_id")?;
        let status: i16 = col(row, "status")?;
        let decode = |column: &str, reason: String| DbError::Decode { column: column.into(), reason };
        Ok(Head(Order {
            id: OrderId::parse(&id).map_err(|e| decode("id", e.to_string()))?,
            user_id: UserId::parse(&user).map_err(|e| decode("user_id", e.to_string()))?,
            status: u8::try_from(status).ok().and_then(|s| Status::try_from(s).ok()).ok_or_else(|| decode("status", status.to_string()))?,
            amount: pg::money(row, "total")?,
            payment_method: col(row, "payment_method")?,
            cancel_reason: col(row, "cancel_reason")?,
            cancel_detail: col(row, "cancel_detail")?,
            lines: Vec::new(),
            created_at: col(row, "created_at")?,
        }))
    }
}

impl FromRow for OrderLine {
    fn from_row(row: &Row<'_>) -> Result<Self, DbError> {
        let quantity = crate::inventory::Quantity::new(col(row, "quantity")?)
            .map_err(|e| DbError::Decode { column: "quantity".into(), reason: e.to_string() })?;
        Ok(OrderLine { product_id: pg::product_id(row, "product_id")?, quantity, unit_price: pg::money(row, "unit_price")? })
    }
}

/// The order `id` with its lines.
pub fn load(conn: &Connection, id: &OrderId) -> Result<Option<Order>, DbError> {
    let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = CAST($1::text AS uuid)");
    let Some(Head(mut order)) = pg::query_opt::<Head>(conn, &sql, &[id.into()])? else { return Ok(None) };
    order.lines = lines(conn, id)?;
    Ok(Some(order))
}

/// The orders `sql` selects (with [`ORDER_COLUMNS`] and `seq`), each with its lines, and
/// their `seq` keys for paging.
pub fn load_page(conn: &Connection, sql: &str, params: &[ParameterValue]) -> Result<(Vec<Order>, Vec<i64>), DbError> {
    let rows = conn.query(sql, params)?;
    let mut orders = Vec::new();
    let mut seqs = Vec::new();
    for row in rows.rows() {
        let Head(order) = Head::from_row(&row)?;
        seqs.push(col::<i64>(&row, "seq")?);
        orders.push(order);
    }
    let ids: Vec<Option<String>> = orders.iter().map(|o| Some(o.id.to_string())).collect();
    // Every page's lines in one query, not one per order.
    let rows = conn.query(
        "SELECT order_id::text AS order_id, product_id, quantity::bigint AS quantity, unit_price FROM order_items \
         WHERE order_id = ANY(CAST($1::text[] AS uuid[])) ORDER BY order_id, product_id",
        &[ParameterValue::ArrayStr(ids)],
    )?;
    for row in rows.rows() {
        let owner: String = col(&row, "order_id")?;
        let line = OrderLine::from_row(&row)?;
        if let Some(order) = orders.iter_mut().find(|o| o.id.as_str() == owner) {
            order.lines.push(line);
        }
    }
    Ok((orders, seqs))
}

fn lines(conn: &Connection, id: &OrderId) -> Result<Vec<OrderLine>, DbError> {
    let rows = conn.query(
        "SELECT product_id, quantity::bigint AS quantity, unit_price FROM order_items \
         WHERE order_id = CAST($1::text AS uuid) ORDER BY product_id",
        &[id.into()],
    )?;
    pg::map_rows(&rows)
}

/// The listing page `page` asks for, newest first.
pub fn list(conn: &Connection, page: &Page) -> Result<Listing, DbError> {
    // One row more than asked tells whether another page follows; `seq` orders them newest
    // first, stable however many orders arrive meanwhile.
    let sql = format!(
        "SELECT {ORDER_COLUMNS}, seq FROM orders WHERE ($1::text IS NULL OR user_id = CAST($1::text AS uuid)) \
         AND ($2::bigint IS NULL OR seq < $2::bigint) ORDER BY seq DESC LIMIT $3"
    );
    let owner = match &page.owner {
        Owner::User(user) => Some(user.to_string()),
        Owner::Everyone => None,
    };
    let params = [pg::nullable(owner), pg::nullable(page.before), (i64::from(page.limit) + 1).into()];
    let (mut items, seqs) = load_page(conn, &sql, &params)?;
    let next_before = if items.len() > page.limit as usize {
        items.truncate(page.limit as usize);
        seqs.get(page.limit as usize - 1).copied()
    } else {
        None
    };
    Ok(Listing { items, next_before })
}
