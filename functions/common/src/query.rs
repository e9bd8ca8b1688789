//! Query strings of listing routes: `key=value` pairs and the page size every listing shares.

use std::borrow::Cow;

/// Page size when `limit` is absent, and the largest a client may ask for.
pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

/// The `key=value` pairs of a raw query string (a key without `=` has an empty value), each
/// percent-decoded as a form would be (`%2C` is `,`, `+` a space): clients and libraries
/// encode reserved characters, and `ids=3%2C1` means what `ids=3,1` means.
/// Unknown keys are the caller's to ignore: caches and proxies add their own.
pub fn pairs(query: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(key), decode(value))
    })
}

/// Percent-decoding (and `+` as a space) of one query component. An escape that is not two
/// hex digits is kept as written, and bytes that are not UTF-8 become U+FFFD: either way the
/// value then fails its own validation with a 400 that names it, never a panic.
fn decode(component: &str) -> Cow<'_, str> {
    if !component.contains(['%', '+']) {
        return Cow::Borrowed(component);
    }
    let raw = component.as_bytes();
    let hex = |b: Option<&u8>| b.and_then(|b| char::from(*b).to_digit(16));
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match (raw[i], hex(raw.get(i + 1)), hex(raw.get(i + 2))) {
            (b'%', Some(hi), Some(lo)) => {
                // Two hex digits: at most 0xff, so the cast is exact.
                bytes.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                bytes.push(b' ');
                i += 1;
            }
            (other, _, _) => {
                bytes.push(other);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&bytes).into_owned())
}

/// A `limit` value: a whole number from 1 to [`MAX_LIMIT`], or the message saying so.
pub fn limit(value: &str) -> Result<u32, String> {
    value
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| format!("limit must be a whole number from 1 to {MAX_LIMIT}"))
}

/// `ids=3,1,7`: the product ids of a batch read, sorted and each once, or `None` when the query
/// names no `ids`. 1 to [`MAX_LIMIT`] ids, counted as sent (repeats included: the contract's
/// `maxItems` says so); otherwise the message saying what is wrong.
pub fn product_ids(query: &str) -> Result<Option<Vec<crate::ids::ProductId>>, String> {
    let Some((_, list)) = pairs(query).find(|(key, _)| key == "ids") else {
        return Ok(None);
    };
    let mut ids = list
        .split(',')
        .map(|id| crate::ids::ProductId::parse(id).map_err(|e| format!("ids: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    if ids.len() > MAX_LIMIT as usize {
        return Err(format!("ids: at most {MAX_LIMIT} ids at a time"));
    }
    ids.sort_by_key(|id| id.get());
    ids.dedup();
    Ok(Some(ids))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_percent_decoded() {
        let decoded: Vec<(String, String)> =
            pairs("ids=3%2C1%2c7&user%5Fid=a+b&x=%zz&y=%4&z=%E2%82%AC&w=%FF").map(|(k, v)| (k.into(), v.into())).collect();
        let expected = [("ids", "3,1,7"), ("user_id", "a b"), ("x", "%zz"), ("y", "%4"), ("z", "€"), ("w", "\u{fffd}")];
        assert_eq!(decoded, expected.map(|(k, v)| (k.to_owned(), v.to_owned())));
    }

    #[test]
    fn pairs_and_limits() {
        assert_eq!(pairs("a=1&&b&c=").collect::<Vec<_>>(), vec![("a".into(), "1".into()), ("b".into(), "".into()), ("c".into(), "".into())]);
        assert_eq!(limit("100"), Ok(100));
        for bad in ["0", "101", "x", "", "-1"] {
            assert!(limit(bad).is_err(), "{bad}");
        }
    }
}
