//! order-query: the orders' read side. `GET /api/v1/orders/:id` answers one order with its
//! lines, status, amount and cancel reason; `GET /api/v1/orders` lists them newest first, a
//! keyset page at a time (`?limit=&before=`). A user sees only their own orders (another's is
//! the same 404 as a missing one); an admin sees anyone's and may filter by `?user_id=`.
//!
//! Spin routes by path, not method: order-create owns `/api/v1/orders` (it runs the saga on
//! `POST`) and relays a listing (`GET`) here.

pub mod domain;


use galley_common::auth::Role;
use galley_common::edge::endpoint::{database, Request};
use galley_common::edge::{http::json, orders_db};
use galley_common::ids::{item_segment, OrderId};
use galley_common::method::Method;
use galley_common::orders::{Order, COLLECTION};
use serde::Serialize;
use spin_sdk::http::Response;

use domain::{Owner, Page, QueryError};

galley_common::http_endpoint!(serve);

async fn serve(req: Request) -> Result<Response, QueryError> {
    // From the path, not the `:id` match: the gateway calls this by service chaining too.
    let id = item_segment(COLLECTION, req.path()).to_owned();
    req.allow(&[Method::Get])?;
    if id.is_empty() {
        return list(&req);
    }
    let claims = req.claims()?;
    // A malformed id is the same 404 as a missing or foreign one.
    let id = OrderId::parse(&id).map_err(|_| QueryError::NotFound)?;
    let order = orders_db::load(&database()?, &id)?.ok_or(QueryError::NotFound)?;
    if claims.role != Role::Admin && order.user_id.as_str() != claims.sub.to_ascii_lowercase() {
        return Err(QueryError::NotFound);
    }
    Ok(json(200, &order))
}

/// A page of orders; `next_before` is the `before` of the next page, absent on the last.
#[derive(Debug, Serialize)]
struct Listing {
    items: Vec<Order>,
    next_before: Option<i64>,
}

fn list(req: &Request) -> Result<Response, QueryError> {
    let claims = req.claims()?;
    let page = Page::parse(req.query(), &claims)?;
    let conn = database()?;
    // One row more than asked tells whether another page follows; `seq` orders them newest
    // first, stable however many orders arrive meanwhile.
    let sql = format!(
        "SELECT {}, seq FROM orders WHERE ($1::text IS NULL OR user_id = CAST($1::text AS uuid)) \
         AND ($2::bigint IS NULL OR seq < $2::bigint) ORDER BY seq DESC LIMIT $3",
        orders_db::ORDER_COLUMNS
    );
    let owner = match &page.owner {
        Owner::User(user) => Some(user.to_string()),
        Owner::Everyone => None,
    };
    let params = [
        galley_common::edge::pg::nullable(owner),
        galley_common::edge::pg::nullable(page.before),
        (i64::from(page.limit) + 1).into(),
    ];
    let (mut items, seqs) = orders_db::load_page(&conn, &sql, &params)?;
    let next_before = if items.len() > page.limit as usize {
        items.truncate(page.limit as usize);
        seqs.get(page.limit as usize - 1).copied()
    } else {
        None
    };
    Ok(json(200, &Listing { items, next_before }))
}
