//! The soak: a bounded mixed load against a galley of its own — registrations, logins, product
//! reads, restocks, orders with ok / declined / slow cards, order reads, and the recovery
//! route called every few seconds as the production CronJob would — then, once every saga has
//! settled, the consistency check ([`galley_e2e::consistency`]) over everything the run made.
//!
//! It is `#[ignore]`d in the normal suite (it would load the machine the other tests share) and
//! run alone: `scripts/test.sh` runs it for 30 s, `make soak` for 5 minutes. Knobs:
//! `GALLEY_SOAK_SECS` (default 30), `GALLEY_SOAK_WORKERS` (concurrent clients, default 8) and
//! `GALLEY_SOAK_REPORT` (a file to write the report to, as markdown).
//!
//! Every answer is counted by operation and status, with its latency. The run fails on any
//! 5xx, any status the operation should never give (a 4xx other than a declined card's 402 or
//! out-of-stock's 409 on an order), any request that got no answer, and any violation the check
//! reports. Initial stock, for the check, is what this run's own successful restocks added.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use galley_common::auth::Role;
use galley_e2e::consistency::{self, Databases, Scope};
use serde_json::{json, Value};

use crate::catalog::{id_of, token};
use crate::support::*;

/// Products the run creates, and the stock each starts with.
const PRODUCTS: usize = 8;
const FIRST_STOCK: i64 = 40;
/// How often the recoverer calls `POST /api/v1/admin/sagas/recover` during the load.
const RECOVER_EVERY: Duration = Duration::from_secs(5);
/// The host's `saga_recovery_after_secs`: recovery takes a saga only once it is this stale.
const RECOVERY_AFTER_SECS: &str = "5";

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().map(|v| v.parse().unwrap_or_else(|_| panic!("{name} is not a number: {v}"))).unwrap_or(default)
}

/// The operations of the mix, with their weights and the statuses each may answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    Register,
    Login,
    ReadProduct,
    ListProducts,
    Restock,
    Order,
    ReadOrder,
    ListOrders,
    Recover,
}

const MIX: [(Op, u64); 8] = [
    (Op::Register, 3),
    (Op::Login, 5),
    (Op::ReadProduct, 30),
    (Op::ListProducts, 5),
    (Op::Restock, 5),
    (Op::Order, 30),
    (Op::ReadOrder, 17),
    (Op::ListOrders, 5),
];

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Register => "register",
            Op::Login => "login",
            Op::ReadProduct => "product read",
            Op::ListProducts => "product list",
            Op::Restock => "restock",
            Op::Order => "order",
            Op::ReadOrder => "order read",
            Op::ListOrders => "order list",
            Op::Recover => "saga recovery",
        }
    }

    /// What a correct app answers: an order may be declined (402) or short of stock (409);
    /// anything else is a failure of the run.
    fn expected(self, status: u16) -> bool {
        match self {
            Op::Register => status == 201,
            Op::Order => matches!(status, 201 | 202 | 402 | 409),
            _ => status == 200,
        }
    }
}

/// A small deterministic generator (xorshift64*), seeded per worker: no dependency for dice.
struct Dice(u64);

impl Dice {
    fn new() -> Dice {
        Dice(uuid::Uuid::new_v4().as_u64_pair().0 | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }

    fn pick<T: Copy>(&mut self, weighted: &[(T, u64)]) -> T {
        let mut roll = self.below(weighted.iter().map(|w| w.1).sum());
        for &(item, weight) in weighted {
            if roll < weight {
                return item;
            }
            roll -= weight;
        }
        weighted[0].0
    }
}

/// Answers of one operation: by status, with latencies; requests that got no answer.
#[derive(Default)]
struct OpStats {
    statuses: BTreeMap<u16, u64>,
    micros: Vec<u64>,
    no_answer: u64,
}

/// Everything a worker (or the whole run) counted.
#[derive(Default)]
struct Stats {
    ops: BTreeMap<Op, OpStats>,
    /// Samples of what went wrong, for the report (a few per kind).
    samples: Vec<String>,
}

impl Stats {
    fn record(&mut self, op: Op, started: Instant, status: Option<u16>, body: &str) {
        let stats = self.ops.entry(op).or_default();
        stats.micros.push(started.elapsed().as_micros() as u64);
        match status {
            Some(status) => *stats.statuses.entry(status).or_default() += 1,
            None => stats.no_answer += 1,
        }
        let bad = status.map_or(true, |s| !op.expected(s));
        if bad && self.samples.len() < 20 {
            self.samples.push(format!("{} → {}: {}", op.name(), status.map_or("no answer".into(), |s| s.to_string()), truncate(body)));
        }
    }

    fn merge(&mut self, other: Stats) {
        for (op, theirs) in other.ops {
            let mine = self.ops.entry(op).or_default();
            for (status, n) in theirs.statuses {
                *mine.statuses.entry(status).or_default() += n;
            }
            mine.micros.extend(theirs.micros);
            mine.no_answer += theirs.no_answer;
        }
        self.samples.extend(other.samples.into_iter().take(20usize.saturating_sub(self.samples.len())));
    }

    /// Answers that fail the run: 5xx, unexpected statuses, no answer.
    fn failures(&self) -> u64 {
        self.ops
            .iter()
            .map(|(op, s)| s.no_answer + s.statuses.iter().filter(|(st, _)| !op.expected(**st)).map(|(_, n)| n).sum::<u64>())
            .sum()
    }
}

fn truncate(text: &str) -> String {
    text.chars().take(300).collect()
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

/// One simulated client: its users (it registers more as it goes), their tokens, its orders.
struct Worker<'a> {
    app: &'a TestApp,
    products: &'a [i64],
    dice: Dice,
    stats: Stats,
    /// (username, user id) of every user this worker registered.
    users: Vec<(String, String)>,
    /// The token of the user it is currently buying as, and that user's id.
    current: Option<(String, String)>,
    /// Orders it placed: (order id, the buyer's token).
    orders: Vec<(String, String)>,
    /// What its successful restocks added, per product.
    added: BTreeMap<i64, i64>,
}

const PASSWORD: &str = "soak-password-1";

impl<'a> Worker<'a> {
    fn new(app: &'a TestApp, products: &'a [i64]) -> Worker<'a> {
        Worker {
            app,
            products,
            dice: Dice::new(),
            stats: Stats::default(),
            users: Vec::new(),
            current: None,
            orders: Vec::new(),
            added: BTreeMap::new(),
        }
    }

    async fn send(&mut self, op: Op, req: reqwest::RequestBuilder) -> Option<(u16, Value)> {
        let started = Instant::now();
        let answer = match req.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                match resp.text().await {
                    Ok(text) => Some((status, text)),
                    Err(e) => {
                        self.stats.record(op, started, None, &e.to_string());
                        return None;
                    }
                }
            }
            Err(e) => {
                self.stats.record(op, started, None, &e.to_string());
                return None;
            }
        };
        let (status, text) = answer?;
        self.stats.record(op, started, Some(status), &text);
        Some((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    async fn register(&mut self) {
        let name = unique_username("soak");
        let body = json!({"username": name, "password": PASSWORD, "mobile": MOBILE});
        let req = self.app.http.post(self.app.url("/api/v1/users")).json(&body);
        if let Some((201, user)) = self.send(Op::Register, req).await {
            if let Some(id) = user["id"].as_str() {
                self.users.push((name, id.to_owned()));
            }
        }
    }

    async fn login(&mut self) {
        if self.users.is_empty() {
            return self.register().await;
        }
        let (name, id) = self.users[self.dice.below(self.users.len() as u64) as usize].clone();
        let body = json!({"username": name, "password": PASSWORD});
        let req = self.app.http.post(self.app.url("/api/v1/auth/token")).json(&body);
        if let Some((200, answer)) = self.send(Op::Login, req).await {
            if let Some(token) = answer["access_token"].as_str() {
                self.current = Some((token.to_owned(), id));
            }
        }
    }

    fn product(&mut self) -> i64 {
        self.products[self.dice.below(self.products.len() as u64) as usize]
    }

    async fn order(&mut self) {
        let Some((token, _)) = self.current.clone() else { return self.login().await };
        let first = self.product();
        let mut items = vec![json!({"product_id": first, "quantity": 1 + self.dice.below(3)})];
        let second = self.product();
        if second != first && self.dice.below(4) == 0 {
            items.push(json!({"product_id": second, "quantity": 1 + self.dice.below(2)}));
        }
        let card = self.dice.pick(&[("pm_card_ok", 80), ("pm_card_declined", 10), ("pm_card_slow", 10)]);
        let body = json!({"items": items, "payment_method": card});
        let key = format!("soak-{}", uuid::Uuid::new_v4().simple());
        let req = self.app.http.post(self.app.url("/api/v1/orders")).bearer_auth(&token).header("idempotency-key", key).json(&body);
        if let Some((_, answer)) = self.send(Op::Order, req).await {
            let order = if answer["order"].is_object() { &answer["order"] } else { &answer };
            if let Some(id) = order["id"].as_str() {
                self.orders.push((id.to_owned(), token));
            }
        }
    }

    async fn step(&mut self, op: Op) {
        match op {
            Op::Register => self.register().await,
            Op::Login => self.login().await,
            Op::ReadProduct => {
                let id = self.product();
                let req = self.app.http.get(self.app.url(&format!("/api/v1/products/{id}")));
                self.send(op, req).await;
            }
            Op::ListProducts => {
                let req = self.app.http.get(self.app.url("/api/v1/products?limit=20"));
                self.send(op, req).await;
            }
            Op::Restock => {
                let (id, delta) = (self.product(), 1 + self.dice.below(20) as i64);
                let req = self
                    .app
                    .http
                    .put(self.app.url(&format!("/api/v1/inventory/{id}")))
                    .bearer_auth(token(Role::Admin))
                    .json(&json!({"delta": delta}));
                if let Some((200, _)) = self.send(op, req).await {
                    *self.added.entry(id).or_default() += delta;
                }
            }
            Op::Order => self.order().await,
            Op::ReadOrder => {
                if self.orders.is_empty() {
                    return self.order().await;
                }
                let (id, token) = self.orders[self.dice.below(self.orders.len() as u64) as usize].clone();
                let req = self.app.http.get(self.app.url(&format!("/api/v1/orders/{id}"))).bearer_auth(token);
                self.send(op, req).await;
            }
            Op::ListOrders => {
                let Some((token, _)) = self.current.clone() else { return self.login().await };
                let req = self.app.http.get(self.app.url("/api/v1/orders?limit=10")).bearer_auth(token);
                self.send(op, req).await;
            }
            Op::Recover => {
                let req = self.app.http.post(self.app.url("/api/v1/admin/sagas/recover")).bearer_auth(token(Role::Admin));
                self.send(op, req).await;
            }
        }
    }
}

/// What the load left: the merged counts, and the scope for the consistency check.
struct Load {
    stats: Stats,
    scope: Scope,
    elapsed: Duration,
}

async fn run_load(app: &TestApp, products: &[i64], workers: usize, duration: Duration) -> Load {
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let clients = (0..workers).map(|_| {
        let stop = &stop;
        async move {
            let mut w = Worker::new(app, products);
            w.register().await;
            w.login().await;
            while !stop.load(Ordering::Relaxed) {
                let op = w.dice.pick(&MIX);
                w.step(op).await;
            }
            w
        }
    });
    // The recoverer, as the CronJob in production: it settles what the slow cards left.
    let recoverer = async {
        let mut w = Worker::new(app, products);
        let mut last = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if last.elapsed() >= RECOVER_EVERY {
                w.step(Op::Recover).await;
                last = Instant::now();
            }
        }
        w
    };
    let timer = async {
        tokio::time::sleep(duration).await;
        stop.store(true, Ordering::Relaxed);
    };
    let (done, recoverer, ()) = tokio::join!(futures::future::join_all(clients), recoverer, timer);
    let elapsed = started.elapsed();
    let mut stats = Stats::default();
    let mut scope = Scope::default();
    for w in done.into_iter().chain([recoverer]) {
        stats.merge(w.stats);
        scope.users.extend(w.users.into_iter().map(|u| u.1));
        for (product, added) in w.added {
            *scope.initial_stock.entry(product).or_default() += added;
        }
    }
    Load { stats, scope, elapsed }
}

/// The report, as markdown: per operation, the totals, the errors and the check.
fn report(load: &Load, workers: usize, check: &consistency::Report) -> String {
    let mut out = String::new();
    let secs = load.elapsed.as_secs_f64();
    let _ = writeln!(out, "Soak: {secs:.0} s, {workers} clients, one galley; then every saga settled and the consistency check.\n");
    let _ = writeln!(out, "| operation | requests | per s | p50 ms | p99 ms | answers by status |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---|");
    let mut all = Vec::new();
    let mut by_status: BTreeMap<u16, u64> = BTreeMap::new();
    let mut no_answer = 0;
    for (op, s) in &load.stats.ops {
        let mut sorted = s.micros.clone();
        sorted.sort_unstable();
        let statuses: Vec<String> = s.statuses.iter().map(|(st, n)| format!("{st}: {n}")).collect();
        let mut answers = statuses.join(", ");
        if s.no_answer > 0 {
            let _ = write!(answers, ", no answer: {}", s.no_answer);
        }
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} | {:.1} | {:.1} | {answers} |",
            op.name(),
            sorted.len(),
            sorted.len() as f64 / secs,
            percentile(&sorted, 50.0),
            percentile(&sorted, 99.0)
        );
        all.extend(sorted);
        for (st, n) in &s.statuses {
            *by_status.entry(*st).or_default() += n;
        }
        no_answer += s.no_answer;
    }
    all.sort_unstable();
    let errors: Vec<String> = by_status.iter().filter(|(st, _)| **st >= 500).map(|(st, n)| format!("{st}: {n}")).collect();
    let expected_4xx: Vec<String> =
        by_status.iter().filter(|(st, _)| (400..500).contains(*st)).map(|(st, n)| format!("{st}: {n}")).collect();
    let _ = writeln!(
        out,
        "\n**Total**: {} requests, {:.1} per s, p50 {:.1} ms, p99 {:.1} ms. **5xx**: {}. **4xx**: {}. **No answer**: {no_answer}. **Unexpected answers**: {}.",
        all.len(),
        all.len() as f64 / secs,
        percentile(&all, 50.0),
        percentile(&all, 99.0),
        if errors.is_empty() { "none".into() } else { errors.join(", ") },
        if expected_4xx.is_empty() { "none".into() } else { expected_4xx.join(", ") },
        load.stats.failures(),
    );
    let _ = writeln!(out, "\n**Consistency check**: {check}");
    if !load.stats.samples.is_empty() {
        let _ = writeln!(out, "Failed answers (samples):\n");
        for s in &load.stats.samples {
            let _ = writeln!(out, "- {s}");
        }
    }
    out
}

#[tokio::test]
#[ignore = "a bounded load run that needs the machine to itself: scripts/test.sh (30 s) and make soak (5 min) run it alone"]
async fn a_mixed_load_loses_nothing() {
    let secs = env_number("GALLEY_SOAK_SECS", 30);
    let workers = env_number("GALLEY_SOAK_WORKERS", 8) as usize;
    let app = spawn_app_with(HostOptions {
        env: vec![("SPIN_VARIABLE_SAGA_RECOVERY_AFTER_SECS".into(), RECOVERY_AFTER_SECS.into())],
        ..HostOptions::default()
    });
    let mut products = Vec::new();
    let mut first = BTreeMap::new();
    for _ in 0..PRODUCTS {
        let id = id_of(&app.create_product("4.25").await);
        assert_eq!(app.restock(id, json!({"delta": FIRST_STOCK})).await.status, 200, "first stock of {id}");
        products.push(id);
        first.insert(id, FIRST_STOCK);
    }

    let mut load = run_load(&app, &products, workers, Duration::from_secs(secs)).await;
    for (product, stock) in first {
        *load.scope.initial_stock.entry(product).or_default() += stock;
    }

    // Settle: recovery takes what is still unsettled once it is RECOVERY_AFTER_SECS stale, and
    // publishes the outbox; order-events records the notifications.
    let db = Databases::connect(&pg_port(), &db_secret("GALLEY_PG_PASSWORD"), "").await.expect("the service databases");
    let recover = || async {
        let _ = app.http.post(app.url("/api/v1/admin/sagas/recover")).bearer_auth(token(Role::Admin)).send().await;
    };
    let check = consistency::check_until_consistent(&db, &load.scope, Duration::from_secs(90), recover).await.expect("check");
    let text = report(&load, workers, &check);
    eprintln!("{text}");
    if let Ok(path) = std::env::var("GALLEY_SOAK_REPORT") {
        std::fs::write(&path, &text).unwrap_or_else(|e| panic!("writing {path}: {e}"));
    }
    let ordered = load.stats.ops.get(&Op::Order).map_or(0, |s| s.micros.len());
    assert!(ordered > 0 && check.orders > 0, "the load placed orders");
    assert_eq!(load.stats.failures(), 0, "5xx, unexpected answers or requests without an answer:\n{text}");
    assert!(check.is_consistent(), "the databases disagree:\n{text}\nhost log:\n{}", app.host_log());
}
