//! Test-only: exports `wasi:config/store` and answers each key from the Spin variable of the
//! same name. The e2e tests plug it into the wasmCloud chaining adapter (which reads its
//! `spin_internal_authority` from wasi:config) to run that adapter on galley, where chained
//! requests can be watched arriving.

wit_bindgen::generate!({
    path: "../../../wasmcloud/wit",
    world: "galley:wasmcloud/config-from-variables",
    generate_all,
});

use exports::wasi::config::store::{Error, Guest};
use fermyon::spin2_0_0::variables;

struct ConfigFromVariables;

impl Guest for ConfigFromVariables {
    fn get(key: String) -> Result<Option<String>, Error> {
        match variables::get(&key) {
            Ok(value) => Ok(Some(value)),
            Err(variables::Error::Undefined(_)) => Ok(None),
            Err(e) => Err(Error::Upstream(format!("{e:?}"))),
        }
    }

    fn get_all() -> Result<Vec<(String, String)>, Error> {
        Err(Error::Upstream("Spin variables cannot be listed".into()))
    }
}

export!(ConfigFromVariables);
