//! The catalog service's contract: products as the catalog stores them and as every function
//! that handles one sees them (product-admin writes them, product-query caches them,
//! inventory-adjust invalidates them, order-create prices orders with them).

use serde::{Deserialize, Serialize};

use crate::ids::ProductId;
use crate::money::Money;

/// The component that owns the `catalog` database's write side.
pub const ADMIN_COMPONENT: &str = "product-admin";

/// A product row. The price travels as a decimal string (`"12.50"`), never a float.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub id: ProductId,
    pub name: String,
    pub price: Money,
    pub description: Option<String>,
}

/// The `SELECT`/`RETURNING` list that yields a [`Product`].
pub const PRODUCT_COLUMNS: &str = "id, name, price, description";

/// The label of the key-value store that holds the read side (defined in runtime-config.toml).
pub const CACHE_STORE: &str = "cache";

/// The key-value key of a product's cached read model. Every write to the product or its
/// stock deletes this key; product-query fills it.
pub fn cache_key(product_id: ProductId) -> String {
    format!("product:{product_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_is_a_string_on_the_wire() {
        let p = Product { id: ProductId::new(1).unwrap(), name: "Tea".into(), price: Money::from_cents(1250).unwrap(), description: None };
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["price"], "12.50");
        assert_eq!(serde_json::from_value::<Product>(v).unwrap(), p);
    }

    #[test]
    fn cache_keys_name_the_product() {
        assert_eq!(cache_key(ProductId::new(7).unwrap()), "product:7");
    }
}
