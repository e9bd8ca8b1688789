//! Exports Spin's outbound Redis (`fermyon:spin/redis`) for what galley does with it, on what a
//! wasmCloud host provides:
//!
//! - `PUBLISH` (and `publish`) sends a `wasmcloud:messaging` message whose subject is the
//!   channel. Messaging reports no receiver count, so a successful publish answers 1: the order
//!   saga counts an event delivered only once the consumer's marker exists, not on this count.
//! - Keys (`GET`, `SET`, `EXISTS`, `DEL`) live in the `wasi:keyvalue` bucket [`BUCKET`].
//!   `SET`'s `EX` is accepted and dropped: wasi:keyvalue has no expiry, and galley's keys are
//!   delivery markers, which only cost space when they outlive their TTL.
//!
//! Anything else (sets, counters, other commands) is refused with an error naming the command,
//! never silently answered.

wit_bindgen::generate!({
    path: "../../wit",
    world: "galley:wasmcloud/redis-adapter",
    generate_all,
});

use exports::fermyon::spin2_0_0::redis::{
    Connection as ConnectionHandle, Error, Guest, GuestConnection, Payload, RedisParameter,
    RedisResult,
};
use wasi::keyvalue::store as kv;
use wasmcloud::messaging::{consumer, types::BrokerMessage};

/// The wasi:keyvalue bucket that holds what the component would keep in Redis.
pub const BUCKET: &str = "redis";

struct Redis;

/// An "open" Redis connection: the address is not used (the host's links decide where
/// messages and keys go), so opening never fails.
pub struct Connection;

impl Guest for Redis {
    type Connection = Connection;
}

fn unsupported(command: &str) -> Error {
    Error::Other(format!(
        "`{command}` is not available on wasmCloud (galley's Redis adapter)"
    ))
}

fn kv_error(error: kv::Error) -> Error {
    match error {
        kv::Error::NoSuchStore => Error::Other(format!("no key-value bucket `{BUCKET}`")),
        kv::Error::AccessDenied => {
            Error::Other(format!("access to key-value bucket `{BUCKET}` denied"))
        }
        kv::Error::Other(reason) => Error::Other(reason),
    }
}

fn bucket() -> Result<kv::Bucket, Error> {
    kv::open(BUCKET).map_err(kv_error)
}

fn publish(channel: String, payload: Payload) -> Result<(), Error> {
    consumer::publish(&BrokerMessage {
        subject: channel,
        body: payload,
        reply_to: None,
    })
    .map_err(Error::Other)
}

/// A parameter as a key: Redis keys are bytes, wasi:keyvalue keys are strings.
fn key(parameter: &RedisParameter) -> Result<String, Error> {
    match parameter {
        RedisParameter::Binary(bytes) => {
            String::from_utf8(bytes.clone()).map_err(|_| Error::TypeError)
        }
        RedisParameter::Int64(n) => Ok(n.to_string()),
    }
}

fn bytes(parameter: &RedisParameter) -> Vec<u8> {
    match parameter {
        RedisParameter::Binary(bytes) => bytes.clone(),
        RedisParameter::Int64(n) => n.to_string().into_bytes(),
    }
}

/// How many of `keys` exist.
fn count_existing(bucket: &kv::Bucket, keys: &[String]) -> Result<i64, Error> {
    let mut count = 0;
    for key in keys {
        if bucket.exists(key).map_err(kv_error)? {
            count += 1;
        }
    }
    Ok(count)
}

fn delete_all(keys: &[String]) -> Result<i64, Error> {
    let bucket = bucket()?;
    let existing = count_existing(&bucket, keys)?;
    for key in keys {
        bucket.delete(key).map_err(kv_error)?;
    }
    Ok(existing)
}

/// `SET key value [EX seconds]`; other options change what SET means and are refused.
fn set_command(arguments: &[RedisParameter]) -> Result<(), Error> {
    let (name, value, options) = match arguments {
        [name, value, options @ ..] => (key(name)?, bytes(value), options),
        _ => return Err(Error::Other("SET needs a key and a value".into())),
    };
    match options {
        [] => {}
        [flag, _seconds] if key(flag)?.eq_ignore_ascii_case("EX") => {}
        _ => return Err(unsupported("SET with options other than EX")),
    }
    bucket()?.set(&name, &value).map_err(kv_error)
}

impl GuestConnection for Connection {
    fn open(_address: String) -> Result<ConnectionHandle, Error> {
        Ok(ConnectionHandle::new(Connection))
    }

    fn publish(&self, channel: String, payload: Payload) -> Result<(), Error> {
        publish(channel, payload)
    }

    fn get(&self, key: String) -> Result<Option<Payload>, Error> {
        bucket()?.get(&key).map_err(kv_error)
    }

    fn set(&self, key: String, value: Payload) -> Result<(), Error> {
        bucket()?.set(&key, &value).map_err(kv_error)
    }

    fn incr(&self, _key: String) -> Result<i64, Error> {
        Err(unsupported("INCR"))
    }

    fn del(&self, keys: Vec<String>) -> Result<u32, Error> {
        delete_all(&keys).map(|n| u32::try_from(n).unwrap_or(u32::MAX))
    }

    fn sadd(&self, _key: String, _values: Vec<String>) -> Result<u32, Error> {
        Err(unsupported("SADD"))
    }

    fn smembers(&self, _key: String) -> Result<Vec<String>, Error> {
        Err(unsupported("SMEMBERS"))
    }

    fn srem(&self, _key: String, _values: Vec<String>) -> Result<u32, Error> {
        Err(unsupported("SREM"))
    }

    fn execute(
        &self,
        command: String,
        arguments: Vec<RedisParameter>,
    ) -> Result<Vec<RedisResult>, Error> {
        let keys = || arguments.iter().map(key).collect::<Result<Vec<_>, _>>();
        match command.to_ascii_uppercase().as_str() {
            "PUBLISH" => match arguments.as_slice() {
                [channel, payload] => {
                    publish(key(channel)?, bytes(payload)).map(|()| vec![RedisResult::Int64(1)])
                }
                _ => Err(Error::Other("PUBLISH needs a channel and a message".into())),
            },
            "SET" => set_command(&arguments).map(|()| vec![RedisResult::Status("OK".into())]),
            "GET" => match arguments.as_slice() {
                [name] => Ok(vec![match bucket()?.get(&key(name)?).map_err(kv_error)? {
                    Some(value) => RedisResult::Binary(value),
                    None => RedisResult::Nil,
                }]),
                _ => Err(Error::Other("GET needs one key".into())),
            },
            "EXISTS" => count_existing(&bucket()?, &keys()?).map(|n| vec![RedisResult::Int64(n)]),
            "DEL" => delete_all(&keys()?).map(|n| vec![RedisResult::Int64(n)]),
            other => Err(unsupported(other)),
        }
    }
}

export!(Redis);
