//! What one client connection may hold: how many connections one address may keep open at
//! once, and how long a new connection may take to deliver its first complete request head.
//!
//! Both bound what a client costs before any request exists: without them, a client that
//! opens connections and never finishes a request head (slowloris) holds a socket, a task and
//! buffers for each, for as long as it likes.
//!
//! [`AnswerBadHeads`] also makes hyper's own answer to a first request head it cannot parse
//! (400, 414, 431, with an empty body) a problem+json one, as galley's other answers are.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};

use http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::http_trigger::problem::{problem_body, PROBLEM_JSON};

/// The connections each client address holds open, against one limit for all addresses.
pub struct ConnectionsPerAddress {
    limit: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One admitted connection; gives its place back when dropped (when the connection ends).
pub struct AddressSlot {
    table: Arc<ConnectionsPerAddress>,
    address: IpAddr,
}

impl ConnectionsPerAddress {
    pub fn new(limit: usize) -> Arc<ConnectionsPerAddress> {
        Arc::new(ConnectionsPerAddress { limit, open: Mutex::default() })
    }

    /// A place for one more connection from `address`, or `None` when it already holds the limit.
    pub fn admit(self: &Arc<Self>, address: IpAddr) -> Option<AddressSlot> {
        let mut open = self.open();
        let count = open.entry(address).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(AddressSlot { table: self.clone(), address })
    }

    fn open(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        // A counter update cannot be left half-done by a panic: recover the map.
        self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.table.open();
        if let Some(count) = open.get_mut(&self.address) {
            *count -= 1;
            // Forget addresses with nothing open, so the table stays as small as what is open.
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

/// Set by the connection's service when its first request head has arrived (over HTTP/1.1 or
/// as the first HTTP/2 stream), so the accept loop's deadline for it can stand down.
#[derive(Clone, Default)]
pub struct FirstRequest(Arc<AtomicBool>);

impl FirstRequest {
    pub fn arrived(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn has_arrived(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// The HTTP/2 connection preface: a connection that starts with it is not HTTP/1.1.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A client connection that answers a malformed first request head with problem+json.
///
/// hyper answers a request head it cannot parse (a NUL byte in a header, a head over the size
/// limit, a bad request line) with a fixed response of its own, an empty body, and offers no
/// way to change it. Over HTTP/1.1 nothing else is written on a connection before its first
/// request reaches the service, so a response hyper writes while [`FirstRequest`] is unset
/// can only be that fixed answer: this stream writes a problem+json one with the same status
/// in its place. A malformed head later on a keep-alive connection keeps hyper's answer: by
/// then the stream cannot tell hyper's answer from the tail of the previous response.
pub struct AnswerBadHeads<S> {
    inner: S,
    first_request: FirstRequest,
    /// The connection's first bytes, enough to tell HTTP/2 (which writes before any request).
    first_bytes: Vec<u8>,
    /// The answer written in place of hyper's, and how much of it has gone out.
    replacement: Option<(Vec<u8>, usize)>,
}

impl<S> AnswerBadHeads<S> {
    pub fn new(inner: S, first_request: FirstRequest) -> AnswerBadHeads<S> {
        AnswerBadHeads { inner, first_request, first_bytes: Vec::new(), replacement: None }
    }

    /// Whether `bytes`, about to be written, are hyper's answer to a malformed first head.
    fn is_hypers_answer(&self, bytes: &[u8]) -> bool {
        !self.first_request.has_arrived() && !self.first_bytes.starts_with(H2_PREFACE) && bytes.starts_with(b"HTTP/1.")
    }
}

/// The problem+json answer that replaces hyper's `HTTP/1.x <status> ...` head.
fn replacement_for(hypers_head: &[u8]) -> Vec<u8> {
    let status = hypers_head
        .get(9..12)
        .and_then(|code| StatusCode::from_bytes(code).ok())
        .unwrap_or(StatusCode::BAD_REQUEST);
    let detail = match status {
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "the request head is larger than this server accepts (64 KiB, at most 100 header fields)",
        StatusCode::URI_TOO_LONG => "the request target is longer than this server accepts",
        _ => "the request head is malformed: the request line or a header field is not valid HTTP/1.1 (a header value may not contain control characters such as NUL)",
    };
    let body = problem_body(status, detail, None);
    let mut answer = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: {PROBLEM_JSON}\r\nx-content-type-options: nosniff\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    )
    .into_bytes();
    answer.extend_from_slice(&body);
    answer
}

impl<S: AsyncWrite + Unpin> AnswerBadHeads<S> {
    /// Writes what is left of the replacement answer.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some((answer, written)) = &mut self.replacement {
            while *written < answer.len() {
                let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &answer[*written..]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                *written += n;
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for AnswerBadHeads<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        if self.first_bytes.len() < H2_PREFACE.len() {
            let wanted = H2_PREFACE.len() - self.first_bytes.len();
            let read = &buf.filled()[before..];
            let read = &read[..read.len().min(wanted)];
            self.first_bytes.extend_from_slice(read);
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for AnswerBadHeads<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.replacement.is_some() {
            // hyper's answer has no body; anything more of it is not sent either.
            return Poll::Ready(Ok(buf.len()));
        }
        if self.is_hypers_answer(buf) {
            self.replacement = Some((replacement_for(buf), 0));
            // hyper's bytes count as written; the replacement goes out now or at the flush.
            if let Poll::Ready(Err(error)) = self.poll_replacement(cx) {
                return Poll::Ready(Err(error));
            }
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_replacement(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_replacement(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_holds_at_most_the_limit_and_gets_places_back() {
        let table = ConnectionsPerAddress::new(2);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let first = table.admit(a).expect("first");
        let _second = table.admit(a).expect("second");
        assert!(table.admit(a).is_none(), "a third connection from the same address");
        assert!(table.admit(b).is_some(), "another address has its own count");
        drop(first);
        assert!(table.admit(a).is_some(), "a closed connection gives its place back");
    }

    #[test]
    fn hypers_empty_answer_becomes_problem_json_with_the_same_status() {
        let hypers = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let answer = String::from_utf8(replacement_for(hypers)).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "{head}");
        assert!(head.contains("content-type: application/problem+json") && head.contains("x-content-type-options: nosniff"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let problem: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(problem["status"], 431);
    }

    #[test]
    fn only_a_first_http1_answer_is_replaced() {
        let first = FirstRequest::default();
        let mut stream = AnswerBadHeads::new(Vec::<u8>::new(), first.clone());
        assert!(stream.is_hypers_answer(b"HTTP/1.1 400 Bad Request\r\n"));
        stream.first_bytes = H2_PREFACE.to_vec();
        assert!(!stream.is_hypers_answer(b"HTTP/1.1 400 Bad Request\r\n"), "an HTTP/2 connection");
        stream.first_bytes.clear();
        first.arrived();
        assert!(!stream.is_hypers_answer(b"HTTP/1.1 400 Bad Request\r\n"), "after the first request");
    }

    #[test]
    fn addresses_with_nothing_open_are_forgotten() {
        let table = ConnectionsPerAddress::new(1);
        let slot = table.admit("10.0.0.1".parse().unwrap()).unwrap();
        drop(slot);
        assert!(table.open().is_empty());
    }
}
