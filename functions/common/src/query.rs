//! Query strings of listing routes: `key=value` pairs and the page size every listing shares.

/// Page size when `limit` is absent, and the largest a client may ask for.
pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

/// The `key=value` pairs of a raw query string (a key without `=` has an empty value).
/// Unknown keys are the caller's to ignore: caches and proxies add their own.
pub fn pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| pair.split_once('=').unwrap_or((pair, "")))
}

/// A `limit` value: a whole number from 1 to [`MAX_LIMIT`], or the message saying so.
pub fn limit(value: &str) -> Result<u32, String> {
    value
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| format!("limit must be a whole number from 1 to {MAX_LIMIT}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_and_limits() {
        assert_eq!(pairs("a=1&&b&c=").collect::<Vec<_>>(), vec![("a", "1"), ("b", ""), ("c", "")]);
        assert_eq!(limit("100"), Ok(100));
        for bad in ["0", "101", "x", "", "-1"] {
            assert!(limit(bad).is_err(), "{bad}");
        }
    }
}
