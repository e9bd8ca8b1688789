//! The saga's steps and compensations, shared by the request that starts an order and by
//! recovery, which settles what a request left unsettled.
//!
//! `saga_state` on the order row is the saga's memory. Each transition is one conditional
//! `UPDATE … WHERE saga_state = <from>`: whoever moves it first owns the next step, and the
//! other actor (a request whose step timed out, a second recoverer) sees it moved and stops.
//! Every call made is idempotent per order id (reserve, release, commit, charge, refund), so a
//! step taken twice by a crash-and-retry is a step taken once.

use galley_common::catalog;
use galley_common::client::{CallError, ClientError};
use galley_common::db::{DbError, NOW_UTC as NOW};
use galley_common::edge::endpoint::Request;
use galley_common::edge::{orders_db, pg, redis};
use galley_common::ids::{OrderId, ProductId, UserId};
use galley_common::inventory::{self, Reservation, ReserveRequest, Settlement, StockRefusal};
use galley_common::money::Money;
use galley_common::orders::{delivered_key, CancelReason, Order, OrderEvent, OrderLine, Status, EVENTS_CHANNEL, ORDER_PAID};
use galley_common::payments::{self, Charge, ChargeRequest, PaymentRefusal};
use serde::{Deserialize, Serialize};
use spin_sdk::pg4::{Connection, ParameterValue};

use crate::domain::{OrderError, ValidOrder};
use crate::Config;

/// How long pricing an order may wait for the catalog.
const CATALOG_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
/// How many unsettled sagas one recovery call settles at most; a scheduler calls again.
const RECOVERY_BATCH: usize = 100;
/// How long a recoverer's claim on a saga lasts; past it, another recoverer may take over.
const LEASE_SECS: i64 = 60;

/// A product as the catalog lists it; only its id and price matter here.
#[derive(Debug, Deserialize)]
struct CatalogProduct {
    id: ProductId,
    price: Money,
}

/// The catalog's batch read: the products that exist, unknown ids left out.
#[derive(Debug, Deserialize)]
struct CatalogListing {
    items: Vec<CatalogProduct>,
}

/// Each line's unit price, from the catalog's own database: one batch read of every line's
/// product (product-admin, `GET /api/v1/products?ids=`), not product-query's cached view, which
/// carries the stock and so is invalidated by every reservation (each order's pricing missed
/// it and paid for a catalog read and a stock call anyway). An unknown product is the client's
/// mistake (422), a failing catalog an outage (502/504).
pub async fn prices(req: &Request, order: &ValidOrder) -> Result<Vec<Money>, OrderError> {
    let ids: Vec<String> = order.lines.iter().map(|line| line.product_id.to_string()).collect();
    let path = format!("{}?ids={}", catalog::COLLECTION, ids.join(","));
    let listing: CatalogListing = req
        .call(catalog::ADMIN_COMPONENT)
        .with_timeout(CATALOG_TIMEOUT)
        .get(&path)
        .await
        .map_err(galley_common::error::CommonError::from)?;
    order
        .lines
        .iter()
        .map(|line| {
            listing
                .items
                .iter()
                .find(|product| product.id == line.product_id)
                .map(|product| product.price)
                .ok_or(OrderError::UnknownProduct(line.product_id))
        })
        .collect()
}

/// What recording an order found.
pub enum Recorded {
    /// A new order, as recorded (built from what was inserted, not read back): this request
    /// runs its saga.
    New(Order),
    /// The key was used before (perhaps by a request still running): that order, and how long
    /// ago it was recorded (by the database's clock), which tells whether its saga can still
    /// be running in the request that recorded it.
    Existing { id: OrderId, fingerprint: String, age: std::time::Duration },
}

/// Step 1: the order, its lines and the saga's first state, in one statement (so one flushed
/// transaction and one round trip). The unique index on (user, key) decides between
/// concurrent requests with one key: the others wait for this transaction and then find its
/// order; when the order is not inserted, neither are its lines nor its log row.
pub fn record(
    conn: &Connection,
    user: &UserId,
    key: &str,
    order: &ValidOrder,
    prices: &[Money],
    amount: Money,
) -> Result<Recorded, OrderError> {
    let fingerprint = order.fingerprint();
    let products: Vec<i64> = order.lines.iter().map(|line| line.product_id.get()).collect();
    let quantities: Vec<i32> = order.lines.iter().map(|line| line.quantity.get() as i32).collect();
    let unit_prices: Vec<String> = prices.iter().map(|price| price.decimal().to_string()).collect();
    let inserted = conn
        .query(
            "WITH new_order AS ( \
               INSERT INTO orders (user_id, idempotency_key, status, total, payment_method, request_hash, saga_state) \
               VALUES (CAST($1::text AS uuid), $2, 0, $3, $4, $5, 'reserving') \
               ON CONFLICT (user_id, idempotency_key) DO NOTHING RETURNING id, created_at), \
             items AS ( \
               INSERT INTO order_items (order_id, product_id, quantity, unit_price) \
               SELECT new_order.id, line.product_id, line.quantity, line.unit_price \
               FROM new_order, unnest($6::bigint[], $7::integer[], CAST($8::text[] AS numeric[])) AS line(product_id, quantity, unit_price)), \
             logged AS (INSERT INTO saga_log (order_id, step, outcome) SELECT id, 'created', 'reserving' FROM new_order) \
             SELECT id::text AS id, to_char(created_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS created_at FROM new_order",
            &[
                user.into(),
                pg::text(key),
                amount.into(),
                pg::text(&order.payment_method),
                pg::text(&fingerprint),
                products.into(),
                quantities.into(),
                unit_prices.into(),
            ],
        )
        .map_err(DbError::from)?;
    let Some(row) = inserted.rows().next() else {
        let existing = conn
            .query(
                "SELECT id::text AS id, request_hash, \
                 CAST(GREATEST(0, extract(epoch FROM (now() AT TIME ZONE 'utc') - created_at) * 1000) AS bigint) AS age_ms \
                 FROM orders WHERE user_id = CAST($1::text AS uuid) AND idempotency_key = $2",
                &[user.into(), pg::text(key)],
            )
            .map_err(DbError::from)?;
        let row = existing.rows().next().ok_or(DbError::NoRow("orders"))?;
        let age = std::time::Duration::from_millis(u64::try_from(pg::col::<i64>(&row, "age_ms")?).unwrap_or(0));
        return Ok(Recorded::Existing { id: order_id(&pg::col::<String>(&row, "id")?)?, fingerprint: pg::col(&row, "request_hash")?, age });
    };
    let id = order_id(&pg::col::<String>(&row, "id")?)?;
    let created_at: String = pg::col(&row, "created_at")?;
    let lines = order
        .lines
        .iter()
        .zip(prices)
        .map(|(line, price)| OrderLine { product_id: line.product_id, quantity: line.quantity, unit_price: *price })
        .collect();
    Ok(Recorded::New(Order {
        id,
        user_id: user.clone(),
        status: Status::Unpaid,
        amount,
        payment_method: order.payment_method.clone(),
        cancel_reason: None,
        cancel_detail: None,
        lines,
        created_at,
    }))
}

fn order_id(text: &str) -> Result<OrderId, OrderError> {
    OrderId::parse(text).map_err(|e| OrderError::from(DbError::Decode { column: "id".into(), reason: e.to_string() }))
}

/// The saga's actors share this: the calls carry the request's identity and trace.
pub struct Saga<'a> {
    req: &'a Request,
    conn: &'a Connection,
    config: &'a Config,
}

/// The unsettled sagas now, for the gauges: one read of the orders table.
pub fn gauges(conn: &Connection, recovery_after_secs: i64) -> Result<crate::gauges::SagaGauges, OrderError> {
    let rows = conn
        .query(
            &format!(
                "SELECT count(*) AS unsettled, \
                        count(*) FILTER (WHERE updated_at <= {NOW} - make_interval(secs => $1)) AS past_recovery, \
                        COALESCE(EXTRACT(EPOCH FROM {NOW} - min(created_at)), 0)::float8 AS oldest_age \
                 FROM orders WHERE saga_state NOT IN ('completed', 'cancelled')"
            ),
            &[(recovery_after_secs as f64).into()],
        )
        .map_err(DbError::from)?;
    let row = rows.rows().next().ok_or_else(|| DbError::Query { code: None, message: "an aggregate returned no row".into() })?;
    Ok(crate::gauges::SagaGauges {
        unsettled: pg::col(&row, "unsettled")?,
        past_recovery: pg::col(&row, "past_recovery")?,
        oldest_age_secs: pg::col(&row, "oldest_age")?,
    })
}

/// What one recovery call did.
#[derive(Debug, Default, Serialize)]
pub struct RecoveryReport {
    /// Orders settled: each with the state it was found in and the state it was left in.
    pub settled: Vec<Settled>,
    /// Outbox events published.
    pub events_published: usize,
    /// Sagas or events that failed again (their services still down); the next call retries.
    pub still_unsettled: usize,
}

#[derive(Debug, Serialize)]
pub struct Settled {
    pub order_id: OrderId,
    pub from: String,
    pub to: String,
}

/// A step that did not complete: the order stays where it is, for recovery.
struct Unsettled;

impl<'a> Saga<'a> {
    pub fn new(req: &'a Request, conn: &'a Connection, config: &'a Config) -> Self {
        Saga { req, conn, config }
    }

    /// Steps 2 to 4 for a freshly recorded order; the order as it stands afterwards. A saga
    /// this request carried to `paid` answers from what it knows; any other outcome (a
    /// refusal, a step left for recovery, recovery taking over) reads the order back.
    pub async fn run(&self, mut order: Order) -> Result<Order, OrderError> {
        match self.reserve_and_charge(&order).await {
            Ok(Outcome::Paid) => {
                order.status = Status::Paid;
                Ok(order)
            }
            Ok(Outcome::Other) | Err(Unsettled) => self.load(&order.id),
        }
    }

    async fn reserve_and_charge(&self, order: &Order) -> Result<Outcome, Unsettled> {
        // Step 2: reserve.
        let reserve = ReserveRequest {
            order_id: order.id.clone(),
            lines: order.lines.iter().map(|l| inventory::Line { product_id: l.product_id, quantity: l.quantity }).collect(),
        };
        let reserved: Result<Reservation, CallError<StockRefusal>> = self
            .req
            .call(inventory::COMPONENT)
            .with_timeout(self.config.reserve_timeout)
            .post(inventory::RESERVATIONS_PATH, &reserve)
            .await
            .map_err(CallError::from);
        match reserved {
            Ok(_) => {
                // Not moved: recovery took the saga over meanwhile; it finishes it.
                if !self.advance(&order.id, "reserving", "charging", "reserved").map_err(|_| Unsettled)? {
                    return Ok(Outcome::Other);
                }
            }
            Err(error) => return self.stopped(&order.id, "reserve", "reserving", error).await,
        }
        self.fault("after_reserve");

        // Step 3: charge.
        let charge = ChargeRequest { order_id: order.id.clone(), amount: order.amount, payment_method: order.payment_method.clone() };
        let charged: Result<Charge, CallError<PaymentRefusal>> = self
            .req
            .call(payments::COMPONENT)
            .with_timeout(self.config.charge_timeout)
            .post(payments::CHARGES_PATH, &charge)
            .await
            .map_err(CallError::from);
        if let Err(error) = charged {
            return self.stopped(&order.id, "charge", "charging", error).await;
        }
        self.fault("after_charge");

        // Step 4: paid, with its event, in one transaction; then the reservation is final.
        // Not moved: recovery took the saga over while the charge was in flight and is
        // compensating it (refund, release). Committing the reservation now would race that
        // release and could leave a cancelled order's stock committed, its saga stuck.
        let Some(event) = self.mark_paid(order)? else {
            return Ok(Outcome::Other);
        };
        // Paid and durable from here: the rest is re-driven by recovery if it is lost (an
        // unpublished event by the outbox, an uncommitted reservation from `committing`), so
        // it costs the request no flushed commit. The event goes out first: it needs nothing
        // but the payment, and a subscriber should not wait for the reservation's bookkeeping.
        let published = self.publish(&event.id, &event.payload);
        let committed = self.commit_reservation_call(&order.id).await.is_ok();
        self.settle_paid(&order.id, committed, published.then_some(event.id.as_str()));
        Ok(Outcome::Paid)
    }

    /// The test-only fault switch (`saga_fault`): trap here, as a crash would.
    fn fault(&self, point: &str) {
        if self.config.fault == point {
            panic!("saga_fault={point}: trapping on purpose (test-only switch)");
        }
    }

    /// Moves the saga to `committing` with its `order.paid` event in the outbox and its log row,
    /// in one statement (one flushed transaction); the event as stored, or `None` when another
    /// actor had moved it (then nothing is written).
    fn mark_paid(&self, order: &Order) -> Result<Option<OutboxEvent>, Unsettled> {
        let event = OrderEvent {
            event_id: String::new(),
            event_type: ORDER_PAID.into(),
            order_id: order.id.clone(),
            user_id: order.user_id.clone(),
            amount: order.amount,
            occurred_at: String::new(),
            traceparent: self.req.header("traceparent").map(str::to_string),
        };
        // The event id is a fresh uuid and its time the commit's: both are filled in by the
        // database, then written into the payload in the same statement.
        let paid = self
            .conn
            .query(
                &format!(
                    "WITH paid AS ( \
                       UPDATE orders SET status = 1, saga_state = 'committing', updated_at = {NOW} \
                       WHERE id = CAST($1::text AS uuid) AND saga_state = 'charging' RETURNING id), \
                     e AS (SELECT gen_random_uuid() AS id, to_char({NOW}, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS at), \
                     event AS ( \
                       INSERT INTO outbox (id, event_type, order_id, payload) \
                       SELECT e.id, $2, paid.id, \
                              jsonb_set(jsonb_set(CAST($3::text AS jsonb), '{{event_id}}', to_jsonb(e.id::text)), '{{occurred_at}}', to_jsonb(e.at)) \
                       FROM paid, e RETURNING id::text AS id, payload::text AS payload), \
                     logged AS (INSERT INTO saga_log (order_id, step, outcome) SELECT id, 'charged', 'committing' FROM paid) \
                     SELECT id, payload FROM event"
                ),
                &[(&order.id).into(), pg::text(ORDER_PAID), pg::text(&serde_json::to_string(&event).unwrap_or_default())],
            )
            .map_err(DbError::from)
            .and_then(|rows| {
                let Some(row) = rows.rows().next() else { return Ok(None) };
                Ok(Some(OutboxEvent { id: pg::col(&row, "id")?, payload: pg::col(&row, "payload")? }))
            });
        paid.map_err(|error| {
            eprintln!("saga {}: recording the payment failed ({error}); left for recovery", order.id);
            Unsettled
        })
    }

    /// Recovery's last step of a paid saga: commit the reservation, then `completed`.
    async fn commit_reservation(&self, id: &OrderId) -> Result<(), Unsettled> {
        self.commit_reservation_call(id).await?;
        self.advance(id, "committing", "completed", "committed").map(drop).map_err(|_| Unsettled)
    }

    async fn commit_reservation_call(&self, id: &OrderId) -> Result<(), Unsettled> {
        let committed: Result<Reservation, ClientError> = self
            .req
            .call(inventory::COMPONENT)
            .with_timeout(self.config.reserve_timeout)
            .post_empty(&inventory::settle_path(id, Settlement::Commit))
            .await;
        committed.map(drop).map_err(|error| {
            eprintln!("saga {id}: committing the reservation did not complete ({error}); left for recovery");
            Unsettled
        })
    }

    /// After a paid saga's last calls, one unflushed statement records what they did:
    /// `completed` if the reservation was committed, the event as published if it went out.
    /// Either mark lost in a crash is re-driven (see [`pg::transaction_unflushed`]): recovery
    /// commits a `committing` saga's reservation again, and publishes an unpublished event
    /// again (order-events ignores a duplicate).
    fn settle_paid(&self, id: &OrderId, committed: bool, published: Option<&str>) {
        if !committed && published.is_none() {
            return;
        }
        let settled = self.conn.query(
            &format!(
                "WITH moved AS ( \
                   UPDATE orders SET saga_state = 'completed', updated_at = {NOW} \
                   WHERE id = CAST($1::text AS uuid) AND saga_state = 'committing' AND $2::boolean RETURNING id), \
                 logged AS (INSERT INTO saga_log (order_id, step, outcome) SELECT id, 'committed', 'completed' FROM moved), \
                 published AS ( \
                   UPDATE outbox SET published_at = {NOW}, attempts = attempts + 1 WHERE id = CAST($3::text AS uuid)) \
                 SELECT {}",
                pg::UNFLUSHED
            ),
            &[id.into(), ParameterValue::Boolean(committed), pg::nullable(published.map(str::to_owned))],
        );
        if let Err(error) = settled {
            eprintln!("saga {id}: recording the paid saga's last steps failed ({error}); left for recovery");
        }
    }

    /// Moves the saga from `from` to `to` if it is still in `from`, with its log row, in one
    /// unflushed statement; whether it moved. Unflushed: every transition it makes is
    /// re-driven after a crash that loses it (from `reserving`, recovery compensates exactly as
    /// from `charging`; from `committing`, it commits again).
    fn advance(&self, id: &OrderId, from: &str, to: &str, step: &str) -> Result<bool, DbError> {
        let rows = self.conn.query(
            &format!(
                "WITH moved AS ( \
                   UPDATE orders SET saga_state = $3, updated_at = {NOW} \
                   WHERE id = CAST($1::text AS uuid) AND saga_state = $2 RETURNING id), \
                 logged AS (INSERT INTO saga_log (order_id, step, outcome) SELECT id, $4, $3 FROM moved) \
                 SELECT (SELECT count(*) FROM moved) AS moved, {}",
                pg::UNFLUSHED
            ),
            &[id.into(), pg::text(from), pg::text(to), pg::text(step)],
        )?;
        let row = rows.rows().next().ok_or(DbError::NoRow("orders"))?;
        Ok(pg::col::<i64>(&row, "moved")? == 1)
    }

    /// Compensates from `from`: claims the saga for compensation (with its reason), then
    /// refunds (a refund that finds no charge leaves a tombstone, so a late charge is refused)
    /// and releases (likewise), then cancels. Stops where a call fails: recovery goes on.
    /// A step (`reserve` from `reserving`, `charge` from `charging`) that did not go through:
    /// the callee's refusal cancels the order; a call that did not complete leaves it to recovery,
    /// which learns from the callee how it ended.
    async fn stopped<R: Refusal>(&self, id: &OrderId, step: &str, from: &str, error: CallError<R>) -> Result<Outcome, Unsettled> {
        match error {
            CallError::Refused(refusal) => {
                let (reason, detail) = refusal.cancel_reason();
                self.cancel(id, from, reason, &detail).await.map(|()| Outcome::Other)
            }
            CallError::Failed(error) => {
                eprintln!("saga {id}: {step} did not complete ({error}); left for recovery");
                Err(Unsettled)
            }
        }
    }

    async fn cancel(&self, id: &OrderId, from: &str, reason: CancelReason, detail: &str) -> Result<(), Unsettled> {
        let claimed = pg::transaction(self.conn, |c| -> Result<bool, DbError> {
            let moved = c.execute(
                &format!(
                    "UPDATE orders SET saga_state = 'compensating', cancel_reason = $3, cancel_detail = $4, updated_at = {NOW} \
                     WHERE id = CAST($1::text AS uuid) AND saga_state = $2"
                ),
                &[id.into(), pg::text(from), pg::text(reason.as_str()), pg::text(detail)],
            )?;
            if moved == 1 {
                log_step(c, id, "compensate", reason.as_str())?;
            }
            Ok(moved == 1)
        })
        .map_err(|_| Unsettled)?;
        if !claimed {
            return Ok(());
        }
        self.compensate(id).await
    }

    /// The compensations, in reverse order of the steps; each idempotent. They get the
    /// client's default deadline, longer than a step's: a refund waits for a charge of the same
    /// order still in flight, so that it can undo it rather than miss it.
    async fn compensate(&self, id: &OrderId) -> Result<(), Unsettled> {
        let refunded: Result<Charge, ClientError> =
            self.req.call(payments::COMPONENT).post_empty(&payments::refund_path(id)).await;
        if let Err(error) = refunded {
            eprintln!("saga {id}: refund did not complete ({error}); left for recovery");
            return Err(Unsettled);
        }
        let released: Result<Reservation, ClientError> =
            self.req.call(inventory::COMPONENT).post_empty(&inventory::settle_path(id, Settlement::Release)).await;
        if let Err(error) = released {
            eprintln!("saga {id}: release did not complete ({error}); left for recovery");
            return Err(Unsettled);
        }
        pg::transaction(self.conn, |c| -> Result<(), DbError> {
            let moved = c.execute(
                &format!(
                    "UPDATE orders SET status = 2, saga_state = 'cancelled', updated_at = {NOW} \
                     WHERE id = CAST($1::text AS uuid) AND saga_state = 'compensating'"
                ),
                &[id.into()],
            )?;
            if moved == 1 {
                log_step(c, id, "cancelled", "cancelled")?;
            }
            Ok(())
        })
        .map_err(|_| Unsettled)
    }

    fn load(&self, id: &OrderId) -> Result<Order, OrderError> {
        orders_db::load(self.conn, id)?.ok_or(OrderError::NotFound)
    }

    /// Settles every saga unsettled for longer than the threshold, one at a time under a lease,
    /// then publishes the outbox.
    pub async fn recover_all(&self) -> Result<RecoveryReport, OrderError> {
        let mut report = RecoveryReport::default();
        let mut seen = Vec::new();
        // A call takes no new saga once its budget is spent, so it answers well within the
        // host's request limit and the scheduler's period; the next call goes on.
        let started = std::time::Instant::now();
        while seen.len() < RECOVERY_BATCH && started.elapsed() < self.config.recovery_budget {
            let Some((id, state)) = self.lease_next(&seen)? else { break };
            seen.push(id.clone());
            let outcome = match state.as_str() {
                // Before the payment is known to have happened: undo (refund leaves a tombstone
                // if no charge came, so a charge still in flight is refused when it arrives).
                "reserving" | "charging" => self.cancel(&id, &state, CancelReason::Abandoned, "a step did not complete in time").await,
                "compensating" => self.compensate(&id).await,
                // Paid: only the reservation's commit is left; finish it.
                "committing" => self.commit_reservation(&id).await,
                _ => Ok(()),
            };
            self.release_lease(&id)?;
            let to = self.saga_state(&id)?;
            if outcome.is_err() {
                report.still_unsettled += 1;
            }
            report.settled.push(Settled { order_id: id, from: state, to });
        }
        report.events_published = self.publish_outbox() + self.redeliver_unconfirmed();
        Ok(report)
    }

    /// Claims the oldest unsettled saga past the threshold that no live lease holds.
    /// `FOR UPDATE SKIP LOCKED` makes concurrent recoverers pick different sagas.
    fn lease_next(&self, skip: &[OrderId]) -> Result<Option<(OrderId, String)>, OrderError> {
        let skip: Vec<Option<String>> = skip.iter().map(|id| Some(id.to_string())).collect();
        let rows = self
            .conn
            .query(
                &format!(
                    "UPDATE orders SET lease_until = {NOW} + make_interval(secs => $2) WHERE id = ( \
                       SELECT id FROM orders \
                       WHERE saga_state NOT IN ('completed', 'cancelled') \
                         AND updated_at <= {NOW} - make_interval(secs => $1) \
                         AND (lease_until IS NULL OR lease_until < {NOW}) \
                         AND NOT (id::text = ANY($3)) \
                       ORDER BY updated_at LIMIT 1 FOR UPDATE SKIP LOCKED) \
                     RETURNING id::text AS id, saga_state"
                ),
                &[
                    (self.config.recovery_after_secs as f64).into(),
                    (LEASE_SECS as f64).into(),
                    spin_sdk::pg4::ParameterValue::ArrayStr(skip),
                ],
            )
            .map_err(DbError::from)?;
        let Some(row) = rows.rows().next() else { return Ok(None) };
        Ok(Some((order_id(&pg::col::<String>(&row, "id")?)?, pg::col(&row, "saga_state")?)))
    }

    fn release_lease(&self, id: &OrderId) -> Result<(), OrderError> {
        self.conn
            .execute("UPDATE orders SET lease_until = NULL WHERE id = CAST($1::text AS uuid)", &[id.into()])
            .map_err(DbError::from)?;
        Ok(())
    }

    fn saga_state(&self, id: &OrderId) -> Result<String, OrderError> {
        let rows = self
            .conn
            .query("SELECT saga_state FROM orders WHERE id = CAST($1::text AS uuid)", &[id.into()])
            .map_err(DbError::from)?;
        let row = rows.rows().next().ok_or(OrderError::NotFound)?;
        Ok(pg::col(&row, "saga_state")?)
    }

    /// The outbox rows `sql` selects (`id`, `payload`), or none when they cannot be read (the
    /// next call tries again); `what` names them in the log.
    fn outbox_rows(&self, sql: &str, params: &[ParameterValue], what: &str) -> Vec<(String, String)> {
        match self.conn.query(sql, params) {
            Ok(rows) => rows
                .rows()
                .filter_map(|row| Some((pg::col::<String>(&row, "id").ok()?, pg::col::<String>(&row, "payload").ok()?)))
                .collect(),
            Err(error) => {
                eprintln!("outbox: reading {what} events failed: {error}");
                Vec::new()
            }
        }
    }

    /// Events published longer than `saga_recovery_after_secs` ago that order-events never
    /// confirmed (its marker in Redis, see `galley_common::orders::delivered_key`): a confirmed
    /// one is marked delivered; the others are published again, since the subscriber that
    /// received them may have died before recording them (order-events ignores a duplicate).
    /// Returns how many were published again. Stops at the first Redis failure.
    fn redeliver_unconfirmed(&self) -> usize {
        let rows = self.outbox_rows(
            &format!(
                "SELECT id::text AS id, payload::text AS payload FROM outbox \
                 WHERE published_at IS NOT NULL AND delivered_at IS NULL \
                   AND published_at <= {NOW} - make_interval(secs => $1) \
                 ORDER BY published_at LIMIT 500"
            ),
            &[(self.config.recovery_after_secs as f64).into()],
            "unconfirmed",
        );
        let mut again = 0;
        for (id, payload) in rows {
            let update = match redis::exists(&self.config.redis_url, &delivered_key(&id)) {
                Ok(true) => format!("UPDATE outbox SET delivered_at = {NOW} WHERE id = CAST($1::text AS uuid)"),
                Ok(false) => match redis::publish(&self.config.redis_url, EVENTS_CHANNEL, payload.as_bytes()) {
                    Ok(receivers) if receivers > 0 => {
                        eprintln!("outbox: event {id} was never confirmed; published again");
                        again += 1;
                        format!("UPDATE outbox SET published_at = {NOW}, attempts = attempts + 1 WHERE id = CAST($1::text AS uuid)")
                    }
                    _ => break,
                },
                Err(error) => {
                    eprintln!("outbox: confirming event {id} failed: {error}");
                    break;
                }
            };
            if let Err(error) = self.conn.execute(&update, &[pg::text(&id)]) {
                eprintln!("outbox: recording the delivery of event {id} failed: {error}");
            }
        }
        again
    }

    /// Publishes unpublished outbox rows on `order_events` and marks them published once a
    /// subscriber received them; returns how many went out. A Redis outage, or a moment with
    /// no subscriber (order-events reconnecting), leaves them for the next call: events are
    /// delivered at least once, never lost.
    fn publish_outbox(&self) -> usize {
        let rows = self.outbox_rows(
            "SELECT id::text AS id, payload::text AS payload FROM outbox WHERE published_at IS NULL ORDER BY created_at LIMIT 500",
            &[],
            "unpublished",
        );
        let mut published = 0;
        for (id, payload) in rows {
            if !self.publish(&id, &payload) {
                break;
            }
            if mark_published(self.conn, &id).is_ok() {
                published += 1;
            }
        }
        published
    }

    /// Publishes one outbox event on `order_events`; whether a subscriber received it. When
    /// none did (Redis down, order-events reconnecting), the attempt is counted and the event
    /// stays unpublished for the next call.
    fn publish(&self, id: &str, payload: &str) -> bool {
        match redis::publish(&self.config.redis_url, EVENTS_CHANNEL, payload.as_bytes()) {
            Ok(receivers) if receivers > 0 => true,
            outcome => {
                match outcome {
                    Ok(_) => eprintln!("outbox: event {id} had no subscriber on `{EVENTS_CHANNEL}`; kept for the next publish"),
                    Err(error) => eprintln!("outbox: event {id} not published yet: {error}"),
                }
                let _ = self.conn.execute("UPDATE outbox SET attempts = attempts + 1 WHERE id = CAST($1::text AS uuid)", &[pg::text(id)]);
                false
            }
        }
    }
}

/// A callee's refusal as the cancelled order tells it: the customer's answer it is (no stock, a
/// declined card) with its detail, or `Abandoned` for one that is nobody's answer.
trait Refusal {
    fn cancel_reason(self) -> (CancelReason, String);
}

impl Refusal for StockRefusal {
    fn cancel_reason(self) -> (CancelReason, String) {
        match self {
            StockRefusal::InsufficientStock(detail) => (CancelReason::InsufficientStock, detail),
            other => (CancelReason::Abandoned, other.to_string()),
        }
    }
}

impl Refusal for PaymentRefusal {
    fn cancel_reason(self) -> (CancelReason, String) {
        match self {
            PaymentRefusal::Declined(detail) => (CancelReason::PaymentDeclined, detail),
            other => (CancelReason::Abandoned, other.to_string()),
        }
    }
}

/// What a saga run by a request came to.
enum Outcome {
    /// Paid (and, unless left for recovery, completed): the request knows the order's state.
    Paid,
    /// Refused, compensated, or taken over by recovery: the order must be read back.
    Other,
}

/// An `order.paid` row of the outbox, as stored.
struct OutboxEvent {
    id: String,
    payload: String,
}

/// Marks an outbox event published (a subscriber received it).
fn mark_published(c: &Connection, event: &str) -> Result<(), DbError> {
    c.execute(
        &format!("UPDATE outbox SET published_at = {NOW}, attempts = attempts + 1 WHERE id = CAST($1::text AS uuid)"),
        &[pg::text(event)],
    )?;
    Ok(())
}

/// One row of the saga log: what happened, and the state it led to.
fn log_step(conn: &Connection, id: &OrderId, step: &str, outcome: &str) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO saga_log (order_id, step, outcome) VALUES (CAST($1::text AS uuid), $2, $3)",
        &[id.into(), pg::text(step), pg::text(outcome)],
    )?;
    Ok(())
}
