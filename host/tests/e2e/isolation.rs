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
    assert_eq!(looped.status(), 504, "a request over the time limit is a gateway timeout");
    assert!(host.stderr().contains("component ran out of time"), "{}", host.stderr());
}

/// The trace id and the component named in the log line that says it ran out of time.
fn assert_timed_out_problem(status: u16, content_type: &str, problem: &serde_json::Value, trace_id: &str) {
    assert_eq!(status, 504, "{problem}");
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(problem["status"], 504);
    assert_eq!(problem["trace_id"], trace_id, "{problem}");
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("took too long"), "{detail}");
}

#[tokio::test]
async fn a_request_over_the_time_limit_is_a_504_problem_with_its_trace_id_and_a_log_line_naming_the_component() {
    let host = HostBuilder::new().arg("--request-timeout-secs").arg("1").start().await;
    // A guest computing (stopped by the epoch deadline) and one waiting (stopped by the timer).
    for (path, trace_id) in [("/probe/loop", "0af7651916cd43dd8448eb211c80319c"), ("/probe/sleep/5000", "4bf92f3577b34da6a3ce929d0e0e4736")] {
        let started = std::time::Instant::now();
        let response = host
            .client
            .get(host.url(path))
            .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_timed_out_problem(status, &content_type, &problem, trace_id);
        assert!(started.elapsed() < Duration::from_secs(4), "{path}: answered at the limit, not later");
        let logged = host.stderr();
        let line = logged
            .lines()
            .find(|line| line.contains("component ran out of time") && line.contains(trace_id))
            .unwrap_or_else(|| panic!("no log line for {path}:\n{logged}"));
        assert!(line.contains("probe"), "the line names the component: {line}");
    }
}

/// CPU seconds the process has used (user + system), from /proc (in USER_HZ, 100 a second).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("reading /proc/<pid>/stat");
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split_whitespace().collect();
    let (user, system): (f64, f64) = (fields[11].parse().unwrap(), fields[12].parse().unwrap());
    (user + system) / 100.0
}

#[tokio::test]
async fn throttled_guests_together_take_a_bounded_share_of_the_cpu() {
    // Six runaway loops at once. Each used to get a fifth of a core once throttled: 1.2 cores
    // together, more than half of a 2-core machine. Through the shared gate they get what one
    // gets, whatever the number of cores (at most a fifth of a core per two cores).
    let host = HostBuilder::new().arg("--request-timeout-secs").arg("6").start().await;
    let loops: Vec<_> = (0..6)
        .map(|_| {
            let request = host.client.get(host.url("/probe/loop")).send();
            tokio::spawn(async move { request.await.map(|r| r.status().as_u16()) })
        })
        .collect();
    // Past every loop's unthrottled first 100 ms (six of them on however few cores).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (cpu_before, wall_before) = (cpu_seconds(host.pid()), std::time::Instant::now());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let cores_used = (cpu_seconds(host.pid()) - cpu_before) / wall_before.elapsed().as_secs_f64();
    println!("six throttled loops: {cores_used:.2} cores");
    let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(1) as f64;
    let share = (cores / 2.0).floor().max(1.0) * 0.2;
    // The gate's share, plus room for the ticker, the runtime and the test's own requests.
    assert!(cores_used < share + 0.25, "six throttled loops used {cores_used:.2} cores; the gate allows {share:.1}");
    // Meanwhile a request that is not throttled is served.
    assert_eq!(host.get("/echo/exact").await.status(), 200);
    for task in loops {
        assert_eq!(task.await.unwrap().unwrap(), 504);
    }
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
