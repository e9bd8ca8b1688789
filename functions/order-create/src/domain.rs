//! Order rules: what a valid order request is, how its amount is computed, what an
//! `Idempotency-Key` is, and what each state of an order answers. No Spin types.

use std::collections::BTreeSet;
use std::time::Duration;

use galley_common::problem::ProblemRow;
use galley_common::ids::ProductId;
use galley_common::inventory::{Line, Quantity};
use galley_common::money::Money;
use galley_common::order_listing::PageError;
use galley_common::orders::{CancelReason, Order, Status, MAX_LINES, MAX_UNITS_PER_LINE};
use galley_common::payments;
use serde::Deserialize;

/// Longest `Idempotency-Key`, in characters.
pub const KEY_MAX: usize = 64;

/// Body of `POST /api/v1/orders`. There is no price anywhere: the catalog decides them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderRequest {
    pub items: Vec<ItemRequest>,
    pub payment_method: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemRequest {
    pub product_id: ProductId,
    #[serde(deserialize_with = "galley_common::whole::i64")]
    pub quantity: i64,
}

/// A request whose every rule held: lines sorted by product id (the order inventory locks
/// them in), and the method one the payment service knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidOrder {
    pub lines: Vec<Line>,
    pub payment_method: String,
}

/// One answer for every way an order's content is wrong.
const INVALID_ORDER: ProblemRow = (422, "validation", "Invalid order");
/// A missing, malformed or repeated `Idempotency-Key` header.
const INVALID_KEY: ProblemRow = (400, "invalid-idempotency-key", "Invalid Idempotency-Key");

galley_common::api_errors! {
    pub enum OrderError {
        #[error("{0}")]
        Invalid(String) => INVALID_ORDER,
        #[error("the `Idempotency-Key` header is required: 1 to {KEY_MAX} printable ASCII characters naming this purchase")]
        BadKey => INVALID_KEY,
        #[error("send one `Idempotency-Key` header, not several")]
        TwoKeys => INVALID_KEY,
        #[error("this Idempotency-Key was used for a different order; use a new key for a new order")]
        KeyReused => (422, "idempotency-key-reused", "Idempotency-Key reused"),
        #[error("product {0} does not exist")]
        UnknownProduct(ProductId) => INVALID_ORDER,
        #[error("the order's total is too large")]
        TooExpensive => INVALID_ORDER,
        #[error("no such order")]
        NotFound => galley_common::problem::NOT_FOUND,
        #[error("recovery needs an admin token or the scheduler's recovery token")]
        RecoveryForbidden => galley_common::problem::FORBIDDEN,
        #[error("{0}")]
        BadListing(String) => galley_common::problem::INVALID_QUERY,
        #[error("only an admin may list another user's orders")]
        ListingForbidden => galley_common::problem::FORBIDDEN,
    }
}

impl From<PageError> for OrderError {
    fn from(error: PageError) -> Self {
        match error {
            PageError::BadQuery(detail) => OrderError::BadListing(detail),
            PageError::Forbidden => OrderError::ListingForbidden,
        }
    }
}

impl OrderRequest {
    pub fn validate(self) -> Result<ValidOrder, OrderError> {
        if self.items.is_empty() || self.items.len() > MAX_LINES {
            return Err(OrderError::Invalid(format!("an order has 1 to {MAX_LINES} items")));
        }
        let mut lines = Vec::with_capacity(self.items.len());
        for item in &self.items {
            if !(1..=MAX_UNITS_PER_LINE).contains(&item.quantity) {
                return Err(OrderError::Invalid(format!(
                    "quantity {} of product {} is not between 1 and {MAX_UNITS_PER_LINE}",
                    item.quantity, item.product_id
                )));
            }
            let quantity = Quantity::new(item.quantity).map_err(|e| OrderError::Invalid(e.to_string()))?;
            lines.push(Line { product_id: item.product_id, quantity });
        }
        lines.sort_by_key(|l| l.product_id);
        let distinct: BTreeSet<ProductId> = lines.iter().map(|l| l.product_id).collect();
        if distinct.len() != lines.len() {
            return Err(OrderError::Invalid("each product may appear in one item only; add up the quantities".into()));
        }
        if !payments::TEST_PAYMENT_METHODS.contains(&self.payment_method.as_str()) {
            return Err(OrderError::Invalid(format!(
                "payment_method `{}` is not accepted; use one of {}",
                self.payment_method.chars().take(40).collect::<String>(),
                payments::TEST_PAYMENT_METHODS.join(", ")
            )));
        }
        Ok(ValidOrder { lines, payment_method: self.payment_method })
    }
}

impl ValidOrder {
    /// What an `Idempotency-Key` stands for: the same key with another fingerprint is refused.
    pub fn fingerprint(&self) -> String {
        let lines: Vec<String> = self.lines.iter().map(|l| format!("{}x{}", l.product_id, l.quantity)).collect();
        format!("{}|{}", self.payment_method, lines.join(","))
    }

    /// Σ unit price × quantity, exactly; `prices` in the same order as the lines.
    pub fn amount(&self, prices: &[Money]) -> Result<Money, OrderError> {
        self.lines.iter().zip(prices).try_fold(Money::ZERO, |total, (line, price)| {
            price.times(line.quantity.get()).and_then(|cost| total.plus(cost)).ok_or(OrderError::TooExpensive)
        })
    }
}

/// 1 to [`KEY_MAX`] visible ASCII characters (no spaces or controls, so a key cannot hide
/// differences a human would not see).
/// Exactly one header: with two, which one names the purchase would be a guess. Two headers
/// relayed by service chaining arrive as one field of values joined by `", "` (RFC 9110
/// §5.3); a key cannot hold a space, so that form is two keys too.
pub fn parse_key<'a>(mut values: impl Iterator<Item = &'a str>) -> Result<String, OrderError> {
    let key = values.next().ok_or(OrderError::BadKey)?;
    if values.next().is_some() || key.contains(", ") {
        return Err(OrderError::TwoKeys);
    }
    let ok = (1..=KEY_MAX).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic());
    ok.then(|| key.to_owned()).ok_or(OrderError::BadKey)
}

/// How long a replay of a key waits for the saga of the order `age` old: what is left of the
/// time the first request's saga may take (`settle_wait`), nothing once that is over (that
/// request has answered 202, or died, and recovery settles the order).
pub fn replay_wait(settle_wait: Duration, age: Duration) -> Duration {
    settle_wait.saturating_sub(age)
}

/// How an order is answered, by where its saga stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 201 paid, or 202 not settled yet (the client reads the order later): the order itself.
    Order(u16),
    /// A cancelled order: a problem (402 declined, 409 out of stock or abandoned) that carries
    /// the order in an `order` member.
    Refused { status: u16, kind: &'static str, title: &'static str, detail: String },
}

pub fn answer(order: &Order) -> Answer {
    match order.status {
        Status::Paid => Answer::Order(201),
        Status::Unpaid => Answer::Order(202),
        Status::Cancelled => {
            let detail = order.cancel_detail.clone().unwrap_or_default();
            match order.cancel_reason.as_deref().and_then(CancelReason::parse) {
                Some(CancelReason::PaymentDeclined) => {
                    Answer::Refused { status: 402, kind: "payment-declined", title: "Payment declined", detail }
                }
                Some(CancelReason::InsufficientStock) => {
                    Answer::Refused { status: 409, kind: "insufficient-stock", title: "Not enough stock", detail }
                }
                _ => Answer::Refused { status: 409, kind: "order-cancelled", title: "Order cancelled", detail },
            }
        }
    }
}

/// Whether a bearer token equals the configured recovery token, in time independent of where
/// they differ. An empty configured token accepts nothing.
pub fn recovery_token_matches(configured: &str, presented: &str) -> bool {
    if configured.is_empty() || configured.len() != presented.len() {
        return false;
    }
    configured.bytes().zip(presented.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use galley_common::body::parse_json;
    use galley_common::problem::ApiError;

    fn request(body: &str) -> Result<ValidOrder, OrderError> {
        parse_json::<OrderRequest>(body.as_bytes(), 4096).map_err(OrderError::from)?.validate()
    }

    #[test]
    fn a_valid_order_is_sorted_and_fingerprinted() {
        let order = request(r#"{"items":[{"product_id":9,"quantity":1},{"product_id":3,"quantity":2}],"payment_method":"pm_card_ok"}"#).unwrap();
        assert_eq!(order.fingerprint(), "pm_card_ok|3x2,9x1");
        let same = request(r#"{"items":[{"product_id":3,"quantity":2},{"product_id":9,"quantity":1}],"payment_method":"pm_card_ok"}"#).unwrap();
        assert_eq!(order.fingerprint(), same.fingerprint(), "the order of items does not change what was asked");
    }

    #[test]
    fn bad_orders_are_422s_saying_why() {
        for (body, says) in [
            (r#"{"items":[],"payment_method":"pm_card_ok"}"#, "1 to"),
            (r#"{"items":[{"product_id":3,"quantity":0}],"payment_method":"pm_card_ok"}"#, "quantity 0"),
            (r#"{"items":[{"product_id":3,"quantity":1001}],"payment_method":"pm_card_ok"}"#, "quantity 1001"),
            (r#"{"items":[{"product_id":3,"quantity":1},{"product_id":3,"quantity":2}],"payment_method":"pm_card_ok"}"#, "one item"),
            (r#"{"items":[{"product_id":3,"quantity":1}],"payment_method":"pm_bitcoin"}"#, "pm_bitcoin"),
            (r#"{"items":[{"product_id":0,"quantity":1}],"payment_method":"pm_card_ok"}"#, "product id"),
            (r#"{"items":[{"product_id":3,"quantity":1}],"payment_method":"pm_card_ok","amount":"1.00"}"#, "amount"),
        ] {
            let err = request(body).unwrap_err();
            assert_eq!(err.status(), 422, "{body}");
            assert!(err.detail().contains(says), "{body}: {}", err.detail());
        }
    }

    #[test]
    fn the_amount_is_exact() {
        let order = request(r#"{"items":[{"product_id":1,"quantity":3},{"product_id":2,"quantity":1}],"payment_method":"pm_card_ok"}"#).unwrap();
        let prices = [Money::from_cents(1999).unwrap(), Money::from_cents(1).unwrap()];
        assert_eq!(order.amount(&prices).unwrap().to_string(), "59.98");
        let huge = [Money::from_cents(99_999_999_99).unwrap(), Money::from_cents(1).unwrap()];
        assert_eq!(order.amount(&huge).unwrap_err().status(), 422);
    }

    #[test]
    fn idempotency_keys() {
        let one = |key: Option<&str>| parse_key(key.into_iter());
        assert_eq!(one(Some("order-2026-11-26-001")).unwrap(), "order-2026-11-26-001");
        for bad in [None, Some(""), Some("has space"), Some("tab\there"), Some("ключ")] {
            assert_eq!(one(bad).unwrap_err().status(), 400, "{bad:?}");
        }
        assert!(one(Some(&"k".repeat(64))).is_ok());
        assert!(one(Some(&"k".repeat(65))).is_err());
        // Two headers are refused, even two equal ones.
        assert!(matches!(parse_key(["a", "b"].into_iter()), Err(OrderError::TwoKeys)));
        assert!(matches!(parse_key(["a", "a"].into_iter()), Err(OrderError::TwoKeys)));
        assert!(matches!(parse_key(["a, b"].into_iter()), Err(OrderError::TwoKeys)), "joined by a relay");
        assert_eq!(parse_key(["a,b"].into_iter()).unwrap(), "a,b", "a comma alone is part of a key");
    }

    #[test]
    fn a_replay_waits_only_while_the_first_saga_can_still_run() {
        let settle = Duration::from_secs(7);
        assert_eq!(replay_wait(settle, Duration::ZERO), settle);
        assert_eq!(replay_wait(settle, Duration::from_secs(5)), Duration::from_secs(2));
        assert_eq!(replay_wait(settle, Duration::from_secs(7)), Duration::ZERO);
        assert_eq!(replay_wait(settle, Duration::from_secs(3600)), Duration::ZERO, "long after: at once");
    }

    #[test]
    fn each_state_of_an_order_has_its_answer() {
        let mut order: Order = serde_json::from_value(serde_json::json!({
            "id": "7ab45f0f-9291-42eb-922d-130b806315c2", "user_id": "00000000-9291-42eb-922d-130b806315c2",
            "status": 1, "amount": "3.00", "payment_method": "pm_card_ok", "cancel_reason": null,
            "cancel_detail": null, "lines": [], "created_at": "2026-11-26T00:00:00Z"
        }))
        .unwrap();
        assert_eq!(answer(&order), Answer::Order(201));
        order.status = Status::Unpaid;
        assert_eq!(answer(&order), Answer::Order(202));
        order.status = Status::Cancelled;
        for (reason, status, kind) in [("payment_declined", 402, "payment-declined"), ("insufficient_stock", 409, "insufficient-stock"), ("abandoned", 409, "order-cancelled")] {
            order.cancel_reason = Some(reason.into());
            assert!(matches!(answer(&order), Answer::Refused { status: s, kind: k, .. } if s == status && k == kind), "{reason}");
        }
    }

    #[test]
    fn recovery_tokens_compare_whole() {
        assert!(recovery_token_matches("s3cret-token", "s3cret-token"));
        assert!(!recovery_token_matches("s3cret-token", "s3cret-tokex"));
        assert!(!recovery_token_matches("", ""), "no configured token accepts nothing");
        assert!(!recovery_token_matches("abc", "abcd"));
    }
}
