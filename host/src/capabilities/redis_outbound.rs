//! `fermyon:spin/redis@2.0.0`: outbound Redis commands.
//!
//! The address must be allowed as `redis://host:port`. Each address has one shared
//! [`RedisLink`] for the life of the host, so `open` is cheap; it reconnects by itself after
//! the server goes away, and while the server is down calls fail fast instead of hanging.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use redis::{FromRedisValue, Value};
use wasmtime::component::Resource;

use crate::capabilities::allowed_hosts::AllowList;
use crate::bindings::redis::{self as wit, Error, RedisParameter, RedisResult};
use crate::capabilities::redis_link::RedisLink;
use crate::capabilities::view::View;
use crate::telemetry;
use crate::trace::TraceContext;
use opentelemetry::KeyValue;

/// A guest's open connection.
pub struct RedisConnection {
    link: Arc<RedisLink>,
}

/// One link per address: the capability's per-app state.
#[derive(Default)]
pub struct RedisClients {
    links: Mutex<HashMap<String, Arc<RedisLink>>>,
}

impl RedisClients {
    /// The address's link, connecting it now if it has never connected, so that `open` on an
    /// unreachable server fails as Spin's does.
    async fn connect(&self, address: &str) -> Result<Arc<RedisLink>, Error> {
        let link = {
            let links = self.links.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            match links.get(address) {
                Some(link) => return Ok(link.clone()),
                None => Arc::new(RedisLink::open(address).map_err(|_| Error::InvalidAddress)?),
            }
        };
        link.query::<Value>(&redis::cmd("PING"))
            .await
            .map_err(|e| Error::Other(format!("connecting to {address}: {e}")))?;
        let mut links = self.links.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok(links.entry(address.to_string()).or_insert(link).clone())
    }
}

/// The WIT's `type-error` covers both a reply the client cannot convert and the server's own
/// complaints about a value's type (`WRONGTYPE`, "value is not an integer").
fn other(error: redis::RedisError) -> Error {
    let server_type_error = error.code() == Some("WRONGTYPE") || error.to_string().contains("not an integer");
    if error.kind() == redis::ErrorKind::TypeError || server_type_error {
        Error::TypeError
    } else {
        Error::Other(error.to_string())
    }
}

/// What one instance may reach: the app's links, at the addresses its component may use.
pub struct RedisState {
    clients: Arc<RedisClients>,
    allowed_hosts: Arc<AllowList>,
    component_id: Arc<str>,
    /// The instance's span: each command is a client span under it.
    trace: TraceContext,
}

impl RedisState {
    /// `clients`: the app's; `allowed_hosts`: the component's allow-list.
    pub fn new(clients: Arc<RedisClients>, allowed_hosts: Arc<AllowList>, component_id: Arc<str>, trace: TraceContext) -> RedisState {
        RedisState { clients, allowed_hosts, component_id, trace }
    }
}

impl View<'_, RedisState> {
    fn redis_connection(&self, connection: &Resource<RedisConnection>) -> wasmtime::Result<Arc<RedisLink>> {
        Ok(self.table.get(connection)?.link.clone())
    }
}

/// Runs `cmd` on the link, as a client span of the instance.
async fn run<T: FromRedisValue>(state: &RedisState, link: Arc<RedisLink>, cmd: redis::Cmd) -> Result<T, Error> {
    let operation = || cmd_name(&cmd);
    let attributes = || {
        vec![
            KeyValue::new("db.system", "redis"),
            KeyValue::new("db.operation.name", cmd_name(&cmd)),
            KeyValue::new("server.address", link.server()),
            KeyValue::new("spin.component", state.component_id.clone()),
        ]
    };
    telemetry::client_call(&state.trace, operation, attributes, async { link.query(&cmd).await.map_err(other) }).await
}

/// The command's name (`PUBLISH`, `GET`…): its first argument.
fn cmd_name(cmd: &redis::Cmd) -> String {
    match cmd.args_iter().next() {
        Some(redis::Arg::Simple(name)) => String::from_utf8_lossy(name).to_ascii_uppercase(),
        _ => "REDIS".into(),
    }
}

impl wit::Host for View<'_, RedisState> {}

impl wit::HostConnection for View<'_, RedisState> {
    async fn open(&mut self, address: String) -> wasmtime::Result<Result<Resource<RedisConnection>, Error>> {
        if url::Url::parse(&address).is_err() {
            return Ok(Err(Error::InvalidAddress));
        }
        if !self.state.allowed_hosts.allows_url(&address) {
            tracing::warn!(component = %self.state.component_id, %address, "redis address not in allowed_outbound_hosts");
            return Ok(Err(Error::InvalidAddress));
        }
        let link = match self.state.clients.connect(&address).await {
            Ok(link) => link,
            Err(error) => return Ok(Err(error)),
        };
        Ok(Ok(self.table.push(RedisConnection { link })?))
    }

    async fn publish(&mut self, c: Resource<RedisConnection>, channel: String, payload: Vec<u8>) -> wasmtime::Result<Result<(), Error>> {
        Ok(run(self.state, self.redis_connection(&c)?, redis::cmd("PUBLISH").arg(channel).arg(payload).to_owned()).await)
    }

    async fn get(&mut self, c: Resource<RedisConnection>, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        Ok(run(self.state, self.redis_connection(&c)?, redis::cmd("GET").arg(key).to_owned()).await)
    }

    async fn set(&mut self, c: Resource<RedisConnection>, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), Error>> {
        Ok(run(self.state, self.redis_connection(&c)?, redis::cmd("SET").arg(key).arg(value).to_owned()).await)
    }

    async fn incr(&mut self, c: Resource<RedisConnection>, key: String) -> wasmtime::Result<Result<i64, Error>> {
        Ok(run(self.state, self.redis_connection(&c)?, redis::cmd("INCR").arg(key).to_owned()).await)
    }

    async fn del(&mut self, c: Resource<RedisConnection>, keys: Vec<String>) -> wasmtime::Result<Result<u32, Error>> {
        Ok(run(self.state, self.redis_connection(&c)?, redis::cmd("DEL").arg(keys).to_owned()).await)
    }

    async fn sadd(&mut self, c: Resource<RedisConnection>, key: String, values: Vec<String>) -> wasmtime::Result<Result<u32, Error>> {
        Ok(run(self.state, self.redis_connection(&c)?, redis::cmd("SADD").arg(key).arg(values).to_owned()).await)
    }

    async fn smembers(&mut self, c: Resource<RedisConnection>, key: String) -> wasmtime::Result<Result<Vec<String>, Error>> {
        Ok(run(self.state, self.redis_connection(&c)?, redis::cmd("SMEMBERS").arg(key).to_owned()).await)
    }

    async fn srem(&mut self, c: Resource<RedisConnection>, key: String, values: Vec<String>) -> wasmtime::Result<Result<u32, Error>> {
        Ok(run(self.state, self.redis_connection(&c)?, redis::cmd("SREM").arg(key).arg(values).to_owned()).await)
    }

    async fn execute(
        &mut self,
        c: Resource<RedisConnection>,
        command: String,
        arguments: Vec<RedisParameter>,
    ) -> wasmtime::Result<Result<Vec<RedisResult>, Error>> {
        let mut cmd = redis::cmd(&command);
        for argument in &arguments {
            match argument {
                RedisParameter::Int64(v) => cmd.arg(v),
                RedisParameter::Binary(v) => cmd.arg(v),
            };
        }
        Ok(run::<Value>(self.state, self.redis_connection(&c)?, cmd).await.map(flatten))
    }

    async fn drop(&mut self, c: Resource<RedisConnection>) -> wasmtime::Result<()> {
        self.table.delete(c)?;
        Ok(())
    }
}

/// Spin returns a reply as a flat list: arrays are spread, scalars become one item.
fn flatten(value: Value) -> Vec<RedisResult> {
    match value {
        Value::Nil => vec![RedisResult::Nil],
        Value::Int(v) => vec![RedisResult::Int64(v)],
        Value::BulkString(bytes) => vec![RedisResult::Binary(bytes)],
        Value::SimpleString(text) => vec![RedisResult::Status(text)],
        Value::Okay => vec![RedisResult::Status("OK".into())],
        Value::Array(items) | Value::Set(items) => items.into_iter().flat_map(flatten).collect(),
        other => match String::from_redis_value(&other) {
            Ok(text) => vec![RedisResult::Binary(text.into_bytes())],
            Err(_) => vec![RedisResult::Nil],
        },
    }
}
