//! A key-value cache entry that carries its own expiry.
//!
//! Spin's key-value store has no TTL, so the deadline travels inside the stored value:
//! `{"expires_at": <unix secs>, "value": ...}`. A stale or unreadable entry is a miss.

use serde::{de::DeserializeOwned, Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub expires_at: u64,
    pub value: T,
}

impl<T: Serialize> Envelope<T> {
    pub fn new(value: T, now: u64, ttl_secs: u64) -> Self {
        Self { expires_at: now.saturating_add(ttl_secs), value }
    }

    pub fn encode(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }
}

impl<T: DeserializeOwned> Envelope<T> {
    /// The value if the bytes decode and the entry has not expired at `now`.
    pub fn decode_fresh(bytes: &[u8], now: u64) -> Option<T> {
        let env: Envelope<T> = serde_json::from_slice(bytes).ok()?;
        (now < env.expires_at).then_some(env.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_entry_round_trips() {
        let bytes = Envelope::new("hello".to_string(), 1000, 300).encode().unwrap();
        assert_eq!(Envelope::<String>::decode_fresh(&bytes, 1299).as_deref(), Some("hello"));
    }

    #[test]
    fn expired_entry_is_a_miss() {
        let bytes = Envelope::new(42u32, 1000, 300).encode().unwrap();
        assert_eq!(Envelope::<u32>::decode_fresh(&bytes, 1300), None);
    }

    #[test]
    fn garbage_or_wrong_type_is_a_miss() {
        assert_eq!(Envelope::<u32>::decode_fresh(b"nope", 0), None);
        let bytes = Envelope::new("str".to_string(), 0, 10).encode().unwrap();
        assert_eq!(Envelope::<u32>::decode_fresh(&bytes, 1), None);
    }
}
