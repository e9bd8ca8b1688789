//! Reading requests and writing responses: bounded JSON bodies, problem+json, trace ids.

use serde::{de::DeserializeOwned, Serialize};
use spin_sdk::http::{IncomingRequest, Response};

use crate::body::{self, BodyError};
use crate::error::MethodNotAllowed;
use crate::method::{allow_list, Method};
use crate::problem::{self, ApiError, Problem};

/// What a handler needs from the request head once the body has been taken.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    /// The method the handler serves: `GET` for a `HEAD` request, which is answered as a `GET`
    /// whose body is then left out (RFC 9110 §9.3.2).
    pub method: Method,
    /// Whether the client sent `HEAD`.
    head: bool,
    pub trace_id: Option<String>,
    headers: Vec<(String, String)>,
    /// The raw path and query, as the component received it (through service chaining too,
    /// where no route parameters are matched).
    path_with_query: String,
}

impl RequestInfo {
    pub fn of(req: &IncomingRequest) -> Self {
        let headers: Vec<(String, String)> = req
            .headers()
            .entries()
            .into_iter()
            .filter_map(|(n, v)| String::from_utf8(v).ok().map(|v| (n.to_ascii_lowercase(), v)))
            .collect();
        let trace_id = headers
            .iter()
            .find(|(n, _)| n == "traceparent")
            .and_then(|(_, v)| problem::trace_id_from_traceparent(v));
        let path_with_query = req.path_with_query().unwrap_or_default();
        let name = req.method().to_string();
        let head = name == "HEAD";
        Self { method: Method::parse(&name), head, trace_id, headers, path_with_query }
    }

    /// Whether the client sent `HEAD` (served as `GET`, whose body the kit then leaves out): a
    /// handler may skip producing a body nobody reads, and must not declare a
    /// `content-length` it will not write.
    pub fn is_head(&self) -> bool {
        self.head
    }

    /// The path without the query string.
    pub fn path(&self) -> &str {
        self.path_with_query.split_once('?').map_or(self.path_with_query.as_str(), |(path, _)| path)
    }

    /// The raw query string (empty when there is none).
    pub fn query(&self) -> &str {
        self.path_with_query.split_once('?').map_or("", |(_, query)| query)
    }

    /// First value of a header (name is case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    /// Every value of a header, in the order sent (name is case-insensitive).
    pub fn header_values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        let name = name.to_ascii_lowercase();
        self.headers.iter().filter(move |(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// `405` unless the method is one of `allowed` (`HEAD` goes wherever `GET` does).
    pub fn allow(&self, allowed: &[Method]) -> Result<(), MethodNotAllowed> {
        if allowed.contains(&self.method) {
            Ok(())
        } else {
            let method = if self.head { "HEAD".to_owned() } else { self.method.to_string() };
            Err(MethodNotAllowed { method, allowed: allow_list(allowed) })
        }
    }

    /// The handler's response, or the problem+json for its error: every component's last step.
    /// A `HEAD` request gets the head of what `GET` would answer.
    pub fn respond<E: ApiError>(&self, result: Result<Response, E>) -> Response {
        let mut response = result.unwrap_or_else(|err| self.problem(&err));
        // No browser may guess a type other than the one declared (a JSON body sniffed as HTML).
        response.set_header("x-content-type-options", "nosniff");
        if self.head {
            without_body(response)
        } else {
            response
        }
    }

    /// A problem+json response for `err`, tagged with this request's trace id.
    pub fn problem(&self, err: &dyn ApiError) -> Response {
        let problem = Problem::from_error(err).with_trace_id(self.trace_id.clone());
        if problem.status >= 500 {
            // The full error (never a password or hash: those are not in any error) goes to the
            // log; the caller gets the generic detail.
            eprintln!("error status={} trace_id={} {err}", problem.status, self.trace_id.as_deref().unwrap_or("-"));
        }
        let mut builder = Response::builder();
        builder.status(problem.status).header("content-type", problem::CONTENT_TYPE);
        if problem.status == 401 {
            builder.header("www-authenticate", "Bearer");
        }
        if let Some(allow) = err.allow() {
            builder.header("allow", allow);
        }
        if let Some(secs) = err.retry_after() {
            builder.header("retry-after", secs.to_string());
        } else if problem.status == 503 {
            // An outage is worth retrying, after a pause rather than at once.
            builder.header("retry-after", RETRY_AFTER_SECS);
        }
        builder.body(problem.to_json()).build()
    }
}

/// What a 503 asks a client to wait before trying again, in seconds.
pub const RETRY_AFTER_SECS: &str = "5";

/// The same status and headers with no body. (No `content-length` of the `GET` body is
/// claimed: wasi:http checks a declared length against the bytes actually written.)
fn without_body(mut response: Response) -> Response {
    response.body_mut().clear();
    response
}

/// Reads and parses a JSON body, refusing it as soon as it is known to exceed `limit` bytes:
/// first by its declared `content-length`, then while streaming, so an oversized body is never
/// held in memory whole.
pub async fn read_json<T: DeserializeOwned>(req: IncomingRequest, info: &RequestInfo, limit: usize) -> Result<T, BodyError> {
    body::check_content_type(info.header("content-type"))?;
    let bytes = read_bytes(req, info, limit).await?;
    body::parse_json(&bytes, limit)
}

/// Reads the whole body as bytes, with the same early refusal of oversized bodies as [`read_json`].
pub async fn read_bytes(req: IncomingRequest, info: &RequestInfo, limit: usize) -> Result<Vec<u8>, BodyError> {
    use futures::StreamExt;
    body::check_declared_length(info.header("content-length"), limit)?;
    let mut stream = Box::pin(paced(req.into_body_stream().map(|chunk| chunk.map_err(|_| BodyError::Unreadable)), info));
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if bytes.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// `body`, held to [`body::PACE`]: each next chunk is awaited only as long as the body can
/// still keep pace, then the stream ends with [`BodyError::TooSlow`] (a 408). The wait races
/// the clock, so a body that stalls altogether is refused on time too.
pub fn paced<S>(body: S, info: &RequestInfo) -> impl futures::Stream<Item = Result<Vec<u8>, BodyError>> + Send + 'static
where
    S: futures::Stream<Item = Result<Vec<u8>, BodyError>> + Send + 'static,
{
    use futures::future::{select, Either};
    use futures::StreamExt;
    let declared = info.header("content-length").and_then(|v| v.trim().parse::<u64>().ok());
    let started = std::time::Instant::now();
    // (stream, bytes received, ended)
    futures::stream::unfold((Box::pin(body), 0u64, false), move |(mut body, received, ended)| async move {
        if ended {
            return None;
        }
        let allowance = match body::PACE.allowance(started.elapsed(), received, declared) {
            Ok(allowance) => allowance,
            Err(too_slow) => return Some((Err(too_slow), (body, received, true))),
        };
        match select(body.next(), crate::edge::time::sleep(allowance)).await {
            Either::Left((Some(Ok(chunk)), _)) => {
                let received = received + chunk.len() as u64;
                Some((Ok(chunk), (body, received, false)))
            }
            Either::Left((Some(Err(e)), _)) => Some((Err(e), (body, received, true))),
            Either::Left((None, _)) => None,
            Either::Right(((), _)) => Some((Err(BodyError::TooSlow), (body, received, true))),
        }
    })
}

/// A JSON response with `status`.
pub fn json<T: Serialize>(status: u16, value: &T) -> Response {
    // Plain data structs always serialise; an empty body would still be a visible bug.
    let body = serde_json::to_vec(value).unwrap_or_default();
    Response::builder().status(status).header("content-type", "application/json").body(body).build()
}
