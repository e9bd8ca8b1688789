//! The host's own problem+json answers (RFC 9457): a refusal at capacity, a request head it
//! cannot parse, a component that failed. Written by the HTTP trigger and, raw, by the
//! connection guard before any HTTP is parsed.

use http::StatusCode;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// The JSON of a problem answer (also written raw, for a request head hyper cannot parse).
pub fn problem_body(status: StatusCode, detail: &str, trace_id: Option<&str>) -> Vec<u8> {
    let mut body = serde_json::json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
    });
    if let Some(trace_id) = trace_id {
        body["trace_id"] = trace_id.into();
    }
    body.to_string().into_bytes()
}
