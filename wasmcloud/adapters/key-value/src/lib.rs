//! Exports Spin's `fermyon:spin/key-value` over the host's `wasi:keyvalue/store`: a Spin store
//! label opens the wasi:keyvalue bucket of the same name, and each operation maps one to one.

wit_bindgen::generate!({
    path: "../../wit",
    world: "galley:wasmcloud/key-value-adapter",
    generate_all,
});

use exports::fermyon::spin2_0_0::key_value::{Error, Guest, GuestStore, Store as StoreHandle};
use wasi::keyvalue::store as kv;

struct KeyValue;

/// An open Spin store: the bucket it stands for.
pub struct Store(kv::Bucket);

fn spin_error(error: kv::Error) -> Error {
    match error {
        kv::Error::NoSuchStore => Error::NoSuchStore,
        kv::Error::AccessDenied => Error::AccessDenied,
        kv::Error::Other(reason) => Error::Other(reason),
    }
}

impl Guest for KeyValue {
    type Store = Store;
}

impl GuestStore for Store {
    fn open(label: String) -> Result<StoreHandle, Error> {
        kv::open(&label)
            .map(|bucket| StoreHandle::new(Store(bucket)))
            .map_err(spin_error)
    }

    fn get(&self, key: String) -> Result<Option<Vec<u8>>, Error> {
        self.0.get(&key).map_err(spin_error)
    }

    fn set(&self, key: String, value: Vec<u8>) -> Result<(), Error> {
        self.0.set(&key, &value).map_err(spin_error)
    }

    fn delete(&self, key: String) -> Result<(), Error> {
        self.0.delete(&key).map_err(spin_error)
    }

    fn exists(&self, key: String) -> Result<bool, Error> {
        self.0.exists(&key).map_err(spin_error)
    }

    fn get_keys(&self) -> Result<Vec<String>, Error> {
        // wasi:keyvalue pages its listing; Spin answers every key at once.
        let mut keys = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.0.list_keys(cursor).map_err(spin_error)?;
            keys.extend(page.keys);
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(keys),
            }
        }
    }
}

export!(KeyValue);
