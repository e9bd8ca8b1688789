//! inventory-restock: `PUT /api/v1/inventory/:product_id` with `{"on_hand": n}` (set) or
//! `{"delta": n}` (adjust), admin token only.
//!
//! A separate component rather than a public trigger on inventory-adjust: inventory-adjust
//! then has no public route at all, so its reserve/release/commit operations are unreachable
//! from outside by construction (the router never sees them), instead of by a check of
//! `spin-*` headers in its code. This function checks the token and passes the request on;
//! the stock rules, the database and the cache invalidation stay in inventory-adjust.

pub mod domain;

use galley_common::edge::client::relay;
use galley_common::edge::http::RequestInfo;
use galley_common::edge::variable;
use galley_common::{auth, catalog, inventory};
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

use domain::RestockError;

#[http_component]
async fn handle(req: IncomingRequest) -> Response {
    let info = RequestInfo::of(&req);
    let result = restock(req, &info).await;
    info.respond(result)
}

async fn restock(req: IncomingRequest, info: &RequestInfo) -> Result<Response, RestockError> {
    info.require_method(&["PUT"])?;
    auth::require_admin(info.header("authorization"), variable("auth_secret")?.as_bytes())?;
    let id = catalog::parse_product_id(info.path_param("product_id").unwrap_or_default())?;
    Ok(relay(req, info, inventory::COMPONENT, &inventory::stock_path(id)).await?)
}
