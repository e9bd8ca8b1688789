//! The consistency check: do the service databases agree about a set of orders and products
//! once their sagas have settled? Used by the soak (`tests/api/soak.rs`), the SIGKILL test
//! (`tests/api/recovery.rs`) and any e2e test that wants more than a status code.
//!
//! It reads the databases directly (as the `galley` superuser), never through the API, and
//! returns every violation it finds, not a yes or no. The rules, from issue #14:
//!
//! 1. **Stock**: for every product, initial stock − committed reservations = `on_hand`.
//!    The databases keep no history of restocks (`stock.on_hand` is overwritten), so the
//!    initial stock is the caller's: what its own successful restocks added ([`Scope`]).
//! 2. **Paid** (status 1): saga `completed`, exactly one charge (`payments` row `charged`) of
//!    the order's amount, and a `committed` reservation of exactly the order's lines.
//! 3. **Cancelled** (status 2): saga `cancelled`, no net charge (no payment row, or one that is
//!    `declined`, `voided` or `refunded`) and no held stock (no reservation, or one that is
//!    `rejected` or `released`).
//! 4. **Events**: every published outbox event has one notification (same event id, same
//!    order); and, once settled, no event is left unpublished.
//!
//! Plus what the rules presuppose: every order is settled (status 1 or 2, saga final), every
//! product exists in the catalog and has a stock row, and every reservation on a product in
//! scope belongs to an order in scope (otherwise the stock arithmetic would be meaningless).
//!
//! **Scope.** The e2e databases are shared by every test running at once, so the check covers
//! only the orders of the [`Scope`]'s users and the [`Scope`]'s products: the products must be
//! the caller's own (created by it, ordered only by its users).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

/// What the check covers: the caller's users (every order of theirs) and the caller's
/// products, each with the stock the caller gave it (the sum of its successful restocks).
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// User ids (uuids) whose orders are checked.
    pub users: Vec<String>,
    /// Product id → initial stock (everything added to it since it was created with 0).
    pub initial_stock: BTreeMap<i64, i64>,
}

/// Which rule a violation breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// Initial stock − committed reservations ≠ on hand (or the product is missing).
    Stock,
    /// A paid order without exactly one charge of its amount and a committed reservation.
    Paid,
    /// A cancelled order with a net charge or held stock.
    Cancelled,
    /// A published event without its notification, or an event never published.
    Events,
    /// An order left unsettled, or a reservation that belongs to no order in scope.
    Settled,
}

/// One thing that does not agree: the rule, what it is about (an order or product id) and
/// what was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub rule: Rule,
    pub subject: String,
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:?}] {}: {}", self.rule, self.subject, self.detail)
    }
}

/// What the check saw, and everything that disagreed.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub products: usize,
    pub orders: usize,
    pub paid: usize,
    pub cancelled: usize,
    pub unsettled: usize,
    /// Charges standing (`charged`), refunds (`refunded`), across the orders in scope.
    pub charged: usize,
    pub refunded: usize,
    pub events_published: usize,
    pub notifications: usize,
    pub violations: Vec<Violation>,
}

impl Report {
    pub fn is_consistent(&self) -> bool {
        self.violations.is_empty()
    }

    /// How many violations break `rule`.
    pub fn count(&self, rule: Rule) -> usize {
        self.violations.iter().filter(|v| v.rule == rule).count()
    }

    fn violation(&mut self, rule: Rule, subject: impl fmt::Display, detail: impl Into<String>) {
        self.violations.push(Violation { rule, subject: subject.to_string(), detail: detail.into() });
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} products, {} orders ({} paid, {} cancelled, {} unsettled), {} charged, {} refunded, {} events published, {} notifications: {}",
            self.products,
            self.orders,
            self.paid,
            self.cancelled,
            self.unsettled,
            self.charged,
            self.refunded,
            self.events_published,
            self.notifications,
            if self.is_consistent() { "consistent".to_string() } else { format!("{} violations", self.violations.len()) }
        )?;
        for v in &self.violations {
            writeln!(f, "  {v}")?;
        }
        Ok(())
    }
}

/// Connections to the five service databases the check reads.
pub struct Databases {
    catalog: tokio_postgres::Client,
    inventory: tokio_postgres::Client,
    orders: tokio_postgres::Client,
    payments: tokio_postgres::Client,
    notifications: tokio_postgres::Client,
}

impl Databases {
    /// Connects to each database on the Postgres at `127.0.0.1:port` as the `galley` superuser
    /// (the only role that may read every service's database) with its `password`; each
    /// database is named `<service><suffix>` (`""`: the service's own name).
    pub async fn connect(port: &str, password: &str, suffix: &str) -> Result<Databases, tokio_postgres::Error> {
        let open = |name: &'static str| async move {
            let config = format!("host=127.0.0.1 port={port} user=galley password={password} dbname={name}{suffix}");
            let (client, connection) = tokio_postgres::connect(&config, tokio_postgres::NoTls).await?;
            tokio::spawn(connection);
            Ok::<_, tokio_postgres::Error>(client)
        };
        Ok(Databases {
            catalog: open("catalog").await?,
            inventory: open("inventory").await?,
            orders: open("orders").await?,
            payments: open("payments").await?,
            notifications: open("notifications").await?,
        })
    }
}

/// An order as the orders database has it.
struct OrderRow {
    status: i16,
    saga: String,
    total: String,
    lines: BTreeMap<i64, i32>,
}

/// A reservation as the inventory database has it.
struct ReservationRow {
    state: String,
    lines: BTreeMap<i64, i32>,
}

/// Runs the check once over `scope`.
pub async fn check(db: &Databases, scope: &Scope) -> Result<Report, tokio_postgres::Error> {
    let mut report = Report::default();
    let products: Vec<i64> = scope.initial_stock.keys().copied().collect();
    report.products = products.len();

    // Orders of the users in scope, with their lines.
    let mut orders: BTreeMap<String, OrderRow> = BTreeMap::new();
    for row in db
        .orders
        .query(
            "SELECT id::text, status, saga_state, total::text FROM orders WHERE user_id = ANY($1::text[]::uuid[])",
            &[&scope.users],
        )
        .await?
    {
        orders.insert(row.get(0), OrderRow { status: row.get(1), saga: row.get(2), total: row.get(3), lines: BTreeMap::new() });
    }
    let ids: Vec<String> = orders.keys().cloned().collect();
    for row in db
        .orders
        .query("SELECT order_id::text, product_id, quantity FROM order_items WHERE order_id = ANY($1::text[]::uuid[])", &[&ids])
        .await?
    {
        if let Some(order) = orders.get_mut(&row.get::<_, String>(0)) {
            order.lines.insert(row.get(1), row.get(2));
        }
    }
    report.orders = orders.len();

    // What payments and inventory recorded for them.
    let payments: HashMap<String, (String, String)> = db
        .payments
        .query("SELECT order_id::text, state, amount::text FROM payments WHERE order_id = ANY($1::text[]::uuid[])", &[&ids])
        .await?
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect();
    report.charged = payments.values().filter(|p| p.0 == "charged").count();
    report.refunded = payments.values().filter(|p| p.0 == "refunded").count();
    let mut reservations: HashMap<String, ReservationRow> = HashMap::new();
    for row in db
        .inventory
        .query(
            "SELECT r.order_id::text, r.state, l.product_id, l.quantity FROM reservations r \
             LEFT JOIN reservation_lines l ON l.order_id = r.order_id WHERE r.order_id = ANY($1::text[]::uuid[])",
            &[&ids],
        )
        .await?
    {
        let entry = reservations.entry(row.get(0)).or_insert_with(|| ReservationRow { state: row.get(1), lines: BTreeMap::new() });
        if let (Some(product), Some(quantity)) = (row.get::<_, Option<i64>>(2), row.get::<_, Option<i32>>(3)) {
            entry.lines.insert(product, quantity);
        }
    }

    for (id, order) in &orders {
        let payment = payments.get(id);
        let reservation = reservations.get(id);
        match (order.status, order.saga.as_str()) {
            (1, "completed") => {
                report.paid += 1;
                match payment {
                    Some((state, amount)) if state == "charged" && *amount == order.total => {}
                    Some((state, amount)) => report.violation(
                        Rule::Paid,
                        id,
                        format!("paid {} but its payment is {state} of {amount}", order.total),
                    ),
                    None => report.violation(Rule::Paid, id, format!("paid {} but never charged", order.total)),
                }
                match reservation {
                    Some(r) if r.state == "committed" && r.lines == order.lines => {}
                    Some(r) => report.violation(
                        Rule::Paid,
                        id,
                        format!("paid, but its reservation is {} of {:?} for lines {:?}", r.state, r.lines, order.lines),
                    ),
                    None => report.violation(Rule::Paid, id, "paid, but nothing was reserved"),
                }
            }
            (2, "cancelled") => {
                report.cancelled += 1;
                if let Some((state, amount)) = payment.filter(|p| !matches!(p.0.as_str(), "declined" | "voided" | "refunded")) {
                    report.violation(Rule::Cancelled, id, format!("cancelled, but its payment is {state} of {amount}"));
                }
                if let Some(r) = reservation.filter(|r| !matches!(r.state.as_str(), "rejected" | "released")) {
                    report.violation(Rule::Cancelled, id, format!("cancelled, but its reservation is {} of {:?}", r.state, r.lines));
                }
            }
            (status, saga) => {
                report.unsettled += 1;
                report.violation(Rule::Settled, id, format!("unsettled: status {status}, saga {saga}"));
            }
        }
    }

    check_events(db, &ids, &mut report).await?;
    check_stock(db, scope, &products, &orders, &mut report).await?;
    report.violations.sort_by(|a, b| (a.rule, &a.subject).cmp(&(b.rule, &b.subject)));
    Ok(report)
}

/// The rows of a two-column query over a list (`$1`), as a map from the first column to the
/// second: how the check (and a test reading the same databases) looks up what each id has.
pub async fn pairs<K, V, M, T>(db: &tokio_postgres::Client, sql: &str, list: &[T]) -> Result<M, tokio_postgres::Error>
where
    K: for<'a> tokio_postgres::types::FromSql<'a>,
    V: for<'a> tokio_postgres::types::FromSql<'a>,
    M: FromIterator<(K, V)>,
    T: tokio_postgres::types::ToSql + Sync,
{
    Ok(db.query(sql, &[&list]).await?.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Rule 4: every published event of these orders has its one notification; none is unpublished.
async fn check_events(db: &Databases, ids: &[String], report: &mut Report) -> Result<(), tokio_postgres::Error> {
    let events = db
        .orders
        .query(
            "SELECT id::text, order_id::text, published_at IS NOT NULL FROM outbox WHERE order_id = ANY($1::text[]::uuid[])",
            &[&ids],
        )
        .await?;
    let published: Vec<String> = events.iter().filter(|r| r.get::<_, bool>(2)).map(|r| r.get(0)).collect();
    report.events_published = published.len();
    let notified: HashMap<String, String> = pairs(
        &db.notifications,
        "SELECT event_id::text, order_id::text FROM notifications WHERE event_id = ANY($1::text[]::uuid[])",
        &published,
    )
    .await?;
    report.notifications = notified.len();
    for row in &events {
        let (event, order, was_published): (String, String, bool) = (row.get(0), row.get(1), row.get(2));
        if !was_published {
            report.violation(Rule::Events, &event, format!("event of order {order} was never published"));
            continue;
        }
        match notified.get(&event) {
            Some(notified_order) if *notified_order == order => {}
            Some(other) => report.violation(Rule::Events, &event, format!("published for order {order}, notified for {other}")),
            None => report.violation(Rule::Events, &event, format!("published for order {order}, but no notification")),
        }
    }
    Ok(())
}

/// Rule 1, and that each product exists and is reserved only by orders in scope.
async fn check_stock(
    db: &Databases,
    scope: &Scope,
    products: &[i64],
    orders: &BTreeMap<String, OrderRow>,
    report: &mut Report,
) -> Result<(), tokio_postgres::Error> {
    let in_catalog: Vec<i64> =
        db.catalog.query("SELECT id FROM products WHERE id = ANY($1)", &[&products]).await?.iter().map(|r| r.get(0)).collect();
    let on_hand: HashMap<i64, i64> =
        pairs(&db.inventory, "SELECT product_id, on_hand::bigint FROM stock WHERE product_id = ANY($1)", &products).await?;
    let mut committed: HashMap<i64, i64> = HashMap::new();
    for row in db
        .inventory
        .query(
            "SELECT l.order_id::text, l.product_id, l.quantity::bigint, r.state FROM reservation_lines l \
             JOIN reservations r ON r.order_id = l.order_id WHERE l.product_id = ANY($1)",
            &[&products],
        )
        .await?
    {
        let (order, product, quantity, state): (String, i64, i64, String) = (row.get(0), row.get(1), row.get(2), row.get(3));
        if !orders.contains_key(&order) {
            report.violation(Rule::Settled, &order, format!("a {state} reservation of product {product} by an order out of scope"));
        }
        if state == "committed" {
            *committed.entry(product).or_default() += quantity;
        }
    }
    for (&product, &initial) in &scope.initial_stock {
        if !in_catalog.contains(&product) {
            report.violation(Rule::Stock, format!("product {product}"), "not in the catalog");
        }
        let taken = committed.get(&product).copied().unwrap_or(0);
        match on_hand.get(&product) {
            Some(&have) if have == initial - taken => {}
            Some(&have) => report.violation(
                Rule::Stock,
                format!("product {product}"),
                format!("initial {initial} - committed {taken} = {} but on hand is {have}", initial - taken),
            ),
            None => report.violation(Rule::Stock, format!("product {product}"), "no stock row"),
        }
    }
    Ok(())
}

/// Runs the check until it passes or `timeout` has passed, calling `nudge` before each try
/// (e.g. the saga recovery route): sagas and event deliveries settle asynchronously, so a
/// violation only counts once they had the time to. Returns the last report.
pub async fn check_until_consistent<F, Fut>(
    db: &Databases,
    scope: &Scope,
    timeout: Duration,
    mut nudge: F,
) -> Result<Report, tokio_postgres::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let deadline = Instant::now() + timeout;
    loop {
        nudge().await;
        let report = check(db, scope).await?;
        if report.is_consistent() || Instant::now() >= deadline {
            return Ok(report);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
