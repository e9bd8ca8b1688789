//! Products as the catalog stores them and as every function that handles one sees them:
//! product-admin writes them, product-query caches them, inventory-adjust invalidates them.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A product row. The price travels as a decimal string (`"12.50"`), never a float.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub id: i64,
    pub name: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub price: Decimal,
    pub description: Option<String>,
}

/// The `SELECT`/`RETURNING` list that yields a [`Product`].
pub const PRODUCT_COLUMNS: &str = "id, name, price, description";

/// The label of the key-value store that holds the read side (defined in runtime-config.toml).
pub const CACHE_STORE: &str = "cache";

/// The key-value key of a product's cached read model. Every write to the product or its
/// stock deletes this key; product-query fills it.
pub fn cache_key(product_id: i64) -> String {
    format!("product:{product_id}")
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not a product id: ids are positive whole numbers written without leading zeros")]
pub struct BadProductId(pub String);

/// A product id from a path segment: a positive integer in plain decimal digits
/// (no sign, no spaces, no leading zero), so `/products/+1`, `/products/1e3` or
/// `/products/01` are refused, not reinterpreted: every product has exactly one URL.
pub fn parse_product_id(segment: &str) -> Result<i64, BadProductId> {
    let bad = || BadProductId(segment.chars().take(40).collect());
    if segment.is_empty() || segment.starts_with('0') || !segment.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match segment.parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_ids_are_positive_decimal_integers() {
        assert_eq!(parse_product_id("42"), Ok(42));
        for bad in ["", "0", "01", "007", "-1", "+1", "1e3", "abc", " 1", "99999999999999999999", "1.0"] {
            assert!(parse_product_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn price_is_a_string_on_the_wire() {
        let p = Product { id: 1, name: "Tea".into(), price: Decimal::new(1250, 2), description: None };
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["price"], "12.50");
        assert_eq!(serde_json::from_value::<Product>(v).unwrap(), p);
    }

    #[test]
    fn cache_keys_name_the_product() {
        assert_eq!(cache_key(7), "product:7");
    }
}
