//! Awaiting a started server: until its port accepts connections, or its HTTP endpoint
//! answers 200, within a deadline, giving up early when the process has already died.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

/// Calls `ready` every `poll` until it says yes; fails with `what` once `timeout` has passed,
/// or at once with the error `ready` returns (e.g. "the process exited").
pub fn until(what: &str, timeout: Duration, mut ready: impl FnMut() -> Result<bool>) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let poll = Duration::from_millis(50);
    loop {
        if ready()? {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("{what}: not ready after {} s", timeout.as_secs());
        }
        std::thread::sleep(poll);
    }
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
pub fn tcp_listening(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// Whether `GET path` on 127.0.0.1:`port` answers `200` (HTTP/1.1, blocking, no runtime
/// needed while a harness starts its servers).
pub fn http_ok(port: u16, path: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

/// `http://127.0.0.1:PORT/PATH` split into the port and the path (the only URLs these
/// servers have: everything listens on the loopback address).
pub fn parse_local_url(url: &str) -> Result<(u16, String)> {
    let Some(rest) = url.strip_prefix("http://127.0.0.1:").or_else(|| url.strip_prefix("http://localhost:")) else {
        bail!("`{url}` is not an http://127.0.0.1:PORT/ URL");
    };
    let (port, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(p, path)| (p, format!("/{path}")));
    let port = port.parse().map_err(|_| anyhow::anyhow!("`{url}`: `{port}` is not a port"))?;
    Ok((port, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_urls_split_into_port_and_path() {
        assert_eq!(parse_local_url("http://127.0.0.1:3000/.well-known/spin/health").unwrap(), (3000, "/.well-known/spin/health".into()));
        assert_eq!(parse_local_url("http://localhost:8080").unwrap(), (8080, "/".into()));
        assert!(parse_local_url("https://example.com/").is_err(), "only loopback servers are awaited");
        assert!(parse_local_url("http://127.0.0.1:port/").is_err());
    }

    #[test]
    fn waiting_ends_with_the_readiness_or_the_deadline() {
        let mut calls = 0;
        until("counter", Duration::from_secs(5), || {
            calls += 1;
            Ok(calls == 3)
        })
        .unwrap();
        assert_eq!(calls, 3);
        let err = until("never", Duration::from_millis(120), || Ok(false)).unwrap_err();
        assert!(err.to_string().contains("never: not ready"), "{err}");
        let err = until("dead", Duration::from_secs(5), || bail!("exited with status 1")).unwrap_err();
        assert!(err.to_string().contains("exited"), "a dead process ends the wait at once: {err}");
    }
}
