//! Read-side rules: the shape of a product as read (catalog fields plus stock), how long it
//! may be cached, and the answers for a bad or unknown id. No Spin types.

use galley_common::catalog::Product;
use serde::{Deserialize, Serialize};

/// Used when the `cache_ttl_secs` variable is not set to a number (300 s, as `spin.toml` declares).
pub const DEFAULT_TTL_SECS: u64 = 300;

/// `{id, name, price, description, stock}`: what `GET /api/v1/products/:id` answers and what
/// the cache holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductView {
    #[serde(flatten)]
    pub product: Product,
    pub stock: i64,
}

galley_common::api_errors! {
    pub enum QueryError {
        #[error("no such product")]
        NotFound => galley_common::problem::NOT_FOUND,
    }
}

/// The cache lifetime from the `cache_ttl_secs` variable: whole seconds, `0` meaning every
/// read is a miss. Anything else is a deployment mistake, refused rather than guessed at.
pub fn parse_ttl(value: &str) -> Option<u64> {
    value.trim().parse::<u64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use galley_common::ids::ProductId;
    use galley_common::money::Money;
    use galley_common::problem::ApiError;

    #[test]
    fn the_view_is_the_product_plus_its_stock() {
        let product = Product { id: ProductId::new(3).unwrap(), name: "Tea".into(), price: Money::from_cents(420).unwrap(), description: None };
        let v = serde_json::to_value(ProductView { product, stock: 7 }).unwrap();
        assert_eq!(v, serde_json::json!({"id": 3, "name": "Tea", "price": "4.20", "description": null, "stock": 7}));
    }

    #[test]
    fn ttl() {
        assert_eq!(parse_ttl("300"), Some(300));
        assert_eq!(parse_ttl(" 0 "), Some(0));
        assert_eq!(parse_ttl("-1"), None);
        assert_eq!(parse_ttl("5m"), None);
    }

    #[test]
    fn bad_ids_are_400_unknown_ones_404() {
        let err: QueryError = ProductId::parse("abc").unwrap_err().into();
        assert_eq!(err.status(), 400);
        assert_eq!(QueryError::NotFound.status(), 404);
    }
}
