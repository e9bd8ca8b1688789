//! The payments service's contract: what the private `payment` component takes and answers,
//! shared by it and every function that calls it by service chaining (next, order-create).
//!
//! Both operations are idempotent per order id and safe to repeat after a timeout:
//!
//! | call | answers |
//! |---|---|
//! | `POST` [`CHARGES_PATH`] [`ChargeRequest`] | 200 [`Charge`] `charged`; 402 [`problems::PAYMENT_DECLINED`]; 409 [`problems::CHARGE_REFUSED`] (refunded or voided first); 409 [`problems::CHARGE_CONFLICT`] (charged before with another amount or method); 422 unknown payment method, amount 0 |
//! | `POST` [`refund_path`] (no body) | 200 [`Charge`]: `refunded` (amount = what was charged), `declined` (nothing was charged, nothing refunded), `voided` (no charge yet: a tombstone, amount 0, and the late charge is refused) |
//!
//! A repeat answers what the first call decided: the same 200, or the same 402.

use serde::{Deserialize, Serialize};

use crate::client::FromProblem;
use crate::ids::OrderId;
use crate::money::Money;
use crate::problem::Problem;

/// The component id that owns the `payments` database; reached at
/// `http://payment.spin.internal/...`, never from outside.
pub const COMPONENT: &str = "payment";

/// Private: `POST` charges an order ([`ChargeRequest`] → [`Charge`]).
pub const CHARGES_PATH: &str = "/charges";

/// Private: `POST` (no body) refunds an order's charge, or voids the order if it has none yet.
pub fn refund_path(order: &OrderId) -> String {
    format!("{CHARGES_PATH}/{order}/refund")
}

/// Test payment method: the charge succeeds.
pub const PM_CARD_OK: &str = "pm_card_ok";
/// Test payment method: the charge is declined (402 [`problems::PAYMENT_DECLINED`]).
pub const PM_CARD_DECLINED: &str = "pm_card_declined";
/// Test payment method: the charge answers only after the component's `slow_payment_ms`
/// (longer than a caller's timeout), then succeeds. For timeout and compensation paths.
pub const PM_CARD_SLOW: &str = "pm_card_slow";
/// Every payment method the sandbox knows; anything else is refused with 422.
pub const TEST_PAYMENT_METHODS: [&str; 3] = [PM_CARD_OK, PM_CARD_DECLINED, PM_CARD_SLOW];

/// Body of `POST /charges`. `amount` is a decimal string (`"12.50"`) greater than zero.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChargeRequest {
    pub order_id: OrderId,
    pub amount: Money,
    pub payment_method: String,
}

/// Where an order's payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChargeState {
    /// The amount was taken.
    Charged,
    /// The payment method was declined; nothing was taken. Final.
    Declined,
    /// The charge was given back, in full. Final.
    Refunded,
    /// A refund came before any charge: a tombstone (amount 0), so a late charge is refused. Final.
    Voided,
}

impl ChargeState {
    pub const ALL: [ChargeState; 4] = [ChargeState::Charged, ChargeState::Declined, ChargeState::Refunded, ChargeState::Voided];

    pub fn as_str(self) -> &'static str {
        match self {
            ChargeState::Charged => "charged",
            ChargeState::Declined => "declined",
            ChargeState::Refunded => "refunded",
            ChargeState::Voided => "voided",
        }
    }

    pub fn parse(s: &str) -> Option<ChargeState> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// An order's payment as stored, and as both operations answer it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charge {
    pub order_id: OrderId,
    /// What the charge was for (`charged`, `refunded`: what was taken, and given back;
    /// `declined`: what was asked; `voided`: 0).
    pub amount: Money,
    pub state: ChargeState,
    /// The provider's reference of the charge (`null` when nothing was charged).
    #[serde(default)]
    pub provider_ref: Option<String>,
}

impl Charge {
    /// What the customer has paid and kept paid: the amount while `charged`, else zero.
    pub fn charged_amount(&self) -> Money {
        if self.state == ChargeState::Charged {
            self.amount
        } else {
            Money::ZERO
        }
    }

    /// What was given back: the amount once `refunded`, else zero (a declined or voided order
    /// had nothing to give back).
    pub fn refunded_amount(&self) -> Money {
        if self.state == ChargeState::Refunded {
            self.amount
        } else {
            Money::ZERO
        }
    }
}

/// The `type` slugs of the problems a charge can be refused with.
pub mod problems {
    /// 402: the payment method was declined (a repeat answers the same).
    pub const PAYMENT_DECLINED: &str = "payment-declined";
    /// 409: the order was refunded or voided before this charge; nothing is charged.
    pub const CHARGE_REFUSED: &str = "charge-refused";
    /// 409: the order was charged (or declined) before with another amount or payment method:
    /// a caller's bug, not a customer's answer, so it is not a [`super::PaymentRefusal`] and
    /// reaches a caller as a failed call.
    pub const CHARGE_CONFLICT: &str = "charge-conflict";
}

/// Why payment refused a charge: answers a caller acts on (cancel the order, say why), not
/// failures of the call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentRefusal {
    /// The payment method was declined (402); the detail says what was declined.
    #[error("payment declined: {0}")]
    Declined(String),
    /// The order's charge was refunded or voided already (409): the order is being undone.
    #[error("{0}")]
    Refused(String),
}

impl FromProblem for PaymentRefusal {
    fn from_problem(status: u16, problem: &Problem) -> Option<Self> {
        let detail = problem.detail.clone();
        match (status, problem.kind()) {
            (402, problems::PAYMENT_DECLINED) => Some(PaymentRefusal::Declined(detail)),
            (409, problems::CHARGE_REFUSED) => Some(PaymentRefusal::Refused(detail)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{CallError, ClientError};

    const ORDER: &str = "7ab45f0f-9291-42eb-922d-130b806315c2";

    fn failed(status: u16, problem: Option<Problem>) -> ClientError {
        ClientError::Status { component: COMPONENT.into(), status, problem }
    }

    #[test]
    fn a_402_payment_declined_is_a_value_the_caller_matches_on() {
        let problem = Problem::new(402, problems::PAYMENT_DECLINED, "Payment declined", "pm_card_declined was declined");
        match CallError::<PaymentRefusal>::from(failed(402, Some(problem))) {
            CallError::Refused(PaymentRefusal::Declined(detail)) => assert!(detail.contains("pm_card_declined")),
            other => panic!("expected a refusal, got {other:?}"),
        }
        let refused = Problem::new(409, problems::CHARGE_REFUSED, "Charge refused", "order was voided");
        assert!(matches!(
            CallError::<PaymentRefusal>::from(failed(409, Some(refused))),
            CallError::Refused(PaymentRefusal::Refused(_))
        ));
        // A conflict is the caller's bug, an outage is an outage: both stay failures.
        let conflict = Problem::new(409, problems::CHARGE_CONFLICT, "Charge conflict", "other amount");
        assert!(matches!(CallError::<PaymentRefusal>::from(failed(409, Some(conflict))), CallError::Failed(_)));
        assert!(matches!(CallError::<PaymentRefusal>::from(failed(503, None)), CallError::Failed(_)));
        // The slug alone is not enough: the status must match too.
        let odd = Problem::new(409, problems::PAYMENT_DECLINED, "Payment declined", "x");
        assert!(matches!(CallError::<PaymentRefusal>::from(failed(409, Some(odd))), CallError::Failed(_)));
    }

    #[test]
    fn paths() {
        let order = OrderId::parse(ORDER).unwrap();
        assert_eq!(refund_path(&order), format!("/charges/{ORDER}/refund"));
    }

    #[test]
    fn the_wire_forms() {
        let request: ChargeRequest =
            serde_json::from_str(&format!(r#"{{"order_id":"{ORDER}","amount":"12.50","payment_method":"pm_card_ok"}}"#)).unwrap();
        assert_eq!(request.amount, Money::from_cents(1250).unwrap());
        for bad in [
            format!(r#"{{"order_id":"{ORDER}","amount":"12.50","payment_method":"pm_card_ok","currency":"EUR"}}"#),
            format!(r#"{{"order_id":"{ORDER}","amount":12.5,"payment_method":"pm_card_ok"}}"#),
            format!(r#"{{"order_id":"{ORDER}","amount":"1.234","payment_method":"pm_card_ok"}}"#),
            r#"{"order_id":"1","amount":"1.00","payment_method":"pm_card_ok"}"#.to_owned(),
        ] {
            assert!(serde_json::from_str::<ChargeRequest>(&bad).is_err(), "{bad}");
        }
        let charge = Charge {
            order_id: OrderId::parse(ORDER).unwrap(),
            amount: Money::ZERO,
            state: ChargeState::Voided,
            provider_ref: None,
        };
        let json = serde_json::to_value(&charge).unwrap();
        assert_eq!(json, serde_json::json!({"order_id": ORDER, "amount": "0.00", "state": "voided", "provider_ref": null}));
        assert_eq!(serde_json::from_value::<Charge>(json).unwrap(), charge);
    }

    #[test]
    fn states_round_trip_and_amounts_follow_the_state() {
        for s in ChargeState::ALL {
            assert_eq!(ChargeState::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{}\"", s.as_str()));
        }
        assert_eq!(ChargeState::parse("pending"), None);
        let amount = Money::from_cents(500).unwrap();
        let charge = |state| Charge { order_id: OrderId::parse(ORDER).unwrap(), amount, state, provider_ref: None };
        assert_eq!(charge(ChargeState::Charged).charged_amount(), amount);
        assert_eq!(charge(ChargeState::Charged).refunded_amount(), Money::ZERO);
        assert_eq!(charge(ChargeState::Refunded).refunded_amount(), amount);
        assert_eq!(charge(ChargeState::Refunded).charged_amount(), Money::ZERO);
        assert_eq!(charge(ChargeState::Declined).refunded_amount(), Money::ZERO);
        assert_eq!(charge(ChargeState::Declined).charged_amount(), Money::ZERO);
    }
}
