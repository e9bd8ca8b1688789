//! The orders service's contract: an order as every function shows it (order-create answers
//! it, order-query reads it, the gateway will aggregate it), its statuses, and the event it
//! publishes when it is paid.

use serde::{Deserialize, Serialize};

use crate::ids::{OrderId, ProductId, UserId};
use crate::inventory::Quantity;
use crate::money::Money;

/// The public collection route.
pub const COLLECTION: &str = "/api/v1/orders";
/// The public recovery route, for schedulers.
pub const RECOVER_PATH: &str = "/api/v1/admin/sagas/recover";
/// The unsettled sagas as Prometheus gauges (order-create), for scrapers.
pub const SAGA_METRICS_PATH: &str = "/api/v1/admin/sagas/metrics";
/// The Redis channel order events are published on.
pub const EVENTS_CHANNEL: &str = "order_events";

/// Most lines one order may have, and most units of one product per order.
pub const MAX_LINES: usize = 100;
pub const MAX_UNITS_PER_LINE: i64 = 1000;

/// The seed system's status codes, kept as they were.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum Status {
    Unpaid = 0,
    Paid = 1,
    Cancelled = 2,
}

impl From<Status> for u8 {
    fn from(status: Status) -> u8 {
        status as u8
    }
}

impl TryFrom<u8> for Status {
    type Error = String;

    fn try_from(code: u8) -> Result<Status, String> {
        match code {
            0 => Ok(Status::Unpaid),
            1 => Ok(Status::Paid),
            2 => Ok(Status::Cancelled),
            other => Err(format!("{other} is not an order status (0 unpaid, 1 paid, 2 cancelled)")),
        }
    }
}

/// One line of an order, priced when the order was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub product_id: ProductId,
    pub quantity: Quantity,
    pub unit_price: Money,
}

/// An order as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: OrderId,
    pub user_id: UserId,
    /// 0 unpaid (the saga is still running, or will be settled by recovery), 1 paid, 2 cancelled.
    pub status: Status,
    pub amount: Money,
    pub payment_method: String,
    /// Why it was cancelled, machine-readable (see [`CancelReason`]); null otherwise.
    pub cancel_reason: Option<String>,
    /// The same for a human: which lines were short, what the payment provider said.
    pub cancel_detail: Option<String>,
    pub lines: Vec<OrderLine>,
    /// UTC, RFC 3339.
    pub created_at: String,
}

/// Why a saga cancelled its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// Inventory refused the reservation: some line was short (or unknown to inventory).
    InsufficientStock,
    /// The payment provider declined the charge.
    PaymentDeclined,
    /// A step did not complete in time and recovery undid what had been done.
    Abandoned,
}

impl CancelReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CancelReason::InsufficientStock => "insufficient_stock",
            CancelReason::PaymentDeclined => "payment_declined",
            CancelReason::Abandoned => "abandoned",
        }
    }

    pub fn parse(code: &str) -> Option<CancelReason> {
        [CancelReason::InsufficientStock, CancelReason::PaymentDeclined, CancelReason::Abandoned]
            .into_iter()
            .find(|r| r.as_str() == code)
    }
}

/// The event an order's payment publishes on [`EVENTS_CHANNEL`] (through the outbox).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderEvent {
    /// Unique per event: consumers deduplicate on it (an event may be delivered twice).
    pub event_id: String,
    /// `order.paid`.
    #[serde(rename = "type")]
    pub event_type: String,
    pub order_id: OrderId,
    pub user_id: UserId,
    pub amount: Money,
    /// UTC, RFC 3339.
    pub occurred_at: String,
    /// The W3C trace context of the request that paid the order: Redis pub/sub has no headers,
    /// so the event carries it, and the subscriber's work joins the order's trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

pub const ORDER_PAID: &str = "order.paid";

/// How long order-events' confirmation of an event stays in Redis: far longer than recovery
/// takes to read it (every minute in production), short enough to clean itself up.
pub const DELIVERED_TTL_SECS: u64 = 7 * 24 * 3600;

/// The Redis key with which order-events confirms it recorded event `event_id`. Pub/sub says
/// only that a subscriber received a message, not that it survived to record it: order-create's
/// recovery publishes again every event whose confirmation never came.
pub fn delivered_key(event_id: &str) -> String {
    format!("{EVENTS_CHANNEL}:delivered:{event_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_keep_the_seed_codes_on_the_wire() {
        assert_eq!(serde_json::to_string(&Status::Paid).unwrap(), "1");
        assert_eq!(serde_json::from_str::<Status>("2").unwrap(), Status::Cancelled);
        assert!(serde_json::from_str::<Status>("3").is_err());
    }

    #[test]
    fn cancel_reasons_round_trip() {
        for reason in [CancelReason::InsufficientStock, CancelReason::PaymentDeclined, CancelReason::Abandoned] {
            assert_eq!(CancelReason::parse(reason.as_str()), Some(reason));
        }
    }
}
