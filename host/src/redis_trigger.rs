//! The Redis trigger: one SUBSCRIBE connection per address, a fresh instance per message.
//!
//! Spin stops the trigger when its subscription connection drops. galley reconnects instead,
//! with exponential backoff (0.1 s doubling to 5 s), logging each drop and each recovery;
//! messages published while it is disconnected are lost, as they are for any Redis
//! subscriber. A handler's error or trap is logged and does not affect other messages.
//!
//! Each message runs on the app version serving when it arrives. A reload that changes the
//! subscriptions (addresses, channels, components) replaces the subscriber tasks; one that
//! does not leaves the connections alone.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::app::{App, RedisSubscription};
use crate::app::reload::LiveApp;
use crate::trace::TraceContext;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Starts one subscriber task per address, and starts them again when a reload changes the
/// subscriptions.
pub fn start(live: &Arc<LiveApp>) {
    let live = live.clone();
    tokio::spawn(async move {
        let mut versions = live.subscribe();
        let mut subscribed: Vec<RedisSubscription> = Vec::new();
        let mut tasks: Vec<tokio::task::JoinHandle<()>> = Vec::new();
        loop {
            let wanted = versions.borrow_and_update().redis_subscriptions.clone();
            if wanted != subscribed {
                tasks.drain(..).for_each(|task| task.abort());
                tasks = spawn_subscribers(&live, &wanted);
                subscribed = wanted;
            }
            if versions.changed().await.is_err() {
                break;
            }
        }
    });
}

fn spawn_subscribers(live: &Arc<LiveApp>, subscriptions: &[RedisSubscription]) -> Vec<tokio::task::JoinHandle<()>> {
    let mut by_address: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for subscription in subscriptions {
        by_address
            .entry(subscription.address.clone())
            .or_default()
            .push((subscription.channel.clone(), subscription.component.clone()));
    }
    by_address
        .into_iter()
        .map(|(address, channels)| tokio::spawn(subscribe_forever(live.clone(), address, channels)))
        .collect()
}

async fn subscribe_forever(live: Arc<LiveApp>, address: String, channels: Vec<(String, String)>) {
    let mut backoff = FIRST_BACKOFF;
    let mut was_connected = false;
    loop {
        match subscribe(&live, &address, &channels, &mut was_connected).await {
            Ok(()) => tracing::warn!(%address, "redis subscription closed; reconnecting"),
            Err(error) => tracing::warn!(%address, %error, retry_in = ?backoff, "redis subscription failed; retrying"),
        }
        if was_connected {
            backoff = FIRST_BACKOFF;
            was_connected = false;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn subscribe(
    live: &Arc<LiveApp>,
    address: &str,
    channels: &[(String, String)],
    was_connected: &mut bool,
) -> anyhow::Result<()> {
    let client = redis::Client::open(address)?;
    let mut pubsub = client.get_async_pubsub().await?;
    for (channel, _) in channels {
        pubsub.subscribe(channel).await?;
    }
    *was_connected = true;
    tracing::info!(%address, channels = ?channels.iter().map(|(c, _)| c).collect::<Vec<_>>(), "redis trigger subscribed");
    let mut messages = pubsub.on_message();
    while let Some(message) = messages.next().await {
        let channel = message.get_channel_name().to_string();
        let payload = message.get_payload_bytes().to_vec();
        for (_, component) in channels.iter().filter(|(c, _)| *c == channel) {
            tokio::spawn(handle_message(live.current(), component.clone(), channel.clone(), payload.clone()));
        }
    }
    Ok(())
}

async fn handle_message(app: Arc<App>, component_id: String, channel: String, payload: Vec<u8>) {
    let started = Instant::now();
    let started_at = std::time::SystemTime::now();
    let trace = TraceContext::continue_or_start(traceparent_in(&payload).as_deref());
    let outcome = run(&app, &component_id, payload, trace).await;
    crate::telemetry::record(|| crate::telemetry::SpanRecord {
        name: format!("redis {channel}"),
        kind: opentelemetry::trace::SpanKind::Consumer,
        trace,
        start: started_at,
        attributes: vec![
            opentelemetry::KeyValue::new("messaging.destination.name", channel.clone()),
            opentelemetry::KeyValue::new("spin.component", component_id.clone()),
        ],
        failed: outcome.is_err(),
    });
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    match outcome {
        Ok(()) => tracing::info!(component = %component_id, %channel, duration_ms, trace_id = %trace.trace_id(), "redis message handled"),
        Err(error) => tracing::error!(component = %component_id, %channel, duration_ms, trace_id = %trace.trace_id(), error = %format!("{error:#}"), "redis message handler failed"),
    }
}

/// Redis pub/sub messages have no headers to carry a trace in, so a publisher that wants its
/// subscribers' work in its trace puts a W3C `traceparent` field in a JSON object payload (as
/// order-create does in `order.paid`). Anything else starts a new trace. Spin ignores the
/// field; the message is the same on both hosts.
fn traceparent_in(payload: &[u8]) -> Option<String> {
    // Looked for before parsing, so a message without the field costs one scan.
    if !payload.windows(13).any(|w| w == b"\"traceparent\"") {
        return None;
    }
    // A `Value`, not a struct: serde would read a struct from a JSON array too.
    match serde_json::from_slice::<serde_json::Value>(payload).ok()? {
        serde_json::Value::Object(mut fields) => match fields.remove("traceparent")? {
            serde_json::Value::String(traceparent) => Some(traceparent),
            _ => None,
        },
        _ => None,
    }
}

async fn run(app: &Arc<App>, component_id: &str, payload: Vec<u8>, trace: TraceContext) -> anyhow::Result<()> {
    let component = app.component(component_id).ok_or_else(|| anyhow::anyhow!("unknown component"))?;
    let pre = component.redis.clone().ok_or_else(|| anyhow::anyhow!("not a redis component"))?;
    let mut store = app.new_store(component, trace);
    let work = async {
        let instance = pre.instantiate_async(&mut store).await?;
        instance.fermyon_spin_inbound_redis().call_handle_message(&mut store, &payload).await
    };
    match tokio::time::timeout(app.limits.request_timeout, work).await {
        Err(_) => anyhow::bail!("timed out after {:?}", app.limits.request_timeout),
        Ok(Err(trap)) => Err(trap.into()),
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(error))) => anyhow::bail!("handler returned {error:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::traceparent_in;

    #[test]
    fn a_json_payload_carries_its_publishers_trace() {
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let payload = format!(r#"{{"type":"order.paid","traceparent":"{traceparent}"}}"#);
        assert_eq!(traceparent_in(payload.as_bytes()).as_deref(), Some(traceparent));
        assert_eq!(traceparent_in(br#"{"type":"order.paid"}"#), None);
        assert_eq!(traceparent_in(b"\"traceparent\" is not json"), None);
        assert_eq!(traceparent_in(br#"["traceparent"]"#), None);
    }
}
