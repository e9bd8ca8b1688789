//! End-to-end: products and stock over real HTTP, against `galley`, the test Postgres and the
//! `cache` store in the test Redis. Private inventory operations are reached the way other
//! components reach them, by service chaining, through the harness's test-only chain proxy.

use std::time::Duration;

use galley_common::auth::{self, Claims, Role};
use serde_json::{json, Value};
use crate::support::*;

pub(crate) fn token(role: Role) -> String {
    let claims = Claims::new(uuid::Uuid::new_v4().to_string(), role, galley_common::unix_now());
    auth::issue(&claims, TEST_SECRET.as_bytes()).expect("sign test token")
}

pub(crate) fn unique_name(prefix: &str) -> String {
    format!("{prefix} {}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

fn order_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// What a request answered: status, `x-cache`, JSON body (or Null).
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) cache: Option<String>,
    pub(crate) body: Value,
}

async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status().as_u16();
    let cache = resp.headers().get("x-cache").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let bytes = resp.bytes().await.expect("body");
    Answer { status, cache, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
}

impl TestApp {
    pub(crate) async fn send(&self, method: reqwest::Method, path: &str, token: Option<&str>, body: Option<Value>) -> reqwest::Response {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("request")
    }

    pub(crate) async fn create_product(&self, price: &str) -> Value {
        let body = json!({"name": unique_name("Product"), "price": price, "description": "made in tests"});
        let resp = self.send(reqwest::Method::POST, "/api/v1/products", Some(&token(Role::Admin)), Some(body)).await;
        assert_eq!(resp.status(), 201, "create product");
        resp.json().await.expect("product json")
    }

    pub(crate) async fn product(&self, id: i64) -> Answer {
        answer(self.send(reqwest::Method::GET, &format!("/api/v1/products/{id}"), None, None).await).await
    }

    pub(crate) async fn restock(&self, id: i64, body: Value) -> Answer {
        let path = format!("/api/v1/inventory/{id}");
        answer(self.send(reqwest::Method::PUT, &path, Some(&token(Role::Admin)), Some(body)).await).await
    }

    /// A private inventory operation, by service chaining.
    pub(crate) async fn inventory(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Answer {
        answer(self.send(method, &format!("/_e2e/chain/inventory-adjust{path}"), None, body).await).await
    }

    pub(crate) async fn on_hand(&self, id: i64) -> i64 {
        let a = self.inventory(reqwest::Method::GET, &format!("/stock/{id}"), None).await;
        assert_eq!(a.status, 200, "stock of {id}: {}", a.body);
        a.body["on_hand"].as_i64().expect("on_hand")
    }

    pub(crate) async fn reserve(&self, order: &str, lines: Value) -> Answer {
        self.inventory(reqwest::Method::POST, "/reservations", Some(json!({"order_id": order, "lines": lines}))).await
    }

    pub(crate) async fn settle(&self, order: &str, action: &str) -> Answer {
        self.inventory(reqwest::Method::POST, &format!("/reservations/{order}/{action}"), None).await
    }

    /// A product with `stock` on hand.
    pub(crate) async fn stocked_product(&self, stock: i64) -> i64 {
        let id = self.create_product("3.00").await["id"].as_i64().expect("id");
        assert_eq!(self.restock(id, json!({"on_hand": stock})).await.status, 200);
        id
    }
}

pub(crate) fn id_of(product: &Value) -> i64 {
    product["id"].as_i64().expect("numeric id")
}

#[tokio::test]
async fn create_query_update_restock_through_the_cache() {
    let app = spawn_app();
    let created = app.create_product("12.5").await;
    let id = id_of(&created);
    assert_eq!(created["price"], "12.50");
    assert_eq!(created["description"], "made in tests");

    let first = app.product(id).await;
    assert_eq!((first.status, first.cache.as_deref()), (200, Some("miss")));
    assert_eq!(first.body["stock"], 0, "a new product has a zero stock row: {}", first.body);
    assert_eq!(first.body["price"], "12.50");
    let keys: Vec<&String> = first.body.as_object().expect("object").keys().collect();
    assert_eq!(keys.len(), 5, "id, name, price, description, stock: {keys:?}");
    let second = app.product(id).await;
    assert_eq!((second.status, second.cache.as_deref()), (200, Some("hit")));
    assert_eq!(second.body, first.body);

    // A write goes through product-query's route to product-admin and drops the cache entry.
    let admin = token(Role::Admin);
    let put = json!({"name": created["name"], "price": "15.00"});
    let resp = app.send(reqwest::Method::PUT, &format!("/api/v1/products/{id}"), Some(&admin), Some(put)).await;
    assert_eq!(resp.status(), 200);
    let updated: Value = resp.json().await.expect("json");
    assert_eq!(updated["price"], "15.00");
    assert_eq!(updated["description"], Value::Null, "PUT replaces: no description given, none kept");
    let after = app.product(id).await;
    assert_eq!((after.cache.as_deref(), &after.body["price"]), (Some("miss"), &json!("15.00")));
    assert_eq!(app.product(id).await.cache.as_deref(), Some("hit"));

    let patch = json!({"description": "now with a description"});
    let resp = app.send(reqwest::Method::PATCH, &format!("/api/v1/products/{id}"), Some(&admin), Some(patch)).await;
    assert_eq!(resp.status(), 200);
    let after = app.product(id).await;
    assert_eq!(after.cache.as_deref(), Some("miss"));
    assert_eq!(after.body["description"], "now with a description");
    assert_eq!(after.body["price"], "15.00", "PATCH keeps what it does not name");

    // Restock: set, then adjust; each drops the cache entry.
    let set = app.restock(id, json!({"on_hand": 7})).await;
    assert_eq!((set.status, &set.body["on_hand"]), (200, &json!(7)));
    let after = app.product(id).await;
    assert_eq!((after.cache.as_deref(), &after.body["stock"]), (Some("miss"), &json!(7)));
    assert_eq!(app.product(id).await.cache.as_deref(), Some("hit"));
    assert_eq!(app.restock(id, json!({"delta": -2})).await.body["on_hand"], 5);
    assert_eq!(app.product(id).await.body["stock"], 5);
    let below = app.restock(id, json!({"delta": -6})).await;
    assert_eq!(below.status, 409, "{}", below.body);
    assert_eq!(app.on_hand(id).await, 5, "a refused adjustment changes nothing");
}

#[tokio::test]
async fn an_expired_entry_is_refreshed() {
    let app = spawn_app_with(HostOptions {
        env: vec![("SPIN_VARIABLE_PRODUCT_CACHE_TTL_SECS".into(), "1".into())],
        ..HostOptions::default()
    });
    let id = id_of(&app.create_product("1.00").await);
    assert_eq!(app.product(id).await.cache.as_deref(), Some("miss"));
    assert_eq!(app.product(id).await.cache.as_deref(), Some("hit"));
    // Expiry is in whole seconds: after two, the entry is stale whatever the rounding.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let refreshed = app.product(id).await;
    assert_eq!((refreshed.status, refreshed.cache.as_deref()), (200, Some("miss")));
    assert_eq!(app.product(id).await.cache.as_deref(), Some("hit"), "the refreshed entry is served again");
}

#[tokio::test]
async fn a_cache_outage_is_never_a_5xx() {
    // A `cache` store on a Redis port where nothing listens.
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let app = spawn_app_with(HostOptions {
        runtime_config: Some(format!("[key_value_store.cache]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:{dead_port}\"\n")),
        ..HostOptions::default()
    });
    let id = id_of(&app.create_product("2.00").await);
    for _ in 0..2 {
        let a = app.product(id).await;
        assert_eq!((a.status, a.cache.as_deref()), (200, Some("miss")), "{}", a.body);
        assert_eq!(a.body["price"], "2.00");
    }
    assert_eq!(app.restock(id, json!({"on_hand": 3})).await.status, 200);
    assert_eq!(app.product(id).await.body["stock"], 3);
    assert!(app.host_log().contains("cache:"), "the outage is logged");
}

#[tokio::test]
async fn unknown_ids_are_404_and_not_cached_bad_ids_400() {
    let app = spawn_app();
    for _ in 0..2 {
        let resp = app.send(reqwest::Method::GET, "/api/v1/products/999999999", None, None).await;
        assert!(resp.headers().get("x-cache").is_none());
        assert_problem(resp, 404).await;
    }
    // Nothing was stored for it either: ask the test Redis itself.
    let redis_port = std::env::var("GALLEY_TEST_REDIS_PORT").expect("GALLEY_TEST_REDIS_PORT");
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &redis_port, "EXISTS", "product:999999999"])
        .output()
        .expect("redis-cli (installed with redis-server by scripts/services.sh)");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0", "an unknown id is never cached");
    for bad in ["abc", "0", "-1", "1.5", "1e3"] {
        let resp = app.send(reqwest::Method::GET, &format!("/api/v1/products/{bad}"), None, None).await;
        assert_problem(resp, 400).await;
    }
}

#[tokio::test]
async fn concurrent_reservations_never_oversell() {
    let app = spawn_app();
    let id = app.stocked_product(50).await;
    let lines = json!([{"product_id": id, "quantity": 1}]);
    let attempts = (0..200).map(|_| {
        let (app, lines) = (&app, lines.clone());
        async move { app.reserve(&order_id(), lines).await }
    });
    let answers = futures::future::join_all(attempts).await;
    let ok = answers.iter().filter(|a| a.status == 200).count();
    let refused = answers.iter().filter(|a| a.status == 409 && a.body["type"] == "/problems/insufficient-stock").count();
    assert_eq!((ok, refused), (50, 150), "exactly the stock is sold, the rest refused with 409");
    assert_eq!(app.on_hand(id).await, 0);
    assert_eq!(app.product(id).await.body["stock"], 0, "the read side sees it too");
}

#[tokio::test]
async fn the_same_order_reserved_concurrently_decrements_once() {
    let app = spawn_app();
    let id = app.stocked_product(20).await;
    let order = order_id();
    let lines = json!([{"product_id": id, "quantity": 3}]);
    let answers = futures::future::join_all((0..10).map(|_| app.reserve(&order, lines.clone()))).await;
    for a in &answers {
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.body["state"], "reserved");
    }
    assert_eq!(app.on_hand(id).await, 17);
    // The same order with other lines is a conflict, not a second reservation.
    let other = app.reserve(&order, json!([{"product_id": id, "quantity": 4}])).await;
    assert_eq!(other.status, 409);
    assert_eq!(app.on_hand(id).await, 17);
}

#[tokio::test]
async fn release_and_commit_are_idempotent() {
    let app = spawn_app();
    let id = app.stocked_product(10).await;
    let lines = json!([{"product_id": id, "quantity": 4}]);

    let released = order_id();
    assert_eq!(app.reserve(&released, lines.clone()).await.status, 200);
    assert_eq!(app.on_hand(id).await, 6);
    for _ in 0..2 {
        let a = app.settle(&released, "release").await;
        assert_eq!((a.status, &a.body["state"]), (200, &json!("released")));
    }
    assert_eq!(app.on_hand(id).await, 10, "restored once");
    assert_eq!(app.reserve(&released, lines.clone()).await.status, 409, "a released order stays released");
    assert_eq!(app.settle(&released, "commit").await.status, 409);

    let committed = order_id();
    assert_eq!(app.reserve(&committed, lines.clone()).await.status, 200);
    for _ in 0..2 {
        let a = app.settle(&committed, "commit").await;
        assert_eq!((a.status, &a.body["state"]), (200, &json!("committed")));
    }
    assert_eq!(app.settle(&committed, "release").await.status, 409, "paid stock is not given back");
    assert_eq!(app.on_hand(id).await, 6);

    // A release that overtakes its reserve leaves a tombstone: the late reserve takes nothing.
    let overtaken = order_id();
    assert_eq!(app.settle(&overtaken, "release").await.status, 200);
    assert_eq!(app.reserve(&overtaken, lines.clone()).await.status, 409);
    assert_eq!(app.on_hand(id).await, 6);
    assert_eq!(app.settle(&order_id(), "commit").await.status, 404, "nothing to commit");
}

/// One line is reserved in one statement when its stock is there; when it is not, or when the
/// order was seen before, the full path decides, and its answer stands.
#[tokio::test]
async fn a_one_line_refusal_stands_when_repeated_after_a_restock() {
    let app = spawn_app();
    let scarce = app.stocked_product(1).await;
    let order = order_id();
    let lines = json!([{"product_id": scarce, "quantity": 2}]);
    let first = app.reserve(&order, lines.clone()).await;
    assert_eq!((first.status, &first.body["type"]), (409, &json!("/problems/insufficient-stock")), "{}", first.body);
    assert_eq!(app.restock(scarce, json!({"on_hand": 10})).await.status, 200);
    let again = app.reserve(&order, lines).await;
    assert_eq!((again.status, &again.body["detail"]), (409, &first.body["detail"]), "{}", again.body);
    assert_eq!(app.on_hand(scarce).await, 10, "the repeat took nothing");
}

#[tokio::test]
async fn several_lines_with_one_short_reserve_nothing() {
    let app = spawn_app();
    let plenty = app.stocked_product(5).await;
    let scarce = app.stocked_product(1).await;
    let order = order_id();
    let lines = json!([{"product_id": plenty, "quantity": 2}, {"product_id": scarce, "quantity": 3}]);
    let a = app.reserve(&order, lines.clone()).await;
    assert_eq!((a.status, &a.body["type"]), (409, &json!("/problems/insufficient-stock")));
    let detail = a.body["detail"].as_str().expect("detail").to_owned();
    assert!(detail.contains(&format!("product {scarce} has 1 on hand, 3 requested")), "{detail}");
    assert_eq!((app.on_hand(plenty).await, app.on_hand(scarce).await), (5, 1), "nothing reserved");
    // The repeat answers the first outcome, even once the stock would suffice.
    assert_eq!(app.restock(scarce, json!({"on_hand": 10})).await.status, 200);
    let again = app.reserve(&order, lines).await;
    assert_eq!((again.status, again.body["detail"].as_str()), (409, Some(detail.as_str())));
    assert_eq!(app.on_hand(plenty).await, 5);

    let unknown = app.reserve(&order_id(), json!([{"product_id": 987654321, "quantity": 1}])).await;
    assert_eq!(unknown.status, 409);
    assert!(unknown.body["detail"].as_str().unwrap_or("").contains("unknown"), "{}", unknown.body);
}

#[tokio::test]
async fn bad_input_is_a_4xx_problem_and_writes_nothing() {
    let app = spawn_app();
    let id = id_of(&app.create_product("9.99").await);
    let admin = token(Role::Admin);
    let customer = token(Role::Customer);
    let good = json!({"name": unique_name("Good"), "price": "1.00"});
    let item = format!("/api/v1/products/{id}");
    use reqwest::Method as M;

    // Who: no token 401, a customer 403, on every write route.
    for (method, path) in [(M::POST, "/api/v1/products"), (M::PUT, item.as_str()), (M::PATCH, item.as_str())] {
        assert_problem(app.send(method.clone(), path, None, Some(good.clone())).await, 401).await;
        assert_problem(app.send(method.clone(), path, Some(&customer), Some(good.clone())).await, 403).await;
        assert_problem(app.send(method, path, Some("not-a-token"), Some(good.clone())).await, 401).await;
    }
    let restock = format!("/api/v1/inventory/{id}");
    assert_problem(app.send(M::PUT, &restock, Some(&customer), Some(json!({"on_hand": 5}))).await, 403).await;
    assert_problem(app.send(M::PUT, &restock, None, Some(json!({"on_hand": 5}))).await, 401).await;

    // What: each bad product is a 422 naming the field.
    let bad_products = [
        (json!({"name": "x", "price": "-1.00"}), "price"),
        (json!({"name": "x", "price": "0"}), "price"),
        (json!({"name": "x", "price": "1.234"}), "price"),
        (json!({"name": "x", "price": 1.234}), "price"),
        (json!({"name": "x", "price": "100000000"}), "price"),
        (json!({"name": "x".repeat(201), "price": "1.00"}), "name"),
        (json!({"name": "", "price": "1.00"}), "name"),
        (json!({"name": "x"}), "price"),
        (json!({"name": "x", "price": "1.00", "stock": 5}), "stock"),
    ];
    for (body, field) in bad_products {
        for (method, path) in [(M::POST, "/api/v1/products"), (M::PUT, item.as_str())] {
            let p = assert_problem(app.send(method, path, Some(&admin), Some(body.clone())).await, 422).await;
            assert!(p["detail"].as_str().unwrap_or("").contains(field), "{field}: {p}");
        }
    }
    let p = assert_problem(app.send(M::PATCH, &item, Some(&admin), Some(json!({"price": "0.001"}))).await, 422).await;
    assert!(p["detail"].as_str().unwrap_or("").contains("price"), "{p}");
    assert_problem(app.send(M::PATCH, &item, Some(&admin), Some(json!({}))).await, 422).await;
    for field in ["name", "price"] {
        let p = assert_problem(app.send(M::PATCH, &item, Some(&admin), Some(json!({ field: null }))).await, 422).await;
        assert!(p["detail"].as_str().unwrap_or("").contains("null"), "{field}: {p}");
    }

    // Malformed JSON, wrong media type, unknown product, bad ids.
    for (method, path) in [(M::POST, "/api/v1/products"), (M::PATCH, item.as_str()), (M::PUT, restock.as_str())] {
        let resp = app.http.request(method.clone(), app.url(path)).bearer_auth(&admin)
            .header("content-type", "application/json").body("not json").send().await.expect("request");
        let p = assert_problem(resp, 400).await;
        assert_eq!(p["type"], "/problems/malformed-body", "{path}");
        let resp = app.http.request(method, app.url(path)).bearer_auth(&admin)
            .header("content-type", "text/plain").body("hi").send().await.expect("request");
        assert_problem(resp, 415).await;
    }
    assert_problem(app.send(M::PUT, "/api/v1/products/999999999", Some(&admin), Some(good.clone())).await, 404).await;
    assert_problem(app.send(M::PUT, "/api/v1/products/abc", Some(&admin), Some(good.clone())).await, 400).await;
    assert_problem(app.send(M::PUT, "/api/v1/inventory/999999999", Some(&admin), Some(json!({"on_hand": 1}))).await, 404).await;
    assert_problem(app.send(M::PUT, "/api/v1/inventory/abc", Some(&admin), Some(json!({"on_hand": 1}))).await, 400).await;
    // JSON Schema's integers include 5.0; the contract says integer, so the code takes it.
    let whole = app.restock(id, json!({"on_hand": 5.0})).await;
    assert_eq!((whole.status, &whole.body["on_hand"]), (200, &json!(5)), "{}", whole.body);
    assert_eq!(app.restock(id, json!({"on_hand": 0})).await.status, 200);
    for body in [json!({"on_hand": -1}), json!({}), json!({"on_hand": 1, "delta": 1}), json!({"on_hand": "5"}), json!({"on_hand": 1.5})] {
        assert_problem(app.send(M::PUT, &restock, Some(&admin), Some(body)).await, 422).await;
    }
    assert_problem(app.send(M::DELETE, &item, Some(&admin), None).await, 405).await;
    assert_problem(app.send(M::GET, "/api/v1/products?limit=101", None, None).await, 400).await;

    // None of it changed the product or its stock.
    let now = app.product(id).await;
    assert_eq!((&now.body["price"], &now.body["stock"]), (&json!("9.99"), &json!(0)), "{}", now.body);
}

#[tokio::test]
async fn private_inventory_routes_are_404_from_outside() {
    let app = spawn_app();
    let id = app.stocked_product(3).await;
    let order = order_id();
    use reqwest::Method as M;
    for (method, path) in [
        (M::GET, format!("/stock/{id}")),
        (M::PUT, format!("/stock/{id}")),
        (M::POST, "/stock".to_owned()),
        (M::POST, "/reservations".to_owned()),
        (M::POST, format!("/reservations/{order}/release")),
        (M::POST, format!("/reservations/{order}/commit")),
    ] {
        let body = json!({"order_id": order, "lines": [{"product_id": id, "quantity": 1}], "on_hand": 0, "product_id": id});
        let resp = app.send(method, &path, Some(&token(Role::Admin)), Some(body)).await;
        // galley's own 404: no route matched, so no component (and no inventory) was reached.
        let problem = assert_problem(resp, 404).await;
        assert!(problem["detail"].as_str().unwrap().contains("route"), "the router's 404: {problem}");
    }
    assert_eq!(app.on_hand(id).await, 3, "nothing reached inventory");
}

#[tokio::test]
async fn the_listing_pages_by_id() {
    let app = spawn_app();
    let first = id_of(&app.create_product("1.00").await);
    let second = id_of(&app.create_product("1.00").await);
    assert!(second > first);
    let page = answer(app.send(reqwest::Method::GET, &format!("/api/v1/products?limit=1&after={}", first - 1), None, None).await).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.body["items"][0]["id"], first);
    assert_eq!(page.body["next_after"], first);
    // Walk every page: ids strictly ascend and each page holds at most `limit`.
    let (mut path, mut seen, mut last) = ("/api/v1/products?limit=100".to_owned(), 0usize, 0i64);
    loop {
        let page = answer(app.send(reqwest::Method::GET, &path, None, None).await).await;
        let items = page.body["items"].as_array().expect("items").clone();
        assert!(items.len() <= 100);
        for item in &items {
            let id = id_of(item);
            assert!(id > last, "ascending ids");
            last = id;
        }
        seen += items.len();
        match page.body["next_after"].as_i64() {
            Some(next) => path = format!("/api/v1/products?limit=100&after={next}"),
            None => break,
        }
    }
    assert!(seen >= 2 && last >= second);
}

// ---- What an outsider found (the defects report): each test below failed before its fix. ----

#[tokio::test]
async fn an_early_refusal_of_a_relayed_write_is_relayed_never_a_502() {
    let app = spawn_app();
    let id = id_of(&app.create_product("4.00").await);
    let item = format!("/api/v1/products/{id}");
    // product-admin refuses these from the head alone, without reading the body (just under the
    // 16 KiB limit) that product-query is still writing to it; sixteen at a time.
    let big = json!({"name": "x", "price": "1.00", "description": "d".repeat(15 * 1024)}).to_string();
    let customer = token(Role::Customer);
    let admin = token(Role::Admin);
    let mut seen = std::collections::BTreeMap::new();
    for batch in 0..25 {
        let requests = (0..16).map(|i| {
            let method = if (batch + i) % 2 == 0 { reqwest::Method::PUT } else { reqwest::Method::PATCH };
            let req = app.http.request(method, app.url(&item));
            let req = match i {
                0..=7 => req.bearer_auth(&customer).header("content-type", "application/json"),
                8..=11 => req.header("content-type", "application/json"),
                _ => req.bearer_auth(&admin).header("content-type", "text/plain"),
            };
            req.body(big.clone()).send()
        });
        for resp in futures::future::join_all(requests).await {
            *seen.entry(resp.expect("request").status().as_u16()).or_insert(0) += 1;
        }
    }
    assert!(seen.keys().all(|s| [401, 403, 415].contains(s)), "every answer is the callee's own: {seen:?}");
}

#[tokio::test]
async fn a_cache_that_comes_back_after_an_outage_serves_nothing_older_than_the_last_write() {
    let mut redis = RedisServer::start();
    let app = spawn_app_with(HostOptions { runtime_config: Some(cache_runtime_config(&redis.url())), ..HostOptions::default() });
    let id = id_of(&app.create_product("5.00").await);
    let item = format!("/api/v1/products/{id}");
    assert_eq!(app.product(id).await.cache.as_deref(), Some("miss"));
    assert_eq!(app.product(id).await.cache.as_deref(), Some("hit"));

    // The cache goes away; a write commits but cannot delete the entry.
    redis.shutdown();
    let renamed = unique_name("Renamed");
    let patch = app.send(reqwest::Method::PATCH, &item, Some(&token(Role::Admin)), Some(json!({"name": renamed}))).await;
    assert_eq!(patch.status(), 200);

    // It comes back: from then on, only the committed name may be served, cached or not.
    redis.restart();
    let mut served_from_cache = false;
    for _ in 0..50 {
        let a = app.product(id).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.body["name"], renamed.as_str(), "served {:?} from {:?}", a.body["name"], a.cache);
        if a.cache.as_deref() == Some("hit") {
            served_from_cache = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served_from_cache, "the cache is used again once it is back");
}

#[tokio::test]
async fn a_cache_known_to_be_down_is_not_reconnected_by_every_request() {
    // A "Redis" that accepts connections and drops them at once, counting them.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = listener.local_addr().expect("port").port();
    let connects = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = connects.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(stream);
        }
    });
    let app = spawn_app_with(HostOptions {
        runtime_config: Some(cache_runtime_config(&format!("redis://127.0.0.1:{port}"))),
        ..HostOptions::default()
    });
    let id = id_of(&app.create_product("6.00").await);
    let before = connects.load(std::sync::atomic::Ordering::SeqCst);
    let started = std::time::Instant::now();
    let reads = 40;
    for _ in 0..reads {
        let a = app.product(id).await;
        assert_eq!((a.status, a.cache.as_deref()), (200, Some("miss")), "{}", a.body);
    }
    let attempts = connects.load(std::sync::atomic::Ordering::SeqCst) - before;
    // Unguarded, each read tries (a get, then a set) at least twice. The breaker probes with
    // a doubling pause of at most a second: a few attempts while it backs off, then one per
    // second of the run, however many reads there are.
    let probes_allowed = 6 + started.elapsed().as_secs() as usize;
    assert!(attempts <= probes_allowed.min(reads / 2), "{attempts} connection attempts for {reads} reads");
}

#[tokio::test]
async fn prices_are_read_exactly_as_sent_or_refused() {
    let app = spawn_app();
    let admin = token(Role::Admin);
    let create = |price: &str| format!(r#"{{"name":"{}","price":{price}}}"#, unique_name("Exact"));
    let post = |body: String| {
        app.http.post(app.url("/api/v1/products")).bearer_auth(&admin).header("content-type", "application/json").body(body).send()
    };
    // A float would read this as 1.00.
    for refused in ["1.0000000000000001", r#""1.0000000000000000000000000000001""#, r#""1e5""#, r#""+1""#, r#"" 1""#, r#""03.4""#, "1e-3"] {
        let p = assert_problem(post(create(refused)).await.expect("request"), 422).await;
        assert!(p["detail"].as_str().unwrap().contains("price"), "{refused}: {p}");
    }
    for (sent, stored) in [("19.99", "19.99"), ("1e2", "100.00"), (r#""12.500""#, "12.50"), ("0.5", "0.50")] {
        let resp = post(create(sent)).await.expect("request");
        assert_eq!(resp.status(), 201, "{sent}");
        assert_eq!(resp.json::<Value>().await.unwrap()["price"], stored, "{sent}");
    }
}

#[tokio::test]
async fn a_body_that_stops_arriving_gets_a_4xx_soon_and_a_short_one_at_once() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app();
    let addr = app.base.trim_start_matches("http://").to_owned();
    let head = format!(
        "POST /api/v1/products HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"name\":",
        token(Role::Admin)
    );
    // Stalled: the connection stays open, the rest of the body never comes.
    let mut stalled = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    stalled.write_all(head.as_bytes()).await.expect("send");
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(30), stalled.read(&mut answer))
        .await
        .expect("an answer well before the request time limit")
        .expect("read");
    let text = String::from_utf8_lossy(&answer[..n]);
    // Behind the pace every body is held to (5 s, then 1 KiB/s): a 408, before galley's idle
    // timeout would end it.
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("application/problem+json") && text.contains("/problems/body-too-slow"), "{text}");

    // Short: the client closes its side before sending all it declared.
    let mut short = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    short.write_all(head.as_bytes()).await.expect("send");
    short.shutdown().await.expect("half-close");
    let mut text = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), short.read_to_string(&mut text)).await.expect("an answer");
    assert!(text.is_empty() || text.starts_with("HTTP/1.1 400"), "{text}");
}

#[tokio::test]
async fn head_on_products_is_get_without_a_body() {
    let app = spawn_app();
    let id = id_of(&app.create_product("7.00").await);
    for path in [format!("/api/v1/products/{id}"), "/api/v1/products?limit=1".to_string()] {
        let resp = app.http.head(app.url(&path)).send().await.expect("request");
        assert_eq!(resp.status(), 200, "{path}");
        assert_eq!(resp.headers()["content-type"], "application/json");
        assert!(resp.bytes().await.unwrap().is_empty(), "{path}");
    }
    let resp = app.http.head(app.url(&format!("/api/v1/products/{id}"))).send().await.expect("request");
    assert!(resp.headers().contains_key("x-cache"));
}

#[tokio::test]
async fn every_product_has_one_url() {
    let app = spawn_app();
    let id = id_of(&app.create_product("8.00").await);
    for path in [format!("/api/v1/products/0{id}"), format!("/api/v1/products/00{id}")] {
        assert_problem(app.send(reqwest::Method::GET, &path, None, None).await, 400).await;
    }
    let restock = format!("/api/v1/inventory/0{id}");
    assert_problem(app.send(reqwest::Method::PUT, &restock, Some(&token(Role::Admin)), Some(json!({"on_hand": 1}))).await, 400).await;
    assert_problem(app.send(reqwest::Method::GET, &format!("/api/v1/products?after=0{id}"), None, None).await, 400).await;
}

/// The shared app with two new products, at 1.50 and 2.50: (app, first id, second id).
async fn two_products() -> (TestApp, i64, i64) {
    let app = spawn_app();
    let (a, b) = (id_of(&app.create_product("1.50").await), id_of(&app.create_product("2.50").await));
    (app, a, b)
}

/// `GET /api/v1/products?<query>`, which must answer 200: the ids of its items, and the body.
async fn listed(app: &TestApp, query: &str) -> (Vec<i64>, Value) {
    let resp = app.send(reqwest::Method::GET, &format!("/api/v1/products?{query}"), None, None).await;
    assert_eq!(resp.status(), 200, "{query}");
    let body: Value = resp.json().await.expect("listing json");
    (body["items"].as_array().expect("items").iter().map(id_of).collect(), body)
}

#[tokio::test]
async fn a_batch_read_answers_the_products_that_exist_in_id_order() {
    let (app, a, b) = two_products().await;
    let (ids, body) = listed(&app, &format!("ids={b},999999999,{a},{b}")).await;
    assert_eq!(ids, vec![a, b], "{body}");
    assert_eq!(body["items"][0]["price"], "1.50");
    assert!(body.get("next_after").is_none(), "a batch is not a page: {body}");
    let hundred = (1..=100).map(|n| n.to_string()).collect::<Vec<_>>().join(",");
    // 101 ids are too many even when one repeats: the limit counts the ids as sent.
    for bad in ["ids=", "ids=1,x", "ids=0", &format!("ids={hundred},101"), &format!("ids={hundred},1")] {
        let resp = app.send(reqwest::Method::GET, &format!("/api/v1/products?{bad}"), None, None).await;
        assert_problem(resp, 400).await;
    }
}

/// Found by the contract fuzzer: a client that percent-encodes the commas (`%2C`, as URL
/// libraries do for reserved characters) asks for the same batch; `limit` decodes the same way;
/// a malformed `limit` or `after` is refused beside `ids` as anywhere else.
#[tokio::test]
async fn percent_encoded_query_values_mean_what_they_encode() {
    let (app, a, b) = two_products().await;
    let (ids, body) = listed(&app, &format!("ids={b}%2C{a}%2c{b}")).await;
    assert_eq!(ids, vec![a, b], "{body}");
    let (ids, page) = listed(&app, &format!("limit=%31&after={}", a - 1)).await;
    assert_eq!(ids, vec![a], "{page}");
    // A malformed limit or after is a 400 beside ids too, though they do not apply to a batch.
    for bad in ["limit=true", "after=null"] {
        assert_problem(app.send(reqwest::Method::GET, &format!("/api/v1/products?ids={a}&{bad}"), None, None).await, 400).await;
    }
    // An escape that decodes to something that is not an id is still the 400 that names it.
    let problem = assert_problem(app.send(reqwest::Method::GET, "/api/v1/products?ids=1%2Cx", None, None).await, 400).await;
    assert!(problem["detail"].as_str().unwrap_or("").contains("`x`"), "{problem}");
}
