//! OTLP span export: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, the host sends its spans — in the
//! caller's trace — to the collector as http/protobuf.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{eventually, HostBuilder};

/// A minimal OTLP/HTTP collector: records (request head, body) of every POST it gets.
async fn collector() -> (u16, Arc<Mutex<Vec<(String, Vec<u8>)>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let record = received.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let mut data = Vec::new();
                let mut buffer = [0u8; 8192];
                let (head, body) = loop {
                    let n = socket.read(&mut buffer).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    data.extend_from_slice(&buffer[..n]);
                    let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
                    let head = String::from_utf8_lossy(&data[..end]).to_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if data.len() >= end + 4 + length {
                        break (head, data[end + 4..end + 4 + length].to_vec());
                    }
                };
                record.lock().unwrap().push((head, body));
                let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
            });
        }
    });
    (port, received)
}

#[tokio::test]
async fn spans_are_exported_in_the_callers_trace() {
    let (port, received) = collector().await;
    let host = HostBuilder::new()
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &format!("http://127.0.0.1:{port}"))
        .env("OTEL_SERVICE_NAME", "galley-otlp-test")
        .start()
        .await;
    let trace_id = "5bf92f3577b34da6a3ce929d0e0e4736";
    let response = host.get_traced("/echo/exact", trace_id).await;
    assert_eq!(response.status(), 200);
    // SIGTERM flushes the batch exporter. Waiting for the exit off this runtime's thread: the
    // collector answers from it.
    let exited = tokio::task::spawn_blocking(move || host.terminate()).await.unwrap();
    assert!(exited.success());
    let trace_bytes = hex::decode(trace_id).unwrap();
    eventually(Duration::from_secs(10), "the span to reach the collector", || {
        let received = received.clone();
        let trace_bytes = trace_bytes.clone();
        async move {
            received.lock().unwrap().iter().any(|(head, body)| {
                head.starts_with("post /v1/traces")
                    && head.contains("content-type: application/x-protobuf")
                    && body.windows(16).any(|w| w == trace_bytes.as_slice())
                    && body.windows(b"galley-otlp-test".len()).any(|w| w == b"galley-otlp-test")
                    && body.windows(b"probe".len()).any(|w| w == b"probe")
            })
        }
    })
    .await;
}

#[tokio::test]
async fn unsupported_protocol_is_refused() {
    let stderr = HostBuilder::new()
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        .start_expecting_failure();
    assert!(stderr.contains("OTEL_EXPORTER_OTLP_PROTOCOL=grpc"), "{stderr}");
}

/// `--profile perfmap`: galley writes `/tmp/perf-<pid>.map` naming the guests' compiled
/// functions, so `perf report` can attribute samples in guest code; without it, no map.
#[tokio::test]
async fn perfmap_profiling_names_guest_functions_for_perf() {
    let profiled = crate::support::HostBuilder::new().arg("--profile").arg("perfmap").start().await;
    assert_eq!(profiled.get("/echo/exact").await.status(), 200);
    let path = format!("/tmp/perf-{}.map", profiled.pid());
    let map = std::fs::read_to_string(&path).unwrap_or_default();
    let _ = std::fs::remove_file(&path);
    // Each line is `<address> <size> <name>`; every Rust guest has `__wasm_call_ctors`.
    assert!(map.lines().any(|line| line.ends_with(" __wasm_call_ctors")), "perf map:\n{}", &map[..map.len().min(2000)]);

    let plain = crate::support::HostBuilder::new().start().await;
    assert_eq!(plain.get("/echo/exact").await.status(), 200);
    assert!(!std::path::Path::new(&format!("/tmp/perf-{}.map", plain.pid())).exists(), "no map without the flag");
}
