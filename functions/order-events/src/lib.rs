//! order-events: consumes `order_events` (published by order-create's outbox) and records a
//! notification per event in the `notifications` database.
//!
//! Delivery is at least once: the outbox republishes until a publish succeeds, and recovery
//! may publish an event a request also published. So the event id decides: one transaction
//! inserts it into `processed_events` and the notification only if it was new; a duplicate
//! or replayed event changes nothing.
//!
//! Once the event is recorded (now or before), a marker in Redis ([`delivered_key`]) confirms
//! it to order-create: pub/sub only tells the publisher that a subscriber *received* the
//! message, and a subscriber killed before its commit loses it, so recovery publishes again
//! every event that stays unconfirmed.

use anyhow::Context;
use galley_common::edge::{pg, redis, variable};
use galley_common::orders::{delivered_key, OrderEvent, DELIVERED_TTL_SECS, ORDER_PAID};
use spin_sdk::redis_component;

#[redis_component]
fn on_message(message: bytes::Bytes) -> anyhow::Result<()> {
    let event: OrderEvent = match serde_json::from_slice(&message) {
        Ok(event) => event,
        // A message that is not an order event is not ours to retry: log it and move on.
        Err(error) => {
            eprintln!("order_events: ignoring a message that is not an order event: {error}");
            return Ok(());
        }
    };
    let conn = pg::connect(&variable("db_url")?)?;
    // The marker and the notification in one statement, so one flushed transaction: a
    // duplicate inserts neither.
    let recorded = conn
        .query(
            "WITH new_event AS ( \
               INSERT INTO processed_events (event_id, event_type) VALUES (CAST($1::text AS uuid), $4) \
               ON CONFLICT (event_id) DO NOTHING RETURNING event_id), \
             noted AS ( \
               INSERT INTO notifications (event_id, order_id, user_id, kind, message) \
               SELECT event_id, CAST($2::text AS uuid), CAST($3::text AS uuid), $4, $5 FROM new_event) \
             SELECT count(*) AS new FROM new_event",
            &[
                pg::text(&event.event_id),
                (&event.order_id).into(),
                (&event.user_id).into(),
                pg::text(&event.event_type),
                pg::text(&message_for(&event)),
            ],
        )
        .map_err(galley_common::db::DbError::from)
        .and_then(|rows| {
            let row = rows.rows().next().ok_or(galley_common::db::DbError::NoRow("processed_events"))?;
            Ok(pg::col::<i64>(&row, "new")? == 1)
        })
    .with_context(|| format!("recording event {}", event.event_id))?;
    if !recorded {
        eprintln!("order_events: event {} already recorded; duplicate ignored", event.event_id);
    }
    // After the commit, and for a duplicate too (its first confirmation may be what was lost).
    // A failed confirmation is not this message's failure: recovery publishes it again.
    if let Err(error) = redis::mark(&variable("redis_url")?, &delivered_key(&event.event_id), DELIVERED_TTL_SECS) {
        eprintln!("order_events: event {} recorded, its confirmation failed ({error}); it will be delivered again", event.event_id);
    }
    Ok(())
}

/// What the user is told.
fn message_for(event: &OrderEvent) -> String {
    match event.event_type.as_str() {
        ORDER_PAID => format!("Your order {} is paid: {}.", event.order_id, event.amount),
        other => format!("Your order {} has news ({other}).", event.order_id),
    }
}
