//! product-admin: the catalog's write side. `POST /api/v1/products` creates a product,
//! `PUT`/`PATCH /api/v1/products/:id` change one (admin token only), and the public
//! `GET /api/v1/products` lists them a page at a time (`?limit=&after=`, keyset on the id), or
//! reads a batch by id (`?ids=3,1,7`, for the GraphQL gateway's product loader).
//!
//! The item route belongs to product-query (Spin routes by path, not method), which passes
//! `PUT`/`PATCH` on here by service chaining; so the target is read from the request path,
//! not from route parameters. Every write deletes the product's cache entry once committed.

pub mod domain;

use galley_common::catalog::{cache_key, Product, CACHE_STORE, PRODUCT_COLUMNS};
use galley_common::db::{DbError, NOW_UTC as NOW};
use galley_common::edge::endpoint::{database, Request};
use galley_common::edge::http::json;
use galley_common::edge::{kv, pg};
use galley_common::ids::ProductId;
use galley_common::inventory::{self, NewStock, StockLevel};
use galley_common::method::Method;
use serde::Serialize;
use spin_sdk::http::Response;
use spin_sdk::pg4::Connection;

use domain::{AdminError, Changes, Page, ProductInput, ProductPatch, Target, COLLECTION};

galley_common::http_endpoint!(serve);

async fn serve(mut req: Request) -> Result<Response, AdminError> {
    let target = Target::of(req.path())?;
    req.allow(target.methods())?;
    if req.method == Method::Get {
        // `limit` and `after` are checked even beside `ids`, which they do not apply to: a
        // malformed parameter is a 400 wherever it appears (as the contract has it).
        let page = Page::parse(req.query())?;
        if let Some(ids) = domain::batch_ids(req.query())? {
            return Ok(json(200, &Batch { items: batch(&database()?, &ids)? }));
        }
        return Ok(json(200, &list(&database()?, page)?));
    }
    // The token is checked before the body is read: a non-admin learns nothing about its input.
    req.require_admin()?;
    match target {
        Target::Collection => {
            let new = req.json::<ProductInput>().await?.validate()?;
            let product = create(&req, new).await?;
            kv::invalidate_all(CACHE_STORE, [cache_key(product.id)]);
            let mut response = json(201, &product);
            response.set_header("location", format!("{COLLECTION}/{}", product.id));
            Ok(response)
        }
        Target::Item(id) => {
            let changes: Changes = if req.method == Method::Put {
                req.json::<ProductInput>().await?.validate()?.into()
            } else {
                req.json::<ProductPatch>().await?.validate()?
            };
            let product = update(&database()?, id, changes)?;
            kv::invalidate_all(CACHE_STORE, [cache_key(id)]);
            Ok(json(200, &product))
        }
    }
}

/// Creates the stock row first, under an id taken from the sequence, then the product: a
/// reader can never find a product without stock. If inventory fails nothing is written to
/// the catalog (the id is skipped); if the insert then fails, a zero stock row is left for an
/// id no product will ever have, which nothing reads.
async fn create(req: &Request, new: domain::NewProduct) -> Result<Product, AdminError> {
    let conn = database()?;
    let rows = conn.query("SELECT nextval(pg_get_serial_sequence('products', 'id')) AS id", &[]).map_err(DbError::from)?;
    let id = match rows.rows().next() {
        Some(row) => pg::product_id(&row, "id")?,
        None => return Err(DbError::NoRow("the products id sequence").into()),
    };
    let _: StockLevel = req.call(inventory::COMPONENT).post(inventory::STOCK_PATH, &NewStock { product_id: id }).await?;
    let sql = format!(
        "INSERT INTO products (id, name, price, description) OVERRIDING SYSTEM VALUE \
         VALUES ($1, $2, $3, $4::text) RETURNING {PRODUCT_COLUMNS}"
    );
    let params = [id.into(), pg::text(&new.name), new.price.into(), pg::nullable(new.description)];
    pg::query_opt::<Product>(&conn, &sql, &params)?.ok_or_else(|| DbError::NoRow("products").into())
}

/// One statement: a column whose change is `None` keeps its value.
fn update(conn: &Connection, id: ProductId, changes: Changes) -> Result<Product, AdminError> {
    let sql = format!(
        "UPDATE products SET name = COALESCE($2::text, name), price = COALESCE($3::numeric, price), \
         description = CASE WHEN $4::boolean THEN $5::text ELSE description END, updated_at = {NOW} \
         WHERE id = $1 RETURNING {PRODUCT_COLUMNS}"
    );
    let params = [
        id.into(),
        pg::nullable(changes.name),
        pg::nullable(changes.price),
        changes.description.is_some().into(),
        pg::nullable(changes.description.flatten()),
    ];
    pg::query_opt::<Product>(conn, &sql, &params)?.ok_or(AdminError::NotFound)
}

/// A page of the listing; `next_after` is the `after` of the next page, absent on the last.
#[derive(Debug, Serialize)]
struct Listing {
    items: Vec<Product>,
    next_after: Option<ProductId>,
}

/// The products of a batch read that exist, in id order; unknown ids are left out.
#[derive(Debug, Serialize)]
struct Batch {
    items: Vec<Product>,
}

fn batch(conn: &Connection, ids: &[ProductId]) -> Result<Vec<Product>, AdminError> {
    // One parameter for the whole list (ids already validated as positive integers).
    let list = ids.iter().map(|id| id.to_string()).collect::<Vec<_>>().join(",");
    let sql = format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE id = ANY(string_to_array($1, ',')::bigint[]) ORDER BY id");
    let rows = conn.query(&sql, &[list.into()]).map_err(DbError::from)?;
    Ok(pg::map_rows::<Product>(&rows)?)
}

fn list(conn: &Connection, page: Page) -> Result<Listing, AdminError> {
    // One row more than asked tells whether another page follows.
    let sql = format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE id > $1 ORDER BY id LIMIT $2");
    let rows = conn
        .query(&sql, &[page.after.map_or(0, ProductId::get).into(), (i64::from(page.limit) + 1).into()])
        .map_err(DbError::from)?;
    let mut items = pg::map_rows::<Product>(&rows)?;
    let next_after = if items.len() > page.limit as usize {
        items.truncate(page.limit as usize);
        items.last().map(|p| p.id)
    } else {
        None
    };
    Ok(Listing { items, next_after })
}
