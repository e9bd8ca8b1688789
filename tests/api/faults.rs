//! End-to-end fault injection (issue #14): while requests flow, a dependency fails under a
//! running app, and the tests check what the clients were answered and what was stored.
//!
//! - Postgres is stopped and started again (a server of the test's own: the shared test
//!   Postgres serves every other test and is never stopped);
//! - the Redis that carries the `cache` store and the order events is stopped and started;
//! - the payments database is made slow by a delaying TCP proxy written here.
//!
//! Every request has a client timeout: a request that is not answered in time is a hang and
//! fails the test. Timings are only bounded generously ("it did not hang"); the figures a run
//! saw are printed (`-- --nocapture`) for the README and reports, never asserted.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use galley_common::auth::Role;
use galley_e2e::consistency;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::catalog::token;
use crate::support::*;

/// Longer than any answer the app documents (a saga's step timeouts included): a request still
/// unanswered after this is a hang.
const HANG_BOUND: Duration = Duration::from_secs(15);
/// An outage answer must be fast; this only proves it did not wait for the database to return.
const FAST_BOUND: Duration = Duration::from_secs(5);

/// One request of the load: which route, when it started, how long it took, what it answered.
#[derive(Debug, Clone)]
struct Outcome {
    route: &'static str,
    started: Instant,
    took: Duration,
    /// None: no answer within [`HANG_BOUND`] (or the connection failed).
    status: Option<u16>,
    problem: bool,
    body: Value,
}

impl Outcome {
    fn ended(&self) -> Instant {
        self.started + self.took
    }

    fn ok(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Sends one request and records what it answered.
async fn send(route: &'static str, req: reqwest::RequestBuilder) -> Outcome {
    let started = Instant::now();
    let (status, problem, body) = match req.timeout(HANG_BOUND).send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            let body = resp.json::<Value>().await.unwrap_or(Value::Null);
            (Some(status), ct == "application/problem+json", body)
        }
        Err(_) => (None, false, Value::Null),
    };
    Outcome { route, started, took: started.elapsed(), status, problem, body }
}

/// Concurrent clients, each sending its route's requests one after another until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    outcomes: Arc<Mutex<Vec<Outcome>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn new() -> Load {
        Load { stop: Arc::default(), outcomes: Arc::default(), tasks: Vec::new() }
    }

    /// `clients` clients sending `request(n)` for n = 0, 1, 2, … (each client its own numbers).
    fn clients<F, Fut>(&mut self, clients: usize, request: F)
    where
        F: Fn(u64) -> Fut + Send + Sync + Clone + 'static,
        Fut: std::future::Future<Output = Outcome> + Send,
    {
        for client in 0..clients as u64 {
            let (stop, outcomes, request) = (self.stop.clone(), self.outcomes.clone(), request.clone());
            self.tasks.push(tokio::spawn(async move {
                let mut n = client << 32;
                while !stop.load(Ordering::Relaxed) {
                    let outcome = request(n).await;
                    outcomes.lock().expect("outcomes").push(outcome);
                    n += 1;
                    // Breathing room for the 2-core machine; the load is about overlap, not rate.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }));
        }
    }

    /// The shop's everyday traffic on `product`: `clients` buyers ordering it, as many reading it.
    fn orders_and_reads(&mut self, app: &Arc<TestApp>, product: i64, clients: usize) {
        let (a, buyer) = (app.clone(), buyer_token());
        self.clients(clients, move |_| send("order", order_request(&a, &buyer, product)));
        let a = app.clone();
        self.clients(clients, move |_| send("read", product_request(&a, product)));
    }

    /// What was answered so far.
    fn snapshot(&self) -> Vec<Outcome> {
        self.outcomes.lock().expect("outcomes").clone()
    }

    /// Waits (at most `bound`) until every route in `routes` has a 2xx answer to a request
    /// started after `since`; returns when each route first answered 2xx after it.
    async fn until_each_ok(&self, routes: &[&'static str], since: Instant, bound: Duration) -> BTreeMap<&'static str, Duration> {
        let deadline = Instant::now() + bound;
        loop {
            let firsts: BTreeMap<&'static str, Duration> = routes
                .iter()
                .filter_map(|route| {
                    self.snapshot()
                        .iter()
                        .filter(|o| o.route == *route && o.started >= since && o.ok())
                        .map(|o| o.ended() - since)
                        .min()
                        .map(|d| (*route, d))
                })
                .collect();
            if firsts.len() == routes.len() || Instant::now() > deadline {
                return firsts;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn finish(self) -> Vec<Outcome> {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.expect("load client");
        }
        Arc::try_unwrap(self.outcomes).expect("clients ended").into_inner().expect("outcomes")
    }
}

/// Answers counted by route and status ("none" for no answer), for assertions' messages and
/// the printed figures.
fn tally<'a>(outcomes: impl IntoIterator<Item = &'a Outcome>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for o in outcomes {
        let status = o.status.map_or("none".to_string(), |s| s.to_string());
        *counts.entry(format!("{} {status}", o.route)).or_default() += 1;
    }
    counts
}

/// Every request got an answer within [`HANG_BOUND`].
fn assert_no_hang(outcomes: &[Outcome]) {
    let hung: Vec<_> = outcomes.iter().filter(|o| o.status.is_none()).collect();
    assert!(hung.is_empty(), "{} requests were not answered within {HANG_BOUND:?}: {hung:?}", hung.len());
}

/// The `q`-quantile of the durations (nearest rank).
fn quantile(mut durations: Vec<Duration>, q: f64) -> Duration {
    assert!(!durations.is_empty(), "no samples");
    durations.sort();
    let rank = ((q * durations.len() as f64).ceil() as usize).clamp(1, durations.len());
    durations[rank - 1]
}

/// Runs a blocking operation on a server (stop, start) off the runtime, so the load keeps
/// flowing meanwhile, and hands the server back.
async fn off_runtime<T: Send + 'static>(mut server: T, work: impl FnOnce(&mut T) + Send + 'static) -> T {
    tokio::task::spawn_blocking(move || {
        work(&mut server);
        server
    })
    .await
    .expect("blocking work")
}

fn order_body(product: i64) -> Value {
    json!({"items": [{"product_id": product, "quantity": 1}], "payment_method": "pm_card_ok"})
}

/// A customer token for a fresh user id (orders reference users by id only).
fn buyer_token() -> String {
    token(Role::Customer)
}

/// `POST /api/v1/orders` of one unit, with a fresh idempotency key.
fn order_request(app: &TestApp, token: &str, product: i64) -> reqwest::RequestBuilder {
    let key = format!("faults-{}", uuid::Uuid::new_v4().simple());
    app.http.post(app.url("/api/v1/orders")).bearer_auth(token).header("idempotency-key", key).json(&order_body(product))
}

fn product_request(app: &TestApp, product: i64) -> reqwest::RequestBuilder {
    app.http.get(app.url(&format!("/api/v1/products/{product}")))
}

async fn recover(app: &TestApp) -> Value {
    let resp = app.http.post(app.url("/api/v1/admin/sagas/recover")).bearer_auth(token(Role::Admin)).send().await.expect("recover");
    assert_eq!(resp.status(), 200, "recovery");
    resp.json().await.expect("recovery report")
}

/// The app on its own Postgres and its own Redis (the `cache` store and the order events):
/// nothing it does reaches, or can be disturbed by, the other tests' services (nor do the
/// sagas a fault leaves unsettled wait for the other tests' recoveries).
fn app_on_own_services() -> (PostgresServer, RedisServer, Arc<TestApp>) {
    let pg = PostgresServer::start();
    let redis = RedisServer::start();
    let app = app_on(pg.port, &redis, &[]);
    (pg, redis, app)
}

/// The app with its databases at `db_port` and its Redis `redis`, plus variables `extra`.
fn app_on(db_port: u16, redis: &RedisServer, extra: &[(&str, &str)]) -> Arc<TestApp> {
    let mut env = vec![
        ("SPIN_VARIABLE_DB_PORT".to_string(), db_port.to_string()),
        ("SPIN_VARIABLE_REDIS_PORT".to_string(), redis.port.to_string()),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Arc::new(spawn_app_with(HostOptions {
        env,
        runtime_config: Some(cache_runtime_config(&redis.url())),
        ..HostOptions::default()
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_outage_is_a_fast_503_and_the_app_serves_again_without_a_restart() {
    let (pg, _redis, app) = app_on_own_services();
    const STOCK: i64 = 100_000;
    let product = app.stocked_product(STOCK).await;

    let mut load = Load::new();
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let a = app.clone();
    load.clients(2, move |n| {
        let body = json!({"username": format!("pgout_{run}_{n:x}"), "password": "customer-password", "mobile": MOBILE});
        send("register", a.http.post(a.url("/api/v1/users")).json(&body))
    });
    let a = app.clone();
    load.clients(2, move |_| {
        let req = a.http.put(a.url(&format!("/api/v1/inventory/{product}"))).bearer_auth(token(Role::Admin)).json(&json!({"delta": 1}));
        send("restock", req)
    });
    load.orders_and_reads(&app, product, 2);

    tokio::time::sleep(Duration::from_secs(2)).await;
    let pg = off_runtime(pg, |pg| pg.stop(StopMode::Fast)).await;
    let down = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let restarting = Instant::now();
    let pg = off_runtime(pg, PostgresServer::restart).await;
    let up = Instant::now();
    let routes = ["register", "restock", "order", "read"];
    let recovered = load.until_each_ok(&routes, up, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let outcomes = load.finish().await;

    let during: Vec<&Outcome> = outcomes.iter().filter(|o| o.started >= down && o.ended() <= restarting).collect();
    println!("postgres outage: every answer {:?}", tally(&outcomes));
    println!("postgres outage: answers while it was down {:?}", tally(during.iter().copied()));
    println!("postgres outage: first 2xx after the restart, per route {recovered:?}");
    assert_no_hang(&outcomes);
    // No 500 and no other failure than the outage's own 503 at any time, transitions included
    // (a request running when the server stopped is an outage answer too).
    let wrong: Vec<_> = outcomes.iter().filter(|o| !(o.ok() || o.status == Some(503))).collect();
    assert!(wrong.is_empty(), "answers that are neither 2xx nor 503: {wrong:?}\nhost log:\n{}", app.host_log());
    for o in outcomes.iter().filter(|o| o.status == Some(503)) {
        assert!(o.problem && o.body["status"] == 503 && o.body["type"].is_string(), "a 503 is problem+json: {o:?}");
    }
    // While the database was down: every write answered 503, fast. (Reads may still be
    // served from the cache: a 200 then is the documented answer.)
    for route in ["register", "restock", "order"] {
        let answers: Vec<_> = during.iter().filter(|o| o.route == route).collect();
        assert!(!answers.is_empty(), "no {route} request ran during the outage");
        for o in answers {
            assert_eq!(o.status, Some(503), "{route} during the outage: {o:?}");
            assert!(o.took < FAST_BOUND, "{route} waited for the database instead of failing fast: {o:?}");
        }
    }
    // After the restart every route answered 2xx again, from the same galley process.
    assert_eq!(recovered.len(), routes.len(), "routes that never answered 2xx again: {recovered:?}\nhost log:\n{}", app.host_log());

    // No 2xx lost its write.
    let users = pg.database("users").await;
    for o in outcomes.iter().filter(|o| o.route == "register" && o.ok()) {
        let id = o.body["id"].as_str().expect("registered user id");
        let rows = users.query("SELECT 1 FROM users WHERE id = $1::text::uuid", &[&id]).await.expect("users");
        assert_eq!(rows.len(), 1, "user {id} answered {:?} but is not stored", o.status);
    }
    let orders = pg.database("orders").await;
    for o in outcomes.iter().filter(|o| o.route == "order" && o.ok()) {
        let id = o.body["id"].as_str().expect("order id");
        let row = orders.query_opt("SELECT status FROM orders WHERE id = $1::text::uuid", &[&id]).await.expect("orders");
        let stored: Option<i16> = row.map(|r| r.get(0));
        // 201 is a paid order; a 202 one recorded and still settling.
        let kept = if o.status == Some(201) { stored == Some(1) } else { stored.is_some() };
        assert!(kept, "order {id} answered {:?}, stored with status {stored:?}", o.status);
    }
    // Stock moves only by restocks (+1 each) and reservations (−1 each): the restocks that
    // took effect are what is left once reservations are added back, at least every 200.
    let inventory = pg.database("inventory").await;
    let on_hand: i64 = inventory.query_one("SELECT on_hand::bigint FROM stock WHERE product_id = $1", &[&product]).await.expect("stock").get(0);
    let reserved: i64 = inventory
        .query_one(
            "SELECT coalesce(sum(l.quantity), 0)::bigint FROM reservation_lines l JOIN reservations r USING (order_id) \
             WHERE l.product_id = $1 AND r.state IN ('reserved', 'committed')",
            &[&product],
        )
        .await
        .expect("reservations")
        .get(0);
    let applied = on_hand + reserved - STOCK;
    let restocks: Vec<_> = outcomes.iter().filter(|o| o.route == "restock").collect();
    let answered_ok = restocks.iter().filter(|o| o.ok()).count() as i64;
    assert!(
        (answered_ok..=restocks.len() as i64).contains(&applied),
        "{applied} restocks applied, {answered_ok} answered 200 of {} sent",
        restocks.len()
    );
}

/// Paid orders' events, from the orders database: (order id, published?).
async fn outbox_of(orders: &tokio_postgres::Client, ids: &[String]) -> BTreeMap<String, bool> {
    let sql = "SELECT order_id::text, published_at IS NOT NULL FROM outbox WHERE order_id::text = ANY($1)";
    consistency::pairs(orders, sql, ids).await.expect("outbox")
}

/// How many notifications each order has in the notifications database.
async fn notifications_of(notifications: &tokio_postgres::Client, ids: &[String]) -> BTreeMap<String, i64> {
    let sql = "SELECT order_id::text, count(*) FROM notifications WHERE order_id::text = ANY($1) GROUP BY 1";
    consistency::pairs(notifications, sql, ids).await.expect("notifications")
}

fn order_ids<'a>(outcomes: impl IntoIterator<Item = &'a Outcome>) -> Vec<String> {
    outcomes.into_iter().filter_map(|o| o.body["id"].as_str().map(str::to_owned)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_outage_keeps_reads_and_orders_up_and_recovery_publishes_the_waiting_events() {
    let (pg, redis, app) = app_on_own_services();
    let product = app.stocked_product(100_000).await;

    let mut load = Load::new();
    load.orders_and_reads(&app, product, 2);

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let redis = off_runtime(redis, RedisServer::shutdown).await;
    let down = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let restarting = Instant::now();
    // Orders placed while Redis was down: paid, their events waiting in the outbox.
    let orders = pg.database("orders").await;
    let during: Vec<Outcome> = load.snapshot().into_iter().filter(|o| o.route == "order" && o.started >= down).collect();
    let waiting = order_ids(&during);
    assert!(!waiting.is_empty(), "no order was placed while Redis was down");
    let outbox = outbox_of(&orders, &waiting).await;
    assert_eq!(outbox.len(), waiting.len(), "every paid order has its event in the outbox: {outbox:?}");
    assert!(outbox.values().all(|published| !published), "nothing could be published while Redis was down: {outbox:?}");
    let redis = off_runtime(redis, RedisServer::restart).await;
    // New orders go on; each publishes its own event, not the ones left waiting.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let outcomes = load.finish().await;
    println!("redis outage: every answer {:?}", tally(&outcomes));
    println!(
        "redis outage: answers while it was down {:?}",
        tally(outcomes.iter().filter(|o| o.started >= down && o.ended() <= restarting))
    );
    assert_no_hang(&outcomes);
    // Reads come from the database and orders are paid: no Redis failure reaches a client.
    for o in &outcomes {
        let expected = if o.route == "order" { 201 } else { 200 };
        assert_eq!(o.status, Some(expected), "{o:?}\nhost log:\n{}", app.host_log());
    }
    let outbox = outbox_of(&orders, &waiting).await;
    assert!(outbox.values().all(|published| !published), "only recovery publishes what the outage left: {outbox:?}");

    // Recovery (the scheduler's job) publishes them; it counts an event out only once a
    // subscriber got it, so it is repeated until the trigger has resubscribed.
    let paid = order_ids(&outcomes);
    let notifications = pg.database("notifications").await;
    let started = Instant::now();
    let mut published = 0;
    let mut notified = BTreeMap::new();
    while started.elapsed() < Duration::from_secs(20) {
        published += recover(&app).await["events_published"].as_u64().expect("events_published");
        tokio::time::sleep(Duration::from_millis(300)).await;
        notified = notifications_of(&notifications, &paid).await;
        if notified.len() == paid.len() {
            break;
        }
    }
    println!(
        "redis outage: {} orders, {} of them while Redis was down; recovery published {published} events, all notified {:?} after the first recovery",
        paid.len(),
        waiting.len(),
        started.elapsed()
    );
    assert!(outbox_of(&orders, &paid).await.values().all(|published| *published), "every event is published");
    assert!(published as usize >= waiting.len(), "recovery published the waiting events ({published})");
    assert_eq!(notified.len(), paid.len(), "every paid order is notified: {notified:?}\nhost log:\n{}", app.host_log());
    assert!(notified.values().all(|n| *n == 1), "once each: {notified:?}");
    drop(redis);
}

/// A TCP proxy in front of Postgres that can make one database slow: it reads each
/// connection's startup message, and on connections to `slow_database` holds every chunk the
/// client sends for the current delay before passing it on. Other databases pass untouched.
struct DelayProxy {
    port: u16,
    delay_ms: Arc<AtomicU64>,
    accept: tokio::task::JoinHandle<()>,
}

impl DelayProxy {
    async fn start(upstream: u16, slow_database: &'static str) -> DelayProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy port");
        let port = listener.local_addr().expect("proxy address").port();
        let delay_ms = Arc::new(AtomicU64::new(0));
        let delay = delay_ms.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let delay = delay.clone();
                tokio::spawn(async move {
                    // A failed connection is the client's problem to report, not the proxy's.
                    let _ = pipe(client, upstream, slow_database, delay).await;
                });
            }
        });
        DelayProxy { port, delay_ms, accept }
    }

    fn set_delay(&self, delay: Duration) {
        self.delay_ms.store(delay.as_millis() as u64, Ordering::Relaxed);
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Reads one length-prefixed startup-phase message (Int32 length, itself included).
async fn read_startup(client: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    client.read_exact(&mut len).await?;
    let mut message = len.to_vec();
    message.resize(u32::from_be_bytes(len) as usize, 0);
    client.read_exact(&mut message[4..]).await?;
    Ok(message)
}

/// The `database` parameter of a startup message (protocol, then `name\0value\0` pairs).
fn startup_database(message: &[u8]) -> Option<String> {
    let params: Vec<&[u8]> = message.get(8..)?.split(|b| *b == 0).collect();
    params.chunks(2).find(|pair| pair[0] == b"database").and_then(|pair| pair.get(1)).map(|v| String::from_utf8_lossy(v).into_owned())
}

async fn pipe(mut client: TcpStream, upstream: u16, slow_database: &str, delay_ms: Arc<AtomicU64>) -> std::io::Result<()> {
    let mut server = TcpStream::connect(("127.0.0.1", upstream)).await?;
    let mut startup = read_startup(&mut client).await?;
    // An SSLRequest (code 80877103) comes first if the client asks for TLS: refused ('N'),
    // then the real startup message follows.
    if startup.get(4..8) == Some(&80877103u32.to_be_bytes()[..]) {
        client.write_all(b"N").await?;
        startup = read_startup(&mut client).await?;
    }
    let slow = startup_database(&startup).as_deref() == Some(slow_database);
    server.write_all(&startup).await?;
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream_copy = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = client_read.read(&mut buf).await?;
            if n == 0 {
                return server_write.shutdown().await;
            }
            let delay = delay_ms.load(Ordering::Relaxed);
            if slow && delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            server_write.write_all(&buf[..n]).await?;
        }
    };
    let downstream_copy = tokio::io::copy(&mut server_read, &mut client_write);
    let (up, down) = tokio::join!(upstream_copy, downstream_copy);
    up.and(down.map(drop))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_payments_database_makes_orders_202_in_their_budget_and_other_routes_keep_their_p99() {
    let (pg, redis) = (PostgresServer::start(), RedisServer::start());
    let proxy = DelayProxy::start(pg.port, "payments").await;
    // Every product read goes to its databases (catalog, inventory), never the cache.
    let app = app_on(proxy.port, &redis, &[("SPIN_VARIABLE_PRODUCT_CACHE_TTL_SECS", "0")]);
    let product = app.stocked_product(100_000).await;
    // The documented budget of an order: the reserve and the charge timeouts (spin.toml's
    // defaults, 2 s each), then the order answers 202.
    const DELAY: Duration = Duration::from_secs(3);

    // The same load twice: payments fast, then payments slow (each statement held 3 s, past
    // the charge's 2 s timeout).
    let mut phases = Vec::new();
    for delay in [Duration::ZERO, DELAY] {
        proxy.set_delay(delay);
        let mut load = Load::new();
        load.orders_and_reads(&app, product, 3);
        tokio::time::sleep(Duration::from_secs(6)).await;
        phases.push((delay, load.finish().await));
    }

    let mut p99s = Vec::new();
    for (delay, outcomes) in &phases {
        assert_no_hang(outcomes);
        let reads: Vec<Duration> = outcomes.iter().filter(|o| o.route == "read").map(|o| o.took).collect();
        let orders: Vec<&Outcome> = outcomes.iter().filter(|o| o.route == "order").collect();
        let (p50, p99) = (quantile(reads.clone(), 0.5), quantile(reads.clone(), 0.99));
        let slowest_order = orders.iter().map(|o| o.took).max().unwrap_or_default();
        println!(
            "slow payments db (delay {delay:?}): {:?}; product reads {} p50 {p50:?} p99 {p99:?}; slowest order {slowest_order:?}",
            tally(outcomes.iter()),
            reads.len()
        );
        assert!(outcomes.iter().filter(|o| o.route == "read").all(|o| o.status == Some(200)), "reads: {:?}", tally(outcomes));
        let expected = if delay.is_zero() { 201 } else { 202 };
        for o in &orders {
            assert_eq!(o.status, Some(expected), "order with payments delayed {delay:?}: {o:?}");
            if o.status == Some(202) {
                assert_eq!(o.body["status"], 0, "a 202 is a pending order: {o:?}");
            }
        }
        assert!(!orders.is_empty(), "no order finished with delay {delay:?}");
        p99s.push(p99);
    }
    // The unrelated route is not held up by the slow one: p99 within 3x (plus 50 ms of noise).
    let (fast, slow) = (p99s[0], p99s[1]);
    assert!(slow <= fast * 3 + Duration::from_millis(50), "product reads' p99 went from {fast:?} to {slow:?} with payments slow");
}
