//! Publishing events on Redis through `fermyon:spin/redis` (the address must be in the
//! component's `allowed_outbound_hosts` as `redis://host:port`).

use spin_sdk::redis::Connection;

#[derive(Debug, thiserror::Error)]
#[error("publishing on `{channel}` failed: {reason}")]
pub struct PublishError {
    pub channel: String,
    pub reason: String,
}

/// Publishes `payload` on `channel` of the Redis at `address`. Pub/sub keeps nothing for
/// absent subscribers, so a caller that must not lose an event records it first (an outbox)
/// and treats this as delivery, which may be repeated.
pub fn publish(address: &str, channel: &str, payload: &[u8]) -> Result<(), PublishError> {
    let failed = |e: spin_sdk::redis::Error| PublishError { channel: channel.to_owned(), reason: e.to_string() };
    Connection::open(address).map_err(failed)?.publish(channel, &payload.to_vec()).map_err(failed)
}
