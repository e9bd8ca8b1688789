//! RFC 9457 problem details: the one shape every Galley error response takes.
//!
//! Endpoints describe their failures with their own `thiserror` enums and implement
//! [`ApiError`]; [`Problem::from_error`] turns any of them into the wire body, so the
//! status, title and `type` of a given failure are defined once, next to its variant.

use serde::{Deserialize, Serialize};

/// Media type of every error body.
pub const CONTENT_TYPE: &str = "application/problem+json";

/// Where the `type` URIs of Galley problems live (relative references, resolved against the API).
pub const TYPE_BASE: &str = "/problems/";

/// What a kind of failure answers: status, kind (the slug of `type`) and title. One row per
/// variant, side by side, is how every error here spells its problems (see `api_errors!`).
pub type ProblemRow = (u16, &'static str, &'static str);

/// A failure of ours (a bug, a broken deployment): its text stays in the log.
pub const INTERNAL: ProblemRow = (500, "internal", "Internal error");

/// What the caller is told of an internal failure instead of its text.
pub const INTERNAL_DETAIL: &str = "an internal error occurred; it has been logged";

/// Something this request needs (the database, another service) is down; try again later.
pub const UNAVAILABLE: ProblemRow = (503, "unavailable", "Service unavailable");

/// "There is no such thing here": one spelling of the 404 for every endpoint.
pub const NOT_FOUND: ProblemRow = (404, "not-found", "Not found");

/// A query string the endpoint cannot read (a bad `limit`, an unknown cursor).
pub const INVALID_QUERY: ProblemRow = (400, "invalid-query", "Invalid query");

/// The caller is known but may not do this; the same row as a token without the role.
pub const FORBIDDEN: ProblemRow = (403, "forbidden", "Forbidden");

/// An RFC 9457 problem details object, plus the request's W3C trace id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The trace id of the inbound `traceparent`, so a user's report can be matched to logs.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trace_id: Option<String>,
}

/// What an endpoint's error enum tells about each of its variants.
pub trait ApiError: std::fmt::Display {
    /// The variant's status, kind and title.
    fn problem_row(&self) -> ProblemRow;
    /// HTTP status code (4xx for the caller's mistakes, 5xx only for bugs and outages).
    fn status(&self) -> u16 {
        self.problem_row().0
    }
    /// A short slug naming the kind of problem, e.g. `validation`; becomes `/problems/<slug>`.
    fn kind(&self) -> &'static str {
        self.problem_row().1
    }
    /// A short, human-readable summary of the kind of problem.
    fn title(&self) -> &'static str {
        self.problem_row().2
    }
    /// The detail shown to the caller. Defaults to the `Display` text; override it where that
    /// text carries internals (database errors) that must not leave the function.
    fn detail(&self) -> String {
        self.to_string()
    }
    /// For a 405: the methods the resource does allow (the `Allow` header, RFC 9110 §15.5.6).
    fn allow(&self) -> Option<String> {
        None
    }
    /// For a 429 (or a 503 that knows better than the default): seconds before a retry can
    /// succeed (the `Retry-After` header, RFC 9110 §10.2.3).
    fn retry_after(&self) -> Option<u64> {
        None
    }
}

impl Problem {
    pub fn new(status: u16, kind: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            type_uri: format!("{TYPE_BASE}{kind}"),
            title: title.to_owned(),
            status,
            detail: detail.into(),
            trace_id: None,
        }
    }

    pub fn from_error(err: &dyn ApiError) -> Self {
        Self::new(err.status(), err.kind(), err.title(), err.detail())
    }

    /// The slug of `type` (`/problems/insufficient-stock` → `insufficient-stock`).
    pub fn kind(&self) -> &str {
        self.type_uri.strip_prefix(TYPE_BASE).unwrap_or(&self.type_uri)
    }

    pub fn with_trace_id(mut self, trace_id: Option<String>) -> Self {
        self.trace_id = trace_id;
        self
    }

    pub fn to_json(&self) -> Vec<u8> {
        // A struct of strings and a u16 always serialises.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The trace id (32 lower-case hex digits) of a W3C `traceparent` header value, if it is well formed.
///
/// Format: `version-traceid-parentid-flags`, e.g. `00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01`.
/// An all-zero trace id is invalid by the spec and is treated as absent.
pub fn trace_id_from_traceparent(value: &str) -> Option<String> {
    let mut parts = value.trim().split('-');
    let version = parts.next()?;
    let trace_id = parts.next()?;
    let parent_id = parts.next()?;
    let flags = parts.next()?;
    let is_hex = |s: &str, len: usize| {
        s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let well_formed = is_hex(version, 2)
        && version != "ff"
        && is_hex(trace_id, 32)
        && is_hex(parent_id, 16)
        && is_hex(flags, 2)
        && trace_id.bytes().any(|b| b != b'0');
    well_formed.then(|| trace_id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum DemoError {
        #[error("field `x` is missing")]
        Missing,
        #[error("db exploded: secret internals")]
        Db,
    }

    impl ApiError for DemoError {
        fn problem_row(&self) -> ProblemRow {
            match self {
                Self::Missing => (422, "validation", "demo"),
                Self::Db => (500, "internal", "demo"),
            }
        }
        fn detail(&self) -> String {
            match self {
                Self::Db => "internal error".into(),
                other => other.to_string(),
            }
        }
    }

    #[test]
    fn problem_from_error_uses_variant_status_kind_and_detail() {
        let p = Problem::from_error(&DemoError::Missing).with_trace_id(Some("ab".repeat(16)));
        let v: serde_json::Value = serde_json::from_slice(&p.to_json()).unwrap();
        assert_eq!(v["type"], "/problems/validation");
        assert_eq!(v["status"], 422);
        assert_eq!(v["detail"], "field `x` is missing");
        assert_eq!(v["trace_id"], "ab".repeat(16));
    }

    #[test]
    fn detail_override_hides_internals() {
        let p = Problem::from_error(&DemoError::Db);
        assert_eq!(p.detail, "internal error");
        assert!(!p.to_json().windows(6).any(|w| w == b"secret"));
    }

    #[test]
    fn trace_id_is_taken_from_a_valid_traceparent() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            trace_id_from_traceparent(tp).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
    }

    #[test]
    fn malformed_traceparents_give_no_trace_id() {
        for bad in [
            "",
            "garbage",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            assert_eq!(trace_id_from_traceparent(bad), None, "{bad}");
        }
    }
}
