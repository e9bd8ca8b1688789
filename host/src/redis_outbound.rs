//! `fermyon:spin/redis@2.0.0`: outbound Redis commands.
//!
//! The address must be allowed as `redis://host:port`. Connections are multiplexed and cached
//! per address for the life of the host, so `open` is cheap after the first request; they
//! reconnect by themselves after the server goes away, and every call is bounded in time (see
//! [`connection_config`]), so an outage fails calls promptly instead of hanging the request.

use std::collections::HashMap;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, Value};
use tokio::sync::Mutex;
use wasmtime::component::Resource;

use crate::bindings::redis::{self as wit, Error, RedisParameter, RedisResult};
use crate::state::InstanceState;

/// A guest's open connection.
pub struct RedisConnection {
    connection: ConnectionManager,
}

/// One multiplexed connection per address.
#[derive(Default)]
pub struct RedisClients {
    connections: Mutex<HashMap<String, ConnectionManager>>,
}

impl RedisClients {
    async fn connect(&self, address: &str) -> Result<ConnectionManager, Error> {
        let mut connections = self.connections.lock().await;
        if let Some(connection) = connections.get(address) {
            return Ok(connection.clone());
        }
        let client = redis::Client::open(address).map_err(|_| Error::InvalidAddress)?;
        let connection = client
            .get_connection_manager_with_config(connection_config())
            .await
            .map_err(|e| Error::Other(format!("connecting to {address}: {e}")))?;
        connections.insert(address.to_string(), connection.clone());
        Ok(connection)
    }
}

/// The WIT's `type-error` covers both a reply the client cannot convert and the server's own
/// complaints about a value's type (`WRONGTYPE`, "value is not an integer").
/// Time bounds for every host-side Redis connection (outbound and key-value): a dead or
/// unreachable server fails the call within seconds, and reconnection is retried once per call.
pub fn connection_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(std::time::Duration::from_secs(2))
        .set_response_timeout(std::time::Duration::from_secs(5))
        .set_number_of_retries(1)
}

fn other(error: redis::RedisError) -> Error {
    let server_type_error = error.code() == Some("WRONGTYPE") || error.to_string().contains("not an integer");
    if error.kind() == redis::ErrorKind::TypeError || server_type_error {
        Error::TypeError
    } else {
        Error::Other(error.to_string())
    }
}

impl InstanceState {
    fn redis_connection(&self, connection: &Resource<RedisConnection>) -> wasmtime::Result<ConnectionManager> {
        Ok(self.table.get(connection)?.connection.clone())
    }
}

async fn run<T: FromRedisValue>(connection: ConnectionManager, cmd: redis::Cmd) -> Result<T, Error> {
    query(connection, &cmd).await.map_err(other)
}

/// Runs `cmd`, once more if the connection turned out to be dead (the server restarted since
/// it was last used): the first failure makes the manager reconnect, and a write that failed
/// on a dropped connection did not reach the server.
pub async fn query<T: FromRedisValue>(mut connection: ConnectionManager, cmd: &redis::Cmd) -> redis::RedisResult<T> {
    match cmd.query_async(&mut connection).await {
        Err(error) if error.is_connection_dropped() || error.is_io_error() => {
            tracing::debug!(%error, "redis connection dropped; retrying once");
            cmd.query_async(&mut connection).await
        }
        result => result,
    }
}

impl wit::Host for InstanceState {}

impl wit::HostConnection for InstanceState {
    async fn open(&mut self, address: String) -> wasmtime::Result<Result<Resource<RedisConnection>, Error>> {
        if url::Url::parse(&address).is_err() {
            return Ok(Err(Error::InvalidAddress));
        }
        if !self.component.allowed_hosts.allows_url(&address) {
            tracing::warn!(component = %self.component.id, %address, "redis address not in allowed_outbound_hosts");
            return Ok(Err(Error::InvalidAddress));
        }
        let connection = match self.app.redis.connect(&address).await {
            Ok(connection) => connection,
            Err(error) => return Ok(Err(error)),
        };
        Ok(Ok(self.table.push(RedisConnection { connection })?))
    }

    async fn publish(&mut self, c: Resource<RedisConnection>, channel: String, payload: Vec<u8>) -> wasmtime::Result<Result<(), Error>> {
        Ok(run(self.redis_connection(&c)?, redis::cmd("PUBLISH").arg(channel).arg(payload).to_owned()).await)
    }

    async fn get(&mut self, c: Resource<RedisConnection>, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        Ok(run(self.redis_connection(&c)?, redis::cmd("GET").arg(key).to_owned()).await)
    }

    async fn set(&mut self, c: Resource<RedisConnection>, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), Error>> {
        Ok(run(self.redis_connection(&c)?, redis::cmd("SET").arg(key).arg(value).to_owned()).await)
    }

    async fn incr(&mut self, c: Resource<RedisConnection>, key: String) -> wasmtime::Result<Result<i64, Error>> {
        Ok(run(self.redis_connection(&c)?, redis::cmd("INCR").arg(key).to_owned()).await)
    }

    async fn del(&mut self, c: Resource<RedisConnection>, keys: Vec<String>) -> wasmtime::Result<Result<u32, Error>> {
        Ok(run(self.redis_connection(&c)?, redis::cmd("DEL").arg(keys).to_owned()).await)
    }

    async fn sadd(&mut self, c: Resource<RedisConnection>, key: String, values: Vec<String>) -> wasmtime::Result<Result<u32, Error>> {
        Ok(run(self.redis_connection(&c)?, redis::cmd("SADD").arg(key).arg(values).to_owned()).await)
    }

    async fn smembers(&mut self, c: Resource<RedisConnection>, key: String) -> wasmtime::Result<Result<Vec<String>, Error>> {
        Ok(run(self.redis_connection(&c)?, redis::cmd("SMEMBERS").arg(key).to_owned()).await)
    }

    async fn srem(&mut self, c: Resource<RedisConnection>, key: String, values: Vec<String>) -> wasmtime::Result<Result<u32, Error>> {
        Ok(run(self.redis_connection(&c)?, redis::cmd("SREM").arg(key).arg(values).to_owned()).await)
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
        Ok(run::<Value>(self.redis_connection(&c)?, cmd).await.map(flatten))
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
