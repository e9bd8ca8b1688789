//! The catalog service's contract: products as the catalog stores them and as every function
//! that handles one sees them (product-admin writes them, product-query caches them,
//! inventory-adjust invalidates them, order-create prices orders with them).

use serde::{Deserialize, Serialize};

use crate::ids::ProductId;
use crate::money::Money;

/// The component that owns the `catalog` database's write side.
pub const ADMIN_COMPONENT: &str = "product-admin";
/// The component that answers a product with its stock (the read side), also to other
/// functions: `GET http://product-query.spin.internal/api/v1/products/<id>`.
pub const QUERY_COMPONENT: &str = "product-query";
/// The public collection route; items are `<COLLECTION>/<id>`.
pub const COLLECTION: &str = "/api/v1/products";

/// The path of one product, public or chained.
pub fn item_path(id: ProductId) -> String {
    format!("{COLLECTION}/{id}")
}

/// The id segment of an item path, whether the request came through the router (which also
/// matched it as `:id`) or by service chaining (which matches no route parameters).
pub fn item_segment(path: &str) -> &str {
    crate::ids::item_segment(COLLECTION, path)
}

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
    fn item_paths_round_trip() {
        let id = ProductId::new(42).unwrap();
        assert_eq!(item_segment(&item_path(id)), "42");
        assert_eq!(item_segment("/api/v1/products"), "");
        assert_eq!(item_segment("/api/v1/productsx/1"), "");
    }

    #[test]
    fn cache_keys_name_the_product() {
        assert_eq!(cache_key(ProductId::new(7).unwrap()), "product:7");
    }
}
