//! End-to-end: galley SIGKILLed in the middle of an order load and started again on the same
//! databases — recovery settles every saga, and the consistency check
//! ([`galley_e2e::consistency`]) finds stock, reservations, payments, orders and notifications
//! agreeing. And the check's own test: shown one disagreement of each kind, it names each.
//!
//! Each test here has service databases of its own ([`OwnDatabases`]): its recoverers take
//! every unsettled saga in their orders database at once, so they must meet no other test's.

use std::collections::HashMap;
use std::time::Duration;

use galley_common::auth::{self, Claims, Role};
use galley_e2e::consistency::{self, Rule, Scope};
use serde_json::{json, Value};

use crate::catalog::{id_of, token};
use crate::support::*;

/// A fresh customer id and its token (orders reference users by id only).
fn customer() -> (String, String) {
    let user = uuid::Uuid::new_v4().to_string();
    let claims = Claims::new(user.clone(), Role::Customer, galley_common::unix_now());
    (user, auth::issue(&claims, TEST_SECRET.as_bytes()).expect("sign"))
}

/// Options for an app on databases of its own, with these environment variables: a recoverer
/// settles every unsettled saga it finds, and must find no other test's.
fn isolated(env: &[(&str, &str)]) -> HostOptions {
    HostOptions {
        env: env.iter().map(|&(name, value)| (name.to_owned(), value.to_owned())).collect(),
        own_databases: Some(OwnDatabases::create()),
        ..HostOptions::default()
    }
}

/// One order request: its status and body, or `None` when no answer came (the host died).
async fn place(app: &TestApp, token: &str, key: &str, body: &Value) -> Option<(u16, Value)> {
    let resp = app.http.post(app.url("/api/v1/orders")).bearer_auth(token).header("idempotency-key", key).json(body).send().await.ok()?;
    let status = resp.status().as_u16();
    let text = resp.text().await.ok()?;
    Some((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

async fn recover(app: &TestApp) {
    let resp = app.http.post(app.url("/api/v1/admin/sagas/recover")).bearer_auth(token(Role::Admin)).send().await.expect("recover");
    assert_eq!(resp.status(), 200, "recovery answers");
}

/// The answers an order may get from a working app (paid, pending, declined, refused).
fn is_an_order_answer(status: u16) -> bool {
    matches!(status, 201 | 202 | 402 | 409)
}

#[tokio::test]
async fn galley_killed_mid_load_settles_every_saga_after_a_restart() {
    // Recovery takes a saga 2 s after its last step; slow cards time out (a 202) and leave
    // sagas for recovery even without the kill.
    let options = isolated(&[
        ("SPIN_VARIABLE_SAGA_RECOVERY_AFTER_SECS", "2"),
        ("SPIN_VARIABLE_CHARGE_TIMEOUT_MS", "800"),
        ("SPIN_VARIABLE_PAYMENT_SLOW_MS", "1500"),
    ]);
    let first = spawn_app_with(options.clone());
    let mut scope = Scope::default();
    let mut products = Vec::new();
    for _ in 0..3 {
        let id = id_of(&first.create_product("2.50").await);
        assert_eq!(first.restock(id, json!({"delta": 30})).await.status, 200);
        scope.initial_stock.insert(id, 30);
        products.push(id);
    }
    let buyers: Vec<(String, String)> = (0..6).map(|_| customer()).collect();
    scope.users = buyers.iter().map(|b| b.0.clone()).collect();

    // 48 orders, 8 at a time: mostly good cards, some declined, some slow, some two lines.
    const ORDERS: usize = 48;
    let plan: Vec<(String, String, Value)> = (0..ORDERS)
        .map(|i| {
            let card = match i % 8 {
                3 => "pm_card_declined",
                6 => "pm_card_slow",
                _ => "pm_card_ok",
            };
            let mut items = vec![json!({"product_id": products[i % 3], "quantity": 1 + i % 2})];
            if i % 5 == 0 {
                items.push(json!({"product_id": products[(i + 1) % 3], "quantity": 1}));
            }
            let token = buyers[i % buyers.len()].1.clone();
            (token, format!("kill-{}", uuid::Uuid::new_v4().simple()), json!({"items": items, "payment_method": card}))
        })
        .collect();
    let (answers, at_kill) = kill_mid_load(
        &plan,
        8,
        ORDERS / 3,
        |(token, key, body)| {
            let first = &first;
            async move { (key.clone(), place(first, token, key, body).await) }
        },
        |(_, answer)| answer.is_some(),
        || first.sigkill(),
    )
    .await;
    let answers: HashMap<String, Option<(u16, Value)>> = answers.into_iter().collect();
    let cut: Vec<&String> = answers.iter().filter(|(_, a)| a.is_none()).map(|(k, _)| k).collect();
    assert!(!cut.is_empty() && at_kill < ORDERS, "galley died mid-run: {at_kill} of {ORDERS} answered, none cut short");
    for (key, answer) in &answers {
        if let Some((status, body)) = answer {
            assert!(is_an_order_answer(*status), "{key} before the kill: {status} {body}");
        }
    }

    // Started again on the same databases; recovery settles what the dead process left.
    let second = first.restart_killed(&options);
    let db = second.consistency_databases().await;
    let orders = second.database("orders").await;
    let unsettled: i64 = orders
        .query_one(
            "SELECT count(*) FROM orders WHERE user_id = ANY($1::text[]::uuid[]) AND saga_state NOT IN ('completed', 'cancelled')",
            &[&scope.users],
        )
        .await
        .expect("count")
        .get(0);
    let settled = consistency::check_until_consistent(&db, &scope, Duration::from_secs(60), || recover(&second)).await.expect("check");
    assert!(settled.is_consistent() && settled.unsettled == 0, "after the restart and recovery:\n{settled}");

    // The clients whose requests were cut short send them again with the same key: each gets
    // an answer, and it is the order recovery settled (or, never recorded, a new one).
    for key in &cut {
        let (token, _, body) = plan.iter().find(|p| &&p.1 == key).expect("planned");
        let (status, body) = place(&second, token, key, body).await.expect("the restarted galley answers");
        assert!(is_an_order_answer(status), "{key} resent after the restart: {status} {body}");
    }
    let report = consistency::check_until_consistent(&db, &scope, Duration::from_secs(60), || recover(&second)).await.expect("check");
    assert!(report.is_consistent(), "{report}\nhost log:\n{}", second.host_log());

    // Exactly one order per key, and every order answered paid (201) is paid.
    let keys: Vec<String> = plan.iter().map(|p| p.1.clone()).collect();
    let rows = orders.query("SELECT idempotency_key, status FROM orders WHERE idempotency_key = ANY($1)", &[&keys]).await.expect("orders");
    assert_eq!(rows.len(), ORDERS, "one order per Idempotency-Key: none lost, none doubled");
    assert_eq!(report.orders, ORDERS);
    for row in &rows {
        let (key, status): (String, i16) = (row.get(0), row.get(1));
        if let Some(Some((201, _))) = answers.get(&key) {
            assert_eq!(status, 1, "{key} was answered paid before the kill, and stays paid");
        }
    }
    eprintln!(
        "SIGKILL after {at_kill}/{ORDERS} answers, {} cut short, {unsettled} sagas left unsettled by the kill; after recovery: {report}",
        cut.len()
    );
}

#[tokio::test]
async fn the_consistency_check_names_each_kind_of_disagreement() {
    let app = spawn_app_with(isolated(&[]));
    let product = app.stocked_product(10).await;
    let (user, token) = customer();
    let mut ids = Vec::new();
    for (card, quantity) in [("pm_card_ok", 1), ("pm_card_declined", 1), ("pm_card_ok", 2)] {
        let body = json!({"items": [{"product_id": product, "quantity": quantity}], "payment_method": card});
        let (status, body) = place(&app, &token, &format!("check-{}", uuid::Uuid::new_v4().simple()), &body).await.expect("answer");
        assert!(matches!(status, 201 | 402), "{status} {body}");
        let order = if body["order"].is_object() { &body["order"] } else { &body };
        ids.push(order["id"].as_str().expect("order id").to_owned());
    }
    let scope = Scope { users: vec![user], initial_stock: [(product, 10)].into() };
    let db = app.consistency_databases().await;
    let clean = consistency::check_until_consistent(&db, &scope, Duration::from_secs(20), || async {}).await.expect("check");
    assert!(clean.is_consistent(), "{clean}");
    assert_eq!((clean.orders, clean.paid, clean.cancelled, clean.events_published, clean.notifications), (3, 2, 1, 2, 2), "{clean}");

    // One disagreement of each kind, written behind the services' backs.
    let (paid, declined, later) = (&ids[0], &ids[1], &ids[2]);
    let inventory = app.database("inventory").await;
    inventory.execute("UPDATE stock SET on_hand = on_hand + 1 WHERE product_id = $1", &[&product]).await.expect("stock");
    inventory.execute("UPDATE reservations SET state = 'reserved' WHERE order_id = $1::text::uuid", &[declined]).await.expect("held");
    app.database("payments")
        .await
        .execute("UPDATE payments SET state = 'refunded', refunded_at = now() WHERE order_id = $1::text::uuid", &[paid])
        .await
        .expect("refund");
    app.database("notifications").await.execute("DELETE FROM notifications WHERE order_id = $1::text::uuid", &[later]).await.expect("lost");
    // Unsettled, and dated in the future so that no recoverer of another test settles it.
    app.database("orders")
        .await
        .execute(
            "UPDATE orders SET status = 0, saga_state = 'charging', updated_at = now() + interval '1 day' WHERE id = $1::text::uuid",
            &[later],
        )
        .await
        .expect("unsettle");

    let report = consistency::check(&db, &scope).await.expect("check");
    let subjects = |rule: Rule| report.violations.iter().filter(|v| v.rule == rule).map(|v| v.subject.clone()).collect::<Vec<_>>();
    assert_eq!(subjects(Rule::Stock), [format!("product {product}")], "{report}");
    assert_eq!(subjects(Rule::Paid), [paid.clone()], "{report}");
    assert_eq!(subjects(Rule::Cancelled), [declined.clone()], "{report}");
    assert_eq!(subjects(Rule::Settled), [later.clone()], "{report}");
    assert_eq!(report.count(Rule::Events), 1, "{report}");
    assert!(report.violations.iter().any(|v| v.rule == Rule::Events && v.detail.contains(later.as_str())), "{report}");
    assert_eq!(report.violations.len(), 5, "{report}");
}

#[tokio::test]
async fn a_charge_that_lands_after_recovery_took_the_saga_over_is_refunded_not_committed() {
    // The request waits longer for the charge (4 s) than the sandbox takes (1.5 s), and
    // recovery takes any saga at once: a recoverer called mid-charge takes the saga over, and
    // the request's charge then succeeds under it.
    let app = spawn_app_with(isolated(&[
        ("SPIN_VARIABLE_SAGA_RECOVERY_AFTER_SECS", "0"),
        ("SPIN_VARIABLE_CHARGE_TIMEOUT_MS", "4000"),
        ("SPIN_VARIABLE_PAYMENT_SLOW_MS", "1500"),
    ]));
    let product = app.stocked_product(5).await;
    let (user, token) = customer();
    let body = json!({"items": [{"product_id": product, "quantity": 2}], "payment_method": "pm_card_slow"});
    let key = format!("takeover-{}", uuid::Uuid::new_v4().simple());
    let request = place(&app, &token, &key, &body);
    let orders = app.database("orders").await;
    let recoverer = async {
        // Once the saga is charging (the charge takes 1.5 s), recovery takes it over.
        let started = std::time::Instant::now();
        while orders
            .query_opt("SELECT 1 FROM orders WHERE user_id = $1::text::uuid AND saga_state = 'charging'", &[&user])
            .await
            .expect("orders")
            .is_none()
        {
            assert!(started.elapsed() < Duration::from_secs(20), "the saga never reached charging");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        recover(&app).await;
    };
    let (answer, ()) = tokio::join!(request, recoverer);
    let (status, body) = answer.expect("an answer");
    // The request answers what it found: recovery still compensating (202) or done (409).
    assert!(matches!(status, 202 | 409), "{status} {body}");
    let order = if body["order"].is_object() { &body["order"] } else { &body };
    let id = order["id"].as_str().expect("order id").to_owned();

    let db = app.consistency_databases().await;
    let scope = Scope { users: vec![user], initial_stock: [(product, 5)].into() };
    let report = consistency::check_until_consistent(&db, &scope, Duration::from_secs(30), || recover(&app)).await.expect("check");
    assert!(report.is_consistent(), "{report}\nhost log:\n{}", app.host_log());
    assert_eq!((report.cancelled, report.refunded), (1, 1), "recovery cancelled it and refunded the charge: {report}");
    // The request never tried to commit the reservation recovery was releasing.
    assert!(
        !app.host_log().contains(&format!("saga {id}: committing the reservation")),
        "the request committed under the recoverer:\n{}",
        app.host_log()
    );
}

/// How many notifications `order` has, waiting up to `wait` for the first.
async fn notified(app: &TestApp, order: &str, wait: Duration) -> i64 {
    let db = app.database("notifications").await;
    let deadline = std::time::Instant::now() + wait;
    loop {
        let n: i64 =
            db.query_one("SELECT count(*) FROM notifications WHERE order_id = $1::text::uuid", &[&order]).await.expect("count").get(0);
        if n > 0 || std::time::Instant::now() >= deadline {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_event_received_but_never_recorded_is_published_again_by_recovery() {
    let app = spawn_app_with(isolated(&[("SPIN_VARIABLE_SAGA_RECOVERY_AFTER_SECS", "0")]));
    let product = app.stocked_product(5).await;
    let (_, token) = customer();
    let body = json!({"items": [{"product_id": product, "quantity": 1}], "payment_method": "pm_card_ok"});
    let (status, order) = place(&app, &token, &format!("lost-{}", uuid::Uuid::new_v4().simple()), &body).await.expect("answer");
    assert_eq!(status, 201, "{order}");
    let id = order["id"].as_str().expect("order id").to_owned();
    assert_eq!(notified(&app, &id, Duration::from_secs(10)).await, 1, "recorded once");
    let orders = app.database("orders").await;
    let event: String = orders.query_one("SELECT id::text FROM outbox WHERE order_id = $1::text::uuid", &[&id]).await.expect("event").get(0);
    // Recovery finds order-events' confirmation (set just after its commit) and marks the
    // event delivered.
    let mut delivered = (false, 0);
    for _ in 0..50 {
        recover(&app).await;
        let row = orders.query_one("SELECT delivered_at IS NOT NULL, attempts FROM outbox WHERE id = $1::text::uuid", &[&event]).await.expect("event");
        delivered = (row.get(0), row.get(1));
        if delivered.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (confirmed, attempts): (bool, i32) = delivered;
    assert!(confirmed, "the confirmed event is marked delivered:\n{}", app.host_log());

    // As if the subscriber that received the event had died before recording it: no
    // notification, no confirmation, and the outbox row published but undelivered.
    let notifications = app.database("notifications").await;
    notifications.execute("DELETE FROM notifications WHERE event_id = $1::text::uuid", &[&event]).await.expect("delete");
    notifications.execute("DELETE FROM processed_events WHERE event_id = $1::text::uuid", &[&event]).await.expect("delete");
    orders.execute("UPDATE outbox SET delivered_at = NULL WHERE id = $1::text::uuid", &[&event]).await.expect("undeliver");
    let redis = std::process::Command::new("redis-cli")
        .args(["-p", &std::env::var("GALLEY_TEST_REDIS_PORT").expect("GALLEY_TEST_REDIS_PORT"), "DEL"])
        .arg(format!("order_events:delivered:{event}"))
        .output()
        .expect("redis-cli");
    assert_eq!(String::from_utf8_lossy(&redis.stdout).trim(), "1", "the confirmation existed");

    recover(&app).await;
    assert_eq!(notified(&app, &id, Duration::from_secs(10)).await, 1, "published again and recorded once:\n{}", app.host_log());
    let again: i32 = orders.query_one("SELECT attempts FROM outbox WHERE id = $1::text::uuid", &[&event]).await.expect("event").get(0);
    assert_eq!(again, attempts + 1, "one more publish");
}

#[tokio::test]
async fn a_recovery_call_takes_no_new_saga_once_its_budget_is_spent() {
    // Slow charges still in flight when recovery starts: each refund waits for its charge (3 s),
    // far past the 1 s budget, so a call settles at most one of them and the next goes on.
    let app = spawn_app_with(isolated(&[
        ("SPIN_VARIABLE_SAGA_RECOVERY_AFTER_SECS", "0"),
        ("SPIN_VARIABLE_SAGA_RECOVERY_BUDGET_SECS", "1"),
        ("SPIN_VARIABLE_CHARGE_TIMEOUT_MS", "200"),
        ("SPIN_VARIABLE_PAYMENT_SLOW_MS", "3000"),
    ]));
    let product = app.stocked_product(10).await;
    let (user, buyer) = customer();
    let body = json!({"items": [{"product_id": product, "quantity": 1}], "payment_method": "pm_card_slow"});
    let placed = futures::future::join_all((0..3).map(|i| {
        let (app, buyer, body) = (&app, &buyer, &body);
        async move { place(app, buyer, &format!("budget-{i}-{}", uuid::Uuid::new_v4().simple()), body).await }
    }))
    .await;
    for answer in &placed {
        assert!(matches!(answer, Some((202, _))), "the charge timed out: {answer:?}");
    }
    let mine: Vec<&str> = placed.iter().filter_map(|a| a.as_ref()?.1["id"].as_str()).collect();
    let first: Value = app
        .http
        .post(app.url("/api/v1/admin/sagas/recover"))
        .bearer_auth(token(Role::Admin))
        .send()
        .await
        .expect("recover")
        .json()
        .await
        .expect("report");
    // (Other tests' recoverers share the databases and may take some of these sagas too, so
    // the call's own report is what counts.)
    let taken = first["settled"].as_array().expect("settled").iter().filter(|s| mine.contains(&s["order_id"].as_str().unwrap_or(""))).count();
    assert!(taken <= 1, "the first call stopped taking sagas once past its budget: {first}");
    let db = app.consistency_databases().await;
    let scope = Scope { users: vec![user.clone()], initial_stock: [(product, 10)].into() };
    let report = consistency::check_until_consistent(&db, &scope, Duration::from_secs(60), || recover(&app)).await.expect("check");
    assert!(report.is_consistent() && report.cancelled == 3, "later calls settled the rest: {report}");
}

/// An order recovery cancelled because a step never completed: a repeat of its key answers
/// 409 `/problems/order-cancelled` with the order (reason `abandoned`), as the contract says.
#[tokio::test]
async fn a_replay_of_an_order_recovery_cancelled_is_a_409_order_cancelled() {
    let options = isolated(&[
        ("SPIN_VARIABLE_SAGA_RECOVERY_AFTER_SECS", "0"),
        ("SPIN_VARIABLE_CHARGE_TIMEOUT_MS", "300"),
        // Slower than the wait and than the recovery below: the charge never lands first.
        ("SPIN_VARIABLE_PAYMENT_SLOW_MS", "3000"),
    ]);
    let app = spawn_app_with(options);
    let product = app.stocked_product(3).await;
    let (_, token) = customer();
    let key = format!("abandoned-{}", uuid::Uuid::new_v4().simple());
    let body = json!({"items": [{"product_id": product, "quantity": 1}], "payment_method": "pm_card_slow"});
    let (status, first) = place(&app, &token, &key, &body).await.expect("an answer");
    assert_eq!(status, 202, "{first}");
    recover(&app).await;
    let resp = app.http.post(app.url("/api/v1/orders")).bearer_auth(&token).header("idempotency-key", &key).json(&body).send().await.expect("a replay");
    let problem = assert_problem(resp, 409).await;
    assert_eq!(problem["type"], "/problems/order-cancelled", "{problem}");
    assert_eq!(problem["order"]["id"], first["id"]);
    assert_eq!(problem["order"]["cancel_reason"], "abandoned");
    assert_eq!(problem["order"]["status"], 2);
}
