//! product-query: `GET /api/v1/products/:id`, the read side of the catalog (CQRS).
//!
//! Reads the `cache` key-value store first (`x-cache: hit`); on a miss reads the catalog,
//! asks inventory-adjust for the stock (one chained call), stores the result with its expiry
//! inside the value (Spin's key-value has no TTL) and answers it (`x-cache: miss`). An unknown
//! id is a 404 and is never cached. The cache is an optimisation only: if the store fails,
//! the answer comes from the databases and the failure goes to the log, never to the caller.
//!
//! Spin routes by path, not by method, so this component also owns `PUT`/`PATCH` on the item
//! route; it passes them unchanged to product-admin (the write side) by service chaining.
//! Other functions read a product the same way (order-create prices orders with it).

pub mod domain;

use std::time::Duration;

use galley_common::catalog::{self, cache_key, Product, CACHE_STORE, PRODUCT_COLUMNS};
use galley_common::edge::endpoint::{database, Request};
use galley_common::edge::http::json;
use galley_common::edge::kv::Cache;
use galley_common::edge::{pg, variable};
use galley_common::ids::ProductId;
use galley_common::inventory::{self, StockLevel};
use galley_common::method::Method;
use spin_sdk::http::Response;

use domain::{ProductView, QueryError};

galley_common::http_endpoint!(serve);

/// A miss waits at most this long for the stock; a read should fail fast, not hang.
const STOCK_TIMEOUT: Duration = Duration::from_secs(2);

async fn serve(mut req: Request) -> Result<Response, QueryError> {
    req.allow(&[Method::Get, Method::Put, Method::Patch])?;
    // From the path, not the `:id` match: other functions call this by service chaining too.
    let id = ProductId::parse(catalog::item_segment(req.path()))?;
    if req.method != Method::Get {
        // The write side answers; its answer (success or problem) goes back as it is.
        let path = req.path().to_owned();
        return Ok(req.relay(catalog::ADMIN_COMPONENT, &path).await?);
    }
    let cache = open_cache()?;
    let key = cache_key(id);
    if let Some(view) = cache.as_ref().and_then(|c| c.get::<ProductView>(&key)) {
        return Ok(with_cache_status(json(200, &view), "hit"));
    }
    let view = read_through(&req, id).await?;
    if let Some(cache) = &cache {
        if let Err(e) = cache.put(&key, &view) {
            eprintln!("cache: set `{key}` failed; answering without caching: {e}");
        }
    }
    Ok(with_cache_status(json(200, &view), "miss"))
}

/// The cache, or `None` (logged) when the store cannot be opened; a bad TTL variable is a
/// configuration error, not a reason to run without a cache.
fn open_cache() -> Result<Option<Cache>, QueryError> {
    let raw = variable("cache_ttl_secs")?;
    let ttl = domain::parse_ttl(&raw).ok_or_else(|| {
        galley_common::error::ConfigError(format!("variable `cache_ttl_secs` is `{raw}`, not a whole number of seconds"))
    })?;
    match Cache::open(CACHE_STORE, ttl) {
        Ok(cache) => Ok(Some(cache)),
        Err(e) => {
            eprintln!("cache: cannot open store `{CACHE_STORE}`; serving from the databases: {e}");
            Ok(None)
        }
    }
}

async fn read_through(req: &Request, id: ProductId) -> Result<ProductView, QueryError> {
    let sql = format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE id = $1");
    let product = pg::query_opt::<Product>(&database()?, &sql, &[id.into()])?.ok_or(QueryError::NotFound)?;
    let stock: StockLevel =
        req.call(inventory::COMPONENT).with_timeout(STOCK_TIMEOUT).get(&inventory::stock_path(id)).await?;
    Ok(ProductView { product, stock: stock.on_hand })
}

fn with_cache_status(mut response: Response, status: &str) -> Response {
    response.set_header("x-cache", status);
    response
}
