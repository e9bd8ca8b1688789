//! What the schema needs from the functions that own the data, and how their failures read
//! in GraphQL.
//!
//! Resolvers never talk to Spin: they ask a [`Backend`] for a path of a component. The Spin
//! edge implements it with service chaining (forwarding the caller's `authorization` and
//! `traceparent`); unit tests implement it with canned answers. A failed call becomes a
//! [`Failure`]: a GraphQL error on the field that needed it, with `extensions.code`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use futures::future::{BoxFuture, FutureExt, Shared};
use galley_common::client::ClientError;
use serde::de::DeserializeOwned;

/// The owning functions the gateway reads from (their service-chaining host names).
pub const USERS: &str = "user-lookup";
pub const ORDERS: &str = "order-query";
pub const CATALOG: &str = "product-admin";

/// Reads from the owning functions. Each call carries the caller's identity, so every answer
/// is what the caller could have read from the REST API directly, and nothing more.
pub trait Backend: Send + Sync {
    /// `GET path` of `component`: its JSON body on a 2xx, the failure otherwise.
    fn get(&self, component: &'static str, path: String) -> BoxFuture<'static, Result<serde_json::Value, Failure>>;

    /// Ready once every resolver that can run now has run: the window in which the product
    /// loader collects the ids it then reads in one batch.
    fn next_turn(&self) -> BoxFuture<'static, ()>;
}

/// The backend as the schema holds it (in the request's data).
pub type SharedBackend = Arc<dyn Backend>;

/// Most distinct calls one request may make, whatever it asks: [`crate::limits`] refuses a
/// document that would make more before it runs; this is the bound that holds even where that
/// count is an estimate (an order page whose lines name more than one batch of products).
pub const MAX_CALLS: usize = crate::limits::MAX_CALLS;

/// A [`Backend`] for one request that makes each distinct call once: a second `GET` of the
/// same path (`me` under two aliases, the same `user` twice) shares the first one's answer,
/// and a call past [`MAX_CALLS`] distinct ones is refused without being made.
pub struct Memoised {
    inner: SharedBackend,
    calls: Mutex<HashMap<(&'static str, String), Shared<BoxFuture<'static, Result<serde_json::Value, Failure>>>>>,
}

impl Memoised {
    pub fn new(inner: SharedBackend) -> Memoised {
        Memoised { inner, calls: Mutex::new(HashMap::new()) }
    }
}

impl Backend for Memoised {
    fn get(&self, component: &'static str, path: String) -> BoxFuture<'static, Result<serde_json::Value, Failure>> {
        let mut calls = lock(&self.calls);
        if let Some(call) = calls.get(&(component, path.clone())) {
            return call.clone().boxed();
        }
        if calls.len() >= MAX_CALLS {
            let refusal = Failure::new(Code::BadUserInput, format!("the request needs more than {MAX_CALLS} calls to the services behind the gateway; ask for less in one request"));
            return futures::future::ready(Err(refusal)).boxed();
        }
        let call = self.inner.get(component, path.clone()).shared();
        calls.insert((component, path), call.clone());
        call.boxed()
    }

    fn next_turn(&self) -> BoxFuture<'static, ()> {
        self.inner.next_turn()
    }
}

/// A poisoned lock only means another resolver panicked; the map it guards is still whole.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// `extensions.code` of a field that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    NotFound,
    Unauthenticated,
    Forbidden,
    BadUserInput,
    /// The owning function failed, timed out or could not be reached: worth retrying later.
    Unavailable,
    /// The owning function answered something the gateway does not understand: a bug.
    Internal,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::NotFound => "NOT_FOUND",
            Code::Unauthenticated => "UNAUTHENTICATED",
            Code::Forbidden => "FORBIDDEN",
            Code::BadUserInput => "BAD_USER_INPUT",
            Code::Unavailable => "UNAVAILABLE",
            Code::Internal => "INTERNAL_SERVER_ERROR",
        }
    }

    /// The code for an HTTP status an owning function answered.
    pub fn of_status(status: u16) -> Code {
        match status {
            400 | 422 => Code::BadUserInput,
            401 => Code::Unauthenticated,
            403 => Code::Forbidden,
            404 => Code::NotFound,
            502..=504 => Code::Unavailable,
            _ => Code::Internal,
        }
    }
}

/// A field that could not be resolved. Cloneable: one failed batch read is the error of every
/// field that waited on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub code: Code,
    /// What the caller may read: the owning function's problem detail for a 4xx, never the
    /// internals of an outage (those go to the log).
    pub message: String,
    /// The owning function, when one was called.
    pub service: Option<String>,
    /// Its HTTP status, when it answered.
    pub status: Option<u16>,
}

impl Failure {
    /// A refusal decided by the gateway itself, before any call (a malformed id, no token).
    pub fn new(code: Code, message: impl Into<String>) -> Failure {
        Failure { code, message: message.into(), service: None, status: None }
    }

    /// The GraphQL error for this failure, with `extensions.code` (and the service and its
    /// status, when there was one).
    pub fn to_graphql(&self) -> async_graphql::Error {
        let mut error = async_graphql::Error::new(self.message.clone());
        let mut extensions = async_graphql::ErrorExtensionValues::default();
        extensions.set("code", self.code.as_str());
        if let Some(service) = &self.service {
            extensions.set("service", service.as_str());
        }
        if let Some(status) = self.status {
            extensions.set("status", status);
        }
        error.extensions = Some(extensions);
        error
    }
}

impl From<ClientError> for Failure {
    fn from(error: ClientError) -> Failure {
        match error {
            ClientError::Status { component, status, problem } => {
                let code = Code::of_status(status);
                // A 4xx detail is written for the caller; a 5xx one is generic anyway, but
                // the gateway says the same thing for every outage.
                let message = match (&problem, status) {
                    (Some(problem), 400..=499) => problem.detail.clone(),
                    _ => format!("{component} could not answer; try again later"),
                };
                Failure { code, message, service: Some(component), status: Some(status) }
            }
            ClientError::Timeout { component, .. } | ClientError::Transport { component, .. } => Failure {
                code: Code::Unavailable,
                message: format!("{component} could not answer; try again later"),
                service: Some(component),
                status: None,
            },
            ClientError::Decode { component, reason } => {
                eprintln!("gateway: {component} sent a body that does not decode: {reason}");
                Failure {
                    code: Code::Internal,
                    message: format!("{component} answered something the gateway does not understand"),
                    service: Some(component),
                    status: None,
                }
            }
        }
    }
}

/// Decodes an owning function's JSON into the schema's type; a mismatch is a bug between
/// contracts, reported as [`Code::Internal`] on the field.
pub fn decode<T: DeserializeOwned>(component: &str, value: serde_json::Value) -> Result<T, Failure> {
    serde_json::from_value(value)
        .map_err(|e| Failure::from(ClientError::Decode { component: component.to_owned(), reason: e.to_string() }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use galley_common::problem::Problem;

    #[test]
    fn statuses_map_to_codes() {
        assert_eq!(Code::of_status(404), Code::NotFound);
        assert_eq!(Code::of_status(401), Code::Unauthenticated);
        assert_eq!(Code::of_status(403), Code::Forbidden);
        assert_eq!(Code::of_status(400), Code::BadUserInput);
        assert_eq!(Code::of_status(422), Code::BadUserInput);
        assert_eq!(Code::of_status(503), Code::Unavailable);
        assert_eq!(Code::of_status(500), Code::Internal);
    }

    #[test]
    fn a_refusal_keeps_the_owners_detail_an_outage_does_not() {
        let problem = Problem::new(404, "not-found", "Not found", "no such order");
        let refused = Failure::from(ClientError::Status { component: "order-query".into(), status: 404, problem: Some(problem) });
        assert_eq!((refused.code, refused.message.as_str(), refused.status), (Code::NotFound, "no such order", Some(404)));
        let outage = Failure::from(ClientError::Transport { component: "order-query".into(), reason: "10.0.0.1 refused".into() });
        assert_eq!(outage.code, Code::Unavailable);
        assert!(!outage.message.contains("10.0.0.1"));
    }

    #[test]
    fn the_graphql_error_carries_the_code() {
        let error = Failure::new(Code::Unauthenticated, "a bearer token is required").to_graphql();
        let extensions = serde_json::to_value(error.extensions).unwrap();
        assert_eq!(extensions["code"], "UNAUTHENTICATED");
    }
}
