//! Publishing events on Redis through `fermyon:spin/redis` (the address must be in the
//! component's `allowed_outbound_hosts` as `redis://host:port`), and the markers with which a
//! consumer confirms what it received ([`mark`], [`exists`]).

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

#[derive(Debug, thiserror::Error)]
#[error("redis `{command}` failed: {reason}")]
pub struct CommandError {
    pub command: &'static str,
    pub reason: String,
}

fn execute(address: &str, command: &'static str, args: &[RedisParameter]) -> Result<Vec<RedisResult>, CommandError> {
    let failed = |reason: String| CommandError { command, reason };
    let connection = Connection::open(address).map_err(|e| failed(e.to_string()))?;
    connection.execute(command, args).map_err(|e| failed(e.to_string()))
}

/// Sets the marker `key` (to `1`) for `ttl_secs` seconds.
pub fn mark(address: &str, key: &str, ttl_secs: u64) -> Result<(), CommandError> {
    let ttl = ttl_secs.to_string();
    let args = [key.as_bytes(), b"1".as_slice(), b"EX".as_slice(), ttl.as_bytes()].map(|a| RedisParameter::Binary(a.to_vec()));
    execute(address, "SET", &args).map(drop)
}

/// Whether the marker `key` is set.
pub fn exists(address: &str, key: &str) -> Result<bool, CommandError> {
    match execute(address, "EXISTS", &[RedisParameter::Binary(key.as_bytes().to_vec())])?.first() {
        Some(RedisResult::Int64(n)) => Ok(*n > 0),
        other => Err(CommandError { command: "EXISTS", reason: format!("unexpected reply {other:?}") }),
    }
}
