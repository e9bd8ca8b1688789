//! The inventory service's contract: what inventory-adjust's private routes take and answer,
//! shared by it and every function that calls it by service chaining (product-admin,
//! product-query, inventory-restock, order-create, and the gateway for batches of stock).

use serde::{Deserialize, Deserializer, Serialize};

use crate::client::FromProblem;
use crate::ids::{OrderId, ProductId};
use crate::problem::Problem;

/// The component id that owns the `inventory` database; reached at
/// `http://inventory-adjust.spin.internal/...`, never from outside.
pub const COMPONENT: &str = "inventory-adjust";

/// Public (inventory-restock): `PUT <PUBLIC_COLLECTION>/<product id>` sets or adjusts a stock.
pub const PUBLIC_COLLECTION: &str = "/api/v1/inventory";

/// Private: `POST` creates a product's stock row (zero on hand) if it has none.
pub const STOCK_PATH: &str = "/stock";
/// Private: `POST` reserves an order's lines ([`ReserveRequest`] → [`Reservation`]).
pub const RESERVATIONS_PATH: &str = "/reservations";

/// Private: `GET` reads a product's stock; `PUT` sets (`{"on_hand": n}`) or adjusts (`{"delta": n}`) it.
pub fn stock_path(product_id: ProductId) -> String {
    format!("{STOCK_PATH}/{product_id}")
}

/// Private: `POST` releases (`release`) or makes final (`commit`) an order's reservation.
pub fn settle_path(order: &OrderId, action: Settlement) -> String {
    format!("{RESERVATIONS_PATH}/{order}/{}", action.as_str())
}

/// How a reservation ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    Release,
    Commit,
}

impl Settlement {
    pub fn as_str(self) -> &'static str {
        match self {
            Settlement::Release => "release",
            Settlement::Commit => "commit",
        }
    }
}

/// Private: `GET` of [`STOCK_PATH`] with `?ids=3,1,7` reads the stock of several products at
/// once ([`StockLevels`]).
pub fn stocks_path(ids: &[ProductId]) -> String {
    let list = ids.iter().map(ProductId::to_string).collect::<Vec<_>>().join(",");
    format!("{STOCK_PATH}?ids={list}")
}

/// The answer of a batch stock read: the products that have a stock row, by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLevels {
    pub items: Vec<StockLevel>,
}

/// A product's stock: how many can still be reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLevel {
    pub product_id: ProductId,
    pub on_hand: i64,
}

/// Body of `POST /stock`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewStock {
    pub product_id: ProductId,
}

/// Most units of one product one line may ask for.
pub const MAX_QUANTITY: i64 = 1_000_000;

/// How many units of a product a line asks for: 1 to [`MAX_QUANTITY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Quantity(i64);

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("quantity {0} is not between 1 and {MAX_QUANTITY}")]
pub struct BadQuantity(pub i64);

impl Quantity {
    pub fn new(n: i64) -> Result<Quantity, BadQuantity> {
        if (1..=MAX_QUANTITY).contains(&n) {
            Ok(Quantity(n))
        } else {
            Err(BadQuantity(n))
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl std::fmt::Display for Quantity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Quantity::new(crate::whole::i64(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// One line of a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    pub product_id: ProductId,
    pub quantity: Quantity,
}

/// Body of `POST /reservations`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReserveRequest {
    pub order_id: OrderId,
    pub lines: Vec<Line>,
}

/// Where an order's reservation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Reserved,
    Rejected,
    Released,
    Committed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Reserved => "reserved",
            State::Rejected => "rejected",
            State::Released => "released",
            State::Committed => "committed",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        [State::Reserved, State::Rejected, State::Released, State::Committed].into_iter().find(|st| st.as_str() == s)
    }
}

/// An order's reservation as stored, and as every reservation route answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub order_id: OrderId,
    pub state: State,
    pub lines: Vec<Line>,
    /// Why it was rejected.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detail: Option<String>,
}

/// The `type` slugs of the problems a reservation can be refused with (409s).
pub mod problems {
    pub const INSUFFICIENT_STOCK: &str = "insufficient-stock";
    pub const RESERVATION_CONFLICT: &str = "reservation-conflict";
    pub const RESERVATION_CLOSED: &str = "reservation-closed";
}

/// Why inventory refused a reservation, release or commit: answers a caller acts on (cancel
/// the order, say why), not failures of the call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StockRefusal {
    /// Some line cannot be had; the detail names each short line.
    #[error("not enough stock: {0}")]
    InsufficientStock(String),
    /// The order was reserved before with other lines.
    #[error("{0}")]
    Conflict(String),
    /// The reservation was released (or committed) already and cannot change any more.
    #[error("{0}")]
    Closed(String),
}

impl FromProblem for StockRefusal {
    fn from_problem(status: u16, problem: &Problem) -> Option<Self> {
        let detail = problem.detail.clone();
        match (status, problem.kind()) {
            (409, problems::INSUFFICIENT_STOCK) => Some(StockRefusal::InsufficientStock(detail)),
            (409, problems::RESERVATION_CONFLICT) => Some(StockRefusal::Conflict(detail)),
            (409, problems::RESERVATION_CLOSED) => Some(StockRefusal::Closed(detail)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{CallError, ClientError};

    #[test]
    fn a_409_insufficient_stock_is_a_value_the_caller_matches_on() {
        let problem = Problem::new(409, problems::INSUFFICIENT_STOCK, "Not enough stock", "product 3 has 2 on hand, 5 requested");
        let failed = ClientError::Status { component: COMPONENT.into(), status: 409, problem: Some(problem) };
        match CallError::<StockRefusal>::from(failed) {
            CallError::Refused(StockRefusal::InsufficientStock(detail)) => assert!(detail.contains("product 3")),
            other => panic!("expected a refusal, got {other:?}"),
        }
        let outage = ClientError::Status { component: COMPONENT.into(), status: 503, problem: None };
        assert!(matches!(CallError::<StockRefusal>::from(outage), CallError::Failed(_)));
    }

    #[test]
    fn lines_are_checked_as_they_are_read() {
        let line: Line = serde_json::from_str(r#"{"product_id": 3, "quantity": 2}"#).unwrap();
        assert_eq!((line.product_id.get(), line.quantity.get()), (3, 2));
        for bad in [r#"{"product_id": 0, "quantity": 2}"#, r#"{"product_id": 3, "quantity": 0}"#, r#"{"product_id": 3, "quantity": 1000001}"#] {
            assert!(serde_json::from_str::<Line>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn paths() {
        let order = OrderId::parse("7ab45f0f-9291-42eb-922d-130b806315c2").unwrap();
        assert_eq!(stock_path(ProductId::new(5).unwrap()), "/stock/5");
        assert_eq!(settle_path(&order, Settlement::Commit), "/reservations/7ab45f0f-9291-42eb-922d-130b806315c2/commit");
    }

    #[test]
    fn states_round_trip() {
        for s in [State::Reserved, State::Rejected, State::Released, State::Committed] {
            assert_eq!(State::parse(s.as_str()), Some(s));
        }
        assert_eq!(State::parse("pending"), None);
    }
}
