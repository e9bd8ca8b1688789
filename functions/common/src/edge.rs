//! The Spin edges: the only code in this crate that calls the Spin host.

pub mod client;
pub mod http;
pub mod kv;
pub mod pg;

/// A component variable, or a configuration error naming it (a 500: the deployment is wrong).
pub fn variable(name: &str) -> Result<String, ConfigError> {
    spin_sdk::variables::get(name).map_err(|e| ConfigError(format!("variable `{name}`: {e}")))
}

#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(pub String);

impl crate::problem::ApiError for ConfigError {
    fn status(&self) -> u16 {
        500
    }
    fn kind(&self) -> &'static str {
        "internal"
    }
    fn title(&self) -> &'static str {
        "Internal error"
    }
    fn detail(&self) -> String {
        "the service is misconfigured; it has been logged".into()
    }
}
