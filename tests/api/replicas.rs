//! End-to-end: replicas that agree. Three `galley` processes behind nginx (Debian's package,
//! a plain process), every one with its `cache` store on the one test Redis and its databases
//! in the one test Postgres, so any replica may answer any request. What one replica did is
//! what every other one sees; losing one mid-load loses no order and charges none twice.
//!
//! (`make test` also re-runs the catalog and orders contention tests with
//! `GALLEY_E2E_REPLICAS=3`, which puts every app the harness spawns behind the balancer.)

use std::collections::HashMap;
use std::time::{Duration, Instant};

use galley_common::auth::{self, Claims, Role};
use serde_json::{json, Value};

use crate::catalog::{id_of, token};
use crate::support::*;

#[tokio::test]
async fn a_write_through_one_replica_is_never_served_stale_by_another() {
    let app = shared_replicas();
    let n = app.replica_count();
    let replicas: Vec<TestApp> = (0..n).map(|i| app.replica(i)).collect();
    let id = id_of(&replicas[0].create_product("10.00").await);
    let admin = token(Role::Admin);
    for round in 0..6usize {
        // Every replica has served (and cached) the current version.
        for r in &replicas {
            r.product(id).await;
            assert_eq!(r.product(id).await.cache.as_deref(), Some("hit"), "round {round}: warmed");
        }
        let writer = &replicas[round % n];
        let price = format!("{}.{:02}", 11 + round, round);
        let stock = 100 + round as i64;
        if round % 2 == 0 {
            let resp = writer
                .send(reqwest::Method::PATCH, &format!("/api/v1/products/{id}"), Some(&admin), Some(json!({"price": price})))
                .await;
            assert_eq!(resp.status(), 200, "round {round}: PATCH via replica {}", round % n);
            assert_eq!(writer.restock(id, json!({"on_hand": stock})).await.status, 200);
        } else {
            assert_eq!(writer.restock(id, json!({"on_hand": stock})).await.status, 200);
            let resp = writer
                .send(reqwest::Method::PATCH, &format!("/api/v1/products/{id}"), Some(&admin), Some(json!({"price": price})))
                .await;
            assert_eq!(resp.status(), 200);
        }
        // The writes have returned: every other replica, and the balancer, serve the new version.
        for (i, r) in replicas.iter().enumerate().filter(|(i, _)| *i != round % n) {
            let a = r.product(id).await;
            assert_eq!((a.status, &a.body["price"], &a.body["stock"]), (200, &json!(price), &json!(stock)), "round {round}: replica {i} after a write via replica {}", round % n);
        }
        let a = app.product(id).await;
        assert_eq!((&a.body["price"], &a.body["stock"]), (&json!(price), &json!(stock)), "round {round}: through the balancer");
    }
}

#[tokio::test]
async fn a_token_from_one_replica_works_on_every_other() {
    let app = shared_replicas();
    let n = app.replica_count();
    let name = unique_username("replica");
    assert_eq!(app.replica(0).register(&name, "replica-password").await.status(), 201);
    // Registered via replica 0, logged in via replica 1: the user is in the shared database.
    let token = app.replica(1 % n).token_for(&name, "replica-password").await;
    let id = auth::verify(&token, TEST_SECRET.as_bytes()).expect("a token this app signed").sub;
    for i in 0..n {
        let resp = app.replica(i).lookup(&id, Some(&token)).await;
        assert_eq!(resp.status(), 200, "replica {i} accepts a token replica 1 issued");
        assert_eq!(resp.json::<Value>().await.unwrap()["username"], name.as_str());
    }
    assert_eq!(app.lookup(&id, Some(&token)).await.status(), 200, "through the balancer");
    assert_eq!(app.replica(n - 1).lookup(&id, Some("not-a-token")).await.status(), 401);
}

/// An order request as a careful client sends it through a balancer: a 502/503/504 or a
/// broken connection means "unknown", so it is sent again with the same Idempotency-Key
/// until the app gives an answer. Returns (final status, body, attempts).
async fn order_until_answered(app: &TestApp, token: &str, key: &str, body: &Value) -> (u16, Value, usize) {
    for attempt in 1..=20 {
        let sent = app.http.post(app.url("/api/v1/orders")).bearer_auth(token).header("idempotency-key", key).json(body).send().await;
        match sent {
            Ok(resp) if ![502, 503, 504].contains(&resp.status().as_u16()) => {
                let status = resp.status().as_u16();
                return (status, resp.json().await.unwrap_or(Value::Null), attempt);
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    panic!("order {key} got no answer in 20 attempts");
}

#[tokio::test]
async fn a_replica_killed_under_load_loses_no_order_and_charges_none_twice() {
    // Recovery may take any unsettled saga at once (no live request is left when it runs).
    let app = spawn_replicas(
        3,
        HostOptions { env: vec![("SPIN_VARIABLE_SAGA_RECOVERY_AFTER_SECS".into(), "0".into())], ..HostOptions::default() },
    );
    let product = app.stocked_product(1000).await;
    const ORDERS: usize = 60;
    let buyers: Vec<(String, String, String)> = (0..ORDERS)
        .map(|_| {
            let user = uuid::Uuid::new_v4().to_string();
            let claims = Claims::new(user.clone(), Role::Customer, galley_common::unix_now());
            let token = auth::issue(&claims, TEST_SECRET.as_bytes()).expect("sign");
            (user, token, format!("key-{}", uuid::Uuid::new_v4().simple()))
        })
        .collect();
    let body = json!({"items": [{"product_id": product, "quantity": 1}], "payment_method": "pm_card_ok"});
    let started = Instant::now();
    // Mid-run: a fifth of the orders answered, the rest in flight or waiting.
    let (answers, done_at_kill) = kill_mid_load(
        &buyers,
        12,
        ORDERS / 5,
        |(_, token, key)| {
            let (app, body) = (&app, &body);
            async move { (key.clone(), order_until_answered(app, token, key, body).await) }
        },
        |_| true,
        || app.kill_replica(1),
    )
    .await;
    assert!(done_at_kill < ORDERS, "the replica died while orders were still running");
    let answers: HashMap<String, (u16, Value, usize)> = answers.into_iter().collect();
    let retried = answers.values().filter(|a| a.2 > 1).count();
    assert!(retried >= 1, "the kill cut some order short (its client saw a 502 and retried)");
    for (key, (status, body, _)) in &answers {
        assert!(matches!(status, 201 | 202), "{key}: every order is answered paid or pending, got {status}: {body}");
    }
    // The balancer routes around the dead replica: orders keep being paid after it died.
    let after: Vec<_> = (0..10).map(|_| app.buy_once(product)).collect();
    for status in futures::future::join_all(after).await {
        assert_eq!(status, 201, "a fresh order after the kill");
    }

    // Recovery settles what the dead replica left (a saga mid-reserve or mid-charge).
    let recovered = app
        .http
        .post(app.url("/api/v1/admin/sagas/recover"))
        .bearer_auth(token(Role::Admin))
        .send()
        .await
        .expect("recover");
    assert_eq!(recovered.status(), 200);
    let report: Value = recovered.json().await.unwrap();

    // One order per key; each settled; orders, payments and stock agree.
    let keys: Vec<String> = buyers.iter().map(|b| b.2.clone()).collect();
    let orders = database("orders").await;
    let rows = orders
        .query(
            "SELECT idempotency_key, id::text, status, saga_state, total::text FROM orders WHERE idempotency_key = ANY($1)",
            &[&keys],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), ORDERS, "exactly one order per Idempotency-Key: none lost, none doubled");
    let payments = database("payments").await;
    let mut paid = 0;
    for row in &rows {
        let (key, id, status, saga, amount): (String, String, i16, String, String) = (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        let payment = payments
            .query_opt("SELECT state, amount::text FROM payments WHERE order_id = $1::text::uuid", &[&id])
            .await
            .unwrap()
            .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)));
        match (status, saga.as_str()) {
            (1, "completed") => {
                assert_eq!(payment, Some(("charged".into(), amount.clone())), "order {id} is paid: charged once, its amount");
                paid += 1;
            }
            (2, "cancelled") => {
                assert_ne!(payment.as_ref().map(|p| p.0.as_str()), Some("charged"), "cancelled order {id} keeps no charge");
                assert_ne!(answers[&key].0, 201, "an order answered 201 (paid) is never cancelled later");
            }
            other => panic!("order {id} left unsettled after recovery: {other:?}; report {report}"),
        }
    }
    let after_orders = 10;
    assert_eq!(app.on_hand(product).await, 1000 - paid - after_orders, "stock agrees with what was paid");
    eprintln!(
        "killed replica 1 after {done_at_kill}/{ORDERS} answers; {retried} orders needed a retry; {paid} paid, {} cancelled by recovery; {:.1} s",
        ORDERS as i64 - paid,
        started.elapsed().as_secs_f64()
    );
}

impl TestApp {
    /// One order of one unit by a fresh customer; its status.
    async fn buy_once(&self, product: i64) -> u16 {
        let claims = Claims::new(uuid::Uuid::new_v4().to_string(), Role::Customer, galley_common::unix_now());
        let token = auth::issue(&claims, TEST_SECRET.as_bytes()).expect("sign");
        let body = json!({"items": [{"product_id": product, "quantity": 1}], "payment_method": "pm_card_ok"});
        order_until_answered(self, &token, &format!("key-{}", uuid::Uuid::new_v4().simple()), &body).await.0
    }
}
