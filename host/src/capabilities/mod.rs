//! Spin's capabilities, one module each, as Spin's `factor-*` crates are: what a component
//! may import besides WASI. Each keeps an app-wide part (pools, stores, clients, built at load)
//! and a per-instance state built from that part and the component's own configuration by
//! `App::new_store`; its host functions see only a [`view::View`] of that state. None of them
//! knows the app: outbound HTTP reaches the app's components through
//! [`outbound_http::InProcessApp`], which the HTTP trigger implements.

pub mod allowed_hosts;
pub mod key_value;
pub mod mqtt;
pub mod outbound_http;
pub mod postgres;
pub mod redis_link;
pub mod redis_outbound;
pub mod sockets;
pub mod sqlite;
pub mod variables;
pub mod view;
