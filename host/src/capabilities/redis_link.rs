//! One shared, self-healing connection to a Redis server, for the host's Redis-backed
//! capabilities (key-value stores and outbound Redis).
//!
//! A cache must never be slower than the database it saves: while its server is down, calls
//! fail in microseconds instead of each waiting out a connect attempt. The link is a small
//! circuit breaker:
//!
//! * **Up**: commands share one multiplexed connection. A command that finds the connection
//!   dropped (the server restarted since) reconnects once at once and runs again.
//! * **Down**: after a failed connect, every call fails immediately until the backoff has
//!   passed (100 ms, doubling, at most [`MAX_BACKOFF`]).
//! * **Probing**: the first call after the backoff tries one connect; the calls that arrive
//!   meanwhile still fail fast. Success closes the breaker; failure doubles the backoff.
//!
//! A refused connection fails in milliseconds, an unreachable host within
//! [`CONNECT_TIMEOUT`], a hung server within [`RESPONSE_TIMEOUT`]; and once the server is back
//! the link notices within [`MAX_BACKOFF`] of the next call.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, Cmd, ErrorKind, FromRedisValue, RedisError, RedisResult};

/// How long to wait for a TCP connection and the server's hello.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one command may wait for its reply.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// The first pause after a failed connect; it doubles with each failed probe.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest pause between probes: how late, at most, the link sees a server come back.
pub const MAX_BACKOFF: Duration = Duration::from_secs(1);

pub struct RedisLink {
    client: Client,
    state: Mutex<LinkState>,
}

#[derive(Default)]
struct LinkState {
    connection: Option<MultiplexedConnection>,
    outage: Option<Outage>,
}

struct Outage {
    backoff: Duration,
    retry_at: Instant,
    /// A call is connecting right now; the others do not pile on.
    probing: bool,
}

/// What a call may do, decided under the lock.
enum Plan {
    Use(MultiplexedConnection),
    Connect,
    FailFast(Duration),
}

impl RedisLink {
    /// A link to `url`; nothing connects until the first call.
    pub fn open(url: &str) -> RedisResult<RedisLink> {
        Ok(RedisLink { client: Client::open(url)?, state: Mutex::new(LinkState::default()) })
    }

    /// Runs `cmd`, failing fast while the server is known to be down.
    pub async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> RedisResult<T> {
        let mut connection = self.connection().await?;
        match cmd.query_async(&mut connection).await {
            Err(error) if is_link_failure(&error) => {
                // The server may have restarted since the connection was made: one fresh
                // connection, at once, before the call counts as failed.
                tracing::debug!(%error, "redis connection failed; reconnecting once");
                self.forget(&error);
                let mut connection = self.connection().await?;
                let result = cmd.query_async(&mut connection).await;
                if let Err(error) = &result {
                    if is_link_failure(error) {
                        // A fresh connection failed too (a server that accepts and drops, or
                        // hangs): the server is down as far as callers can tell.
                        self.forget(error);
                        self.mark_down(error);
                    }
                }
                result
            }
            result => result,
        }
    }

    async fn connection(&self) -> RedisResult<MultiplexedConnection> {
        match self.plan() {
            Plan::Use(connection) => Ok(connection),
            Plan::FailFast(wait) => Err(RedisError::from((
                ErrorKind::IoError,
                "the Redis server is unavailable",
                format!("not retried for another {} ms after failed connects", wait.as_millis()),
            ))),
            Plan::Connect => {
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(CONNECT_TIMEOUT)
                    .set_response_timeout(RESPONSE_TIMEOUT);
                let connected = self.client.get_multiplexed_async_connection_with_config(&config).await;
                let mut state = self.lock();
                match &connected {
                    Ok(connection) => {
                        if state.outage.take().is_some() {
                            tracing::info!(server = %self.server(), "redis is reachable again");
                            crate::metrics::breaker(&self.server(), false);
                        }
                        state.connection = Some(connection.clone());
                    }
                    Err(error) => self.extend_outage(&mut state, error),
                }
                connected
            }
        }
    }

    fn mark_down(&self, error: &RedisError) {
        let mut state = self.lock();
        self.extend_outage(&mut state, error);
    }

    /// Starts an outage, or doubles its backoff after a failed probe.
    fn extend_outage(&self, state: &mut LinkState, error: &RedisError) {
        let backoff = state.outage.as_ref().map_or(FIRST_BACKOFF, |o| (o.backoff * 2).min(MAX_BACKOFF));
        if state.outage.is_none() {
            tracing::warn!(server = %self.server(), %error, "redis is unreachable; failing calls fast and probing");
            crate::metrics::breaker(&self.server(), true);
        }
        state.outage = Some(Outage { backoff, retry_at: Instant::now() + backoff, probing: false });
    }

    fn plan(&self) -> Plan {
        let mut state = self.lock();
        if let Some(connection) = &state.connection {
            return Plan::Use(connection.clone());
        }
        match &mut state.outage {
            None => Plan::Connect,
            Some(outage) => {
                let now = Instant::now();
                if outage.probing || now < outage.retry_at {
                    Plan::FailFast(outage.retry_at.saturating_duration_since(now))
                } else {
                    outage.probing = true;
                    Plan::Connect
                }
            }
        }
    }

    /// Drops the shared connection after it failed, so the next call connects afresh.
    fn forget(&self, error: &RedisError) {
        let mut state = self.lock();
        if state.connection.take().is_some() {
            tracing::warn!(server = %self.server(), %error, "redis connection lost");
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LinkState> {
        // The state is a few plain fields, consistent after every statement: a panic elsewhere
        // cannot leave it half-written.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn server(&self) -> String {
        self.client.get_connection_info().addr.to_string()
    }
}

/// Failures of the connection itself (not of the command): the link must reconnect.
fn is_link_failure(error: &RedisError) -> bool {
    error.is_connection_dropped() || error.is_io_error() || error.is_timeout() || error.is_connection_refusal()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A port with nothing listening: connects are refused at once.
    fn refused_url() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        format!("redis://127.0.0.1:{port}")
    }

    #[tokio::test]
    async fn a_down_server_is_not_reconnected_by_every_call() {
        let link = RedisLink::open(&refused_url()).unwrap();
        let get = redis::cmd("GET").arg("k").to_owned();
        assert!(link.query::<Option<Vec<u8>>>(&get).await.is_err());
        // Within the backoff, calls fail without a connect: the breaker says so in its error.
        for _ in 0..20 {
            let error = link.query::<Option<Vec<u8>>>(&get).await.unwrap_err();
            assert!(error.to_string().contains("unavailable"), "{error}");
        }
        // After the backoff one call probes again (and fails, the port still being closed).
        tokio::time::sleep(FIRST_BACKOFF + Duration::from_millis(50)).await;
        let error = link.query::<Option<Vec<u8>>>(&get).await.unwrap_err();
        assert!(!error.to_string().contains("not retried"), "a probe connects: {error}");
        let backoff = link.lock().outage.as_ref().map(|o| o.backoff);
        assert_eq!(backoff, Some(FIRST_BACKOFF * 2), "each failed probe doubles the pause");
    }
}
