//! End-to-end: wasmCloud adapters running on galley, where what they do can be watched.
//!
//! - Every Postgres-using component composed with the Postgres adapter
//!   (`wasmcloud/adapters/postgres`: Spin's Postgres spoken over wasi:sockets), against the test
//!   Postgres: the adapter carries users, the catalog and the order saga, its transactions hold
//!   across calls (a refusal rolls back, a contended key makes one order), and the server's
//!   errors reach the component as Spin's (a unique violation is still a 409, an unreachable
//!   Postgres a prompt 503).
//! - The gateway composed with the chaining adapter (`wasmcloud/adapters/chaining`), its
//!   wasi:config answered from Spin variables by a test component: chained calls leave through
//!   outgoing HTTP to the configured authority and come back in as requests.

use serde_json::json;

use crate::orders::one_key_sent_at_once;
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
    crate::orders::a_paid_order(&app()).await;
}

#[tokio::test]
async fn a_declined_card_rolls_the_reservation_back() {
    crate::orders::a_declined_card(&app()).await;
}

#[tokio::test]
async fn one_key_sent_ten_times_at_once_is_one_order() {
    one_key_sent_at_once(&app(), 10).await;
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
    assert_eq!((answer.status, answer.codes()), (200, vec![]), "{}\n{}", answer.body, app.host_log());
    let orders = answer.body["data"]["userWithOrders"]["orders"]["nodes"].as_array().expect("orders");
    assert_eq!(orders.len(), 2);
    assert!(orders.iter().all(|o| o["lines"].as_array().unwrap().iter().all(|l| l["product"]["name"].is_string())));
    // Spin's chaining reaches a component inside the host, which logs no request for it; the
    // adapter sent these to the configured authority, this host's listener, which logged each.
    assert_eq!(requests_of(&app, "user-lookup", &trace_id), 1, "{}", app.host_log());
    assert_eq!(requests_of(&app, "product-admin", &trace_id), 1);
    assert_eq!(requests_of(&app, "gateway", &trace_id), 1);
}

#[tokio::test]
async fn screens_sent_at_once_through_the_chaining_adapter_all_answer() {
    // Chained answers arrive over TCP here, in pieces: the timing under which a shared product
    // batch completed by one order line stranded the others (`galley_common::wakes`).
    let app = spawn_app_with(HostOptions { gateway_chaining_through_adapter: true, ..HostOptions::default() });
    crate::gateway::every_screen_sent_at_once_answers(&app, "wcburst").await;
}

#[tokio::test]
async fn with_postgres_unreachable_the_adapter_answers_a_fast_503() {
    // The adapter's connect fails (nothing listens on the port): Spin's `connection-failed`, which
    // every component answers as the outage it is, not a 500.
    let dead_port = galley_launcher::free_port().expect("port").to_string();
    let app = spawn_app_with(HostOptions {
        postgres_over_sockets: true,
        env: vec![("SPIN_VARIABLE_DB_PORT".into(), dead_port)],
        ..HostOptions::default()
    });
    let started = std::time::Instant::now();
    let problem = assert_problem(app.register(&unique_username("wcdown"), "a-good-password").await, 503).await;
    assert!(problem["detail"].is_string(), "{problem}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "refused at once, not after a timeout");
}
