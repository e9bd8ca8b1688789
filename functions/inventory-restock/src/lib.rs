//! inventory-restock: `PUT /api/v1/inventory/:product_id` with `{"on_hand": n}` (set) or
//! `{"delta": n}` (adjust), admin token only.
//!
//! A separate component rather than a public trigger on inventory-adjust: inventory-adjust
//! then has no public route at all, so its reserve/release/commit operations are unreachable
//! from outside by construction (the router never sees them), instead of by a check of
//! `spin-*` headers in its code. This function checks the token and passes the request on;
//! the stock rules, the database and the cache invalidation stay in inventory-adjust.

use galley_common::edge::endpoint::Request;
use galley_common::error::CommonError;
use galley_common::ids::{item_segment, ProductId};
use galley_common::inventory;
use galley_common::method::Method;
use spin_sdk::http::Response;

galley_common::http_endpoint!(serve);

/// Every failure here is one the kit knows (method, token, id, the relayed call).
async fn serve(mut req: Request) -> Result<Response, CommonError> {
    req.allow(&[Method::Put])?;
    req.require_admin()?;
    // From the path, not Spin's `spin-path-match-*` header: other hosts (wasmCloud) set none.
    let id = ProductId::parse(item_segment(inventory::PUBLIC_COLLECTION, req.path()))?;
    req.relay(inventory::COMPONENT, &inventory::stock_path(id)).await
}

#[cfg(test)]
mod tests {
    use galley_common::auth::AuthError;
    use galley_common::error::CommonError;
    use galley_common::ids::{item_segment, ProductId};
    use galley_common::problem::ApiError;

    #[test]
    fn statuses() {
        assert_eq!(CommonError::from(ProductId::parse("x").unwrap_err()).status(), 400);
        assert_eq!(CommonError::from(AuthError::Forbidden).status(), 403);
        assert_eq!(CommonError::from(AuthError::MissingToken).status(), 401);
    }
}
