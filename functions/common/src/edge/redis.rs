//! Publishing events on Redis through `fermyon:spin/redis` (the address must be in the
//! component's `allowed_outbound_hosts` as `redis://host:port`).

use spin_sdk::redis::{Connection, RedisParameter, RedisResult};

#[derive(Debug, thiserror::Error)]
#[error("publishing on `{channel}` failed: {reason}")]
pub struct PublishError {
    pub channel: String,
    pub reason: String,
}

/// Publishes `payload` on `channel` of the Redis at `address` and returns how many
/// subscribers received it. Pub/sub keeps nothing for absent subscribers, so a caller that
/// must not lose an event records it first (an outbox) and counts it delivered only when
/// someone received it; delivery may then be repeated.
pub fn publish(address: &str, channel: &str, payload: &[u8]) -> Result<u64, PublishError> {
    let failed = |reason: String| PublishError { channel: channel.to_owned(), reason };
    let connection = Connection::open(address).map_err(|e| failed(e.to_string()))?;
    // `execute` rather than `publish`: only the raw reply carries the receiver count.
    let reply = connection
        .execute("PUBLISH", &[RedisParameter::Binary(channel.as_bytes().to_vec()), RedisParameter::Binary(payload.to_vec())])
        .map_err(|e| failed(e.to_string()))?;
    match reply.first() {
        Some(RedisResult::Int64(receivers)) => Ok(u64::try_from(*receivers).unwrap_or(0)),
        other => Err(failed(format!("unexpected reply {other:?}"))),
    }
}
