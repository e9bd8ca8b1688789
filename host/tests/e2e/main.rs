//! galley's end-to-end tests: a real `galley up` serving the probe app
//! (`host/tests/app/spin.toml`) over real HTTP, with the test profile's Postgres and Redis.

#[allow(dead_code)]
mod support;

mod isolation;
mod key_value;
mod outbound_http;
mod postgres;
mod redis;
mod routing;
mod startup;
mod telemetry;
mod variables;
