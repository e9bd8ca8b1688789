//! The contract of inventory-adjust's private routes, shared by it and the functions that
//! call it by service chaining (product-admin, product-query, inventory-restock).

use serde::{Deserialize, Serialize};

/// The component id that owns the `inventory` database; reached at
/// `http://inventory-adjust.spin.internal/...`, never from outside.
pub const COMPONENT: &str = "inventory-adjust";

/// Private: `POST` creates a product's stock row (zero on hand) if it has none.
pub const STOCK_PATH: &str = "/stock";

/// Private: `GET` reads a product's stock; `PUT` sets (`{"on_hand": n}`) or adjusts (`{"delta": n}`) it.
pub fn stock_path(product_id: i64) -> String {
    format!("{STOCK_PATH}/{product_id}")
}

/// A product's stock: how many can still be reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLevel {
    pub product_id: i64,
    pub on_hand: i64,
}

/// Body of `POST /stock`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewStock {
    pub product_id: i64,
}
