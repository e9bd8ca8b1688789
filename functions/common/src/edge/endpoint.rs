//! The endpoint kit: what every component's `lib.rs` would otherwise repeat.
//!
//! A component declares its handler with [`http_endpoint!`](crate::http_endpoint) and writes
//! one `async fn serve(req: Request) -> Result<Response, TheEndpointsError>`: its routes and its
//! calls to the domain. The kit reads the request head, renders the error as problem+json with
//! the trace id, answers `HEAD` as `GET` without the body, and gives the handler its identity
//! ([`Request::claims`], [`Request::require_admin`], which read `auth_secret` themselves), its
//! body ([`Request::json`]), its database ([`database`]) and the other functions
//! ([`Request::call`], [`Request::relay`]).

use std::future::Future;
use std::ops::Deref;

use serde::de::DeserializeOwned;
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::pg4::Connection;

use super::client::{self, Client};
use super::http::{read_json, RequestInfo};
use super::{pg, variable};
use crate::auth::{self, Claims};
use crate::body::{self, BodyError};
use crate::error::CommonError;
use crate::problem::ApiError;

/// Declares `$serve` as the component's HTTP handler (the `wasi:http` export Spin calls).
///
/// ```ignore
/// galley_common::http_endpoint!(serve);
///
/// async fn serve(req: Request) -> Result<Response, MyError> { ... }
/// ```
#[macro_export]
macro_rules! http_endpoint {
    ($serve:path) => {
        #[::spin_sdk::http_component]
        async fn handle(request: ::spin_sdk::http::IncomingRequest) -> ::spin_sdk::http::Response {
            $crate::edge::endpoint::run(request, $serve).await
        }
    };
}

/// Runs a handler on one request and renders its outcome.
pub async fn run<H, F, E>(incoming: IncomingRequest, handler: H) -> Response
where
    H: FnOnce(Request) -> F,
    F: Future<Output = Result<Response, E>>,
    E: ApiError,
{
    let info = RequestInfo::of(&incoming);
    let request = Request { info: info.clone(), body: Some(incoming) };
    info.respond(handler(request).await)
}

/// The request being served: its head (through `Deref` to [`RequestInfo`]) and its body,
/// which can be taken once.
pub struct Request {
    info: RequestInfo,
    body: Option<IncomingRequest>,
}

impl Deref for Request {
    type Target = RequestInfo;

    fn deref(&self) -> &RequestInfo {
        &self.info
    }
}

impl Request {
    pub fn info(&self) -> &RequestInfo {
        &self.info
    }

    /// The JSON body (at most [`body::DEFAULT_LIMIT`] bytes), parsed into `T`.
    pub async fn json<T: DeserializeOwned>(&mut self) -> Result<T, BodyError> {
        read_json(self.take_body()?, &self.info, body::DEFAULT_LIMIT).await
    }

    /// The raw body, chunk by chunk as it arrives, for an endpoint whose body is not JSON (a
    /// file upload parses and bounds it itself, without holding more than it needs). Taken
    /// once. A chunk that cannot be read (the client closed early, or stopped sending for
    /// galley's body idle timeout) is [`BodyError::Unreadable`], a 400; a body that falls behind
    /// [`crate::body::PACE`] is [`BodyError::TooSlow`], a 408.
    pub fn body_stream(&mut self) -> Result<impl futures::Stream<Item = Result<Vec<u8>, BodyError>> + Send + 'static, BodyError> {
        use futures::StreamExt;
        let body = self.take_body()?.into_body_stream().map(|chunk| chunk.map_err(|_| BodyError::Unreadable));
        Ok(crate::edge::http::paced(body, &self.info))
    }

    /// Passes this request (method, body, content type, identity, trace) on to `path` of
    /// `component` and returns that function's answer unchanged.
    pub async fn relay(&mut self, component: &str, path: &str) -> Result<Response, CommonError> {
        client::relay(self.take_body()?, &self.info, component, path).await
    }

    /// [`Request::relay`] with another deadline, for a callee that takes longer by design.
    pub async fn relay_within(&mut self, component: &str, path: &str, timeout: std::time::Duration) -> Result<Response, CommonError> {
        client::relay_within(self.take_body()?, &self.info, component, path, timeout).await
    }

    /// A client for another function, carrying this request's identity and trace.
    pub fn call(&self, component: &str) -> Client {
        Client::new(component, &self.info)
    }

    /// The claims of the request's valid bearer token: 401 without one.
    pub fn claims(&self) -> Result<Claims, CommonError> {
        claims(&self.info)
    }

    /// The claims of a valid admin token: 401 without a valid token, 403 with another's.
    pub fn require_admin(&self) -> Result<Claims, CommonError> {
        Ok(auth::require_admin(self.header("authorization"), &TokenSecrets::load()?.keys())?)
    }

    fn take_body(&mut self) -> Result<IncomingRequest, BodyError> {
        // Taken twice would be a bug in the handler; it reads as an unreadable body.
        self.body.take().ok_or(BodyError::Unreadable)
    }
}

/// The claims of a request head's valid bearer token (`authorization`): 401 without one. For
/// handlers outside the kit (gRPC), which read the same tokens.
pub fn claims(info: &RequestInfo) -> Result<Claims, CommonError> {
    verify_token(auth::bearer_token(info.header("authorization"))?)
}

/// The signing key for bearer tokens, from the component's `auth_secret` variable.
pub fn auth_secret() -> Result<String, CommonError> {
    Ok(variable("auth_secret")?)
}

/// The claims of a bearer token, checked with `auth_secret` and, during a key rotation,
/// `auth_secret_previous`.
pub fn verify_token(token: &str) -> Result<Claims, CommonError> {
    Ok(auth::verify_with(token, &TokenSecrets::load()?.keys())?)
}

/// `auth_secret`, and `auth_secret_previous` when set and non-empty (a component that does not
/// declare it simply has no previous key).
struct TokenSecrets {
    current: String,
    previous: Option<String>,
}

impl TokenSecrets {
    fn load() -> Result<TokenSecrets, CommonError> {
        let previous = variable("auth_secret_previous").ok().filter(|s| !s.trim().is_empty());
        Ok(TokenSecrets { current: auth_secret()?, previous })
    }

    fn keys(&self) -> auth::VerifyingKeys<'_> {
        auth::VerifyingKeys { current: self.current.as_bytes(), previous: self.previous.as_deref().map(str::as_bytes) }
    }
}

/// A connection to the component's own database (its `db_url` variable).
pub fn database() -> Result<Connection, CommonError> {
    Ok(pg::connect(&variable("db_url")?)?)
}
