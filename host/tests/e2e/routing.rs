//! The HTTP trigger: routes, precedence, `spin-*` headers, health, static and private routes.

use serde_json::Value;

use crate::support::HostBuilder;

fn header<'a>(echo: &'a Value, name: &str) -> &'a str {
    echo["headers"][name].as_str().unwrap_or_else(|| panic!("no header {name} in {echo}"))
}

#[tokio::test]
async fn exact_route_headers() {
    let host = HostBuilder::new().start().await;
    let echo = host
        .client
        .get(host.url("/echo/exact?x=1&y=2"))
        .header("host", "shop.example:8080")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(header(&echo, "spin-full-url"), "http://shop.example:8080/echo/exact?x=1&y=2");
    assert_eq!(header(&echo, "spin-path-info"), "");
    assert_eq!(header(&echo, "spin-matched-route"), "/echo/exact");
    assert_eq!(header(&echo, "spin-raw-component-route"), "/echo/exact");
    assert_eq!(header(&echo, "spin-component-route"), "/echo/exact");
    assert_eq!(header(&echo, "spin-base-path"), "/");
    assert!(header(&echo, "spin-client-addr").starts_with("127.0.0.1:"));
    assert_eq!(echo["query"], "x=1&y=2");
    // One trailing slash is ignored.
    let echo = host.get_json("/echo/exact/").await;
    assert_eq!(header(&echo, "spin-matched-route"), "/echo/exact");
}

#[tokio::test]
async fn the_root_route_matches_as_the_empty_route() {
    let host = HostBuilder::new().start().await;
    let echo = host.get_json("/").await;
    // Spin drops the trailing `/` of the route it matched, which leaves nothing of `/`.
    assert_eq!(header(&echo, "spin-matched-route"), "");
    assert_eq!(header(&echo, "spin-raw-component-route"), "/");
    assert_eq!(header(&echo, "spin-component-route"), "/");
    assert_eq!(header(&echo, "spin-path-info"), "");
    assert_eq!(host.get("/not-root").await.status(), 404, "an exact route");
}

#[tokio::test]
async fn wildcard_path_info_and_params() {
    let host = HostBuilder::new().start().await;
    let echo = host.get_json("/echo/wild").await;
    assert_eq!(header(&echo, "spin-path-info"), "");
    assert_eq!(header(&echo, "spin-matched-route"), "/echo/wild/...");
    assert_eq!(header(&echo, "spin-raw-component-route"), "/echo/wild/...");
    assert_eq!(header(&echo, "spin-component-route"), "/echo/wild");
    let echo = host.get_json("/echo/wild/a/").await;
    assert_eq!(header(&echo, "spin-path-info"), "/a/");

    let echo = host.get_json("/echo/users/42/orders/7").await;
    assert_eq!(header(&echo, "spin-path-match-user-id"), "42");
    assert_eq!(header(&echo, "spin-path-info"), "/7");
    // A `:param` matches an empty segment, as in Spin 4.0.2.
    let echo = host.get_json("/echo/users//orders").await;
    assert_eq!(header(&echo, "spin-path-match-user-id"), "");
}

#[tokio::test]
async fn precedence_literal_beats_param_beats_wildcard() {
    let host = HostBuilder::new().start().await;
    // `/echo/a/b/...` and `/echo/a/:x/c` both match; the literal `b` decides.
    let echo = host.get_json("/echo/a/b/c").await;
    assert_eq!(header(&echo, "spin-matched-route"), "/echo/a/b/...");
    let echo = host.get_json("/echo/a/z/c").await;
    assert_eq!(header(&echo, "spin-matched-route"), "/echo/a/:x/c");
    assert_eq!(header(&echo, "spin-path-match-x"), "z");
}

#[tokio::test]
async fn client_cannot_forge_spin_headers() {
    let host = HostBuilder::new().start().await;
    let echo: Value = host
        .client
        .get(host.url("/echo/exact"))
        .header("spin-path-info", "/forged")
        .header("x-custom", "kept")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(header(&echo, "spin-path-info"), "");
    assert_eq!(header(&echo, "x-custom"), "kept");
}

#[tokio::test]
async fn health_static_unmatched_and_private() {
    let host = HostBuilder::new().start().await;
    let health = host.get("/.well-known/spin/health").await;
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "OK");
    assert_eq!(host.get("/.well-known/spin/other").await.status(), 404);

    let fixed = host.get("/static").await;
    assert_eq!(fixed.status(), 201);
    assert_eq!(fixed.headers()["x-static"], "yes");
    assert_eq!(fixed.text().await.unwrap(), "static body");

    for path in ["/nothing/here", "/echo", "/echo/exact/more", "/probe-private"] {
        let response = host.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        // galley's own 404 is problem+json (host/README.md: where galley differs from Spin).
        assert_eq!(response.headers()["content-type"], "application/problem+json", "{path}");
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["status"], 404, "{path}");
    }
}

#[tokio::test]
async fn environment_and_method_reach_the_component() {
    let host = HostBuilder::new().start().await;
    let echo: Value = host.client.post(host.url("/echo/exact")).body("12345").send().await.unwrap().json().await.unwrap();
    assert_eq!(echo["method"], "Method::Post");
    assert_eq!(echo["body_len"], 5);
    assert_eq!(echo["env"], "from-manifest");
}

#[tokio::test]
async fn one_log_line_per_request_and_labelled_component_output() {
    let host = HostBuilder::new().start().await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = host.get_traced("/probe/log", trace_id).await;
    assert_eq!(response.status(), 200);
    crate::support::eventually(std::time::Duration::from_secs(5), "the request log line", || async {
        host.stderr().lines().any(|l| l.contains("request") && l.contains(trace_id) && l.contains("component=probe") && l.contains("status=200") && l.contains("path=/probe/log"))
    })
    .await;
    assert!(host.stdout().contains("[probe] line to stdout"), "stdout: {}", host.stdout());
    assert!(host.stderr().contains("[probe] line to stderr"), "stderr: {}", host.stderr());
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_with_the_trace_id_on_each_requests_lines() {
    let host = HostBuilder::new().arg("--log-format").arg("json").start().await;
    let trace_id = "5cf92f3577b34da6a3ce929d0e0e4737";
    let response = host.get_traced("/probe/log", trace_id).await;
    assert_eq!(response.status(), 200);
    let lines = || -> Vec<serde_json::Value> {
        host.stderr()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not a JSON object: {line}")))
            .collect()
    };
    crate::support::eventually(std::time::Duration::from_secs(5), "the request's log lines", || async {
        lines().iter().any(|l| l["message"] == "request" && l["trace_id"] == trace_id)
    })
    .await;
    let lines = lines();
    let request = lines.iter().find(|l| l["message"] == "request" && l["trace_id"] == trace_id).expect("request line");
    assert_eq!((request["component"].as_str(), request["status"].as_u64()), (Some("probe"), Some(200)));
    // The component's own output: one event per line, with its stream and the request's trace.
    for (stream, text) in [("stdout", "line to stdout"), ("stderr", "line to stderr")] {
        assert!(
            lines.iter().any(|l| l["message"] == text && l["stream"] == stream && l["component"] == "probe" && l["trace_id"] == trace_id),
            "{stream} as a JSON event: {lines:?}"
        );
    }
    assert!(!host.stdout().contains("line to stdout"), "stdout stays for the host's banner: {}", host.stdout());
}

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish() {
    let host = HostBuilder::new().start().await;
    let slow = tokio::spawn(host.client.get(host.url("/probe/sleep/1500")).send());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let address = host.address.clone();
    let status = tokio::task::spawn_blocking(move || host.terminate()).await.unwrap();
    let response = slow.await.unwrap().expect("the in-flight request is answered");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "slept");
    assert!(status.success(), "galley exited with {status}");
    assert!(reqwest::get(format!("{address}/echo/exact")).await.is_err(), "no longer listening");
}

#[tokio::test]
async fn sigterm_stops_cleanly() {
    let host = HostBuilder::new().start().await;
    assert_eq!(host.get("/echo/exact").await.status(), 200);
    let status = host.terminate();
    assert!(status.success(), "galley exited with {status}");
}

#[tokio::test]
async fn request_heads_are_bounded_and_galleys_own_answers_carry_nosniff() {
    let host = HostBuilder::new().start().await;
    // A large but reasonable header passes.
    let fine = host.client.get(host.url("/echo/exact")).header("x-big", "a".repeat(32 * 1024)).send().await.unwrap();
    assert_eq!(fine.status(), 200);
    assert!(fine.headers().get("x-content-type-options").is_none(), "a component's answer is its own");
    // One header past the bound, or too many headers: 431, and nothing reaches a component.
    let big = host.client.get(host.url("/echo/exact")).header("x-big", "a".repeat(100 * 1024)).send().await.unwrap();
    assert_eq!(big.status(), 431);
    let mut many = host.client.get(host.url("/echo/exact"));
    for i in 0..150 {
        many = many.header(format!("x-h{i}"), "v");
    }
    assert_eq!(many.send().await.unwrap().status(), 431);
    // The host's own answers.
    for (path, status) in [("/no/such/route", 404), ("/.well-known/spin/health", 200)] {
        let response = host.get(path).await;
        assert_eq!(response.status(), status, "{path}");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff", "{path}");
    }
}
