//! Payment rules: which private operation a request is, what a charge must hold, what the
//! sandbox provider answers, and what a charge or a refund answers given the order's stored
//! payment. No Spin types: unit-tested natively.

use std::time::Duration;

use galley_common::db::DbError;
use galley_common::error::{CommonError, ConfigError, MethodNotAllowed};
use galley_common::ids::OrderId;
use galley_common::method::{allow_list, Method};
use galley_common::money::Money;
use galley_common::payments::{
    problems, Charge, ChargeRequest, ChargeState, CHARGES_PATH, PM_CARD_DECLINED, PM_CARD_OK, PM_CARD_SLOW,
    TEST_PAYMENT_METHODS,
};

/// The private operations, by path, then method (the whole path: chaining matches `/...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `POST /charges` [`ChargeRequest`]
    Charge,
    /// `POST /charges/:order_id/refund`
    Refund(OrderId),
}

galley_common::api_errors! {
    pub enum PaymentError {
        #[error("no payment operation at {method} {path}")]
        NoSuchOperation { method: String, path: String } => galley_common::problem::NOT_FOUND,
        #[error("{0}")]
        Invalid(String) => (422, "validation", "Invalid request"),
        /// The detail is built from the stored charge, so a repeat says exactly the same.
        #[error("{0}")]
        Declined(String) => (402, problems::PAYMENT_DECLINED, "Payment declined"),
        #[error("order {order}'s payment was {state} before this charge arrived; nothing was charged")]
        Refused { order: OrderId, state: &'static str } => (409, problems::CHARGE_REFUSED, "Charge refused"),
        #[error("order {order} was charged before with {stored}; this charge asks for {asked}")]
        Conflict { order: OrderId, stored: String, asked: String } => (409, problems::CHARGE_CONFLICT, "Charge conflict"),
    }
}

impl Op {
    /// A known path with another method is a 405; a known path with a bad order id a 400;
    /// anything else a 404.
    pub fn route(method: &Method, path: &str) -> Result<Op, PaymentError> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let charges = CHARGES_PATH.trim_start_matches('/');
        let op = match segments.as_slice() {
            [c] if *c == charges => Op::Charge,
            [c, order, "refund"] if *c == charges => {
                only_post(method)?;
                return Ok(Op::Refund(OrderId::parse(order).map_err(CommonError::from)?));
            }
            _ => return Err(PaymentError::NoSuchOperation { method: method.to_string(), path: path.into() }),
        };
        only_post(method)?;
        Ok(op)
    }
}

fn only_post(method: &Method) -> Result<(), PaymentError> {
    if *method == Method::Post {
        Ok(())
    } else {
        let refused = MethodNotAllowed { method: method.to_string(), allowed: allow_list(&[Method::Post]) };
        Err(CommonError::from(refused).into())
    }
}

/// The sandbox's test cards (see [`galley_common::payments`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestCard {
    /// Succeeds.
    Ok,
    /// Declined.
    Declined,
    /// Succeeds after `slow_payment_ms`.
    Slow,
}

impl TestCard {
    pub fn parse(method: &str) -> Option<TestCard> {
        match method {
            PM_CARD_OK => Some(TestCard::Ok),
            PM_CARD_DECLINED => Some(TestCard::Declined),
            PM_CARD_SLOW => Some(TestCard::Slow),
            _ => None,
        }
    }
}

/// A charge request that passed every check: what the provider is asked, and what a repeat is
/// compared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeTerms {
    pub order_id: OrderId,
    pub amount: Money,
    pub method: String,
    pub card: TestCard,
}

/// Checks a charge before anything is written: a known payment method, an amount above zero.
/// (The order id and the amount's form were checked as the body was read.)
pub fn validate_charge(request: ChargeRequest) -> Result<ChargeTerms, PaymentError> {
    let ChargeRequest { order_id, amount, payment_method } = request;
    let Some(card) = TestCard::parse(&payment_method) else {
        let shown: String = payment_method.chars().take(40).collect();
        return Err(PaymentError::Invalid(format!(
            "payment_method `{shown}` is unknown; the sandbox takes {}",
            TEST_PAYMENT_METHODS.join(", ")
        )));
    };
    if amount.is_zero() {
        return Err(PaymentError::Invalid("amount must be greater than 0.00".into()));
    }
    Ok(ChargeTerms { order_id, amount, method: payment_method, card })
}

/// Longest `slow_payment_ms` accepted: below the host's per-request deadline (60 s).
pub const MAX_SLOW_MS: u64 = 30_000;

/// The `slow_payment_ms` variable: whole milliseconds up to [`MAX_SLOW_MS`]; anything else is
/// a misconfiguration (500), never silently a fast card.
pub fn slow_delay(text: &str) -> Result<Duration, ConfigError> {
    match text.trim().parse::<u64>() {
        Ok(ms) if ms <= MAX_SLOW_MS => Ok(Duration::from_millis(ms)),
        _ => Err(ConfigError(format!("variable `slow_payment_ms` is `{text}`, not milliseconds from 0 to {MAX_SLOW_MS}"))),
    }
}

/// How long the sandbox takes to answer for `card`, given the configured slow delay.
pub fn provider_delay(card: TestCard, slow: Duration) -> Option<Duration> {
    (card == TestCard::Slow).then_some(slow)
}

/// What the sandbox provider answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderAnswer {
    Charged { provider_ref: String },
    Declined,
}

/// The sandbox's answer for a charge: declined for [`PM_CARD_DECLINED`], charged otherwise.
pub fn sandbox_answer(terms: &ChargeTerms) -> ProviderAnswer {
    match terms.card {
        TestCard::Declined => ProviderAnswer::Declined,
        TestCard::Ok | TestCard::Slow => ProviderAnswer::Charged { provider_ref: provider_ref(&terms.order_id) },
    }
}

/// The sandbox's reference for an order's charge: derived from the order id alone, so it is
/// also the idempotency key a real provider would be given (a charge attempted again after
/// an interruption is the same charge at the provider, not a second one).
pub fn provider_ref(order: &OrderId) -> String {
    format!("sandbox_{}", order.as_str().replace('-', ""))
}

/// An order's row in `payments`: a [`ChargeState`], or the `pending` claim of a charge in
/// progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowState {
    /// A charge claimed the order and waits for the provider, inside its transaction (never
    /// committed by a well-behaved host; committed only if one abandoned the transaction).
    Pending,
    Settled(ChargeState),
}

impl RowState {
    pub fn as_str(self) -> &'static str {
        match self {
            RowState::Pending => "pending",
            RowState::Settled(state) => state.as_str(),
        }
    }

    pub fn parse(s: &str) -> Option<RowState> {
        if s == "pending" {
            Some(RowState::Pending)
        } else {
            ChargeState::parse(s).map(RowState::Settled)
        }
    }
}

/// An order's stored payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRow {
    pub order_id: OrderId,
    pub amount: Money,
    /// `None` only for a tombstone.
    pub method: Option<String>,
    pub state: RowState,
    pub provider_ref: Option<String>,
}

impl PaymentRow {
    /// The row as both operations answer it; a `pending` row is never answered (the
    /// operations settle it first), so meeting one here is a bug.
    pub fn answer(&self) -> Result<Charge, PaymentError> {
        let RowState::Settled(state) = self.state else {
            let bug = DbError::Decode { column: "state".into(), reason: format!("order {} answered while pending", self.order_id) };
            return Err(CommonError::from(bug).into());
        };
        Ok(Charge { order_id: self.order_id.clone(), amount: self.amount, state, provider_ref: self.provider_ref.clone() })
    }

    fn same_terms(&self, terms: &ChargeTerms) -> bool {
        self.amount == terms.amount && self.method.as_deref() == Some(terms.method.as_str())
    }
}

/// After a charge found the order claimed already: whether it must ask the provider itself.
/// Only for a `pending` row (a claim some host abandoned) with the same terms; the provider
/// reference is the order's, so asking again is the same charge, not a second one.
pub fn must_attempt(stored: &PaymentRow, terms: &ChargeTerms) -> bool {
    stored.state == RowState::Pending && stored.same_terms(terms)
}

/// What a charge answers given the order's stored payment, new or not, so a repeat gets the
/// first outcome: the same 200, the same 402; a closed order is refused whatever is asked.
pub fn charge_answer(stored: &PaymentRow, terms: &ChargeTerms) -> Result<Charge, PaymentError> {
    match stored.state {
        RowState::Settled(state @ (ChargeState::Refunded | ChargeState::Voided)) => {
            Err(PaymentError::Refused { order: stored.order_id.clone(), state: state.as_str() })
        }
        _ if !stored.same_terms(terms) => Err(PaymentError::Conflict {
            order: stored.order_id.clone(),
            stored: describe(stored.amount, stored.method.as_deref().unwrap_or("no payment method")),
            asked: describe(terms.amount, &terms.method),
        }),
        RowState::Settled(ChargeState::Declined) => Err(PaymentError::Declined(format!(
            "payment method {} declined the charge of {} for order {}",
            terms.method, stored.amount, stored.order_id
        ))),
        RowState::Settled(ChargeState::Charged) | RowState::Pending => stored.answer(),
    }
}

fn describe(amount: Money, method: &str) -> String {
    format!("{amount} by {method}")
}

/// What a refund does to the order's stored payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundStep {
    /// `charged` → `refunded`: give back the whole amount, once.
    Refund,
    /// `pending` (an abandoned claim) → `voided`: the charge never completed; nothing to give
    /// back, and a later charge is refused.
    Void,
    /// Answer as stored: `refunded` and `voided` (a repeat), `declined` (nothing was charged,
    /// so nothing is refunded; the state stays `declined`).
    Keep,
}

pub fn refund_step(stored: &PaymentRow) -> RefundStep {
    match stored.state {
        RowState::Settled(ChargeState::Charged) => RefundStep::Refund,
        RowState::Pending => RefundStep::Void,
        RowState::Settled(ChargeState::Declined | ChargeState::Refunded | ChargeState::Voided) => RefundStep::Keep,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use galley_common::payments::refund_path;
    use galley_common::problem::ApiError;

    const ORDER: &str = "7ab45f0f-9291-42eb-922d-130b806315c2";

    fn order() -> OrderId {
        OrderId::parse(ORDER).unwrap()
    }

    fn cents(n: i64) -> Money {
        Money::from_cents(n).unwrap()
    }

    fn request(amount: Money, method: &str) -> ChargeRequest {
        ChargeRequest { order_id: order(), amount, payment_method: method.into() }
    }

    fn terms(amount: i64, method: &str) -> ChargeTerms {
        validate_charge(request(cents(amount), method)).unwrap()
    }

    #[test]
    fn routes() {
        // The path the saga's client posts to is the one this service routes.
        assert_eq!(Op::route(&Method::Post, CHARGES_PATH).unwrap(), Op::Charge);
        assert_eq!(Op::route(&Method::Post, "/charges").unwrap(), Op::Charge);
        assert_eq!(Op::route(&Method::Post, "/charges/").unwrap(), Op::Charge);
        assert_eq!(Op::route(&Method::Post, &refund_path(&order())).unwrap(), Op::Refund(order()));
        let upper = format!("/charges/{}/refund", ORDER.to_uppercase());
        assert_eq!(Op::route(&Method::Post, &upper).unwrap(), Op::Refund(order()), "one order, any letter case");
        for (method, path, status) in [
            (Method::Get, "/charges".to_owned(), 405),
            (Method::Put, "/charges".to_owned(), 405),
            (Method::Delete, refund_path(&order()), 405),
            (Method::Get, "/charges/nope/refund".to_owned(), 405),
            (Method::Post, "/charges/nope/refund".to_owned(), 400),
            (Method::Post, "/charges/0/refund".to_owned(), 400),
            (Method::Post, format!("/charges/{ORDER}"), 404),
            (Method::Get, format!("/charges/{ORDER}"), 404),
            (Method::Post, format!("/charges/{ORDER}/void"), 404),
            (Method::Post, "/refunds".to_owned(), 404),
            (Method::Post, "/".to_owned(), 404),
            (Method::Other("TRACE".into()), "/charges".to_owned(), 405),
        ] {
            let err = Op::route(&method, &path).unwrap_err();
            assert_eq!(err.status(), status, "{method} {path}");
        }
        let err = Op::route(&Method::Get, "/charges").unwrap_err();
        assert_eq!(err.kind(), "method-not-allowed");
        assert!(err.detail().contains("use POST"), "{}", err.detail());
        assert_eq!(Op::route(&Method::Post, "/charges/x/refund").unwrap_err().kind(), "invalid-id");
    }

    #[test]
    fn only_test_cards_and_positive_amounts_are_charged() {
        assert_eq!(terms(1250, PM_CARD_OK).card, TestCard::Ok);
        assert_eq!(terms(1250, PM_CARD_DECLINED).card, TestCard::Declined);
        assert_eq!(terms(1250, PM_CARD_SLOW).card, TestCard::Slow);
        for method in ["", "pm_card_OK", " pm_card_ok", "pm_card_ok ", "card", "4242424242424242"] {
            let err = validate_charge(request(cents(100), method)).unwrap_err();
            assert_eq!((err.status(), err.kind()), (422, "validation"), "{method:?}");
            assert!(err.detail().contains("pm_card_ok, pm_card_declined, pm_card_slow"), "{}", err.detail());
        }
        let long = validate_charge(request(cents(100), &"x".repeat(500))).unwrap_err();
        assert!(long.detail().len() < 200, "the echoed method is cut short");
        let zero = validate_charge(request(Money::ZERO, PM_CARD_OK)).unwrap_err();
        assert_eq!(zero.status(), 422);
        assert!(zero.detail().contains("greater than 0.00"));
    }

    #[test]
    fn the_slow_delay_is_configuration() {
        assert_eq!(slow_delay("3000").unwrap(), Duration::from_secs(3));
        assert_eq!(slow_delay("0").unwrap(), Duration::ZERO);
        for bad in ["", "-1", "1.5", "3s", "30001", "99999999999999999999"] {
            assert!(slow_delay(bad).is_err(), "{bad}");
        }
        let slow = Duration::from_millis(300);
        assert_eq!(provider_delay(TestCard::Slow, slow), Some(slow));
        assert_eq!(provider_delay(TestCard::Ok, slow), None);
        assert_eq!(provider_delay(TestCard::Declined, slow), None);
    }

    #[test]
    fn the_sandbox_answers_by_card_with_a_reference_per_order() {
        let reference = "sandbox_7ab45f0f929142eb922d130b806315c2";
        assert_eq!(provider_ref(&order()), reference);
        for method in [PM_CARD_OK, PM_CARD_SLOW] {
            assert_eq!(sandbox_answer(&terms(100, method)), ProviderAnswer::Charged { provider_ref: reference.into() });
        }
        assert_eq!(sandbox_answer(&terms(100, PM_CARD_DECLINED)), ProviderAnswer::Declined);
    }

    #[test]
    fn row_states_round_trip() {
        let mut all = vec![RowState::Pending];
        all.extend(ChargeState::ALL.map(RowState::Settled));
        for s in all {
            assert_eq!(RowState::parse(s.as_str()), Some(s));
        }
        assert_eq!(RowState::parse("authorized"), None);
    }

    /// A stored row as each state leaves it: a charge of 12.50 by pm_card_ok, or a tombstone.
    fn stored(state: RowState) -> PaymentRow {
        let tombstone = state == RowState::Settled(ChargeState::Voided);
        let charged = matches!(state, RowState::Settled(ChargeState::Charged | ChargeState::Refunded));
        PaymentRow {
            order_id: order(),
            amount: if tombstone { Money::ZERO } else { cents(1250) },
            method: (!tombstone).then(|| PM_CARD_OK.to_owned()),
            state,
            provider_ref: charged.then(|| provider_ref(&order())),
        }
    }

    fn declined_row() -> PaymentRow {
        PaymentRow { method: Some(PM_CARD_DECLINED.into()), ..stored(RowState::Settled(ChargeState::Declined)) }
    }

    /// (status, slug) of an answer; 200 for a charge.
    fn outcome(answer: Result<Charge, PaymentError>) -> (u16, String) {
        match answer {
            Ok(_) => (200, String::new()),
            Err(e) => (e.status(), e.kind().to_owned()),
        }
    }

    #[test]
    fn a_charge_answers_by_the_stored_state() {
        use ChargeState::*;
        let same = terms(1250, PM_CARD_OK);
        let other_amount = terms(1300, PM_CARD_OK);
        let other_method = terms(1250, PM_CARD_SLOW);
        let ok = (200, String::new());
        let conflict = (409, problems::CHARGE_CONFLICT.to_owned());
        let refused = (409, problems::CHARGE_REFUSED.to_owned());
        let declined = (402, problems::PAYMENT_DECLINED.to_owned());
        // (stored, request) → answer, for every state.
        let table = [
            (stored(RowState::Settled(Charged)), &same, &ok),
            (stored(RowState::Settled(Charged)), &other_amount, &conflict),
            (stored(RowState::Settled(Charged)), &other_method, &conflict),
            (stored(RowState::Settled(Refunded)), &same, &refused),
            (stored(RowState::Settled(Refunded)), &other_amount, &refused),
            (stored(RowState::Settled(Voided)), &same, &refused),
            (stored(RowState::Settled(Voided)), &other_method, &refused),
            (stored(RowState::Pending), &other_amount, &conflict),
            (stored(RowState::Pending), &other_method, &conflict),
        ];
        for (row, asked, expected) in table {
            assert_eq!(&outcome(charge_answer(&row, asked)), expected, "{:?} asked {asked:?}", row.state);
        }
        let declined_terms = terms(1250, PM_CARD_DECLINED);
        assert_eq!(outcome(charge_answer(&declined_row(), &declined_terms)), declined);
        assert_eq!(outcome(charge_answer(&declined_row(), &same)), conflict, "a decline is not retried with another card");
        assert_eq!(outcome(charge_answer(&declined_row(), &terms(999, PM_CARD_DECLINED))), conflict);

        let charge = charge_answer(&stored(RowState::Settled(Charged)), &same).unwrap();
        assert_eq!(charge, Charge { order_id: order(), amount: cents(1250), state: Charged, provider_ref: Some(provider_ref(&order())) });
    }

    #[test]
    fn a_repeated_decline_says_the_same() {
        let asked = terms(1250, PM_CARD_DECLINED);
        let first = charge_answer(&declined_row(), &asked).unwrap_err().detail();
        let again = charge_answer(&declined_row(), &asked).unwrap_err().detail();
        assert_eq!(first, again);
        assert!(first.contains("pm_card_declined") && first.contains("12.50") && first.contains(ORDER), "{first}");
    }

    #[test]
    fn only_an_abandoned_claim_with_the_same_terms_is_attempted_again() {
        let same = terms(1250, PM_CARD_OK);
        assert!(must_attempt(&stored(RowState::Pending), &same));
        assert!(!must_attempt(&stored(RowState::Pending), &terms(1, PM_CARD_OK)));
        for state in ChargeState::ALL {
            assert!(!must_attempt(&stored(RowState::Settled(state)), &same), "{state:?}");
        }
        // A pending row is settled before it is answered; answering one is a bug (500).
        assert_eq!(stored(RowState::Pending).answer().unwrap_err().status(), 500);
    }

    #[test]
    fn a_refund_gives_back_a_charge_once_and_leaves_the_rest() {
        use ChargeState::*;
        assert_eq!(refund_step(&stored(RowState::Settled(Charged))), RefundStep::Refund);
        assert_eq!(refund_step(&stored(RowState::Pending)), RefundStep::Void);
        for state in [Declined, Refunded, Voided] {
            assert_eq!(refund_step(&stored(RowState::Settled(state))), RefundStep::Keep, "{state:?}");
        }
        // What the kept rows answer: a repeat, or a declined charge with nothing refunded.
        let refunded = stored(RowState::Settled(Refunded)).answer().unwrap();
        assert_eq!((refunded.state, refunded.refunded_amount()), (Refunded, cents(1250)));
        let declined = declined_row().answer().unwrap();
        assert_eq!((declined.state, declined.refunded_amount()), (Declined, Money::ZERO));
        let voided = stored(RowState::Settled(Voided)).answer().unwrap();
        assert_eq!((voided.state, voided.amount, voided.provider_ref), (Voided, Money::ZERO, None));
    }
}
