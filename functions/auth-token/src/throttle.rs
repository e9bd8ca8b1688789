//! Slowing down password guessing. Failed logins are counted per username and per client
//! address; past a few free failures each new failure locks that username (or address) for a
//! while, the lock doubling with every further failure up to a cap. A locked login is refused
//! with 429 and `Retry-After` before any password is checked.
//!
//! Times are whole seconds, so the shortest lock is 2 s (1 s could end at once).
//!
//! The username lock is short (at most a minute): an attacker who keeps failing on someone's
//! name delays the real user by that much at worst, never locks them out for good, and a
//! success clears the username's count. The address lock grows to fifteen minutes: it is the
//! attacker's own address that pays. Counts live in the key-value store for the window and
//! then expire.

use serde::{Deserialize, Serialize};

/// How one kind of counter (usernames, addresses) turns failures into locks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Failures within the window that cost nothing.
    pub free_failures: u32,
    /// The lock after the first failure past the free ones; each further failure doubles it.
    pub first_lock_secs: u64,
    pub max_lock_secs: u64,
    /// Failures older than this are forgotten.
    pub window_secs: u64,
}

pub const PER_USERNAME: Policy = Policy { free_failures: 5, first_lock_secs: 2, max_lock_secs: 60, window_secs: 900 };
pub const PER_ADDRESS: Policy = Policy { free_failures: 30, first_lock_secs: 5, max_lock_secs: 900, window_secs: 900 };

/// The failures counted for one username or address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failures {
    pub count: u32,
    pub window_started: u64,
    pub locked_until: u64,
}

impl Failures {
    /// Seconds until a login may be tried again, if it is locked at `now`.
    pub fn retry_after(&self, now: u64) -> Option<u64> {
        (self.locked_until > now).then(|| self.locked_until - now)
    }

    /// The count after one more failure at `now`.
    pub fn after_failure(&self, policy: &Policy, now: u64) -> Failures {
        let mut next = if now >= self.window_started.saturating_add(policy.window_secs) {
            Failures { count: 0, window_started: now, locked_until: 0 }
        } else {
            self.clone()
        };
        next.count = next.count.saturating_add(1);
        if next.count > policy.free_failures {
            let doublings = (next.count - policy.free_failures - 1).min(32);
            let lock = policy.first_lock_secs.saturating_mul(1u64 << doublings).min(policy.max_lock_secs);
            next.locked_until = now + lock;
        }
        next
    }
}

/// The client's address: the TCP peer (`spin-client-addr`, `ip:port`), or, behind
/// `trusted_proxies` proxies that each append to `X-Forwarded-For`, the address the outermost
/// trusted one saw. Entries a client wrote itself sit further left and are never read, so the
/// header cannot be forged past the proxies. Without trusted proxies the header is ignored.
pub fn client_address(peer: &str, forwarded_for: Option<&str>, trusted_proxies: usize) -> String {
    if trusted_proxies > 0 {
        let hops: Vec<&str> = forwarded_for.unwrap_or("").split(',').map(str::trim).filter(|h| !h.is_empty()).collect();
        if hops.len() >= trusted_proxies {
            return hops[hops.len() - trusted_proxies].to_string();
        }
    }
    match peer.parse::<std::net::SocketAddr>() {
        Ok(address) => address.ip().to_string(),
        Err(_) => peer.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(times: u32, policy: &Policy, now: u64) -> Failures {
        (0..times).fold(Failures::default(), |f, _| f.after_failure(policy, now))
    }

    #[test]
    fn the_free_failures_lock_nothing() {
        let f = fail(PER_USERNAME.free_failures, &PER_USERNAME, 1000);
        assert_eq!(f.retry_after(1000), None);
    }

    #[test]
    fn each_failure_past_the_free_ones_doubles_the_lock_up_to_the_cap() {
        let p = PER_USERNAME;
        let locks: Vec<u64> = (1..=10).map(|extra| fail(p.free_failures + extra, &p, 1000).retry_after(1000).unwrap()).collect();
        assert_eq!(locks, vec![2, 4, 8, 16, 32, 60, 60, 60, 60, 60]);
        // Thousands of failures never overflow and never lock longer than the cap.
        assert_eq!(fail(5000, &PER_ADDRESS, 1000).retry_after(1000), Some(PER_ADDRESS.max_lock_secs));
    }

    #[test]
    fn a_lock_ends_and_an_old_window_is_forgotten() {
        let p = PER_USERNAME;
        let locked = fail(p.free_failures + 2, &p, 1000);
        assert_eq!(locked.retry_after(1000), Some(4));
        assert_eq!(locked.retry_after(1004), None);
        // After the window, counting starts again from one.
        let later = locked.after_failure(&p, 1000 + p.window_secs);
        assert_eq!((later.count, later.retry_after(1000 + p.window_secs)), (1, None));
    }

    #[test]
    fn the_client_is_the_peer_unless_proxies_are_trusted() {
        assert_eq!(client_address("10.1.2.3:5555", Some("6.6.6.6"), 0), "10.1.2.3");
        assert_eq!(client_address("[::1]:80", None, 0), "::1");
        // One trusted proxy: the last entry is what it saw; a forged entry before it is ignored.
        assert_eq!(client_address("127.0.0.1:1", Some("6.6.6.6, 203.0.113.7"), 1), "203.0.113.7");
        assert_eq!(client_address("127.0.0.1:1", Some("6.6.6.6, 198.51.100.1, 203.0.113.7"), 2), "198.51.100.1");
        // Fewer entries than trusted proxies: the header is not what the proxies wrote.
        assert_eq!(client_address("127.0.0.1:1", None, 1), "127.0.0.1");
    }
}
