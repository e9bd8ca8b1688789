//! galley-common: what two or more Galley functions share, and nothing else.
//!
//! Every module's rules are plain Rust that unit-test natively; the few places that talk to
//! the Spin host (reading the request, Postgres, key-value, outbound HTTP) sit behind the
//! `spin` feature, so native tools can use the rules without pulling in the SDK.

pub mod auth;
pub mod body;
pub mod cache;
pub mod client;
pub mod db;
pub mod error;
pub mod ids;
pub mod method;
pub mod money;
pub mod password;
pub mod problem;
pub mod query;
pub mod whole;

// Service contracts: one module per service, holding what it offers the others (paths,
// request and response types, the problems a caller can match on).
pub mod catalog;
pub mod inventory;
pub mod orders;
pub mod order_listing;
pub mod payments;
pub mod users;
pub mod wakes;
#[cfg(feature = "grpc")]
pub mod user_proto;

#[cfg(feature = "spin")]
pub mod edge;

/// Seconds since the Unix epoch, from the (WASI or native) system clock.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
