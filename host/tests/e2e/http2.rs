//! HTTP/2 without TLS: galley serves cleartext HTTP/2 with prior knowledge and HTTP/1.1 on the
//! same port, as Spin 4 does, and carries trailers both ways (what gRPC depends on).

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, Request, Version};
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;

use crate::support::{Host, HostBuilder};

type ClientBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// One HTTP/2 connection opened with prior knowledge (no upgrade, no TLS): the client sends
/// the h2 preface straight away.
async fn h2c_connect(host: &Host) -> SendRequest<ClientBody> {
    let address = host.address.trim_start_matches("http://");
    let stream = tokio::net::TcpStream::connect(address).await.expect("connecting to galley");
    let (sender, connection) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
        .await
        .expect("the h2 handshake");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    sender
}

fn request(host: &Host, method: &str, path: &str, body: ClientBody) -> Request<ClientBody> {
    Request::builder()
        .method(method)
        .uri(host.url(path))
        .version(Version::HTTP_2)
        .body(body)
        .expect("a valid request")
}

fn empty() -> ClientBody {
    Empty::new().boxed()
}

/// A body of `chunks` data frames, then `trailers` when given.
fn body_with_trailers(chunks: Vec<Bytes>, trailers: Option<HeaderMap>) -> ClientBody {
    let frames = chunks
        .into_iter()
        .map(|chunk| Ok(Frame::data(chunk)))
        .chain(trailers.map(|t| Ok(Frame::trailers(t))));
    BodyExt::boxed(StreamBody::new(futures::stream::iter(frames.collect::<Vec<_>>())))
}

/// The whole body and the trailers of a response.
async fn read_all(response: http::Response<Incoming>) -> (Bytes, Option<HeaderMap>) {
    let collected = response.into_body().collect().await.expect("reading the response body");
    let trailers = collected.trailers().cloned();
    (collected.to_bytes(), trailers)
}

#[tokio::test]
async fn h2c_with_prior_knowledge_and_http1_share_one_port() {
    let host = HostBuilder::new().start().await;
    let mut h2 = h2c_connect(&host).await;
    let response = h2.send_request(request(&host, "GET", "/echo/exact?via=h2", empty())).await.expect("an h2 answer");
    assert_eq!(response.version(), Version::HTTP_2);
    assert_eq!(response.status(), 200);
    let (body, _) = read_all(response).await;
    let echo: Value = serde_json::from_slice(&body).expect("the probe's JSON echo");
    assert_eq!(echo["path"], "/echo/exact");
    assert_eq!(echo["query"], "via=h2");
    assert_eq!(echo["headers"]["spin-matched-route"], "/echo/exact");
    // The guest sees the request's authority as Spin gives it: from the h2 `:authority`.
    // (h2 has no `host` header.)
    let full_url = echo["headers"]["spin-full-url"].as_str().expect("spin-full-url");
    assert_eq!(full_url, host.url("/echo/exact?via=h2"));

    // HTTP/1.1 on the same port, at the same time as the h2 connection stays open.
    let response = host.get("/echo/exact?via=h1").await;
    assert_eq!(response.version(), Version::HTTP_11);
    let echo: Value = response.json().await.expect("JSON");
    assert_eq!(echo["query"], "via=h1");

    // The h2 connection is still usable after that.
    let response = h2.send_request(request(&host, "GET", "/static", empty())).await.expect("an h2 answer");
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["x-static"], "yes");
    assert_eq!(read_all(response).await.0, "static body");
}

#[tokio::test]
async fn concurrent_streams_on_one_connection_run_at_the_same_time() {
    let host = HostBuilder::new().start().await;
    let h2 = h2c_connect(&host).await;
    // Eight requests that each take 500 ms: on one connection, multiplexed, they finish in
    // about the time of one, not eight in turn.
    let started = std::time::Instant::now();
    let answers = futures::future::join_all((0..8).map(|_| {
        let mut sender = h2.clone();
        let request = request(&host, "GET", "/probe/sleep/500", empty());
        async move {
            let response = sender.send_request(request).await.expect("an h2 answer");
            assert_eq!(response.status(), 200);
            read_all(response).await.0
        }
    }))
    .await;
    let elapsed = started.elapsed();
    assert!(answers.iter().all(|body| body == "slept"), "{answers:?}");
    assert!(elapsed < Duration::from_millis(2500), "8 streams of 500 ms took {elapsed:?}: not concurrent");
}

#[tokio::test]
async fn request_trailers_reach_the_guest_and_its_response_trailers_reach_the_client() {
    let host = HostBuilder::new().start().await;
    let mut h2 = h2c_connect(&host).await;
    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", HeaderValue::from_static("abc123"));
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    let body = body_with_trailers(vec![Bytes::from_static(b"hello, "), Bytes::from_static(b"trailers")], Some(trailers));
    let response = h2.send_request(request(&host, "POST", "/probe/stream-echo", body)).await.expect("an h2 answer");
    assert_eq!(response.status(), 200);
    let (body, trailers) = read_all(response).await;
    assert_eq!(body, "hello, trailers");
    let trailers = trailers.expect("response trailers");
    assert_eq!(trailers["x-checksum"], "abc123", "the guest saw the request trailer and set it back");
    assert_eq!(trailers["grpc-status"], "0");
    assert_eq!(trailers["x-echo-bytes"], "15");

    // No request trailers: the guest still sets its own.
    let response = h2.send_request(request(&host, "POST", "/probe/stream-echo", empty())).await.expect("an h2 answer");
    let (body, trailers) = read_all(response).await;
    assert!(body.is_empty());
    let trailers = trailers.expect("response trailers");
    assert_eq!(trailers["x-echo-bytes"], "0");
    assert!(trailers.get("x-checksum").is_none());
}

/// The `i`-th byte of the large body: not periodic on any chunk size, so a lost, repeated or
/// reordered chunk shows.
fn pattern_byte(i: u64) -> u8 {
    ((i * 31 + i / 65_521) % 251) as u8
}

#[tokio::test]
async fn a_32_mib_body_streams_both_ways_over_h2() {
    const SIZE: u64 = 32 << 20;
    const CHUNK: u64 = 256 << 10;
    let host = HostBuilder::new().start().await;
    let mut h2 = h2c_connect(&host).await;
    // Generated as it is sent, so neither side ever needs the whole body at once.
    let chunks = futures::stream::iter((0..SIZE / CHUNK).map(|n| {
        let chunk: Vec<u8> = (n * CHUNK..(n + 1) * CHUNK).map(pattern_byte).collect();
        Ok::<_, Infallible>(Frame::data(Bytes::from(chunk)))
    }));
    let mut trailers = HeaderMap::new();
    trailers.insert("x-sent", HeaderValue::from_static("all"));
    let frames = chunks.chain(futures::stream::iter([Ok(Frame::trailers(trailers))]));
    let body = BodyExt::boxed(StreamBody::new(frames));
    let response = h2.send_request(request(&host, "POST", "/probe/stream-echo", body)).await.expect("an h2 answer");
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let mut received: u64 = 0;
    let mut trailers = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.expect("a response frame");
        match frame.into_data() {
            Ok(data) => {
                for (offset, byte) in data.iter().enumerate() {
                    let at = received + offset as u64;
                    assert_eq!(*byte, pattern_byte(at), "byte {at} of the echo differs");
                }
                received += data.len() as u64;
            }
            Err(frame) => trailers = frame.into_trailers().ok(),
        }
    }
    assert_eq!(received, SIZE);
    let trailers = trailers.expect("response trailers after the body");
    assert_eq!(trailers["x-echo-bytes"], SIZE.to_string().as_str());
    assert_eq!(trailers["x-sent"], "all");
}

#[tokio::test]
async fn http1_chunked_request_trailers_reach_the_guest_too() {
    let host = HostBuilder::new().start().await;
    let address = host.address.trim_start_matches("http://");
    let stream = tokio::net::TcpStream::connect(address).await.expect("connecting to galley");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("an h1 handshake");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", HeaderValue::from_static("h1"));
    let body = body_with_trailers(vec![Bytes::from_static(b"chunked")], Some(trailers));
    let request = Request::builder()
        .method("POST")
        .uri("/probe/stream-echo")
        .header("host", address)
        // HTTP/1.1 carries only declared trailers (`trailer`), and sends response trailers only
        // to a client that says it accepts them (`te`).
        .header("trailer", "x-checksum")
        .header("te", "trailers")
        .body(body)
        .expect("a valid request");
    let response = sender.send_request(request).await.expect("an h1 answer");
    assert_eq!(response.version(), Version::HTTP_11);
    let (body, trailers) = read_all(response).await;
    assert_eq!(body, "chunked");
    let trailers = trailers.expect("chunked response trailers");
    assert_eq!(trailers["x-checksum"], "h1");
    assert_eq!(trailers["x-echo-bytes"], "7");
}
