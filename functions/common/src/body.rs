//! JSON request bodies: size limit, media type, and a precise message for each way a body
//! can be wrong (too big, not JSON at all, JSON of the wrong shape).

use serde::de::DeserializeOwned;

/// The default cap on a JSON request body. Galley's JSON bodies are a few hundred bytes;
/// anything near this is a mistake or an attack, and is refused before it is buffered whole.
pub const DEFAULT_LIMIT: usize = 16 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BodyError {
    #[error("request body is larger than the {limit}-byte limit")]
    TooLarge { limit: usize },
    #[error("content type `{0}` is not supported; send `application/json`")]
    UnsupportedMediaType(String),
    #[error("request body is not valid JSON: {0}")]
    Malformed(String),
    #[error("request body has the wrong shape: {0}")]
    Invalid(String),
    #[error("request body could not be read")]
    Unreadable,
}

impl crate::problem::ApiError for BodyError {
    fn status(&self) -> u16 {
        match self {
            Self::TooLarge { .. } => 413,
            Self::UnsupportedMediaType(_) => 415,
            Self::Malformed(_) | Self::Unreadable => 400,
            Self::Invalid(_) => 422,
        }
    }
    fn kind(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "body-too-large",
            Self::UnsupportedMediaType(_) => "unsupported-media-type",
            Self::Malformed(_) | Self::Unreadable => "malformed-body",
            Self::Invalid(_) => "invalid-body",
        }
    }
    fn title(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "Request body too large",
            Self::UnsupportedMediaType(_) => "Unsupported media type",
            Self::Malformed(_) | Self::Unreadable => "Malformed request body",
            Self::Invalid(_) => "Invalid request body",
        }
    }
}

/// Accepts a missing content type (curl's default is forgiving users' friend) and any JSON
/// media type (`application/json`, `application/*+json`, with parameters); refuses the rest.
pub fn check_content_type(content_type: Option<&str>) -> Result<(), BodyError> {
    let Some(ct) = content_type else { return Ok(()) };
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
/// well-formed JSON that does not fit the type: missing fields, wrong types (422).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8], limit: usize) -> Result<T, BodyError> {
    if bytes.len() > limit {
        return Err(BodyError::TooLarge { limit });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(BodyError::Malformed("the body is empty".into()));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => BodyError::Invalid(e.to_string()),
            Category::Syntax | Category::Eof | Category::Io => BodyError::Malformed(e.to_string()),
        }
    })
}

#[cfg(test)]
mod tests {
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
    fn json_media_types_are_accepted_others_refused() {
        assert!(check_content_type(None).is_ok());
        assert!(check_content_type(Some("application/json; charset=utf-8")).is_ok());
        assert!(check_content_type(Some("application/merge-patch+json")).is_ok());
        assert!(matches!(check_content_type(Some("text/plain")), Err(BodyError::UnsupportedMediaType(_))));
    }
}
