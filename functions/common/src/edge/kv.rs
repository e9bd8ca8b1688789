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

    /// The fresh cached value, if any. A store error is logged and counts as a miss: the cache
    /// is never the only source, so its outage must not become the caller's error.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        let bytes = match self.store.get(key) {
            Ok(bytes) => bytes?,
            Err(e) => {
                eprintln!("cache: get `{key}` failed, serving without the cache: {e}");
                return None;
            }
        };
        Envelope::<T>::decode_fresh(&bytes, crate::unix_now())
    }

    pub fn put<T: Serialize>(&self, key: &str, value: &T) -> Result<(), spin_sdk::key_value::Error> {
        let bytes = Envelope::new(value, crate::unix_now(), self.ttl_secs)
            .encode()
            .map_err(|e| spin_sdk::key_value::Error::Other(e.to_string()))?;
        self.store.set(key, &bytes)
    }
}

/// Deletes `keys` from store `label` after a committed write (deleting a missing key succeeds,
/// so invalidation is idempotent). The write stands whatever the
/// cache does, so a failure is logged, not returned: the stale entry then lives at most until
/// its expiry.
pub fn invalidate_all(label: &str, keys: impl IntoIterator<Item = String>) {
    let store = match Store::open(label) {
        Ok(store) => store,
        Err(e) => {
            eprintln!("cache: cannot open store `{label}` to invalidate: {e}");
            return;
        }
    };
    for key in keys {
        if let Err(e) = store.delete(&key) {
            eprintln!("cache: delete `{key}` failed; it stays until it expires: {e}");
        }
    }
}
