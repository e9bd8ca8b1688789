//! JSON request bodies: size limit, media type, and a precise message for each way a body
//! can be wrong (too big, not JSON at all, JSON of the wrong shape).

use serde::de::DeserializeOwned;

/// The default cap on a JSON request body. Galley's JSON bodies are a few hundred bytes;
/// anything near this is a mistake or an attack, and is refused before it is buffered whole.
pub const DEFAULT_LIMIT: usize = 16 * 1024;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum BodyError {
    #[error("request body is larger than the {limit}-byte limit")]
    TooLarge { limit: usize },
    #[error("content type `{0}` is not supported; send `content-type: application/json`")]
    UnsupportedMediaType(String),
    #[error("request body is not valid JSON: {0}")]
    Malformed(String),
    #[error("request body has the wrong shape: {0}")]
    Invalid(String),
    #[error("the request body could not be read: it ended before its declared length, or stopped arriving")]
    Unreadable,
    #[error("the request body arrives too slowly to finish in time: after {grace_secs} s it must keep up at least {min_rate} bytes a second on average, and end within {deadline_secs} s", grace_secs = PACE.grace.as_secs(), min_rate = PACE.min_rate, deadline_secs = PACE.deadline.as_secs())]
    TooSlow,
}

impl crate::problem::ApiError for BodyError {
    fn problem_row(&self) -> crate::problem::ProblemRow {
        match self {
            Self::TooLarge { .. } => (413, "body-too-large", "Request body too large"),
            Self::UnsupportedMediaType(_) => (415, "unsupported-media-type", "Unsupported media type"),
            Self::Malformed(_) | Self::Unreadable => (400, "malformed-body", "Malformed request body"),
            Self::Invalid(_) => (422, "invalid-body", "Invalid request body"),
            Self::TooSlow => (408, "body-too-slow", "Request body too slow"),
        }
    }
}

/// How fast a request body must arrive. A body trickled in (a byte every few seconds, each
/// inside the host's idle timeout) would otherwise hold an instance, and for an upload a
/// connection slot, until the host's request limit cut it off with no answer; here it is
/// refused with a 408 as soon as it falls behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// Time before any rate is asked for (a slow start, a TLS proxy buffering).
    pub grace: std::time::Duration,
    /// Bytes a second on average after the grace, at least.
    pub min_rate: u64,
    /// The whole body by then: under galley's default 60 s request limit, with time left to
    /// store and answer.
    pub deadline: std::time::Duration,
}

/// The pace every body is held to: 1 KiB/s is a crawl for any real client (a 2G phone sends
/// more), and 10 MiB (the upload limit) at the pace the deadline asks is ~210 KiB/s.
pub const PACE: Pace = Pace { grace: std::time::Duration::from_secs(5), min_rate: 1024, deadline: std::time::Duration::from_secs(50) };

impl Pace {
    /// How much longer the body may take to send its next bytes, `elapsed` after it started
    /// with `received` bytes in (of `declared`, when its length is known); `TooSlow` once it
    /// is behind. The rate asked for is the minimum, or what finishing the declared length by
    /// the deadline needs, whichever is higher.
    pub fn allowance(&self, elapsed: std::time::Duration, received: u64, declared: Option<u64>) -> Result<std::time::Duration, BodyError> {
        let budget = self.deadline.saturating_sub(self.grace).as_secs_f64();
        let rate = declared.map_or(0.0, |total| total as f64 / budget).max(self.min_rate as f64);
        // When the bytes received stop being enough: grace + received / rate after the start.
        let behind_at = self.grace.as_secs_f64() + received as f64 / rate;
        let until = behind_at.min(self.deadline.as_secs_f64()) - elapsed.as_secs_f64();
        if until <= 0.0 {
            return Err(BodyError::TooSlow);
        }
        Ok(std::time::Duration::from_secs_f64(until))
    }
}

/// Accepts any JSON media type (`application/json`, `application/*+json`, with parameters);
/// refuses the rest, and a body sent without a content type: a client that does not say what it
/// sends gets told, rather than having its bytes guessed at.
pub fn check_content_type(content_type: Option<&str>) -> Result<(), BodyError> {
    let Some(ct) = content_type else {
        return Err(BodyError::UnsupportedMediaType("(none)".into()));
    };
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json")) {
        Ok(())
    } else {
        Err(BodyError::UnsupportedMediaType(ct.to_owned()))
    }
}

/// A declared `content-length` over the limit is refused before any byte is read.
pub fn check_declared_length(content_length: Option<&str>, limit: usize) -> Result<(), BodyError> {
    match content_length.and_then(|v| v.trim().parse::<u64>().ok()) {
        Some(n) if n > limit as u64 => Err(BodyError::TooLarge { limit }),
        _ => Ok(()),
    }
}

/// Parses a complete body. serde's error categories tell syntax errors (400) from
/// well-formed JSON that does not fit the type: missing fields, wrong types (422). The
/// messages speak JSON (`expected a whole number`), never Rust (`expected i64`).
///
/// Text containing the NUL character (`\u0000`) is refused here, for every field of every
/// body: Postgres cannot store it in `text` and no field of this API has a use for it, so it is
/// bad input (422), decided before any query runs.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8], limit: usize) -> Result<T, BodyError> {
    if bytes.len() > limit {
        return Err(BodyError::TooLarge { limit });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(BodyError::Malformed("the body is empty".into()));
    }
    let parsed = serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => BodyError::Invalid(in_json_terms(&e.to_string())),
            Category::Syntax | Category::Eof | Category::Io => BodyError::Malformed(in_json_terms(&e.to_string())),
        }
    })?;
    if has_nul_escape(bytes) {
        return Err(BodyError::Invalid("text must not contain the NUL character (\\u0000)".into()));
    }
    Ok(parsed)
}

/// Whether a JSON text (already known to be well formed) has a string holding `\u0000`. Raw NUL
/// bytes cannot occur in well-formed JSON, so the escape is the only way to send one.
fn has_nul_escape(json: &[u8]) -> bool {
    let mut in_string = false;
    let mut i = 0;
    while i < json.len() {
        match json[i] {
            b'"' => in_string = !in_string,
            b'\\' if in_string => {
                if json.get(i + 1) == Some(&b'u') && json.get(i + 2..i + 6) == Some(b"0000") {
                    return true;
                }
                // Skip the escaped character, so `\\` and `\"` do not confuse the scan.
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    false
}

/// Rewrites serde's messages about Rust types into the JSON terms a client sent them in
/// (`expected struct RegisterRequest` → `expected a JSON object`, `expected i64` → `expected a
/// whole number`), so no error detail names a type of ours.
pub fn in_json_terms(message: &str) -> String {
    const RUST_TO_JSON: &[(&str, &str)] = &[
        ("a sequence", "an array"),
        ("a map", "a JSON object"),
        ("a borrowed string", "a string"),
        ("a character", "a one-character string"),
        ("unit", "null"),
        ("i8", "a whole number"),
        ("i16", "a whole number"),
        ("i32", "a whole number"),
        ("i64", "a whole number"),
        ("i128", "a whole number"),
        ("isize", "a whole number"),
        ("u8", "a whole number of at least 0"),
        ("u16", "a whole number of at least 0"),
        ("u32", "a whole number of at least 0"),
        ("u64", "a whole number of at least 0"),
        ("u128", "a whole number of at least 0"),
        ("usize", "a whole number of at least 0"),
        ("f32", "a number"),
        ("f64", "a number"),
    ];
    // What was found is named by serde's `Unexpected`: say it as JSON calls it.
    let message = message
        .replace("invalid type: sequence", "invalid type: array")
        .replace("invalid type: map", "invalid type: object")
        .replace("invalid type: unit value", "invalid type: null")
        .replace("floating point `", "number `");
    let mut out = String::with_capacity(message.len());
    let mut rest = message.as_str();
    while let Some(at) = rest.find("expected ") {
        let (before, after) = rest.split_at(at + "expected ".len());
        out.push_str(before);
        rest = after;
        // `struct Name`, `enum Name`, `tuple struct Name`: a type of ours, named.
        let named = ["struct ", "tuple struct ", "enum ", "newtype struct "]
            .iter()
            .find_map(|prefix| rest.strip_prefix(prefix).map(|r| (prefix.starts_with("enum"), r)));
        if let Some((is_enum, named_rest)) = named {
            let end = named_rest.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')).unwrap_or(named_rest.len());
            out.push_str(if is_enum { "one of the allowed values" } else { "a JSON object" });
            rest = &named_rest[end..];
            continue;
        }
        let word_end = |s: &str, w: &str| s.len() == w.len() || !s.as_bytes()[w.len()].is_ascii_alphanumeric();
        if let Some((rust, json)) = RUST_TO_JSON.iter().find(|(rust, _)| rest.starts_with(rust) && word_end(rest, rust)) {
            out.push_str(json);
            rest = &rest[rust.len()..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn a_body_keeping_pace_may_wait_and_one_falling_behind_is_too_slow() {
        let secs = Duration::from_secs;
        // Within the grace anything goes, until the grace is over.
        assert_eq!(PACE.allowance(secs(0), 0, None), Ok(secs(5)));
        assert_eq!(PACE.allowance(secs(4), 0, None), Ok(secs(1)));
        assert_eq!(PACE.allowance(secs(5), 0, None), Err(BodyError::TooSlow));
        // A byte every 4 s is behind as soon as the grace ends.
        assert!(PACE.allowance(secs(8), 2, None).is_err());
        // 1 KiB/s keeps it going: 10 KiB in means 10 s more than the grace.
        assert_eq!(PACE.allowance(secs(12), 10 * 1024, None), Ok(secs(3)));
        // Nothing past the deadline, however fast.
        assert!(PACE.allowance(secs(50), u64::MAX / 2, None).is_err());
    }

    #[test]
    fn a_declared_length_asks_for_the_rate_that_ends_it_by_the_deadline() {
        let pace = Pace { grace: Duration::from_secs(5), min_rate: 1024, deadline: Duration::from_secs(50) };
        let ten_mib = 10 * 1024 * 1024;
        // 45 s for 10 MiB: half of it due by 27.5 s.
        let half = pace.allowance(Duration::from_secs(20), ten_mib / 2, Some(ten_mib)).expect("on pace");
        assert!((half.as_secs_f64() - 7.5).abs() < 0.01, "{half:?}");
        assert!(pace.allowance(Duration::from_secs(30), ten_mib / 2, Some(ten_mib)).is_err());
        // A small body is held to the minimum rate, not less.
        assert_eq!(pace.allowance(Duration::from_secs(6), 0, Some(10)), Err(BodyError::TooSlow));
    }

    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Login {
        username: String,
        password: String,
    }

    #[test]
    fn well_formed_body_parses() {
        let l: Login = parse_json(br#"{"username":"a","password":"b"}"#, 100).unwrap();
        assert_eq!(l.username, "a");
    }

    #[test]
    fn syntax_errors_are_malformed() {
        assert!(matches!(parse_json::<Login>(b"{\"username\":", 100), Err(BodyError::Malformed(_))));
        assert!(matches!(parse_json::<Login>(b"not json", 100), Err(BodyError::Malformed(_))));
        assert!(matches!(parse_json::<Login>(b"  ", 100), Err(BodyError::Malformed(_))));
    }

    #[test]
    fn missing_fields_and_wrong_types_are_invalid_and_named() {
        let Err(BodyError::Invalid(msg)) = parse_json::<Login>(br#"{"username":"a"}"#, 100) else {
            panic!("expected Invalid")
        };
        assert!(msg.contains("password"), "{msg}");
        let Err(BodyError::Invalid(msg)) = parse_json::<Login>(br#"{"username":1,"password":"b"}"#, 100) else {
            panic!("expected Invalid")
        };
        assert!(msg.contains("invalid type"), "{msg}");
    }

    #[test]
    fn size_limit_is_enforced_on_bytes_and_on_declared_length() {
        assert_eq!(parse_json::<Login>(&[b' '; 101], 100).unwrap_err(), BodyError::TooLarge { limit: 100 });
        assert_eq!(check_declared_length(Some("101"), 100), Err(BodyError::TooLarge { limit: 100 }));
        assert_eq!(check_declared_length(Some("100"), 100), Ok(()));
        assert_eq!(check_declared_length(None, 100), Ok(()));
    }

    #[test]
    fn nul_characters_in_text_are_refused_before_anything_else_sees_them() {
        let err = parse_json::<Login>(br#"{"username":"a\u0000","password":"b"}"#, 100).unwrap_err();
        assert!(matches!(err, BodyError::Invalid(ref m) if m.contains("NUL")), "{err:?}");
        // An escaped backslash followed by `u0000` is the text `\u0000`, not a NUL.
        let l: Login = parse_json(br#"{"username":"a\\u0000","password":"b\"\\"}"#, 100).unwrap();
        assert_eq!(l.username, "a\\u0000");
        assert!(has_nul_escape(br#"["\u0000"]"#));
        assert!(!has_nul_escape(br#"["\u0001", "\\", "u0000"]"#));
    }

    #[test]
    fn wrong_shapes_are_described_in_json_terms() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Shapes {
            count: u32,
            offset: i64,
            ratio: f64,
            tags: Vec<String>,
            inner: Option<Login>,
        }
        let bodies: [&[u8]; 7] = [
            b"[]",
            br#"{"count":"x","offset":1,"ratio":1,"tags":[],"inner":null}"#,
            br#"{"count":-1,"offset":1,"ratio":1,"tags":[],"inner":null}"#,
            br#"{"count":1,"offset":"1","ratio":1,"tags":[],"inner":null}"#,
            br#"{"count":1,"offset":1,"ratio":"1","tags":[],"inner":null}"#,
            br#"{"count":1,"offset":1,"ratio":1,"tags":{},"inner":null}"#,
            br#"{"count":1,"offset":1,"ratio":1,"tags":[],"inner":[]}"#,
        ];
        for body in bodies {
            let Err(BodyError::Invalid(msg)) = parse_json::<Shapes>(body, 1000) else { panic!("expected Invalid") };
            for rust in ["struct", "Shapes", "Login", "u32", "i64", "f64", "sequence", "map", "Vec", "Option", "floating"] {
                assert!(!msg.contains(rust), "`{rust}` in {msg:?}");
            }
            assert!(msg.contains("expected"), "{msg}");
        }
        assert_eq!(in_json_terms("invalid type: string \"x\", expected u32 at line 1"), "invalid type: string \"x\", expected a whole number of at least 0 at line 1");
        assert_eq!(in_json_terms("invalid type: map, expected struct A::B"), "invalid type: object, expected a JSON object");
        assert_eq!(in_json_terms("expected u32x"), "expected u32x", "only whole words are Rust types");
    }

    #[test]
    fn json_media_types_are_accepted_others_refused() {
        assert!(matches!(check_content_type(None), Err(BodyError::UnsupportedMediaType(_))));
        assert!(check_content_type(Some("application/json; charset=utf-8")).is_ok());
        assert!(check_content_type(Some("application/merge-patch+json")).is_ok());
        assert!(matches!(check_content_type(Some("text/plain")), Err(BodyError::UnsupportedMediaType(_))));
    }
}
