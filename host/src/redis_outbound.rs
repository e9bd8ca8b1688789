//! `fermyon:spin/redis@2.0.0`: outbound Redis commands.
//!
//! The address must be allowed as `redis://host:port`. Connections are multiplexed and cached
//! per address for the life of the host, so `open` is cheap after the first request.

use std::collections::HashMap;

use redis::aio::MultiplexedConnection;
use redis::{AsyncCommands, FromRedisValue, Value};
use tokio::sync::Mutex;
use wasmtime::component::Resource;

use crate::bindings::redis::{self as wit, Error, RedisParameter, RedisResult};
use crate::state::InstanceState;

/// A guest's open connection.
pub struct RedisConnection {
    connection: MultiplexedConnection,
}

/// One multiplexed connection per address.
#[derive(Default)]
pub struct RedisClients {
    connections: Mutex<HashMap<String, MultiplexedConnection>>,
}

impl RedisClients {
    async fn connect(&self, address: &str) -> Result<MultiplexedConnection, Error> {
        let mut connections = self.connections.lock().await;
        if let Some(connection) = connections.get(address) {
            return Ok(connection.clone());
        }
        let client = redis::Client::open(address).map_err(|_| Error::InvalidAddress)?;
        let connection = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| Error::Other(format!("connecting to {address}: {e}")))?;
        connections.insert(address.to_string(), connection.clone());
        Ok(connection)
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

impl InstanceState {
    fn redis_connection(&self, connection: &Resource<RedisConnection>) -> wasmtime::Result<MultiplexedConnection> {
        Ok(self.table.get(connection)?.connection.clone())
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
        let mut connection = self.redis_connection(&c)?;
        Ok(connection.publish::<_, _, ()>(channel, payload).await.map_err(other))
    }

    async fn get(&mut self, c: Resource<RedisConnection>, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        let mut connection = self.redis_connection(&c)?;
        Ok(connection.get(key).await.map_err(other))
    }

    async fn set(&mut self, c: Resource<RedisConnection>, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), Error>> {
        let mut connection = self.redis_connection(&c)?;
        Ok(connection.set::<_, _, ()>(key, value).await.map_err(other))
    }

    async fn incr(&mut self, c: Resource<RedisConnection>, key: String) -> wasmtime::Result<Result<i64, Error>> {
        let mut connection = self.redis_connection(&c)?;
        Ok(connection.incr(key, 1).await.map_err(other))
    }

    async fn del(&mut self, c: Resource<RedisConnection>, keys: Vec<String>) -> wasmtime::Result<Result<u32, Error>> {
        let mut connection = self.redis_connection(&c)?;
        Ok(connection.del(keys).await.map_err(other))
    }

    async fn sadd(&mut self, c: Resource<RedisConnection>, key: String, values: Vec<String>) -> wasmtime::Result<Result<u32, Error>> {
        let mut connection = self.redis_connection(&c)?;
        Ok(connection.sadd(key, values).await.map_err(other))
    }

    async fn smembers(&mut self, c: Resource<RedisConnection>, key: String) -> wasmtime::Result<Result<Vec<String>, Error>> {
        let mut connection = self.redis_connection(&c)?;
        Ok(connection.smembers(key).await.map_err(other))
    }

    async fn srem(&mut self, c: Resource<RedisConnection>, key: String, values: Vec<String>) -> wasmtime::Result<Result<u32, Error>> {
        let mut connection = self.redis_connection(&c)?;
        Ok(connection.srem(key, values).await.map_err(other))
    }

    async fn execute(
        &mut self,
        c: Resource<RedisConnection>,
        command: String,
        arguments: Vec<RedisParameter>,
    ) -> wasmtime::Result<Result<Vec<RedisResult>, Error>> {
        let mut connection = self.redis_connection(&c)?;
        let mut cmd = redis::cmd(&command);
        for argument in &arguments {
            match argument {
                RedisParameter::Int64(v) => cmd.arg(v),
                RedisParameter::Binary(v) => cmd.arg(v),
            };
        }
        let value: Value = match cmd.query_async(&mut connection).await {
            Ok(value) => value,
            Err(error) => return Ok(Err(other(error))),
        };
        Ok(Ok(flatten(value)))
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
