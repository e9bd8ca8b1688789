//! End-to-end: wasmCloud adapters running on galley, where what they do can be watched.
//!
//! - Every Postgres-using component composed with the Postgres adapter
//!   (`wasmcloud/adapters/postgres`: Spin's Postgres spoken over wasi:sockets), against the test
//!   Postgres: the adapter carries users, the catalog and the order saga, its transactions hold
//!   across calls (a refusal rolls back, a contended key makes one order), and the server's
//!   errors reach the component as Spin's (a unique violation is still a 409).
//! - The gateway composed with the chaining adapter (`wasmcloud/adapters/chaining`), its
//!   wasi:config answered from Spin variables by a test component: chained calls leave through
//!   outgoing HTTP to the configured authority and come back in as requests.

use serde_json::json;

use crate::orders::{customer, new_key, notifications_of, payment_of, saga_of};
use crate::support::*;

fn app() -> TestApp {
    spawn_app_with_postgres_over_sockets()
}

#[tokio::test]
async fn users_register_log_in_and_look_up_through_the_adapter() {
    let app = app();
    let username = unique_username("wcuser");
    let created = app.register(&username, "a-good-password").await;
    assert_eq!(created.status(), 201);
    let user: serde_json::Value = created.json().await.expect("json");
    let token = app.token_for(&username, "a-good-password").await;
    let found = app.lookup(user["id"].as_str().expect("id"), Some(&token)).await;
    assert_eq!(found.status(), 200);
    assert_eq!(found.json::<serde_json::Value>().await.expect("json")["username"], username.as_str());
    // A unique violation in the users database arrives as Spin's database error: still a 409.
    assert_problem(app.register(&username.to_uppercase(), "another-password").await, 409).await;
    assert_problem(app.token(&username, "a-wrong-password").await, 401).await;
}

#[tokio::test]
async fn a_paid_order_runs_the_whole_saga_through_the_adapter() {
    let app = app();
    let product = app.stocked_product(5).await;
    let (user, token) = customer();
    let placed = app.buy(&token, product, 2, "pm_card_ok").await;
    assert_eq!(placed.status, 201, "{}", placed.body);
    assert_eq!((&placed.body["amount"], &placed.body["user_id"]), (&json!("6.00"), &json!(user)));
    let id = placed.id();
    assert_eq!(app.on_hand(product).await, 3);
    assert_eq!(payment_of(&id).await, Some(("charged".into(), "6.00".into())));
    assert_eq!(saga_of(&id).await, (1, "completed".into()));
    assert_eq!(notifications_of(&id).await, 1, "order-events recorded the event through the adapter");
    let read = app.read_order(&token, &id).await;
    assert_eq!(read.status(), 200);
    assert_eq!(read.json::<serde_json::Value>().await.expect("json"), placed.body);
}

#[tokio::test]
async fn a_declined_card_rolls_the_reservation_back() {
    let app = app();
    let product = app.stocked_product(5).await;
    let (_, token) = customer();
    let placed = app.buy(&token, product, 2, "pm_card_declined").await;
    assert_eq!(placed.status, 402, "{}", placed.body);
    assert_eq!(app.on_hand(product).await, 5, "the reservation was released");
    assert_eq!(saga_of(&placed.id()).await, (2, "cancelled".into()));
}

#[tokio::test]
async fn one_key_sent_ten_times_at_once_is_one_order() {
    let app = app();
    let product = app.stocked_product(10).await;
    let (_, token) = customer();
    let key = new_key();
    let body = json!({"items": [{"product_id": product, "quantity": 1}], "payment_method": "pm_card_ok"});
    let answers = futures::future::join_all((0..10).map(|_| app.order(&token, Some(&key), &body))).await;
    assert_eq!(answers[0].status, 201, "{}", answers[0].body);
    for answer in &answers {
        assert_eq!((answer.status, &answer.body), (answers[0].status, &answers[0].body), "every answer is the same");
    }
    assert_eq!(app.on_hand(product).await, 9, "one reservation");
    let orders = database("orders").await;
    let n: i64 = orders.query_one("SELECT count(*) FROM orders WHERE idempotency_key = $1", &[&key]).await.expect("count").get(0);
    assert_eq!(n, 1);
}

/// The request log's lines of component `component` in trace `trace_id`.
fn requests_of(app: &TestApp, component: &str, trace_id: &str) -> usize {
    app.host_log()
        .lines()
        .filter(|l| l.contains(" request") && l.contains(&format!("component={component}")) && l.contains(&format!("trace_id={trace_id}")))
        .count()
}

#[tokio::test]
async fn the_chaining_adapter_sends_chained_calls_where_configuration_says() {
    let app = spawn_app_with(HostOptions { gateway_chaining_through_adapter: true, ..HostOptions::default() });
    let (user, token) = app.customer_with_orders("wcchain", 2, 2, 10).await;
    let (traceparent, trace_id) = crate::gateway::trace();
    let answer = app.graphql(Some(&token), &traceparent, crate::gateway::USER_WITH_ORDERS, json!({"id": user["id"]})).await;
    assert_eq!((answer.status, answer.codes()), (200, vec![]), "{}", answer.body);
    let orders = answer.body["data"]["userWithOrders"]["orders"]["nodes"].as_array().expect("orders");
    assert_eq!(orders.len(), 2);
    assert!(orders.iter().all(|o| o["lines"].as_array().unwrap().iter().all(|l| l["product"]["name"].is_string())));
    // Spin's chaining reaches a component inside the host, which logs no request for it; the
    // adapter sent these to the configured authority, this host's listener, which logged each.
    assert_eq!(requests_of(&app, "user-lookup", &trace_id), 1, "{}", app.host_log());
    assert_eq!(requests_of(&app, "product-admin", &trace_id), 1);
    assert_eq!(requests_of(&app, "gateway", &trace_id), 1);
}
