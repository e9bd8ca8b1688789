//! TCP through `wasi:sockets`: a component reaches exactly the addresses its
//! `allowed_outbound_hosts` allows (an IP range and a variable here) and gets `access-denied`
//! for the rest, before anything is sent.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::HostBuilder;

/// An echo server on `address`; counts the connections it accepts.
async fn echo_server(address: SocketAddr) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind(address).await.unwrap_or_else(|e| panic!("binding {address}: {e}"));
    let bound = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buffer = [0u8; 1024];
                while let Ok(n) = socket.read(&mut buffer).await {
                    if n == 0 || socket.write_all(&buffer[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (bound, accepted)
}

fn at(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse::<IpAddr>().unwrap(), port)
}

async fn connect(host: &crate::support::Host, prefix: &str, address: SocketAddr) -> (u16, Value) {
    let response = host.get(&format!("{prefix}/tcp?addr={address}")).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn tcp_reaches_only_what_the_allow_list_allows() {
    // `probe` allows `tcp://127.0.0.0/29:{{ tcp_port }}`: 127.0.0.5 is inside the range,
    // 127.0.0.9 is not; a second port on 127.0.0.5 is not the allowed port.
    let (inside, inside_accepts) = echo_server(at("127.0.0.5", 0)).await;
    let (outside, outside_accepts) = echo_server(at("127.0.0.9", inside.port())).await;
    let (other_port, other_port_accepts) = echo_server(at("127.0.0.5", 0)).await;
    let host = HostBuilder::new().arg("--variable").arg(format!("tcp_port={}", inside.port())).start().await;

    let (status, body) = connect(&host, "/probe", inside).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["echo"], "So rested he by the Tumtum tree");
    assert_eq!(inside_accepts.load(Ordering::SeqCst), 1);

    for (prefix, address) in [("/probe", outside), ("/probe", other_port), ("/denied", inside)] {
        let (status, body) = connect(&host, prefix, address).await;
        assert_eq!(status, 502, "{prefix} -> {address}: {body}");
        assert_eq!(body["stage"], "connect", "{body}");
        assert_eq!(body["error"], "access-denied (error 1)", "{prefix} -> {address}");
    }
    assert_eq!(outside_accepts.load(Ordering::SeqCst), 0, "nothing reached the listener outside the range");
    assert_eq!(other_port_accepts.load(Ordering::SeqCst), 0, "nothing reached the other port");
    assert_eq!(inside_accepts.load(Ordering::SeqCst), 1, "the denied component reached nothing");
}
