//! galley's end-to-end tests: a real `galley up` serving the probe app
//! (`host/tests/app/spin.toml`) over real HTTP, with the test profile's Postgres, Redis and
//! MQTT broker, SQLite files and local TCP listeners.

#[allow(dead_code)]
mod support;

mod conformance;
mod connections;
mod core_module;
mod http2;
mod isolation;
mod key_value;
mod layering;
mod mqtt;
mod outbound_http;
mod postgres;
mod redis;
mod reload;
mod routing;
mod sockets;
mod sqlite;
mod startup;
mod telemetry;
mod variables;
