//! `wasi:sockets`: the addresses a component's own TCP and UDP sockets may reach, decided by
//! its `allowed_outbound_hosts` the way Spin decides them.
//!
//! A TCP connection to `ip:port` is allowed when an entry allows `tcp://ip:port` (scheme `tcp`
//! or `*`), and a UDP datagram to or from `ip:port` when one allows `udp://ip:port`. Entries
//! work as everywhere else: IPs, CIDR ranges (`tcp://10.0.0.0/8:*`), ports and port ranges,
//! `{{ variables }}` rendered at load. Sockets see IP addresses only and galley does not offer
//! `ip-name-lookup` (Spin does not either), so an entry naming a host (`tcp://localhost:6379`)
//! never matches a socket. Nothing may listen or accept; the only bind allowed is the implicit
//! one a connect or send makes (the unspecified address, port 0). Everything refused reaches
//! the guest as `access-denied`.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use wasmtime_wasi::sockets::SocketAddrUse;

use crate::capabilities::allowed_hosts::{AllowList, OutboundAddress};

/// What the check answers: wasmtime-wasi awaits it.
type Verdict = Pin<Box<dyn Future<Output = bool> + Send + Sync>>;

/// The check wasmtime-wasi runs before every socket operation that names an address.
pub type AddressCheck = Box<dyn Fn(SocketAddr, SocketAddrUse) -> Verdict + Send + Sync + 'static>;

/// The check for one component's instances.
pub fn address_check(component_id: Arc<str>, allowed_hosts: Arc<AllowList>) -> AddressCheck {
    Box::new(move |address: SocketAddr, purpose: SocketAddrUse| -> Verdict {
        let allowed = allows(&allowed_hosts, address, purpose);
        if !allowed && !is_implicit_bind(address) {
            tracing::warn!(component = %component_id, %address, ?purpose, "socket use denied: not in allowed_outbound_hosts");
        }
        Box::pin(std::future::ready(allowed))
    })
}

/// Whether `purpose` on `address` is allowed by `allowed_hosts`.
pub fn allows(allowed_hosts: &AllowList, address: SocketAddr, purpose: SocketAddrUse) -> bool {
    let scheme = match purpose {
        SocketAddrUse::TcpConnect => "tcp",
        SocketAddrUse::UdpSend | SocketAddrUse::UdpReceive => "udp",
        // A connect (TCP) or first send (UDP) binds an unbound socket to an ephemeral port
        // first, and wasmtime asks about that bind separately.
        SocketAddrUse::TcpBind | SocketAddrUse::UdpBind => return is_implicit_bind(address),
        SocketAddrUse::TcpListen | SocketAddrUse::TcpAccept => return false,
    };
    let host = address.ip().to_string();
    allowed_hosts.allows(&OutboundAddress { scheme, host: &host, port: Some(address.port()) })
}

fn is_implicit_bind(address: SocketAddr) -> bool {
    address.ip().is_unspecified() && address.port() == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> AllowList {
        AllowList::parse(entries.iter().copied()).unwrap()
    }

    fn connect(entries: &[&str], address: &str) -> bool {
        allows(&list(entries), address.parse().unwrap(), SocketAddrUse::TcpConnect)
    }

    #[test]
    fn tcp_connections_follow_the_allow_list() {
        assert!(connect(&["tcp://127.0.0.1:6379"], "127.0.0.1:6379"));
        assert!(connect(&["*://127.0.0.1:6379"], "127.0.0.1:6379"));
        assert!(!connect(&["tcp://127.0.0.1:6379"], "127.0.0.1:6380"));
        assert!(!connect(&["tcp://127.0.0.2:6379"], "127.0.0.1:6379"));
        assert!(!connect(&["http://127.0.0.1:6379"], "127.0.0.1:6379"), "another scheme");
        assert!(connect(&["tcp://10.0.0.0/8:*"], "10.20.30.40:5"));
        assert!(!connect(&["tcp://10.0.0.0/8:*"], "11.0.0.1:5"));
        assert!(connect(&["tcp://127.0.0.0/24:7000..7010"], "127.0.0.9:7005"));
        assert!(connect(&["tcp://[::1]:6379"], "[::1]:6379"));
        assert!(!connect(&["tcp://localhost:6379"], "127.0.0.1:6379"), "sockets see addresses, not names");
        assert!(!connect(&[], "127.0.0.1:6379"));
    }

    #[test]
    fn udp_uses_its_own_scheme() {
        let entries = list(&["udp://127.0.0.1:53"]);
        let address = "127.0.0.1:53".parse().unwrap();
        assert!(allows(&entries, address, SocketAddrUse::UdpSend));
        assert!(allows(&entries, address, SocketAddrUse::UdpReceive));
        assert!(!allows(&entries, address, SocketAddrUse::TcpConnect));
    }

    #[test]
    fn only_the_implicit_bind_and_never_a_listener() {
        let everything = list(&["*://*:*"]);
        assert!(allows(&everything, "0.0.0.0:0".parse().unwrap(), SocketAddrUse::TcpBind));
        assert!(allows(&everything, "[::]:0".parse().unwrap(), SocketAddrUse::UdpBind));
        assert!(!allows(&everything, "0.0.0.0:8080".parse().unwrap(), SocketAddrUse::TcpBind));
        assert!(!allows(&everything, "127.0.0.1:0".parse().unwrap(), SocketAddrUse::TcpBind));
        assert!(!allows(&everything, "0.0.0.0:0".parse().unwrap(), SocketAddrUse::TcpListen));
        assert!(!allows(&everything, "127.0.0.1:5000".parse().unwrap(), SocketAddrUse::TcpAccept));
    }
}
