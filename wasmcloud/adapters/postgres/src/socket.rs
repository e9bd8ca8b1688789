//! A blocking TCP stream over wasi:sockets (WASI 0.2.0): name lookup, connect, read, write.
//! The host decides what may be reached (on wasmCloud, the workload's egress policy; on Spin
//! and galley, `allowed_outbound_hosts` with a `tcp://host:port` entry).

use wasi::io::streams::{InputStream, OutputStream, StreamError};
use wasi::sockets::instance_network::instance_network;
use wasi::sockets::ip_name_lookup::resolve_addresses;
use wasi::sockets::network::{
    ErrorCode, IpAddress, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, Ipv6SocketAddress, Network,
};
use wasi::sockets::tcp::TcpSocket;
use wasi::sockets::tcp_create_socket::create_tcp_socket;

/// At most this many bytes per write: WASI 0.2's blocking write takes 4096 at a time.
const WRITE_CHUNK: usize = 4096;
const READ_CHUNK: u64 = 64 * 1024;

/// A connected socket. The streams are declared first so they are dropped before the socket
/// they belong to, as WASI requires of child resources.
pub struct TcpStream {
    input: InputStream,
    output: OutputStream,
    _socket: TcpSocket,
}

fn describe(code: ErrorCode) -> String {
    format!("{code:?}").to_lowercase()
}

fn resolve(network: &Network, host: &str) -> Result<Vec<IpAddress>, String> {
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => {
            let [a, b, c, d] = ip.octets();
            return Ok(vec![IpAddress::Ipv4((a, b, c, d))]);
        }
        Ok(std::net::IpAddr::V6(ip)) => {
            let [a, b, c, d, e, f, g, h] = ip.segments();
            return Ok(vec![IpAddress::Ipv6((a, b, c, d, e, f, g, h))]);
        }
        Err(_) => {}
    }
    let lookup = resolve_addresses(network, host).map_err(|e| format!("cannot resolve `{host}`: {}", describe(e)))?;
    let pollable = lookup.subscribe();
    let mut found = Vec::new();
    loop {
        match lookup.resolve_next_address() {
            Ok(Some(address)) => found.push(address),
            Ok(None) => return Ok(found),
            Err(ErrorCode::WouldBlock) => pollable.block(),
            Err(e) => return Err(format!("cannot resolve `{host}`: {}", describe(e))),
        }
    }
}

fn connect_to(network: &Network, ip: IpAddress, port: u16) -> Result<TcpStream, String> {
    let (family, address) = match ip {
        IpAddress::Ipv4(address) => (IpAddressFamily::Ipv4, IpSocketAddress::Ipv4(Ipv4SocketAddress { port, address })),
        IpAddress::Ipv6(address) => (
            IpAddressFamily::Ipv6,
            IpSocketAddress::Ipv6(Ipv6SocketAddress { port, address, flow_info: 0, scope_id: 0 }),
        ),
    };
    let socket = create_tcp_socket(family).map_err(describe)?;
    socket.start_connect(network, address).map_err(describe)?;
    let pollable = socket.subscribe();
    let (input, output) = loop {
        match socket.finish_connect() {
            Ok(streams) => break streams,
            Err(ErrorCode::WouldBlock) => pollable.block(),
            Err(e) => return Err(describe(e)),
        }
    };
    drop(pollable);
    Ok(TcpStream { input, output, _socket: socket })
}

impl TcpStream {
    /// Connects to the first address of `host` that answers.
    pub fn connect(host: &str, port: u16) -> Result<TcpStream, String> {
        let network = instance_network();
        let mut last = format!("`{host}` has no address");
        for ip in resolve(&network, host)? {
            match connect_to(&network, ip, port) {
                Ok(stream) => return Ok(stream),
                Err(e) => last = format!("cannot connect to {host}:{port}: {e}"),
            }
        }
        Err(last)
    }

    pub fn write_all(&self, bytes: &[u8]) -> Result<(), String> {
        for chunk in bytes.chunks(WRITE_CHUNK) {
            self.output.blocking_write_and_flush(chunk).map_err(stream_error)?;
        }
        Ok(())
    }

    /// Blocks until some bytes arrive; an ended stream is an error (the server went away).
    pub fn read_some(&self) -> Result<Vec<u8>, String> {
        self.input.blocking_read(READ_CHUNK).map_err(stream_error)
    }
}

fn stream_error(error: StreamError) -> String {
    match error {
        StreamError::Closed => "the server closed the connection".into(),
        StreamError::LastOperationFailed(e) => e.to_debug_string(),
    }
}
