//! Ids that cross a boundary (a path, a body, another service's answer), parsed once.
//!
//! Each id type has one constructor that checks it, so a function holding a [`ProductId`] holds
//! a valid one, and every id has exactly one spelling: product ids are plain decimal digits
//! without a leading zero; user and order ids are UUIDs held in lower case, so two spellings of
//! the same id compare equal. A bad id of any kind is one [`BadId`], a 400 `invalid-id`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The id segment of an item path `<collection>/<id>`, whether the request came through the
/// router (which also matched it as `:id`) or by service chaining (which matches no route
/// parameters); empty for the collection itself or any other path.
pub fn item_segment<'a>(collection: &str, path: &'a str) -> &'a str {
    path.strip_prefix(collection).and_then(|rest| rest.strip_prefix('/')).unwrap_or("")
}

/// What kind of id a text failed to be, for the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Product,
    User,
    Order,
    File,
}

impl IdKind {
    fn rule(self) -> &'static str {
        match self {
            IdKind::Product => "product ids are positive whole numbers written without leading zeros",
            IdKind::User | IdKind::Order | IdKind::File => "ids are UUIDs such as 7ab45f0f-9291-42eb-922d-130b806315c2",
        }
    }

    fn name(self) -> &'static str {
        match self {
            IdKind::Product => "product",
            IdKind::User => "user",
            IdKind::Order => "order",
            IdKind::File => "file",
        }
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("`{text}` is not a {} id: {}", .kind.name(), .kind.rule())]
pub struct BadId {
    pub kind: IdKind,
    /// The offending text, cut short: it is echoed back to the client.
    pub text: String,
}

impl BadId {
    fn new(kind: IdKind, text: &str) -> BadId {
        BadId { kind, text: text.chars().take(40).collect() }
    }
}

impl crate::problem::ApiError for BadId {
    fn problem_row(&self) -> crate::problem::ProblemRow {
        (400, "invalid-id", "Invalid id")
    }
}

/// A product's id: the catalog's `bigint` identity, always positive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProductId(i64);

impl ProductId {
    /// From a path segment or query value: decimal digits, no sign, no spaces, no leading zero,
    /// so `/products/+1`, `/products/1e3` and `/products/01` are refused, not reinterpreted.
    pub fn parse(text: &str) -> Result<ProductId, BadId> {
        let canonical = !text.is_empty() && !text.starts_with('0') && text.bytes().all(|b| b.is_ascii_digit());
        match text.parse::<i64>() {
            Ok(id) if canonical => Ok(ProductId(id)),
            _ => Err(BadId::new(IdKind::Product, text)),
        }
    }

    /// From a number (a JSON body, a database row).
    pub fn new(id: i64) -> Result<ProductId, BadId> {
        if id > 0 {
            Ok(ProductId(id))
        } else {
            Err(BadId::new(IdKind::Product, &id.to_string()))
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl std::fmt::Display for ProductId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for ProductId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(self.0)
    }
}

impl<'de> Deserialize<'de> for ProductId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        ProductId::new(crate::whole::i64(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// `8-4-4-4-12` hex digits in either letter case, lower-cased; nothing else (no braces, no
/// `urn:`, no bare 32 digits), so each UUID has one accepted spelling besides its case.
fn canonical_uuid(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let well_formed = b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        });
    well_formed.then(|| text.to_ascii_lowercase())
}

/// Declares a UUID id type: parsed by [`canonical_uuid`], shown and serialised lower-case.
macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $kind:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn parse(text: &str) -> Result<$name, BadId> {
                canonical_uuid(text).map($name).ok_or_else(|| BadId::new($kind, text))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $name::parse(&String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
            }
        }
    };
}

uuid_id!(
    /// A user's id (the `users` table's uuid).
    UserId,
    IdKind::User
);
uuid_id!(
    /// An order's id (the `orders` table's uuid); other services key their records by it.
    OrderId,
    IdKind::Order
);
uuid_id!(
    /// An uploaded file's id (the `files` table's uuid; its stored name is `<id>.<ext>`).
    FileId,
    IdKind::File
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::ApiError;

    #[test]
    fn product_ids_have_one_spelling() {
        assert_eq!(ProductId::parse("42").map(ProductId::get), Ok(42));
        for bad in ["", "0", "01", "007", "-1", "+1", "1e3", "abc", " 1", "99999999999999999999", "1.0"] {
            assert!(ProductId::parse(bad).is_err(), "{bad}");
        }
        assert!(ProductId::new(0).is_err());
        assert_eq!(serde_json::from_str::<ProductId>("7").unwrap().get(), 7);
        assert!(serde_json::from_str::<ProductId>("-7").is_err());
        assert_eq!(serde_json::to_string(&ProductId::new(7).unwrap()).unwrap(), "7");
    }

    #[test]
    fn uuid_ids_are_canonical() {
        let lower = UserId::parse("7ab45f0f-9291-42eb-922d-130b806315c2").unwrap();
        assert_eq!(UserId::parse("7AB45F0F-9291-42EB-922D-130B806315C2").unwrap(), lower);
        assert_eq!(lower.as_str(), "7ab45f0f-9291-42eb-922d-130b806315c2");
        for bad in ["", "1", "7ab45f0f929142eb922d130b806315c2", "{7ab45f0f-9291-42eb-922d-130b806315c2}", "7ab45f0f-9291-42eb-922d-130b806315cz", "7ab45f0f-9291-42eb-922d-130b806315c2x"] {
            assert!(UserId::parse(bad).is_err(), "{bad}");
            assert!(OrderId::parse(bad).is_err(), "{bad}");
            assert!(FileId::parse(bad).is_err(), "{bad}");
        }
        let order: OrderId = serde_json::from_str("\"7AB45F0F-9291-42EB-922D-130B806315C2\"").unwrap();
        assert_eq!(serde_json::to_string(&order).unwrap(), "\"7ab45f0f-9291-42eb-922d-130b806315c2\"");
    }

    #[test]
    fn every_bad_id_is_the_same_400_naming_its_kind() {
        let product = ProductId::parse("x").unwrap_err();
        let order = OrderId::parse("x").unwrap_err();
        assert_eq!((product.status(), product.kind()), (400, "invalid-id"));
        assert_eq!((order.status(), order.kind()), (400, "invalid-id"));
        assert!(product.to_string().contains("product id"));
        assert!(order.to_string().contains("order id"));
        assert!(FileId::parse("x").unwrap_err().to_string().contains("file id"));
        assert!(ProductId::parse(&"9".repeat(100)).unwrap_err().text.len() <= 40, "echoed text is cut short");
    }
}
