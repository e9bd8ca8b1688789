//! order-query: the orders' read side. `GET /api/v1/orders/:id` answers one order with its
//! lines, status, amount and cancel reason; `GET /api/v1/orders` lists them newest first, a
//! keyset page at a time (`?limit=&before=`). A user sees only their own orders (another's is
//! the same 404 as a missing one); an admin sees anyone's and may filter by `?user_id=`.
//!
//! Spin routes by path, not method: order-create owns `/api/v1/orders` (it runs the saga on
//! `POST` and answers listings with the same shared code, `galley_common::order_listing`);
//! the gateway reaches the listing here, by service chaining.

pub mod domain;

use galley_common::edge::endpoint::{database, Request};
use galley_common::edge::{http::json, orders_db};
use galley_common::ids::{item_segment, OrderId};
use galley_common::method::Method;
use galley_common::orders::COLLECTION;
use spin_sdk::http::Response;

use galley_common::error::CommonError;
use galley_common::order_listing::Page;

use domain::QueryError;

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
    if !claims.may_read_user(&order.user_id) {
        return Err(QueryError::NotFound);
    }
    Ok(json(200, &order))
}

/// `GET /api/v1/orders`, as the gateway asks for it.
fn list(req: &Request) -> Result<Response, QueryError> {
    let claims = req.claims()?;
    let me = claims.user_id().map_err(CommonError::from)?;
    let page = Page::parse(req.query(), &me, &claims)?;
    Ok(json(200, &orders_db::list(&database()?, &page)?))
}
