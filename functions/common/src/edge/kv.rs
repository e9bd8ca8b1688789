//! The key-value cache with an expiry envelope (see [`crate::cache`]).

use serde::{de::DeserializeOwned, Serialize};
use spin_sdk::key_value::Store;

use crate::cache::Envelope;

pub struct Cache {
    store: Store,
    ttl_secs: u64,
}

impl Cache {
    /// Opens store `label` (it must be listed in the component's `key_value_stores`).
    pub fn open(label: &str, ttl_secs: u64) -> Result<Self, spin_sdk::key_value::Error> {
        Ok(Self { store: Store::open(label)?, ttl_secs })
    }

    /// The fresh cached value, if any. A store error is a miss: the cache is never the only source.
    pub fn get<T: Serialize + DeserializeOwned>(&self, key: &str) -> Option<T> {
        let bytes = self.store.get(key).ok().flatten()?;
        Envelope::<T>::decode_fresh(&bytes, crate::unix_now())
    }

    pub fn put<T: Serialize + DeserializeOwned>(&self, key: &str, value: T) -> Result<(), spin_sdk::key_value::Error> {
        let bytes = Envelope::new(value, crate::unix_now(), self.ttl_secs)
            .encode()
            .map_err(|e| spin_sdk::key_value::Error::Other(e.to_string()))?;
        self.store.set(key, &bytes)
    }

    /// Deleting a missing key succeeds, so invalidation is idempotent.
    pub fn invalidate(&self, key: &str) -> Result<(), spin_sdk::key_value::Error> {
        self.store.delete(key)
    }
}
