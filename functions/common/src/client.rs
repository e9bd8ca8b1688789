//! The plain half of the typed client for calling other Galley functions: where a call goes,
//! which inbound headers travel with it, and how its failures are told apart.
//! The Spin half that sends the request is [`crate::edge::client`].

use std::time::Duration;

/// Default per-call timeout; every call to another function has one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Inbound headers a call forwards: the caller's identity and the trace it belongs to.
pub const FORWARDED_HEADERS: [&str; 2] = ["authorization", "traceparent"];

/// What a relay passes on besides those: the request's own meaning (`Idempotency-Key` names
/// the purchase a relayed `POST /api/v1/orders` makes). A relayed request's `content-type`
/// travels with its body.
pub const RELAYED_HEADERS: [&str; 1] = ["idempotency-key"];

/// Service-chaining URL of `component` (Spin runs it in-process, private routes included).
pub fn component_url(component: &str, path: &str) -> String {
    let path = if path.starts_with('/') { path.to_owned() } else { format!("/{path}") };
    format!("http://{component}.spin.internal{path}")
}

/// The subset of `headers` that is forwarded, names lower-cased.
pub fn forwarded<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<(String, String)> {
    headers
        .into_iter()
        .filter(|(name, _)| FORWARDED_HEADERS.iter().any(|f| name.eq_ignore_ascii_case(f)))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.to_owned()))
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{component} did not answer within {timeout:?}")]
    Timeout { component: String, timeout: Duration },
    #[error("calling {component} failed: {reason}")]
    Transport { component: String, reason: String },
    /// The callee answered with a non-2xx status; its problem body is kept when it had one.
    #[error("{component} answered {status}")]
    Status { component: String, status: u16, problem: Option<crate::problem::Problem> },
    #[error("{component} sent a body that does not decode: {reason}")]
    Decode { component: String, reason: String },
}

/// A callee's answers that a caller treats as values rather than failures: a service contract
/// lists its refusals (a 409 "insufficient stock") as a type implementing this.
pub trait FromProblem: Sized {
    /// The refusal `problem` (with `status`) stands for, if it is one of the known ones.
    fn from_problem(status: u16, problem: &crate::problem::Problem) -> Option<Self>;
}

/// The outcome of a call whose callee may refuse with known problems `E`.
#[derive(Debug, thiserror::Error)]
pub enum CallError<E> {
    /// The callee said no, for a reason of its contract.
    #[error("{0}")]
    Refused(E),
    /// The call did not complete: a timeout, an outage, an unexpected answer.
    #[error(transparent)]
    Failed(ClientError),
}

/// Sorts a failed call: a known problem becomes a [`CallError::Refused`], anything else stays
/// a failure (a 502/504 to the caller's caller).
impl<E: FromProblem> From<ClientError> for CallError<E> {
    fn from(error: ClientError) -> Self {
        if let ClientError::Status { status, problem: Some(problem), .. } = &error {
            if let Some(refusal) = E::from_problem(*status, problem) {
                return CallError::Refused(refusal);
            }
        }
        CallError::Failed(error)
    }
}

impl ClientError {
    /// The callee answered 503: what it needs is down (its database, say), and so is what this
    /// request needs. The caller answers the same outage, not a failure of its own (502).
    fn unavailable(&self) -> bool {
        matches!(self, Self::Status { status: 503, .. })
    }
}

impl crate::problem::ApiError for ClientError {
    fn problem_row(&self) -> crate::problem::ProblemRow {
        match self {
            Self::Timeout { .. } => (504, "upstream-timeout", "A service did not answer in time"),
            _ if self.unavailable() => crate::problem::UNAVAILABLE,
            _ => (502, "upstream-failed", "A service failed"),
        }
    }
    /// Names the service (that is not a secret) but keeps its internals in the log.
    fn detail(&self) -> String {
        match self {
            Self::Timeout { component, .. } => format!("{component} did not answer in time; try again later"),
            Self::Transport { component, .. } | Self::Decode { component, .. } | Self::Status { component, .. } => {
                format!("{component} could not complete its part of this request; try again later")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_the_component_never_an_address() {
        assert_eq!(component_url("inventory-adjust", "/reserve"), "http://inventory-adjust.spin.internal/reserve");
        assert_eq!(component_url("payment", "charge"), "http://payment.spin.internal/charge");
    }

    #[test]
    fn failures_of_other_functions_are_5xx_without_internals() {
        use crate::problem::ApiError;
        let t = ClientError::Timeout { component: "inventory-adjust".into(), timeout: DEFAULT_TIMEOUT };
        assert_eq!(t.status(), 504);
        let e = ClientError::Transport { component: "inventory-adjust".into(), reason: "socket 10.0.0.1 refused".into() };
        assert_eq!(e.status(), 502);
        assert!(!e.detail().contains("10.0.0.1"));
    }

    #[test]
    fn a_callee_that_is_unavailable_makes_the_caller_unavailable() {
        use crate::problem::ApiError;
        let status = |status| ClientError::Status { component: "product-query".into(), status, problem: None };
        let down = status(503);
        assert_eq!((down.status(), down.kind()), (503, "unavailable"));
        assert!(down.detail().contains("product-query"));
        assert_eq!((status(500).status(), status(500).kind()), (502, "upstream-failed"));
    }

    #[test]
    fn only_authorization_and_traceparent_are_forwarded() {
        let got = forwarded([("Authorization", "Bearer t"), ("cookie", "c"), ("traceparent", "00-x"), ("host", "h")]);
        assert_eq!(
            got,
            vec![("authorization".into(), "Bearer t".into()), ("traceparent".into(), "00-x".into())]
        );
    }
}
