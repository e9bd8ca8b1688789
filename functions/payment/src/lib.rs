//! payment: the owner of the `payments` database, reachable only by service chaining
//! (`route = { private = true }`). It charges an order once and refunds it once, against a
//! sandbox provider whose test cards succeed, decline, or answer slowly
//! ([`galley_common::payments`] is the contract).
//!
//! **One row per order, one transaction per operation.** `payments.order_id` is the primary
//! key, and both operations start by claiming it with `INSERT … ON CONFLICT (order_id) DO
//! NOTHING`:
//!
//! - A charge claims the order with a `pending` row, asks the provider, and settles the row
//!   (`charged` or `declined`) **in the same transaction**, so the claim is the lock for as long
//!   as the provider takes. Every other charge or refund of that order, concurrent or later,
//!   blocks on the primary key until the claim commits, inserts nothing, and then reads the
//!   settled row under `SELECT … FOR UPDATE`: exactly one request asks the provider, and every
//!   other one answers what it recorded (the same 200, the same 402).
//! - A refund claims the order with a `voided` tombstone (amount 0). If that insert wins, no
//!   charge ever ran: the refund answers `voided`, and a late charge (a call that timed out on
//!   the caller's side, still in flight) finds the tombstone and is refused with 409. If it
//!   loses, the refund locks the row and acts only from `charged` (→ `refunded`, the whole
//!   amount, once); any other state is answered as stored.
//!
//! **Why the provider call runs inside the transaction** (a database lock held across a slow
//! call, normally avoided): it is what serialises a refund racing a slow charge without any
//! window. A saga that times out on `pm_card_slow` and compensates sends the refund while the
//! charge is still in flight; the refund then waits on the claim and refunds what the charge
//! recorded, or (if the refund won the claim) the charge is refused. Whichever way, the order
//! ends `refunded` or `voided`, never `charged` with nobody to refund it. The price is one
//! pooled connection per charge in progress, for the provider's latency; duplicates of that
//! charge wait on it, each with its connection.
//!
//! A caller that gives up on a charge does not stop it: galley lets the chained call run to
//! its end, and the caller's refund then waits for it and gives the money back
//! (`a_charge_whose_caller_gave_up_is_undone_by_the_refund` in the e2e tests). A host that
//! cancels it instead rolls its transaction back (nothing was charged) and the refund voids
//! the order. A host that returned the connection to its pool with the transaction still open
//! might later commit the `pending` claim; a repeat of the charge then asks the provider again
//! (the provider reference is the order's, so it is the same charge) and a refund voids it.

pub mod domain;

use std::time::Duration;

use galley_common::db::{DbError, NOW_UTC as NOW};
use galley_common::edge::endpoint::{database, Request};
use galley_common::edge::http::json;
use galley_common::edge::{pg, time, variable};
use galley_common::ids::OrderId;
use galley_common::payments::{ChargeRequest, ChargeState};
use spin_sdk::http::Response;
use spin_sdk::pg4::{Connection, Row};

use domain::{ChargeTerms, Op, PaymentError, PaymentRow, ProviderAnswer, RefundStep, RowState, TestCard};

galley_common::http_endpoint!(serve);

async fn serve(mut req: Request) -> Result<Response, PaymentError> {
    let response = match Op::route(&req.method, req.path())? {
        Op::Charge => {
            // Everything is checked before the database is opened: a refused charge writes nothing.
            let terms = domain::validate_charge(req.json::<ChargeRequest>().await?)?;
            let slow = match terms.card {
                TestCard::Slow => domain::slow_delay(&variable("slow_payment_ms")?)?,
                TestCard::Ok | TestCard::Declined => Duration::ZERO,
            };
            let conn = database()?;
            let stored = pg::transaction_async(&conn, async |c| charge(c, &terms, slow).await).await?;
            // After the commit: a decline is recorded, then answered (402).
            json(200, &domain::charge_answer(&stored, &terms)?)
        }
        Op::Refund(order) => {
            let conn = database()?;
            let stored = pg::transaction(&conn, |c| refund(c, &order))?;
            json(200, &stored.answer()?)
        }
    };
    Ok(response)
}

const COLUMNS: &str = "order_id::text AS order_id, amount, method, state, provider_ref";

struct Stored(PaymentRow);

impl pg::FromRow for Stored {
    fn from_row(row: &Row<'_>) -> Result<Self, DbError> {
        let order: String = pg::col(row, "order_id")?;
        let order_id =
            OrderId::parse(&order).map_err(|e| DbError::Decode { column: "order_id".into(), reason: e.to_string() })?;
        let state: String = pg::col(row, "state")?;
        let state = RowState::parse(&state)
            .ok_or_else(|| DbError::Decode { column: "state".into(), reason: format!("unknown state `{state}`") })?;
        Ok(Stored(PaymentRow {
            order_id,
            amount: pg::money(row, "amount")?,
            method: pg::col(row, "method")?,
            state,
            provider_ref: pg::col(row, "provider_ref")?,
        }))
    }
}

/// Runs `sql` (a `SELECT`, or a write `RETURNING` [`COLUMNS`]) for `order`'s row, which must exist.
fn one_row(conn: &Connection, order: &OrderId, sql: &str, params: &[spin_sdk::pg4::ParameterValue]) -> Result<PaymentRow, DbError> {
    match pg::query_opt::<Stored>(conn, sql, params)? {
        Some(Stored(row)) => Ok(row),
        // Rows are never deleted, and every caller found or claimed this one in its transaction.
        None => Err(DbError::Decode { column: "order_id".into(), reason: format!("order {order} has no payment row") }),
    }
}

/// The order's row, locked for the rest of the transaction.
fn load(conn: &Connection, order: &OrderId) -> Result<PaymentRow, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM payments WHERE order_id = CAST($1::text AS uuid) FOR UPDATE");
    one_row(conn, order, &sql, &[order.into()])
}

/// Inserts the order's row unless it has one; whether this call inserted it. A concurrent
/// claim of the same order waits on the primary key until the first one's transaction ends,
/// then inserts nothing (or, if that one rolled back, inserts after all).
fn claim(conn: &Connection, sql: &str, params: &[spin_sdk::pg4::ParameterValue]) -> Result<bool, DbError> {
    Ok(conn.execute(sql, params)? == 1)
}

/// Claims the order, asks the provider while holding the claim, and settles the row; or,
/// when the order was claimed already, returns what is stored (locked).
async fn charge(conn: &Connection, terms: &ChargeTerms, slow: Duration) -> Result<PaymentRow, PaymentError> {
    let claimed = claim(
        conn,
        "INSERT INTO payments (order_id, amount, method, state) VALUES (CAST($1::text AS uuid), $2, $3, 'pending') \
         ON CONFLICT (order_id) DO NOTHING",
        &[(&terms.order_id).into(), terms.amount.into(), pg::text(&terms.method)],
    )?;
    if !claimed {
        let stored = load(conn, &terms.order_id)?;
        if !domain::must_attempt(&stored, terms) {
            return Ok(stored);
        }
    }
    let (state, provider_ref) = match ask_provider(terms, slow).await {
        ProviderAnswer::Charged { provider_ref } => (ChargeState::Charged, Some(provider_ref)),
        ProviderAnswer::Declined => (ChargeState::Declined, None),
    };
    let sql = format!(
        "UPDATE payments SET state = $2, provider_ref = $3::text, updated_at = {NOW} \
         WHERE order_id = CAST($1::text AS uuid) RETURNING {COLUMNS}"
    );
    Ok(one_row(conn, &terms.order_id, &sql, &[(&terms.order_id).into(), pg::text(state.as_str()), pg::nullable(provider_ref)])?)
}

/// The sandbox provider: answers after its delay (a monotonic-clock sleep, `pm_card_slow` only).
async fn ask_provider(terms: &ChargeTerms, slow: Duration) -> ProviderAnswer {
    if let Some(delay) = domain::provider_delay(terms.card, slow) {
        time::sleep(delay).await;
    }
    domain::sandbox_answer(terms)
}

/// Refunds the order's charge once, or leaves a `voided` tombstone if it has none yet.
fn refund(conn: &Connection, order: &OrderId) -> Result<PaymentRow, DbError> {
    let tombstone = claim(
        conn,
        "INSERT INTO payments (order_id, amount, method, state) VALUES (CAST($1::text AS uuid), 0, NULL, 'voided') \
         ON CONFLICT (order_id) DO NOTHING",
        &[order.into()],
    )?;
    let stored = load(conn, order)?;
    if tombstone {
        return Ok(stored);
    }
    let change = match domain::refund_step(&stored) {
        RefundStep::Keep => return Ok(stored),
        RefundStep::Refund => format!("state = 'refunded', refunded_at = {NOW}"),
        RefundStep::Void => "state = 'voided', amount = 0, provider_ref = NULL".to_owned(),
    };
    let sql = format!("UPDATE payments SET {change}, updated_at = {NOW} WHERE order_id = CAST($1::text AS uuid) RETURNING {COLUMNS}");
    one_row(conn, order, &sql, &[order.into()])
}
