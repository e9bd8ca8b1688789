//! Outbound MQTT (`fermyon:spin/mqtt@2.0.0`) against a real mosquitto broker: delivery at every
//! QoS, the allow-list with Spin's exact refusal, and the errors a guest can branch on.

use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use serde_json::{json, Value};

use crate::support::{free_port, mqtt_port, Host, HostBuilder};

/// A subscriber on the test broker, ready (SUBACK received) when this returns.
async fn subscribe(port: u16, topic: &str) -> (AsyncClient, EventLoop) {
    let options = MqttOptions::new(format!("galley-test-sub-{}", uuid::Uuid::new_v4().simple()), "127.0.0.1", port);
    let (client, mut events) = AsyncClient::new(options, 10);
    client.subscribe(topic, QoS::ExactlyOnce).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Event::Incoming(Packet::SubAck(_)) = events.poll().await.expect("the test broker") {
                break;
            }
        }
    })
    .await
    .expect("no SUBACK from the test broker");
    (client, events)
}

/// The next message the subscriber receives.
async fn next_message(events: &mut EventLoop) -> (String, Vec<u8>) {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Event::Incoming(Packet::Publish(publish)) = events.poll().await.expect("the test broker") {
                return (publish.topic, publish.payload.to_vec());
            }
        }
    })
    .await
    .expect("the message never reached the broker")
}

async fn publish(host: &Host, prefix: &str, address: &str, topic: &str, payload: &str, qos: u8) -> (u16, String) {
    let response = host
        .client
        .post(host.url(&format!("{prefix}/mqtt")))
        .json(&json!({
            "address": address, "username": "user", "password": "password",
            "topic": topic, "payload": payload, "qos": qos,
        }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let error = serde_json::from_str::<Value>(&text).ok().and_then(|v| v["error"].as_str().map(str::to_string));
    (status, error.unwrap_or(text))
}

fn address(port: u16) -> String {
    format!("mqtt://127.0.0.1:{port}?client_id=galley-test-{}", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn messages_reach_the_broker_at_every_qos() {
    let port = mqtt_port();
    let topic = format!("galley/{}", uuid::Uuid::new_v4().simple());
    let (_subscriber, mut events) = subscribe(port, &topic).await;
    let host = HostBuilder::new().arg("--variable").arg(format!("mqtt_port={port}")).start().await;
    for qos in [0, 1, 2] {
        let payload = format!("Eureka! (QoS {qos})");
        let (status, body) = publish(&host, "/probe", &address(port), &topic, &payload, qos).await;
        assert_eq!((status, body.as_str()), (200, "published"), "QoS {qos}");
        assert_eq!(next_message(&mut events).await, (topic.clone(), payload.into_bytes()));
    }
}

#[tokio::test]
async fn the_address_must_be_allowed_and_valid() {
    let port = mqtt_port();
    let host = HostBuilder::new().arg("--variable").arg(format!("mqtt_port={port}")).start().await;
    // `probe-denied` allows nothing; `probe` allows only the broker's port. Spin's words, which
    // its conformance suite compares.
    let denied = format!("mqtt://127.0.0.1:{port}?client_id=spintest");
    let (status, error) = publish(&host, "/denied", &denied, "t", "x", 1).await;
    assert_eq!((status, error.as_str()), (502, format!("Error::ConnectionFailed(\"address {denied} is not permitted\")").as_str()));
    let other_port = format!("mqtt://127.0.0.1:{}?client_id=spintest", port + 1);
    let (_, error) = publish(&host, "/probe", &other_port, "t", "x", 1).await;
    assert_eq!(error, format!("Error::ConnectionFailed(\"address {other_port} is not permitted\")"));
    // Allowed, but rumqttc needs a client id.
    let (_, error) = publish(&host, "/probe", &format!("mqtt://127.0.0.1:{port}"), "t", "x", 1).await;
    assert_eq!(error, "Error::InvalidAddress");
}

#[tokio::test]
async fn an_unreachable_broker_is_connection_failed() {
    let closed = free_port();
    let host = HostBuilder::new().arg("--variable").arg(format!("mqtt_port={closed}")).start().await;
    let (status, error) = publish(&host, "/probe", &address(closed), "t", "x", 1).await;
    assert_eq!(status, 502);
    assert!(error.starts_with("Error::ConnectionFailed("), "{error}");
}
