//! Outbound HTTP: the allow-list, self-requests, service chaining and trace propagation.

use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::HostBuilder;

const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";

fn traceparent() -> String {
    format!("00-{TRACE_ID}-b7ad6b7169203331-01")
}

async fn probe_outbound(host: &crate::support::Host, prefix: &str, url: &str) -> (u16, Value) {
    let response = host
        .client
        .get(host.url(&format!("{prefix}/outbound?url={url}")))
        .header("traceparent", traceparent())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// A one-shot HTTP server on localhost that records the request head it receives.
async fn recording_server() -> (u16, Arc<Mutex<String>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(String::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buffer = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buffer).await.unwrap();
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buffer[..n]);
        }
        *record.lock().unwrap() = String::from_utf8_lossy(&head).to_lowercase();
        let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello").await;
    });
    (port, seen)
}

#[tokio::test]
async fn allowed_network_request_carries_the_trace() {
    let host = HostBuilder::new().start().await;
    let (port, seen) = recording_server().await;
    let (status, body) = probe_outbound(&host, "/probe", &format!("http://localhost:{port}/hi")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], 200);
    assert_eq!(body["body"], "hello");
    let head = seen.lock().unwrap().clone();
    assert!(head.starts_with("get /hi http/1.1"), "{head}");
    assert!(head.contains(&format!("traceparent: 00-{TRACE_ID}-")), "the trace continues: {head}");
    assert!(!head.contains("b7ad6b7169203331"), "with a new span id: {head}");
}

#[tokio::test]
async fn hosts_not_allowed_are_denied() {
    let host = HostBuilder::new().start().await;
    let (port, _) = recording_server().await;
    // `probe-denied` has an empty allow-list.
    for url in [format!("http://localhost:{port}/"), "/echo/exact".to_string(), "http://probe-private.spin.internal/x".to_string()] {
        let (status, body) = probe_outbound(&host, "/denied", &url).await;
        assert_eq!(status, 502, "{url}: {body}");
        assert!(body["error"].as_str().unwrap().contains("HttpRequestDenied"), "{url}: {body}");
    }
    // `probe` may reach localhost over http only, and only its own private component.
    for url in ["https://localhost:1/", "http://127.0.0.1:1/", "http://probe-denied.spin.internal/x"] {
        let (status, body) = probe_outbound(&host, "/probe", url).await;
        assert_eq!(status, 502, "{url}: {body}");
        assert!(body["error"].as_str().unwrap().contains("HttpRequestDenied"), "{url}: {body}");
    }
}

#[tokio::test]
async fn self_request_goes_through_the_router() {
    let host = HostBuilder::new().start().await;
    let (status, body) = probe_outbound(&host, "/probe", "/echo/users/7/orders").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], 200);
    let echo: Value = serde_json::from_str(body["body"].as_str().unwrap()).unwrap();
    assert_eq!(echo["headers"]["spin-matched-route"], "/echo/users/:user_id/orders/...");
    assert_eq!(echo["headers"]["spin-path-match-user-id"], "7");
    let listen = host.address.trim_start_matches("http://");
    assert_eq!(echo["headers"]["spin-full-url"], format!("http://{listen}/echo/users/7/orders"));
    assert!(echo["headers"]["traceparent"].as_str().unwrap().contains(TRACE_ID));
    // A self-request to an unrouted path is the router's 404.
    let (_, body) = probe_outbound(&host, "/probe", "/nowhere").await;
    assert_eq!(body["status"], 404);
    // `self.alt` is the app too (for SDKs that need a host).
    let (status, body) = probe_outbound(&host, "/probe", "http://self.alt/echo/exact").await;
    assert_eq!((status, body["status"].as_u64()), (200, Some(200)), "{body}");
}

#[tokio::test]
async fn the_url_http_self_is_not_a_self_request() {
    let host = HostBuilder::new().start().await;
    // `probe` allows `http://self` (relative requests), which does not allow a host named
    // `self`: as in Spin, that URL is an ordinary outbound request, and denied.
    let (status, body) = probe_outbound(&host, "/probe", "http://self/echo/exact").await;
    assert_eq!(status, 502, "{body}");
    assert!(body["error"].as_str().unwrap().contains("HttpRequestDenied"), "{body}");
}

#[tokio::test]
async fn service_chaining_reaches_a_private_component_in_process() {
    let host = HostBuilder::new().start().await;
    let (status, body) = probe_outbound(&host, "/probe", "http://probe-private.spin.internal/inner/path").await;
    assert_eq!(status, 200, "{body}");
    let echo: Value = serde_json::from_str(body["body"].as_str().unwrap()).unwrap();
    let headers = &echo["headers"];
    assert_eq!(headers["spin-matched-route"], "/...");
    assert_eq!(headers["spin-raw-component-route"], "/...");
    assert_eq!(headers["spin-component-route"], "");
    assert_eq!(headers["spin-path-info"], "/inner/path");
    assert_eq!(headers["spin-full-url"], "http://localhost/inner/path");
    assert!(headers["traceparent"].as_str().unwrap().contains(TRACE_ID), "{headers}");
    // The private component has no route of its own.
    assert_eq!(host.get("/inner/path").await.status(), 404);
}
