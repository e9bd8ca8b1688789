//! Misbehaving components: traps, endless loops and memory bombs end their own request with a
//! 500 and leave every other request unaffected.

use std::time::Duration;

use crate::support::{Host, HostBuilder};

async fn limited_host() -> Host {
    HostBuilder::new()
        .arg("--request-timeout-secs")
        .arg("2")
        .arg("--memory-limit-mb")
        .arg("32")
        .start()
        .await
}

async fn assert_500_empty(host: &Host, path: &str) {
    let response = host.get(path).await;
    assert_eq!(response.status(), 500, "{path}");
    assert_eq!(response.text().await.unwrap(), "", "{path}: a 500 has an empty body");
}

#[tokio::test]
async fn trap_is_a_500_and_the_host_carries_on() {
    let host = limited_host().await;
    assert_500_empty(&host, "/probe/trap").await;
    assert_eq!(host.get("/echo/exact").await.status(), 200);
}

#[tokio::test]
async fn endless_loop_is_ended_by_the_time_limit_while_others_are_served() {
    let host = limited_host().await;
    let looping = host.client.get(host.url("/probe/loop")).send();
    let others = async {
        // While the loop runs, normal requests are still answered promptly.
        tokio::time::sleep(Duration::from_millis(300)).await;
        for _ in 0..5 {
            let started = std::time::Instant::now();
            assert_eq!(host.get("/echo/exact").await.status(), 200);
            assert!(started.elapsed() < Duration::from_secs(2), "a normal request waited behind the loop");
        }
    };
    let (looped, ()) = tokio::join!(looping, others);
    let looped = looped.unwrap();
    assert_eq!(looped.status(), 500);
    assert!(host.stderr().contains("component failed"), "{}", host.stderr());
}

#[tokio::test]
async fn memory_bomb_is_ended_by_the_memory_limit() {
    let host = limited_host().await;
    let (bomb, normal) = tokio::join!(host.client.get(host.url("/probe/oom")).send(), host.client.get(host.url("/echo/exact")).send());
    assert_eq!(bomb.unwrap().status(), 500);
    assert_eq!(normal.unwrap().status(), 200);
    assert_500_empty(&host, "/probe/oom").await;
    assert_eq!(host.get("/echo/exact").await.status(), 200);
}

#[tokio::test]
async fn each_request_gets_a_fresh_instance() {
    // The probe counts calls in a global; a reused instance would answer 2, 3, ...
    let host = limited_host().await;
    for _ in 0..3 {
        assert_eq!(host.get("/probe/counter").await.text().await.unwrap(), "1");
    }
}

#[tokio::test]
async fn past_the_concurrency_limit_a_request_is_a_fast_503_with_retry_after() {
    let host = HostBuilder::new().arg("--max-concurrent-requests").arg("2").start().await;
    let slow = |host: &Host| {
        let request = host.client.get(host.url("/probe/sleep/3000")).send();
        tokio::spawn(async move { request.await.map(|r| r.status().as_u16()) })
    };
    let (first, second) = (slow(&host), slow(&host));
    // Both slow requests are in progress once their instances are running.
    tokio::time::sleep(Duration::from_millis(700)).await;

    let refused = host.get("/echo/exact").await;
    // Answered while both slots are still taken: refused at once, not queued behind them.
    assert!(!first.is_finished() && !second.is_finished(), "the third request waited for a slot");
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_eq!(refused.headers()["content-type"], "application/problem+json");
    let problem: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(problem["status"], 503);
    // Health checks are never refused: a busy replica is not a dead one.
    assert_eq!(host.get("/.well-known/spin/health").await.status(), 200);

    assert_eq!(first.await.unwrap().unwrap(), 200);
    assert_eq!(second.await.unwrap().unwrap(), 200);
    // The slots are given back when the responses end.
    assert_eq!(host.get("/echo/exact").await.status(), 200);
    // Holding a slot until the body is sent does not hide the body's length.
    let fixed = host.get("/static").await;
    assert_eq!(fixed.headers().get("content-length").map(|v| v.to_str().unwrap()), Some("11"));
    assert!(host.stderr().contains("refused: at the concurrency limit"));
}
