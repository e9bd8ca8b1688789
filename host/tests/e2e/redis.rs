//! Redis: outbound commands and the trigger (fresh instance per message, survives a trap,
//! reconnects when the server goes away).

use std::time::Duration;

use redis::AsyncCommands;
use serde_json::Value;

use crate::support::{eventually, free_port, redis_port, Host, HostBuilder};

async fn redis_client(port: u16) -> redis::aio::MultiplexedConnection {
    redis::Client::open(format!("redis://127.0.0.1:{port}"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn probe(host: &Host, path: &str, body: &str) -> Value {
    let response = host.client.post(host.url(path)).body(body.to_string()).send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{path}: {text}");
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn outbound_commands() {
    let host = HostBuilder::new().start().await;
    let key = format!("out-{}", uuid::Uuid::new_v4().simple());
    assert_eq!(probe(&host, &format!("/probe/redis/set/{key}"), "v1").await, "set");
    assert_eq!(probe(&host, &format!("/probe/redis/get/{key}"), "").await, "v1");
    assert_eq!(probe(&host, &format!("/probe/redis/get/{key}-missing"), "").await, Value::Null);
    assert_eq!(probe(&host, &format!("/probe/redis/incr/{key}-n"), "").await, 1);
    assert_eq!(probe(&host, &format!("/probe/redis/incr/{key}-n"), "").await, 2);
    assert_eq!(probe(&host, &format!("/probe/redis/sadd/{key}-s/a/b/c"), "").await, 3);
    assert_eq!(probe(&host, &format!("/probe/redis/srem/{key}-s/b"), "").await, 1);
    assert_eq!(probe(&host, &format!("/probe/redis/smembers/{key}-s"), "").await, serde_json::json!(["a", "c"]));
    assert_eq!(probe(&host, &format!("/probe/redis/del/{key}/{key}-n/{key}-none"), "").await, 2);
    let pong = probe(&host, "/probe/redis/execute/PING", "").await;
    assert!(pong.as_str().unwrap().contains("PONG"), "{pong}");
    // A type error is reported as such.
    probe(&host, &format!("/probe/redis/set/{key}"), "not a number").await;
    let response = host.client.post(host.url(&format!("/probe/redis/incr/{key}"))).send().await.unwrap();
    assert_eq!(response.status(), 500);
    assert!(response.text().await.unwrap().contains("TypeError"));
}

#[tokio::test]
async fn outbound_address_must_be_allowed() {
    let host = HostBuilder::new().start().await;
    let response = host.client.post(host.url("/denied/redis/get/x")).send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("InvalidAddress"));
}

#[tokio::test]
async fn trigger_runs_once_per_message_and_survives_a_trap() {
    let host = HostBuilder::new().start().await;
    let mut redis = redis_client(redis_port()).await;
    let payload = format!("msg-{}", uuid::Uuid::new_v4().simple());
    // The subscription is set up right after the health check turns green.
    eventually(Duration::from_secs(10), "the trigger to subscribe", || {
        let mut redis = redis.clone();
        async move {
            let subscribers: Vec<(String, u32)> = redis::cmd("PUBSUB").arg("NUMSUB").arg("galley-host-test").query_async(&mut redis).await.unwrap();
            subscribers.first().is_some_and(|(_, n)| *n > 0)
        }
    })
    .await;
    let _: u32 = redis.publish("galley-host-test", "trap").await.unwrap();
    let _: u32 = redis.publish("galley-host-test", &payload).await.unwrap();
    let key = format!("received:{payload}");
    eventually(Duration::from_secs(10), "the message to be handled", || {
        let mut redis = redis.clone();
        let key = key.clone();
        async move { redis.get::<_, Option<i64>>(&key).await.unwrap() == Some(1) }
    })
    .await;
    assert!(host.stderr().contains("redis message handler failed"), "the trap is logged:\n{}", host.stderr());
}

/// A private redis-server this test can crash and start again (the launcher's), stopped when
/// the test ends, however it ends.
struct OwnRedis(galley_launcher::redis::Redis, #[allow(dead_code)] tempfile::TempDir);

impl OwnRedis {
    fn start(port: u16) -> OwnRedis {
        let dir = tempfile::tempdir().expect("temp dir");
        let redis = galley_launcher::redis::Redis::new(port, dir.path());
        redis.start().unwrap_or_else(|e| panic!("{e:#}"));
        OwnRedis(redis, dir)
    }

    /// SIGKILL, as a crash would: the trigger's connection just drops.
    fn crash(&self) {
        let pid = self.0.pid().expect("redis-server runs");
        galley_launcher::process::kill(pid);
        galley_launcher::wait::until("redis-server gone", Duration::from_secs(10), || Ok(!galley_launcher::process::alive(pid)))
            .unwrap_or_else(|e| panic!("{e:#}"));
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.0.stop();
    }
}

async fn wait_for_subscriber(port: u16) {
    eventually(Duration::from_secs(20), "the trigger to (re)subscribe", || async move {
        let Ok(client) = redis::Client::open(format!("redis://127.0.0.1:{port}")) else { return false };
        let Ok(mut redis) = client.get_multiplexed_async_connection().await else { return false };
        let subscribers: Vec<(String, u32)> = redis::cmd("PUBSUB").arg("NUMSUB").arg("galley-host-test").query_async(&mut redis).await.unwrap_or_default();
        subscribers.first().is_some_and(|(_, n)| *n > 0)
    })
    .await;
}

#[tokio::test]
async fn trigger_reconnects_after_the_server_restarts() {
    let port = free_port();
    let redis_server = OwnRedis::start(port);
    // Point only the trigger and the probe's outbound Redis at the private server.
    let host = HostBuilder::new()
        .without_variables()
        .arg("--variable")
        .arg(format!("pg_port={}", crate::support::pg_port()))
        .arg("--variable")
        .arg(format!("redis_port={port}"))
        .start()
        .await;
    wait_for_subscriber(port).await;
    assert_eq!(probe(&host, "/probe/redis/set/before-restart-key", "v").await, "set");
    redis_server.crash();
    tokio::time::sleep(Duration::from_millis(500)).await;
    redis_server.0.start().unwrap_or_else(|e| panic!("{e:#}"));
    wait_for_subscriber(port).await;
    let mut redis = redis_client(port).await;
    // Outbound connections recover too.
    assert_eq!(probe(&host, "/probe/redis/set/after-restart-key", "v").await, "set");
    assert_eq!(probe(&host, "/probe/redis/get/after-restart-key", "").await, "v");
    let _: u32 = redis.publish("galley-host-test", "after-restart").await.unwrap();
    eventually(Duration::from_secs(10), "a message after the restart to be handled", || {
        let mut redis = redis.clone();
        async move { redis.get::<_, Option<i64>>("received:after-restart").await.unwrap() == Some(1) }
    })
    .await;
    assert!(host.stderr().contains("reconnecting") || host.stderr().contains("retrying"), "{}", host.stderr());
}
