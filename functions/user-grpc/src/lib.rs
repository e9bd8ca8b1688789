//! user-grpc: `galley.user.v1.UserService` (api/proto/galley/user/v1/user.proto) over gRPC.
//!
//! gRPC over cleartext HTTP/2 (the host serves h2c with prior knowledge on the app's port):
//! one length-prefixed message each way, `content-type: application/grpc+proto`, HTTP 200, and
//! the outcome in the response trailers (`grpc-status`, percent-encoded `grpc-message`), for a
//! refused call too (headers, no message, trailers). gRPC-Web (`application/grpc-web+proto`) is served on the same route for HTTP/1.1 callers,
//! the status then in a trailers frame at the end of the body.
//!
//! The REST API's tokens and authorisation apply unchanged (`authorization: Bearer` metadata;
//! a user reads itself, an admin anyone, else NOT_FOUND). This edge reads the request and
//! writes the answer; framing, status and method rules are plain modules that test natively.

pub mod framing;
pub mod service;
pub mod status;

use galley_common::edge::endpoint;
use galley_common::edge::http::{read_bytes, RequestInfo};
use galley_common::edge::users_db;
use galley_common::error::CommonError;
use galley_common::method::Method;
use galley_common::problem::Problem;
use galley_common::user_proto::UserResponse;
use prost::Message;
use spin_sdk::http::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};
use spin_sdk::http_component;

use framing::Protocol;
use service::Rpc;
use status::Status;

#[http_component]
async fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
    let info = RequestInfo::of(&request);
    let answer = answer(request, &info).await;
    if let Err(error) = answer.send(response_out) {
        eprintln!("error sending the gRPC answer trace_id={}: {error}", info.trace_id.as_deref().unwrap_or("-"));
    }
}

/// What to send back.
enum Answer {
    /// Not a gRPC call at all: a plain HTTP status (405 wrong method, 415 not a gRPC body) with
    /// a problem+json body, as the REST API answers.
    NotGrpc { problem: Problem, headers: Vec<(String, Vec<u8>)> },
    /// A gRPC answer: the response message when the call succeeded, and its status.
    Grpc { protocol: Protocol, message: Option<Vec<u8>>, status: Status },
}

async fn answer(request: IncomingRequest, info: &RequestInfo) -> Answer {
    // gRPC is always POST (the spec lets a server refuse anything else with an HTTP status).
    if let Err(refused) = info.allow(&[Method::Post]) {
        let problem = Problem::from_error(&CommonError::from(refused)).with_trace_id(info.trace_id.clone());
        return Answer::NotGrpc { problem, headers: vec![("allow".into(), b"POST".to_vec())] };
    }
    let Some(protocol) = Protocol::of(info.header("content-type")) else {
        // What the gRPC spec asks of a server for a content type it does not speak.
        let detail = format!("a gRPC call is sent as {} (or application/grpc-web+proto)", Protocol::Grpc.content_type());
        let problem = Problem::new(415, "unsupported-media-type", "Unsupported media type", detail).with_trace_id(info.trace_id.clone());
        return Answer::NotGrpc { problem, headers: vec![("accept".into(), Protocol::Grpc.content_type().as_bytes().to_vec())] };
    };
    match call(request, info).await {
        Ok(message) => Answer::Grpc { protocol, message: Some(message), status: Status::ok() },
        Err(status) => Answer::Grpc { protocol, message: None, status },
    }
}

/// Runs the method the path names; the encoded response message, or the status to answer.
async fn call(request: IncomingRequest, info: &RequestInfo) -> Result<Vec<u8>, Status> {
    // An unknown method is refused before its body is read.
    let rpc = service::rpc(info.path())?;
    // The prefix and the message, nothing more.
    let body = read_bytes(request, info, framing::MAX_MESSAGE + framing::PREFIX).await.map_err(CommonError::from)?;
    let message = framing::unary_message(&body)?;
    match rpc {
        Rpc::GetUserInfo => get_user_info(info, message).map(|response| response.encode_to_vec()),
    }
}

/// `GetUserInfo`: who is asking first (UNAUTHENTICATED says nothing about ids), then which user,
/// then the same lookup as `GET /api/v1/users/:id`.
fn get_user_info(info: &RequestInfo, message: &[u8]) -> Result<UserResponse, Status> {
    let claims = endpoint::claims(info)?;
    let id = service::requested_user(message)?;
    let user = users_db::find_readable(&claims, &id)?.ok_or_else(service::not_found)?;
    Ok(service::user_response(user))
}

impl Answer {
    fn send(self, response_out: ResponseOutparam) -> Result<(), String> {
        let (status, mut headers, body, trailers) = match self {
            Answer::NotGrpc { problem, mut headers } => {
                headers.push(("content-type".into(), galley_common::problem::CONTENT_TYPE.as_bytes().to_vec()));
                (problem.status, headers, problem.to_json(), None)
            }
            Answer::Grpc { protocol, message, status } => {
                let mut headers = vec![
                    ("content-type".to_string(), protocol.content_type().as_bytes().to_vec()),
                    ("grpc-accept-encoding".to_string(), b"identity".to_vec()),
                ];
                match (protocol, message) {
                    // No message over HTTP/2: the headers, no data, then the status in trailers.
                    // Not "trailers-only" (the status in the headers): that form needs the
                    // headers to end the stream, and a wasi:http guest cannot ask for that: the
                    // host sends the head before it knows the body is empty, so the end comes
                    // as an empty DATA frame, which gRPC C-core (grpcio) refuses as UNKNOWN.
                    // Real trailers are sent as their own HEADERS frame that ends the stream by
                    // every host (galley, Spin), and every gRPC client reads them.
                    (Protocol::Grpc, None) => (200, headers, Vec::new(), Some(status.fields())),
                    // gRPC-Web has no HTTP trailers: with no message, the status goes in the
                    // headers of a response with an empty body (its trailers-only form).
                    (Protocol::GrpcWeb, None) => {
                        headers.extend(status.fields());
                        (200, headers, Vec::new(), None)
                    }
                    (Protocol::Grpc, Some(message)) => (200, headers, framing::frame(&message), Some(status.fields())),
                    (Protocol::GrpcWeb, Some(message)) => {
                        let mut body = framing::frame(&message);
                        body.extend(framing::web_trailers(&status));
                        (200, headers, body, None)
                    }
                }
            }
        };
        // No browser may guess another type than the one declared, as for every REST answer.
        headers.push(("x-content-type-options".into(), b"nosniff".to_vec()));
        send_response(response_out, status, &headers, &body, trailers)
    }
}

/// Writes a whole response through wasi:http, ending the body with `trailers` when given (the
/// SDK's buffered `Response` cannot carry trailers).
fn send_response(
    response_out: ResponseOutparam,
    status: u16,
    headers: &[(String, Vec<u8>)],
    body: &[u8],
    trailers: Option<Vec<(String, Vec<u8>)>>,
) -> Result<(), String> {
    let headers = Fields::from_list(headers).map_err(|e| format!("headers: {e:?}"))?;
    let response = OutgoingResponse::new(headers);
    response.set_status_code(status).map_err(|()| format!("status {status}"))?;
    let outgoing = response.body().map_err(|()| "the response body was taken".to_string())?;
    response_out.set(response);
    let stream = outgoing.write().map_err(|()| "the response body is not writable".to_string())?;
    // blocking-write-and-flush takes at most 4096 bytes a call.
    for piece in body.chunks(4096) {
        stream.blocking_write_and_flush(piece).map_err(|e| format!("writing the body: {e:?}"))?;
    }
    drop(stream);
    let trailers = trailers.map(|t| Fields::from_list(&t)).transpose().map_err(|e| format!("trailers: {e:?}"))?;
    OutgoingBody::finish(outgoing, trailers).map_err(|e| format!("finishing the body: {e:?}"))
}
