//! The payment component, reached as order-create will reach it: by service chaining to
//! `http://payment.spin.internal/...`, through the harness's test-only chain proxy. Every test
//! uses fresh order ids, so tests never share a row.

use galley_common::payments::{self, PM_CARD_DECLINED, PM_CARD_OK, PM_CARD_SLOW};
use serde_json::{json, Value};

use crate::support::*;

fn new_order() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// What a call answered: status, content type, JSON body (or Null).
#[derive(Debug, Clone, PartialEq)]
struct Answer {
    status: u16,
    content_type: String,
    body: Value,
}

async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status().as_u16();
    let content_type = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let bytes = resp.bytes().await.expect("body");
    Answer { status, content_type, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
}

/// A private payment operation, by service chaining.
async fn call(app: &TestApp, method: reqwest::Method, path: &str, body: Option<Value>) -> Answer {
    let mut req = app.http.request(method, app.url(&format!("/_e2e/chain/{}{path}", payments::COMPONENT)));
    if let Some(body) = body {
        req = req.json(&body);
    }
    answer(req.send().await.expect("request")).await
}

async fn charge(app: &TestApp, order: &str, amount: &str, method: &str) -> Answer {
    let body = json!({"order_id": order, "amount": amount, "payment_method": method});
    call(app, reqwest::Method::POST, payments::CHARGES_PATH, Some(body)).await
}

async fn refund(app: &TestApp, order: &str) -> Answer {
    call(app, reqwest::Method::POST, &format!("{}/{order}/refund", payments::CHARGES_PATH), None).await
}

fn assert_charge(a: &Answer, order: &str, amount: &str, state: &str) {
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.body["order_id"], order, "{a:?}");
    assert_eq!(a.body["amount"], amount, "{a:?}");
    assert_eq!(a.body["state"], state, "{a:?}");
}

fn assert_problem_kind(a: &Answer, status: u16, kind: &str) {
    assert_eq!(a.status, status, "{a:?}");
    assert_eq!(a.content_type, "application/problem+json", "{a:?}");
    assert_eq!(a.body["type"], format!("/problems/{kind}"), "{a:?}");
}

/// An app whose sandbox takes `millis` to answer a `pm_card_slow` charge.
fn with_slow_cards(millis: u64) -> TestApp {
    spawn_app_with(HostOptions { env: vec![("SPIN_VARIABLE_PAYMENT_SLOW_MS".into(), millis.to_string())], ..HostOptions::default() })
}

fn sandbox_ref(order: &str) -> String {
    format!("sandbox_{}", order.replace('-', ""))
}

#[tokio::test]
async fn a_charge_is_made_once_and_a_repeat_answers_the_same() {
    let app = spawn_app();
    let order = new_order();
    let first = charge(&app, &order, "12.50", PM_CARD_OK).await;
    assert_charge(&first, &order, "12.50", "charged");
    assert_eq!(first.body["provider_ref"], sandbox_ref(&order));
    // The contract's own type reads it.
    let typed: payments::Charge = serde_json::from_value(first.body.clone()).expect("a Charge");
    assert_eq!(typed.state, payments::ChargeState::Charged);

    let again = charge(&app, &order, "12.5", PM_CARD_OK).await;
    assert_eq!(again, first, "12.5 is the same amount as 12.50; the repeat answers the same charge");

    // The same order with other terms is a caller's bug, told apart from a refusal.
    assert_problem_kind(&charge(&app, &order, "13.00", PM_CARD_OK).await, 409, payments::problems::CHARGE_CONFLICT);
    assert_problem_kind(&charge(&app, &order, "12.50", PM_CARD_SLOW).await, 409, payments::problems::CHARGE_CONFLICT);
    assert_eq!(charge(&app, &order, "12.50", PM_CARD_OK).await, first, "a conflict changed nothing");
}

#[tokio::test]
async fn twenty_concurrent_charges_of_one_order_charge_it_once() {
    let app = spawn_app();
    let order = new_order();
    let answers = futures::future::join_all((0..20).map(|_| charge(&app, &order, "40.00", PM_CARD_OK))).await;
    for a in &answers {
        assert_eq!(a, &answers[0], "every concurrent charge answers the one charge");
    }
    assert_charge(&answers[0], &order, "40.00", "charged");
    // One row: a refund gives back the amount once, not twenty times.
    let refunded = refund(&app, &order).await;
    assert_charge(&refunded, &order, "40.00", "refunded");
    assert_eq!(refund(&app, &order).await, refunded);
}

#[tokio::test]
async fn a_declined_charge_is_a_402_and_stays_declined() {
    let app = spawn_app();
    let order = new_order();
    let first = charge(&app, &order, "9.99", PM_CARD_DECLINED).await;
    assert_problem_kind(&first, 402, payments::problems::PAYMENT_DECLINED);
    assert!(first.body["detail"].as_str().unwrap_or_default().contains(PM_CARD_DECLINED), "{first:?}");
    let again = charge(&app, &order, "9.99", PM_CARD_DECLINED).await;
    assert_eq!(again.body["detail"], first.body["detail"], "the same decline");
    assert_problem_kind(&again, 402, payments::problems::PAYMENT_DECLINED);
    // A decline is the order's outcome: another card for the same order is a conflict, not a retry.
    assert_problem_kind(&charge(&app, &order, "9.99", PM_CARD_OK).await, 409, payments::problems::CHARGE_CONFLICT);

    // Refunding a declined charge gives nothing back and changes nothing.
    let refunded = refund(&app, &order).await;
    assert_charge(&refunded, &order, "9.99", "declined");
    assert_eq!(refunded.body["provider_ref"], Value::Null);
    assert_problem_kind(&charge(&app, &order, "9.99", PM_CARD_DECLINED).await, 402, payments::problems::PAYMENT_DECLINED);
}

#[tokio::test]
async fn an_unknown_payment_method_is_a_422_and_stores_nothing() {
    let app = spawn_app();
    let order = new_order();
    let refused = charge(&app, &order, "5.00", "pm_card_visa").await;
    assert_problem_kind(&refused, 422, "validation");
    assert!(refused.body["detail"].as_str().unwrap_or_default().contains(PM_CARD_OK), "names the methods: {refused:?}");
    assert_problem_kind(&charge(&app, &order, "0.00", PM_CARD_OK).await, 422, "validation");
    // Nothing was stored: the order can still be charged, with other terms than the refused ones.
    assert_charge(&charge(&app, &order, "6.00", PM_CARD_OK).await, &order, "6.00", "charged");
}

#[tokio::test]
async fn a_refund_gives_back_what_was_charged_once() {
    let app = spawn_app();
    let order = new_order();
    assert_charge(&charge(&app, &order, "75.10", PM_CARD_OK).await, &order, "75.10", "charged");
    let refunded = refund(&app, &order).await;
    assert_charge(&refunded, &order, "75.10", "refunded");
    assert_eq!(refunded.body["provider_ref"], sandbox_ref(&order));
    assert_eq!(refund(&app, &order).await, refunded, "a repeat answers the same refund");
    // The order is closed: charging it again is refused, whatever is asked.
    let late = charge(&app, &order, "75.10", PM_CARD_OK).await;
    assert_problem_kind(&late, 409, payments::problems::CHARGE_REFUSED);
}

#[tokio::test]
async fn a_refund_before_any_charge_voids_the_order_and_the_late_charge_is_refused() {
    let app = spawn_app();
    let order = new_order();
    let voided = refund(&app, &order).await;
    assert_charge(&voided, &order, "0.00", "voided");
    assert_eq!(voided.body["provider_ref"], Value::Null);
    assert_eq!(refund(&app, &order).await, voided);
    let late = charge(&app, &order, "20.00", PM_CARD_OK).await;
    assert_problem_kind(&late, 409, payments::problems::CHARGE_REFUSED);
    assert!(late.body["detail"].as_str().unwrap_or_default().contains("voided"), "{late:?}");
    assert_eq!(refund(&app, &order).await, voided, "the refused charge changed nothing");
}

#[tokio::test]
async fn operations_are_routed_by_path_then_method() {
    let app = spawn_app();
    let order = new_order();
    assert_problem_kind(&call(&app, reqwest::Method::POST, "/charges/not-an-order/refund", None).await, 400, "invalid-id");
    assert_problem_kind(&call(&app, reqwest::Method::GET, "/charges", None).await, 405, "method-not-allowed");
    assert_problem_kind(&call(&app, reqwest::Method::GET, &format!("/charges/{order}/refund"), None).await, 405, "method-not-allowed");
    assert_problem_kind(&call(&app, reqwest::Method::GET, &format!("/charges/{order}"), None).await, 404, "not-found");
    assert_problem_kind(&call(&app, reqwest::Method::POST, "/refunds", None).await, 404, "not-found");
    let extra = json!({"order_id": order, "amount": "1.00", "payment_method": PM_CARD_OK, "currency": "EUR"});
    assert_eq!(call(&app, reqwest::Method::POST, "/charges", Some(extra)).await.status, 422, "unknown fields are refused");
    let float = json!({"order_id": order, "amount": 1.0, "payment_method": PM_CARD_OK});
    assert_eq!(call(&app, reqwest::Method::POST, "/charges", Some(float)).await.status, 422, "amounts are decimal strings");
    // None of those stored anything.
    assert_charge(&charge(&app, &order, "2.00", PM_CARD_OK).await, &order, "2.00", "charged");
}

/// `pm_card_slow` with a short `slow_payment_ms`, on a host of its own: it answers, late,
/// with a charge; and a refund sent while a slow charge is in flight is serialised with it,
/// so the order ends refunded (the refund waited for the charge) or voided (the refund came
/// first and the charge was refused), never charged with the refund lost.
#[tokio::test]
async fn a_slow_charge_succeeds_late_and_a_refund_racing_it_is_serialised() {
    let app = with_slow_cards(300);
    let order = new_order();
    let slow = charge(&app, &order, "30.00", PM_CARD_SLOW).await;
    assert_charge(&slow, &order, "30.00", "charged");
    assert_eq!(charge(&app, &order, "30.00", PM_CARD_SLOW).await, slow);

    for _ in 0..3 {
        let order = new_order();
        let (charged, refunded) = tokio::join!(charge(&app, &order, "30.00", PM_CARD_SLOW), async {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            refund(&app, &order).await
        });
        match (charged.status, refunded.body["state"].as_str()) {
            (200, Some("refunded")) => {
                assert_charge(&charged, &order, "30.00", "charged");
                assert_charge(&refunded, &order, "30.00", "refunded");
            }
            (409, Some("voided")) => {
                assert_problem_kind(&charged, 409, payments::problems::CHARGE_REFUSED);
                assert_charge(&refunded, &order, "0.00", "voided");
            }
            _ => panic!("a charge and its refund disagree: {charged:?} / {refunded:?}"),
        }
        // Settled either way: a repeat of each answers the same.
        assert_eq!(refund(&app, &order).await, refunded);
    }
}

/// The saga's timeout path: the caller gives up on a `pm_card_slow` charge (the chain proxy's
/// client waits 5 s, the card takes 6 s) and compensates with a refund at once. Whether the host
/// cancelled the abandoned charge (nothing charged: the refund voids the order) or let it run
/// (the refund waits for it and gives the money back), the order ends with nothing kept, and a
/// charge that arrives later still is refused.
#[tokio::test]
async fn a_charge_whose_caller_gave_up_is_undone_by_the_refund() {
    let app = with_slow_cards(6000);
    let order = new_order();
    let abandoned = charge(&app, &order, "55.00", PM_CARD_SLOW).await;
    assert_problem_kind(&abandoned, 504, "upstream-timeout");
    let refunded = refund(&app, &order).await;
    assert_eq!(refunded.status, 200, "{refunded:?}");
    let undone: payments::Charge = serde_json::from_value(refunded.body.clone()).expect("a Charge");
    match undone.state {
        payments::ChargeState::Refunded => assert_eq!(undone.amount.to_string(), "55.00"),
        payments::ChargeState::Voided => assert!(undone.amount.is_zero()),
        other => panic!("the order kept a charge: {other:?}"),
    }
    assert_eq!(undone.charged_amount().to_string(), "0.00", "nothing stays charged");
    assert_problem_kind(&charge(&app, &order, "55.00", PM_CARD_SLOW).await, 409, payments::problems::CHARGE_REFUSED);
}
