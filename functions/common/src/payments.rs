//! The payment service's contract (PLACEHOLDER in the orders branch: replaced by the payment
//! component's own when the branches meet).

use serde::{Deserialize, Serialize};

use crate::client::FromProblem;
use crate::ids::OrderId;
use crate::money::Money;
use crate::problem::Problem;

pub const COMPONENT: &str = "payment";
pub const CHARGES_PATH: &str = "/charges";

pub fn refund_path(order: &OrderId) -> String {
    format!("{CHARGES_PATH}/{order}/refund")
}

pub const PM_CARD_OK: &str = "pm_card_ok";
pub const PM_CARD_DECLINED: &str = "pm_card_declined";
pub const PM_CARD_SLOW: &str = "pm_card_slow";
/// Every method the sandbox provider accepts.
pub const TEST_METHODS: [&str; 3] = [PM_CARD_OK, PM_CARD_DECLINED, PM_CARD_SLOW];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChargeRequest {
    pub order_id: OrderId,
    pub amount: Money,
    pub payment_method: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChargeState {
    Charged,
    Declined,
    Refunded,
    Voided,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Charge {
    pub order_id: OrderId,
    pub amount: Money,
    pub state: ChargeState,
    pub provider_ref: Option<String>,
}

pub mod problems {
    pub const PAYMENT_DECLINED: &str = "payment-declined";
    pub const CHARGE_REFUSED: &str = "charge-refused";
    pub const CHARGE_CONFLICT: &str = "charge-conflict";
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentRefusal {
    #[error("the payment was declined: {0}")]
    Declined(String),
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Conflict(String),
}

impl FromProblem for PaymentRefusal {
    fn from_problem(status: u16, problem: &Problem) -> Option<Self> {
        let detail = problem.detail.clone();
        match (status, problem.kind()) {
            (402, problems::PAYMENT_DECLINED) => Some(PaymentRefusal::Declined(detail)),
            (409, problems::CHARGE_REFUSED) => Some(PaymentRefusal::Refused(detail)),
            (409, problems::CHARGE_CONFLICT) => Some(PaymentRefusal::Conflict(detail)),
            _ => None,
        }
    }
}
