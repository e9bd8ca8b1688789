//! `allowed_outbound_hosts`: parsing Spin's patterns and checking outbound addresses.
//!
//! A pattern is `scheme://host[:port]`. The scheme may be `*`; the host `*`, `*.suffix`, a
//! name, an IP, a CIDR, `self` or `self.alt`; the port a number, `*` or a range `a..b` (end
//! excluded). No port means the scheme's default. Templates are rendered before parsing.

use std::net::IpAddr;

use anyhow::{bail, Context, Result};
use ipnet::IpNet;

/// One parsed `allowed_outbound_hosts` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct AllowedHost {
    scheme: Option<String>,
    host: HostPattern,
    ports: PortPattern,
}

#[derive(Debug, Clone, PartialEq)]
enum HostPattern {
    Any,
    Suffix(String),
    Name(String),
    Ip(IpAddr),
    Cidr(IpNet),
    /// `self` / `self.alt`: requests back into this app through its router.
    SelfApp,
}

#[derive(Debug, Clone, PartialEq)]
enum PortPattern {
    Any,
    Range(u16, u16),
    One(u16),
}

/// An address a component wants to reach, as the checks see it.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundAddress<'a> {
    pub scheme: &'a str,
    /// Empty (a relative URL) or `self.alt` mean "this app". `self` is only a name in
    /// allow-list entries (`http://self`), never a host a request goes to: as in Spin, a
    /// request to the URL `http://self/...` is an ordinary outbound request to a host
    /// named `self`.
    pub host: &'a str,
    pub port: Option<u16>,
}

impl OutboundAddress<'_> {
    pub fn is_self(&self) -> bool {
        self.host.is_empty() || self.host == "self.alt"
    }
}

pub fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        "postgres" => Some(5432),
        "redis" => Some(6379),
        "mysql" => Some(3306),
        "mqtt" => Some(1883),
        _ => None,
    }
}

impl AllowedHost {
    pub fn parse(text: &str) -> Result<AllowedHost> {
        let (scheme, rest) = text
            .split_once("://")
            .with_context(|| format!("`{text}` has no scheme: write it as scheme://host[:port]"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') && !looks_like_cidr(rest) {
            bail!("`{text}`: a path is not allowed, only scheme://host[:port]");
        }
        let scheme = match scheme {
            "*" => None,
            s if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) => {
                Some(s.to_ascii_lowercase())
            }
            _ => bail!("`{text}`: `{scheme}` is not a scheme"),
        };
        let (host, port) = split_host_port(rest);
        let host = parse_host(host).with_context(|| format!("`{text}`"))?;
        let ports = match port {
            Some(port) => parse_ports(port).with_context(|| format!("`{text}`"))?,
            None => match scheme.as_deref().and_then(default_port) {
                Some(default) => PortPattern::One(default),
                None => bail!("`{text}`: give a port; `{}` has no default port", scheme.as_deref().unwrap_or("*")),
            },
        };
        Ok(AllowedHost { scheme, host, ports })
    }

    pub fn allows(&self, address: &OutboundAddress) -> bool {
        if let Some(scheme) = &self.scheme {
            if scheme != address.scheme {
                return false;
            }
        }
        if matches!(self.host, HostPattern::SelfApp) {
            return address.is_self();
        }
        if address.is_self() {
            return false;
        }
        let Some(port) = address.port.or_else(|| default_port(address.scheme)) else {
            return false;
        };
        let port_ok = match self.ports {
            PortPattern::Any => true,
            PortPattern::One(p) => p == port,
            PortPattern::Range(start, end) => (start..end).contains(&port),
        };
        port_ok && self.host.allows(address.host)
    }

    /// `http://<id>.spin.internal` (or `*.spin.internal`) entries allow service chaining.
    pub fn allows_chaining_to(&self, component_id: &str) -> bool {
        let host = format!("{component_id}.spin.internal");
        matches!(self.scheme.as_deref(), None | Some("http"))
            && match &self.host {
                HostPattern::Any => true,
                HostPattern::Suffix(suffix) => host.ends_with(suffix.as_str()),
                HostPattern::Name(name) => *name == host,
                _ => false,
            }
    }
}

impl HostPattern {
    fn allows(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        match self {
            HostPattern::Any => true,
            HostPattern::Suffix(suffix) => host.ends_with(suffix.as_str()) && host.len() > suffix.len(),
            HostPattern::Name(name) => *name == host,
            HostPattern::Ip(ip) => host.parse::<IpAddr>().is_ok_and(|h| h == *ip),
            HostPattern::Cidr(net) => host.parse::<IpAddr>().is_ok_and(|h| net.contains(&h)),
            HostPattern::SelfApp => false,
        }
    }
}

fn looks_like_cidr(rest: &str) -> bool {
    let (host, _) = split_host_port(rest);
    host.parse::<IpNet>().is_ok()
}

/// Splits `host[:port]`, keeping bracketed IPv6 literals whole.
fn split_host_port(text: &str) -> (&str, Option<&str>) {
    if let Some(end) = text.find(']') {
        let (host, rest) = text.split_at(end + 1);
        return (host, rest.strip_prefix(':'));
    }
    match text.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, Some(port)),
        _ => (text, None),
    }
}

fn parse_host(host: &str) -> Result<HostPattern> {
    let host = host.to_ascii_lowercase();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    Ok(match bare {
        "" => bail!("the host is empty"),
        "*" => HostPattern::Any,
        "self" | "self.alt" => HostPattern::SelfApp,
        _ if bare.starts_with("*.") => HostPattern::Suffix(bare[1..].to_string()),
        _ if bare.contains('*') => bail!("`*` may only stand alone or as `*.suffix`"),
        _ => {
            if let Ok(ip) = bare.parse::<IpAddr>() {
                HostPattern::Ip(ip)
            } else if let Ok(net) = bare.parse::<IpNet>() {
                HostPattern::Cidr(net)
            } else if bare.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_') {
                HostPattern::Name(bare.to_string())
            } else {
                bail!("`{bare}` is not a host name, IP address or CIDR")
            }
        }
    })
}

fn parse_ports(port: &str) -> Result<PortPattern> {
    if port == "*" {
        return Ok(PortPattern::Any);
    }
    if let Some((start, end)) = port.split_once("..") {
        let start: u16 = start.parse().with_context(|| format!("`{start}` is not a port"))?;
        let end: u16 = end.parse().with_context(|| format!("`{end}` is not a port"))?;
        if start >= end {
            bail!("port range `{port}` is empty");
        }
        return Ok(PortPattern::Range(start, end));
    }
    Ok(PortPattern::One(port.parse().with_context(|| format!("`{port}` is not a port"))?))
}

/// A component's whole allow-list.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    entries: Vec<AllowedHost>,
}

impl AllowList {
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<AllowList> {
        let entries = entries.into_iter().map(AllowedHost::parse).collect::<Result<_>>()?;
        Ok(AllowList { entries })
    }

    pub fn allows(&self, address: &OutboundAddress) -> bool {
        self.entries.iter().any(|entry| entry.allows(address))
    }

    pub fn allows_chaining_to(&self, component_id: &str) -> bool {
        self.entries.iter().any(|entry| entry.allows_chaining_to(component_id))
    }

    /// Checks a `scheme://[user@]host[:port][/...]` URL (Postgres, Redis addresses).
    pub fn allows_url(&self, url: &str) -> bool {
        let Ok(parsed) = url::Url::parse(url) else { return false };
        let host = parsed.host_str().unwrap_or("");
        if host.is_empty() {
            return false;
        }
        self.allows(&OutboundAddress { scheme: parsed.scheme(), host, port: parsed.port() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(pattern: &str, scheme: &str, host: &str, port: Option<u16>) -> bool {
        AllowedHost::parse(pattern).unwrap().allows(&OutboundAddress { scheme, host, port })
    }

    #[test]
    fn default_ports_by_scheme() {
        assert!(allows("https://example.com", "https", "example.com", None));
        assert!(allows("https://example.com", "https", "example.com", Some(443)));
        assert!(!allows("https://example.com", "https", "example.com", Some(8443)));
        assert!(allows("postgres://db", "postgres", "db", Some(5432)));
        assert!(!allows("postgres://db", "postgres", "db", Some(5433)));
        assert!(allows("redis://127.0.0.1", "redis", "127.0.0.1", None));
    }

    #[test]
    fn wildcards_and_ranges() {
        assert!(allows("*://example.com:8080", "http", "example.com", Some(8080)));
        assert!(allows("https://*.example.com", "https", "api.example.com", None));
        assert!(!allows("https://*.example.com", "https", "example.com", None));
        assert!(allows("http://localhost:*", "http", "localhost", Some(1234)));
        assert!(allows("http://localhost:3000..3002", "http", "localhost", Some(3001)));
        assert!(!allows("http://localhost:3000..3002", "http", "localhost", Some(3002)));
        assert!(allows("*://*:*", "redis", "anything", Some(1)));
        assert!(!allows("http://example.com", "https", "example.com", None));
    }

    #[test]
    fn ips_and_cidrs() {
        assert!(allows("postgres://127.0.0.1:54331", "postgres", "127.0.0.1", Some(54331)));
        assert!(allows("http://10.0.0.0/8:80", "http", "10.1.2.3", Some(80)));
        assert!(!allows("http://10.0.0.0/8:80", "http", "11.1.2.3", Some(80)));
        assert!(allows("http://[::1]:80", "http", "[::1]", Some(80)));
    }

    #[test]
    fn self_requests_need_a_self_entry() {
        assert!(allows("http://self", "http", "", Some(80)));
        assert!(allows("http://self.alt", "http", "self.alt", None));
        assert!(!allows("*://*:*", "http", "", Some(80)));
        assert!(!allows("http://self", "http", "example.com", None));
        // The literal host `self` is not the app, and `http://self` does not allow it.
        assert!(!allows("http://self", "http", "self", None));
        assert!(allows("http://*", "http", "self", None));
    }

    #[test]
    fn chaining_entries() {
        let list = AllowList::parse(["http://inventory.spin.internal"]).unwrap();
        assert!(list.allows_chaining_to("inventory"));
        assert!(!list.allows_chaining_to("payment"));
        let all = AllowList::parse(["http://*.spin.internal"]).unwrap();
        assert!(all.allows_chaining_to("payment"));
    }

    #[test]
    fn bad_patterns_are_refused() {
        for bad in ["example.com", "http://", "http://a/path", "*://example.com", "http://ex*ple.com", "http://a:99999", "http://a:5..5"] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn database_urls() {
        let list = AllowList::parse(["postgres://127.0.0.1:54331"]).unwrap();
        assert!(list.allows_url("postgres://galley@127.0.0.1:54331/users"));
        assert!(!list.allows_url("postgres://galley@127.0.0.1:5432/users"));
        assert!(!list.allows_url("postgres://galley@10.0.0.1:54331/users"));
    }
}
