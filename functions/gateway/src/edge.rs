//! The Spin edge: the `/graphql` HTTP handler, and the [`Backend`] that reaches the owning
//! functions by service chaining. Nothing else in the crate calls the Spin host.

use std::sync::Arc;
use std::time::Instant;

use async_graphql::http::parse_query_string;
use futures::future::{BoxFuture, FutureExt};
use galley_common::auth::{self, AuthError};
use galley_common::body::{self, BodyError};
use galley_common::edge::client::Client;
use galley_common::edge::endpoint::verify_token;
use galley_common::edge::http::{read_bytes, RequestInfo};
use galley_common::edge::time::{next_turn, no_lost_wakeups};
use galley_common::error::CommonError;
use galley_common::method::Method;
use serde_json::json;
use spin_sdk::http::{IncomingRequest, Response};

use crate::downstream::{Backend, Failure};
use crate::{ide, limits};
use crate::schema::{self, Viewer};

/// Largest request body: a GraphQL document with its variables, not an upload.
const BODY_LIMIT: usize = 64 * 1024;

#[spin_sdk::http_component]
async fn handle(request: IncomingRequest) -> Response {
    let info = RequestInfo::of(&request);
    let result = serve(request, &info).await;
    info.respond(result)
}

/// Failures of the HTTP exchange itself (a method, a body, a token) are the shared
/// [`CommonError`]s; everything about the query is a GraphQL error in a 200.
async fn serve(request: IncomingRequest, info: &RequestInfo) -> Result<Response, CommonError> {
    info.allow(&[Method::Get, Method::Post])?;
    let graphql_request = if info.method == Method::Get {
        let asks_html = info.header("accept").is_some_and(|accept| accept.contains("text/html"));
        let has_query = galley_common::query::pairs(info.query()).any(|(key, _)| key == "query");
        if asks_html && !has_query {
            return Ok(ide());
        }
        match parse_query_string(info.query()) {
            Ok(request) => request,
            Err(e) => return Ok(request_error(info, 400, &format!("the query string is not a GraphQL request: {e}"))),
        }
    } else {
        if let Err(e) = body::check_content_type(info.header("content-type")) {
            return Ok(request_error(info, 415, &e.to_string()));
        }
        let bytes = match read_bytes(request, info, BODY_LIMIT).await {
            Ok(bytes) => bytes,
            Err(e) => return Ok(request_error(info, body_status(&e), &e.to_string())),
        };
        match serde_json::from_slice::<async_graphql::Request>(&bytes) {
            Ok(request) => request,
            Err(e) => return Ok(request_error(info, 400, &format!("the body is not a GraphQL request: {e}"))),
        }
    };
    // Bounded before async-graphql parses, validates or runs it (see `limits`): a refusal
    // here costs a linear scan, never the validation it would have caused.
    let graphql_request = match limits::admit(graphql_request) {
        Ok(request) => request,
        Err(refusal) => {
            eprintln!("gateway: refused before validation: {refusal} trace_id={}", info.trace_id.as_deref().unwrap_or("-"));
            return Ok(request_error(info, 400, &refusal.to_string()));
        }
    };
    let backend: Arc<dyn Backend> = Arc::new(Chained { info: Arc::new(info.clone()) });
    let viewer = viewer(info)?;
    // Order lines share their product batch (a `Shared` future): the line that completes it
    // wakes the others, a wake-up Spin's executor would drop.
    let response = no_lost_wakeups(schema::build().execute(schema::prepare(graphql_request, backend, viewer))).await;
    // A request refused before it ran (syntax, validation, depth, complexity) has no data: a
    // 400, as GraphQL over HTTP has it. Once it ran, errors sit beside the data: a 200.
    let status = if response.data == async_graphql::Value::Null && response.is_err() { 400 } else { 200 };
    Ok(graphql_response(info, status, serde_json::to_vec(&response).unwrap_or_default()))
}

/// Who the bearer token names, for `me`. The other fields pass the token on untouched.
fn viewer(info: &RequestInfo) -> Result<Viewer, CommonError> {
    let token = match auth::bearer_token(info.header("authorization")) {
        Ok(token) => token,
        Err(_) if info.header("authorization").is_none() => return Ok(Viewer::Anonymous),
        Err(_) => return Ok(Viewer::Rejected),
    };
    match verify_token(token) {
        Ok(claims) => Ok(claims.user_id().map_or(Viewer::Rejected, Viewer::User)),
        // A bad token is an anonymous-looking viewer; a misconfigured secret is our fault.
        Err(CommonError::Auth(error)) if error != AuthError::BadSecret => Ok(Viewer::Rejected),
        Err(other) => Err(other),
    }
}

fn body_status(error: &BodyError) -> u16 {
    use galley_common::problem::ApiError;
    error.status()
}

/// The GraphiQL IDE: its assets pinned by integrity hashes, and a policy that allows only them.
fn ide() -> Response {
    Response::builder()
        .status(200)
        .header("content-type", "text/html; charset=utf-8")
        .header("content-security-policy", ide::content_security_policy())
        .header("x-content-type-options", "nosniff")
        .body(ide::PAGE)
        .build()
}

/// A request that is not a GraphQL request at all, answered in GraphQL's error shape.
fn request_error(info: &RequestInfo, status: u16, message: &str) -> Response {
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": "BAD_REQUEST" } }] });
    graphql_response(info, status, serde_json::to_vec(&body).unwrap_or_default())
}

/// A GraphQL response, in the media type the client accepts (`application/graphql-response+json`
/// when it names it, `application/json` otherwise).
fn graphql_response(info: &RequestInfo, status: u16, body: Vec<u8>) -> Response {
    let modern = info.header("accept").is_some_and(|accept| accept.contains("application/graphql-response+json"));
    let content_type = if modern { "application/graphql-response+json" } else { "application/json" };
    Response::builder().status(status).header("content-type", content_type).body(body).build()
}

/// The owning functions over service chaining, with the caller's `authorization` and
/// `traceparent`. Each call logs one line (`gateway: call …`), so the calls one request made
/// can be counted by its trace id.
struct Chained {
    info: Arc<RequestInfo>,
}

impl Backend for Chained {
    fn get(&self, component: &'static str, path: String) -> BoxFuture<'static, Result<serde_json::Value, Failure>> {
        let info = self.info.clone();
        SingleThreaded(async move {
            let started = Instant::now();
            let result = Client::new(component, &info).get::<serde_json::Value>(&path).await;
            let outcome = match &result {
                Ok(_) => "ok".to_owned(),
                Err(e) => e.to_string(),
            };
            eprintln!(
                "gateway: call GET {component}{path} -> {outcome} in {} ms trace_id={}",
                started.elapsed().as_millis(),
                info.trace_id.as_deref().unwrap_or("-")
            );
            result.map_err(Failure::from)
        })
        .boxed()
    }

    fn next_turn(&self) -> BoxFuture<'static, ()> {
        next_turn().boxed()
    }
}

/// A future of the Spin SDK's outbound HTTP, which async-graphql's `Send` bounds refuse (it
/// holds an `Rc` to the request body). A wasm32-wasip2 component has exactly one thread, so
/// nothing it holds can ever be sent to another.
struct SingleThreaded<F>(F);

// SAFETY: the component runs on one thread (wasm32-wasip2 has no threads); the future is
// created, polled and dropped there.
unsafe impl<F> Send for SingleThreaded<F> {}

impl<F: std::future::Future> std::future::Future for SingleThreaded<F> {
    type Output = F::Output;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<F::Output> {
        // SAFETY: structural pinning; the inner future is never moved out of `self`.
        unsafe { self.map_unchecked_mut(|s| &mut s.0) }.poll(cx)
    }
}
