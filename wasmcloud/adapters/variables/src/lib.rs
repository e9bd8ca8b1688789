//! Exports Spin's `fermyon:spin/variables` and answers each `get` from the host's
//! `wasi:config/store`, which a wasmCloud workload fills from its configuration. Spin's
//! variable names (lower case, digits, underscores) are used as configuration keys unchanged,
//! so the manifest binds the same names `spin.toml` declares.

wit_bindgen::generate!({
    path: "../../wit",
    world: "galley:wasmcloud/variables-adapter",
    generate_all,
});

use exports::fermyon::spin2_0_0::variables::{Error, Guest};
use wasi::config::store;

struct Variables;

impl Guest for Variables {
    fn get(name: String) -> Result<String, Error> {
        match store::get(&name) {
            Ok(Some(value)) => Ok(value),
            // Spin answers an unbound variable with `undefined`, and components rely on that
            // to fall back to their defaults.
            Ok(None) => Err(Error::Undefined(format!(
                "no configuration value named `{name}`"
            ))),
            Err(store::Error::Upstream(reason) | store::Error::Io(reason)) => {
                Err(Error::Provider(reason))
            }
        }
    }
}

export!(Variables);
