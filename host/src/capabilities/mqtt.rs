//! `fermyon:spin/mqtt@2.0.0`: publishing to an MQTT broker through rumqttc, as Spin does.
//!
//! `open` checks the address against `allowed_outbound_hosts` as `mqtt://host:port` (refused:
//! `connection-failed("address <address> is not permitted")`, Spin's words, which apps and
//! Spin's conformance suite compare), then hands it to rumqttc, which needs a `client_id`
//! query parameter and refuses what it cannot read as `invalid-address`. `open` does not
//! connect: the first `publish` does, and every `publish` returns once the broker has what
//! the QoS promises (QoS 0: written; 1: PUBACK; 2: PUBCOMP). A broker that cannot be reached
//! is `connection-failed` with rumqttc's reason. Plain TCP only: `mqtts://` is refused as an
//! invalid address, as galley has no TLS for outbound connections (see host/README.md).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, Incoming, MqttOptions, Outgoing, QoS};
use wasmtime::component::Resource;

use crate::capabilities::allowed_hosts::AllowList;
use crate::bindings::mqtt::{self as wit, Error, Qos};
use crate::capabilities::view::View;

/// Spin's limit on connections one instance may hold open at once.
const MAX_CONNECTIONS_PER_INSTANCE: usize = 1024;

/// Requests rumqttc may queue before the event loop sends them (Spin's figure).
const REQUEST_CHANNEL_CAPACITY: usize = 1000;

/// The largest keep-alive the MQTT CONNECT packet can carry.
const MAX_KEEP_ALIVE_SECS: u64 = u16::MAX as u64;

/// A guest's connection: a client and the event loop that talks to the broker for it.
pub struct MqttConnection {
    client: AsyncClient,
    events: tokio::sync::Mutex<EventLoop>,
    _slot: ConnectionSlot,
}

/// Counts an instance's open connections; the count drops with the connection.
struct ConnectionSlot(Arc<AtomicUsize>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl MqttConnection {
    async fn publish(&self, topic: String, payload: Vec<u8>, qos: Qos) -> Result<(), Error> {
        let qos = match qos {
            Qos::AtMostOnce => QoS::AtMostOnce,
            Qos::AtLeastOnce => QoS::AtLeastOnce,
            Qos::ExactlyOnce => QoS::ExactlyOnce,
        };
        // Queued for the event loop, not yet sent.
        self.client
            .publish_bytes(topic, qos, false, payload.into())
            .await
            .map_err(|error| Error::Other(error.to_string()))?;
        // Drive the event loop (connecting first if need be) until the broker has the message.
        let mut events = self.events.lock().await;
        loop {
            let event = events.poll().await.map_err(|error| Error::ConnectionFailed(error.to_string()))?;
            match (qos, event) {
                (QoS::AtMostOnce, Event::Outgoing(Outgoing::Publish(_)))
                | (QoS::AtLeastOnce, Event::Incoming(Incoming::PubAck(_)))
                | (QoS::ExactlyOnce, Event::Incoming(Incoming::PubComp(_))) => return Ok(()),
                _ => continue,
            }
        }
    }
}

/// What one instance may reach: the brokers its component's allow-list names.
pub struct MqttState {
    allowed_hosts: Arc<AllowList>,
    component_id: Arc<str>,
    open_connections: Arc<AtomicUsize>,
}

impl MqttState {
    /// `allowed_hosts`: the component's allow-list.
    pub fn new(allowed_hosts: Arc<AllowList>, component_id: Arc<str>) -> MqttState {
        MqttState { allowed_hosts, component_id, open_connections: Arc::default() }
    }

    fn open(&self, address: &str, username: String, password: String, keep_alive_secs: u64) -> Result<MqttConnection, Error> {
        if !self.allowed_hosts.allows_url(address) {
            tracing::warn!(component = %self.component_id, %address, "MQTT connection denied: not in allowed_outbound_hosts");
            return Err(Error::ConnectionFailed(format!("address {address} is not permitted")));
        }
        let mut options = MqttOptions::parse_url(address).map_err(|error| {
            tracing::warn!(component = %self.component_id, %address, %error, "invalid MQTT address");
            Error::InvalidAddress
        })?;
        options.set_credentials(username, password);
        // MQTT carries the keep-alive as 16-bit seconds: rumqttc would truncate a larger value
        // (65536 becomes 0, "never") and overflow its timer on a huge one; the most MQTT can
        // say is 65535 s.
        options.set_keep_alive(Duration::from_secs(keep_alive_secs.min(MAX_KEEP_ALIVE_SECS)));
        if self.open_connections.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS_PER_INSTANCE {
            self.open_connections.fetch_sub(1, Ordering::SeqCst);
            return Err(Error::TooManyConnections);
        }
        let (client, events) = AsyncClient::new(options, REQUEST_CHANNEL_CAPACITY);
        Ok(MqttConnection {
            client,
            events: tokio::sync::Mutex::new(events),
            _slot: ConnectionSlot(self.open_connections.clone()),
        })
    }
}

impl wit::Host for View<'_, MqttState> {}

impl wit::HostConnection for View<'_, MqttState> {
    async fn open(
        &mut self,
        address: String,
        username: String,
        password: String,
        keep_alive_interval_in_secs: u64,
    ) -> wasmtime::Result<Result<Resource<MqttConnection>, Error>> {
        match self.state.open(&address, username, password, keep_alive_interval_in_secs) {
            Ok(connection) => Ok(Ok(self.table.push(connection)?)),
            Err(error) => Ok(Err(error)),
        }
    }

    async fn publish(
        &mut self,
        connection: Resource<MqttConnection>,
        topic: String,
        payload: Vec<u8>,
        qos: Qos,
    ) -> wasmtime::Result<Result<(), Error>> {
        let connection = self.table.get(&connection)?;
        Ok(connection.publish(topic, payload, qos).await)
    }

    async fn drop(&mut self, connection: Resource<MqttConnection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mqtt_state(allowed: &[&str]) -> MqttState {
        MqttState {
            allowed_hosts: Arc::new(AllowList::parse(allowed.iter().copied()).unwrap()),
            component_id: "test".into(),
            open_connections: Arc::default(),
        }
    }

    fn open(state: &MqttState, address: &str) -> Result<MqttConnection, Error> {
        state.open(address, "user".into(), "password".into(), 30)
    }

    #[tokio::test]
    async fn a_keep_alive_beyond_what_mqtt_can_say_is_the_most_it_can() {
        let state = mqtt_state(&["mqtt://localhost:1883"]);
        for secs in [65536, u64::MAX] {
            assert!(state.open("mqtt://localhost:1883?client_id=x", String::new(), String::new(), secs).is_ok());
        }
    }

    #[tokio::test]
    async fn the_address_must_be_allowed_then_readable() {
        let state = mqtt_state(&["mqtt://localhost:1883"]);
        let denied = open(&state, "mqtt://localhost:1884?client_id=x").err();
        assert_eq!(
            denied.map(|e| format!("{e:?}")).as_deref(),
            Some("Error::ConnectionFailed(\"address mqtt://localhost:1884?client_id=x is not permitted\")")
        );
        // Allowed, but rumqttc needs a client id.
        assert!(matches!(open(&state, "mqtt://localhost:1883"), Err(Error::InvalidAddress)));
        assert!(open(&state, "mqtt://localhost:1883?client_id=x").is_ok());
        // No TLS: an allowed mqtts:// address is still one galley cannot use.
        let tls = mqtt_state(&["mqtts://localhost:8883"]);
        assert!(matches!(open(&tls, "mqtts://localhost:8883?client_id=x"), Err(Error::InvalidAddress)));
    }
}
