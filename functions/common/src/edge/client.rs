//! The typed client for calling other Galley functions over Spin service chaining.
//!
//! Every call has a deadline (the host's default outbound timeout is long), forwards the
//! caller's `authorization` and `traceparent`, and returns the callee's JSON decoded into the
//! type the caller expects, or a [`ClientError`] saying which of the ways it failed.

use std::time::Duration;

use serde::{de::DeserializeOwned, Serialize};
use spin_sdk::http::{IncomingRequest, Method, Request, Response};

use super::http::{read_bytes, RequestInfo};
use super::time::sleep;
use crate::body;
use crate::error::CommonError;
use crate::client::{component_url, forwarded, ClientError, DEFAULT_TIMEOUT};
use crate::problem::Problem;

pub struct Client {
    component: String,
    timeout: Duration,
    headers: Vec<(String, String)>,
}

impl Client {
    /// A client for `component`, carrying the identity and trace of the request being served.
    pub fn new(component: &str, inbound: &RequestInfo) -> Self {
        Self { component: component.into(), timeout: DEFAULT_TIMEOUT, headers: forwarded(inbound.headers()) }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// One more header on every call (lower-cased name).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call(Method::Get, path, None).await
    }

    pub async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T, ClientError> {
        self.call(Method::Post, path, Some(self.encode(body)?)).await
    }

    /// A `POST` with no body (an action on a resource, e.g. a release).
    pub async fn post_empty<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call(Method::Post, path, None).await
    }

    pub async fn put<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T, ClientError> {
        self.call(Method::Put, path, Some(self.encode(body)?)).await
    }

    pub async fn patch<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T, ClientError> {
        self.call(Method::Patch, path, Some(self.encode(body)?)).await
    }

    pub async fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call(Method::Delete, path, None).await
    }

    fn encode<B: Serialize>(&self, body: &B) -> Result<Vec<u8>, ClientError> {
        serde_json::to_vec(body).map_err(|e| ClientError::Transport { component: self.component.clone(), reason: e.to_string() })
    }

    /// Passes a request on as it came (method, body and its content type) and hands back the
    /// callee's answer unread, for a function that relays another's response to its own caller.
    async fn forward(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<Response, ClientError> {
        self.send(method, path, content_type, body).await
    }

    async fn call<T: DeserializeOwned>(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> Result<T, ClientError> {
        let content_type = body.is_some().then_some("application/json");
        let response = self.send(method, path, content_type, body.unwrap_or_default()).await?;
        let status = *response.status();
        if !(200..300).contains(&status) {
            let problem = serde_json::from_slice::<Problem>(response.body()).ok();
            return Err(ClientError::Status { component: self.component.clone(), status, problem });
        }
        serde_json::from_slice(response.body())
            .map_err(|e| ClientError::Decode { component: self.component.clone(), reason: e.to_string() })
    }

    /// Sends one request with this client's headers, giving up after its timeout.
    async fn send(&self, method: Method, path: &str, content_type: Option<&str>, body: Vec<u8>) -> Result<Response, ClientError> {
        let mut builder = Request::builder();
        builder.method(method).uri(component_url(&self.component, path));
        // The SDK's builder keeps one value per name: a repeated header goes as one field, its
        // values joined by ", " (RFC 9110 §5.3), so the callee still sees that it was repeated.
        let mut fields: Vec<(&str, String)> = Vec::new();
        for (name, value) in &self.headers {
            match fields.iter_mut().find(|(n, _)| n == name) {
                Some((_, joined)) => {
                    joined.push_str(", ");
                    joined.push_str(value);
                }
                None => fields.push((name.as_str(), value.clone())),
            }
        }
        for (name, value) in fields {
            builder.header(name, value);
        }
        if let Some(content_type) = content_type {
            builder.header("content-type", content_type);
        }
        let exchange = Box::pin(exchange(builder.body(body).build()));
        match futures::future::select(exchange, Box::pin(sleep(self.timeout))).await {
            futures::future::Either::Left((result, _)) => {
                result.map_err(|reason| ClientError::Transport { component: self.component.clone(), reason })
            }
            futures::future::Either::Right(_) => {
                Err(ClientError::Timeout { component: self.component.clone(), timeout: self.timeout })
            }
        }
    }
}

/// Sends `request` and returns the answer, writing the body while the answer is awaited.
///
/// Unlike `spin_sdk::http::send`, a body write that fails does not fail the call: a callee may
/// answer before reading the body (a 401 or a 415 decided from the head) and close it, and that
/// early answer is the answer. The write is abandoned as soon as the answer has arrived.
async fn exchange(request: Request) -> Result<Response, String> {
    use futures::SinkExt;
    use spin_sdk::http::conversions::TryIntoOutgoingRequest;

    let (outgoing, body) = request.try_into_outgoing_request().map_err(|e| e.to_string())?;
    let mut sink = outgoing.take_body();
    let answer = Box::pin(spin_sdk::http::send::<_, Response>(outgoing));
    let write = Box::pin(async move {
        let written = sink.send(body.unwrap_or_default()).await;
        // Dropping the sink finishes the body, so the callee sees its end.
        drop(sink);
        written
    });
    match futures::future::select(answer, write).await {
        futures::future::Either::Left((answer, _unfinished_write)) => answer.map_err(|e| e.to_string()),
        futures::future::Either::Right((written, answer)) => {
            if let Err(error) = written {
                // Expected when the callee answered without reading: its answer is still coming.
                eprintln!("client: request body not fully written ({error:?}); waiting for the answer");
            }
            answer.await.map_err(|e| e.to_string())
        }
    }
}

/// Passes the request being served on to `path` of `component` (method, body up to the
/// default limit, content type, identity and trace) and returns that function's answer
/// unchanged: for a public route whose work another function does.
pub async fn relay(req: IncomingRequest, info: &RequestInfo, component: &str, path: &str) -> Result<Response, CommonError> {
    relay_within(req, info, component, path, DEFAULT_TIMEOUT).await
}

/// [`relay`] with another deadline, for a callee that takes longer by design (a saga).
pub async fn relay_within(
    req: IncomingRequest,
    info: &RequestInfo,
    component: &str,
    path: &str,
    timeout: Duration,
) -> Result<Response, CommonError> {
    let method = req.method();
    let bytes = read_bytes(req, info, body::DEFAULT_LIMIT).await?;
    let mut client = Client::new(component, info).with_timeout(timeout);
    // Every value, as sent: the callee decides what a repeated header means.
    for name in crate::client::RELAYED_HEADERS {
        for value in info.header_values(name) {
            client = client.with_header(name, value);
        }
    }
    Ok(client.forward(method, path, info.header("content-type"), bytes).await?)
}
