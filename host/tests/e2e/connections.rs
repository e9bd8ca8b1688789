//! What a client connection may hold before any request exists, and galley's own answers to
//! requests it cannot route or parse: heads that never finish are cut off, one address holds a
//! bounded number of connections, and every answer galley (or hyper under it) makes itself is
//! problem+json. Raw TCP throughout: the point is what goes over the wire, not what a client
//! library makes of it.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{Host, HostBuilder};

fn socket_address(host: &Host) -> String {
    host.address.trim_start_matches("http://").to_string()
}

/// Reads until the server closes the connection or `limit` passes; returns what was read and
/// whether the server closed it (EOF or a reset).
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    let mut received = Vec::new();
    let deadline = Instant::now() + limit;
    let mut buffer = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Err(_) => return (received, false),
            Ok(Ok(0)) | Ok(Err(_)) => return (received, true),
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
        }
    }
}

/// Sends raw bytes on a new connection and reads the whole answer (galley closes after it).
async fn raw_exchange(host: &Host, request: &[u8]) -> (String, String) {
    let mut stream = TcpStream::connect(socket_address(host)).await.expect("connecting to galley");
    stream.write_all(request).await.expect("sending");
    let (received, closed) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(closed, "galley kept the connection open after its answer");
    let text = String::from_utf8_lossy(&received).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no response head in {text:?}"));
    (head.to_ascii_lowercase(), body.to_string())
}

/// The head says problem+json and nosniff, and the body is a problem with `status`.
fn assert_problem(head: &str, body: &str, status: u16) -> serde_json::Value {
    assert!(head.starts_with(&format!("http/1.1 {status} ")), "status {status} expected:\n{head}");
    assert!(head.contains("\r\ncontent-type: application/problem+json"), "no problem+json content type:\n{head}");
    assert!(head.contains("\r\nx-content-type-options: nosniff"), "no nosniff:\n{head}");
    let problem: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("body is not JSON: {body:?}"));
    assert_eq!(problem["status"], status, "{problem}");
    assert!(problem["title"].is_string() && problem["detail"].is_string() && problem["type"].is_string(), "{problem}");
    problem
}

#[tokio::test]
async fn connections_that_never_finish_a_request_head_are_closed_after_the_head_timeout() {
    let host = HostBuilder::new().arg("--head-read-timeout-secs").arg("1").start().await;
    let address = socket_address(&host);
    // Nothing at all; half a head over HTTP/1.1; the HTTP/2 preface and no request.
    let silent = TcpStream::connect(&address).await.unwrap();
    let mut partial = TcpStream::connect(&address).await.unwrap();
    partial.write_all(b"GET /echo/exact HTTP/1.1\r\nhost: galley\r\nx-slow: ").await.unwrap();
    let mut preface_only = TcpStream::connect(&address).await.unwrap();
    preface_only.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00").await.unwrap();
    // A keep-alive connection whose second head never finishes: hyper's own timer, armed now.
    let mut second = TcpStream::connect(&address).await.unwrap();
    second.write_all(b"GET /echo/exact HTTP/1.1\r\nhost: galley\r\n\r\n").await.unwrap();
    let mut first_answer = [0u8; 12];
    second.read_exact(&mut first_answer).await.unwrap();
    assert_eq!(&first_answer, b"HTTP/1.1 200");

    let started = Instant::now();
    for (name, mut stream) in [("silent", silent), ("partial head", partial), ("h2 preface only", preface_only)] {
        let (_, closed) = read_until_closed(&mut stream, Duration::from_secs(6)).await;
        assert!(closed, "a connection that sent {name} was still open {:?} later", started.elapsed());
    }
    second.write_all(b"GET /echo/exact HTTP/1.1\r\nx-never: ").await.unwrap();
    let (_, closed) = read_until_closed(&mut second, Duration::from_secs(6)).await;
    assert!(closed, "a keep-alive connection with an unfinished second head stayed open");
    // A client that is merely slower than a packet, but well inside the limit, is served.
    let mut slow = TcpStream::connect(&address).await.unwrap();
    slow.write_all(b"GET /echo/exact HTTP/1.1\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    slow.write_all(b"host: galley\r\nconnection: close\r\n\r\n").await.unwrap();
    let (answer, _) = read_until_closed(&mut slow, Duration::from_secs(5)).await;
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer));
}

/// A connection from `from` (a 127.0.0.x address of its own: the harness's own client holds
/// pooled connections from 127.0.0.1, which count against that address).
async fn connect_from(host: &Host, from: &str) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).expect("binding a loopback address");
    socket.connect(socket_address(host).parse().unwrap()).await.expect("connecting to galley")
}

#[tokio::test]
async fn one_address_holds_at_most_its_share_of_connections_and_the_rest_are_closed_at_once() {
    let host = HostBuilder::new().arg("--max-connections-per-ip").arg("3").start().await;
    // Three connections held open (within the head timeout); the fourth is closed unread.
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = connect_from(&host, "127.0.0.2").await;
        stream.write_all(b"GET /echo/exact HTTP/1.1\r\n").await.unwrap();
        held.push(stream);
    }
    // Let the accept loop admit the three before the fourth arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut excess = connect_from(&host, "127.0.0.2").await;
    let _ = excess.write_all(b"GET /echo/exact HTTP/1.1\r\nhost: galley\r\n\r\n").await;
    let (answer, closed) = read_until_closed(&mut excess, Duration::from_secs(2)).await;
    assert!(closed && answer.is_empty(), "the fourth connection was served: {:?}", String::from_utf8_lossy(&answer));
    // Another address has a count of its own.
    let request = b"GET /echo/exact HTTP/1.1\r\nhost: galley\r\nconnection: close\r\n\r\n";
    let served = |mut stream: TcpStream| async move {
        stream.write_all(request).await.unwrap();
        let (answer, _) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
        answer.starts_with(b"HTTP/1.1 200")
    };
    assert!(served(connect_from(&host, "127.0.0.3").await).await, "another address is refused");
    // A closed connection gives its place back.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(served(connect_from(&host, "127.0.0.2").await).await, "the freed place was not given back");
}

#[tokio::test]
async fn galleys_own_answers_for_unrouted_paths_are_problem_json() {
    let host = HostBuilder::new().start().await;
    // No route of the app matches (the app's wildcards are `/echo/wild/...`, `/probe/...`), and
    // the reserved prefix.
    for path in ["/nothing/here", "/echo/a/x", "/echo/exact/more", "/.well-known/spin/other"] {
        let request = format!("GET {path} HTTP/1.1\r\nhost: galley\r\ntraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\nconnection: close\r\n\r\n");
        let (head, body) = raw_exchange(&host, request.as_bytes()).await;
        let problem = assert_problem(&head, &body, 404);
        assert_eq!(problem["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736", "{path}: the caller's trace");
    }
}

#[tokio::test]
async fn a_request_head_hyper_cannot_parse_is_answered_with_problem_json() {
    let host = HostBuilder::new().start().await;
    // A NUL byte in a header value, a malformed request line, a head over the 64 KiB bound.
    let nul = b"GET /echo/exact HTTP/1.1\r\nhost: galley\r\nx-bad: a\x00b\r\n\r\n".to_vec();
    let (head, body) = raw_exchange(&host, &nul).await;
    assert_problem(&head, &body, 400);
    let (head, body) = raw_exchange(&host, b"GET /echo/exact HTTP/1.1 extra\r\nhost: galley\r\n\r\n").await;
    assert_problem(&head, &body, 400);
    let big = format!("GET /echo/exact HTTP/1.1\r\nhost: galley\r\nx-big: {}\r\n\r\n", "a".repeat(100 * 1024));
    let (head, body) = raw_exchange(&host, big.as_bytes()).await;
    assert_problem(&head, &body, 431);
    // A well-formed head on a fresh connection is still the component's.
    let (head, _) = raw_exchange(&host, b"GET /echo/exact HTTP/1.1\r\nhost: galley\r\nconnection: close\r\n\r\n").await;
    assert!(head.starts_with("http/1.1 200") && !head.contains("problem+json"), "{head}");
}
