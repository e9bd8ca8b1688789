//! What the gateway's GraphQL engine costs per resolved field, natively: a measurement, not a
//! test, so it is ignored by `cargo test` and run by `bench/gateway.sh` (`cargo test --release
//! -p gateway -- --ignored --exact field_cost::per_resolved_field --nocapture`). The screen
//! `bench/gateway.sh` loads over HTTP (a user with 20 orders of 5 lines, with and without each
//! line's product) is executed against canned downstream answers, so only the gateway's own
//! work is timed: building the schema, parsing and validating the document, resolving, and
//! writing the JSON answer. A resolved field is a key in the answer. The wasm component runs
//! the same code; the HTTP bench says what it costs there, with the chained calls. (A bench
//! target would need the crate to be an rlib too; a component crate is a cdylib only.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_graphql::Request;
use futures::future::{BoxFuture, FutureExt};
use crate::downstream::{Backend, Failure, CATALOG, ORDERS, USERS};
use crate::schema::{build, prepare, Viewer};
use serde_json::{json, Value};

const USER: &str = "0b4c6a5e-8a4e-4c4f-9d0e-3f4b5a6c7d8e";

/// The owning functions' answers for the screen.
struct Canned {
    user: Value,
    orders: Value,
    products: Value,
}

impl Backend for Canned {
    fn get(&self, component: &'static str, _path: String) -> BoxFuture<'static, Result<Value, Failure>> {
        let answer = match component {
            USERS => self.user.clone(),
            ORDERS => self.orders.clone(),
            CATALOG => self.products.clone(),
            other => panic!("the screen does not call {other}"),
        };
        async move { Ok(answer) }.boxed()
    }

    /// Ready at the next poll, as on Spin once every runnable task has run.
    fn next_turn(&self) -> BoxFuture<'static, ()> {
        let mut yielded = false;
        futures::future::poll_fn(move |cx| {
            if yielded {
                return std::task::Poll::Ready(());
            }
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        })
        .boxed()
    }
}

fn canned() -> Arc<Canned> {
    let lines: Vec<Value> = (1..=5).map(|p| json!({"product_id": p, "quantity": 1, "unit_price": "2.50"})).collect();
    let orders: Vec<Value> = (0..20)
        .map(|i| {
            json!({"id": format!("6f1c2b3a-4d5e-4f60-8a1b-2c3d4e5f6a{i:02}"), "user_id": USER, "status": 1, "amount": "12.50",
                   "payment_method": "pm_card_ok", "cancel_reason": null, "cancel_detail": null, "lines": lines,
                   "created_at": "2026-11-26T09:00:00Z"})
        })
        .collect();
    let products: Vec<Value> =
        (1..=5).map(|id| json!({"id": id, "name": format!("Benchmark item {id}"), "price": "2.50", "description": null})).collect();
    Arc::new(Canned {
        user: json!({"id": USER, "username": "bench", "mobile": "13800138000", "role": "customer", "created_at": "2026-11-26T09:00:00Z"}),
        orders: json!({"items": orders, "next_before": null}),
        products: json!({"items": products}),
    })
}

/// Keys in an answer: the fields resolved.
fn fields(value: &Value) -> usize {
    match value {
        Value::Object(map) => map.len() + map.values().map(fields).sum::<usize>(),
        Value::Array(items) => items.iter().map(fields).sum(),
        _ => 0,
    }
}

/// One request as the component serves it: a schema built, the document run, the answer written.
fn serve(query: &str, backend: &Arc<Canned>) -> Vec<u8> {
    let response = futures::executor::block_on(build().execute(prepare(Request::new(query), backend.clone(), Viewer::Anonymous)));
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    serde_json::to_vec(&response).expect("an answer is JSON")
}

/// The median time of `run`, over 9 rounds of `per_round` calls.
fn median(per_round: u32, mut run: impl FnMut()) -> Duration {
    let mut rounds: Vec<Duration> = (0..9)
        .map(|_| {
            let started = Instant::now();
            (0..per_round).for_each(|_| run());
            started.elapsed() / per_round
        })
        .collect();
    rounds.sort();
    rounds[4]
}

#[test]
#[ignore = "a measurement: bench/gateway.sh runs it"]
fn per_resolved_field() {
    let backend = canned();
    let line = |product: &str| format!("lines {{ productId quantity unitPrice {product} }}");
    let screen = |product: &str| {
        format!(
            "{{ userWithOrders(id: \"{USER}\") {{ user {{ id username mobile role createdAt }} orders {{ nodes {{ \
             id userId status amount paymentMethod cancelReason cancelDetail createdAt {} }} }} }} }}",
            line(product)
        )
    };
    let build_only = median(200, || drop(std::hint::black_box(build())));
    // After the test harness's own `test … ` line, so the table starts on a line of its own.
    println!();
    println!("| query | fields resolved | per request (µs) | per field (µs), schema build excluded |");
    println!("|---|---|---|---|");
    for (label, query) in [("userWithOrders", screen("")), ("userWithOrders+products", screen("product { id name price }"))] {
        let answer: Value = serde_json::from_slice(&serve(&query, &backend)).expect("JSON");
        let resolved = fields(&answer["data"]);
        let per_request = median(100, || drop(std::hint::black_box(serve(&query, &backend))));
        let per_field = per_request.saturating_sub(build_only).as_secs_f64() * 1e6 / resolved as f64;
        println!("| {label} | {resolved} | {:.0} | {per_field:.2} |", per_request.as_secs_f64() * 1e6);
    }
    println!();
    println!("Building the schema (every request: a component instance lives for one request): {:.0} µs.", build_only.as_secs_f64() * 1e6);
}
