//! The Spin edges: the only code in this crate that calls the Spin host.

pub mod client;
pub mod endpoint;
pub mod http;
pub mod kv;
pub mod orders_db;
pub mod pg;
pub mod redis;
pub mod time;
pub mod users_db;

/// A component variable, or a configuration error naming it (a 500: the deployment is wrong).
pub fn variable(name: &str) -> Result<String, crate::error::ConfigError> {
    spin_sdk::variables::get(name).map_err(|e| crate::error::ConfigError(format!("variable `{name}`: {e}")))
}
