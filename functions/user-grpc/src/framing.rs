//! gRPC message framing: each message is a 1-byte compressed flag, a 4-byte big-endian length
//! and the message bytes (gRPC over HTTP/2, "Length-Prefixed-Message"). gRPC-Web frames its
//! trailers the same way, flag `0x80`, at the end of the body.

use crate::status::{Code, Status};

/// The largest request message accepted. A `UserRequest` is about 40 bytes; gRPC's own
/// default limit is 4 MiB, but nothing here needs more than this.
pub const MAX_MESSAGE: usize = 16 * 1024;

/// The compressed flag and the length before each message.
pub const PREFIX: usize = 5;
const UNCOMPRESSED: u8 = 0;
const COMPRESSED: u8 = 1;
const WEB_TRAILERS: u8 = 0x80;

/// Which wire protocol the caller speaks, from its `content-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `application/grpc[+proto]`: status in HTTP trailers (HTTP/2).
    Grpc,
    /// `application/grpc-web[+proto]`: status in a trailers frame in the body (any HTTP).
    GrpcWeb,
}

impl Protocol {
    /// `None` for anything else (JSON codecs, base64 `grpc-web-text`, not gRPC at all).
    pub fn of(content_type: Option<&str>) -> Option<Protocol> {
        let essence = content_type?.split(';').next()?.trim().to_ascii_lowercase();
        match essence.as_str() {
            "application/grpc" | "application/grpc+proto" => Some(Protocol::Grpc),
            "application/grpc-web" | "application/grpc-web+proto" => Some(Protocol::GrpcWeb),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Protocol::Grpc => "application/grpc+proto",
            Protocol::GrpcWeb => "application/grpc-web+proto",
        }
    }
}

/// The one message of a unary request body. Anything but exactly one uncompressed,
/// length-prefixed message is refused.
pub fn unary_message(body: &[u8]) -> Result<&[u8], Status> {
    let malformed = |what: &str| Status::new(Code::InvalidArgument, format!("the request body must be one length-prefixed message: {what}"));
    let Some((&flag, rest)) = body.split_first() else {
        return Err(malformed("it is empty"));
    };
    let length: [u8; 4] = rest.get(..4).and_then(|b| b.try_into().ok()).ok_or_else(|| malformed("the prefix is cut short"))?;
    let length = u32::from_be_bytes(length) as usize;
    match flag {
        UNCOMPRESSED => {}
        // Nothing but `identity` is offered (grpc-accept-encoding), so a compressed message is
        // a feature this server does not have.
        COMPRESSED => return Err(Status::new(Code::Unimplemented, "compressed messages are not supported; send grpc-encoding identity")),
        other => return Err(malformed(&format!("unknown flag {other:#04x}"))),
    }
    if length > MAX_MESSAGE {
        return Err(Status::new(Code::ResourceExhausted, format!("the message is larger than {MAX_MESSAGE} bytes")));
    }
    match body.len().checked_sub(PREFIX) {
        Some(n) if n == length => Ok(&body[PREFIX..]),
        Some(n) if n < length => Err(malformed("it ends before the length its prefix declares")),
        _ => Err(malformed("there are bytes after the message (a unary call sends one)")),
    }
}

/// `message` with its prefix, uncompressed.
pub fn frame(message: &[u8]) -> Vec<u8> {
    prefixed(UNCOMPRESSED, message)
}

/// gRPC-Web's trailers frame: the status as `name: value` lines in the body.
pub fn web_trailers(status: &Status) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in status.fields() {
        block.extend_from_slice(name.as_bytes());
        block.extend_from_slice(b": ");
        block.extend_from_slice(&value);
        block.extend_from_slice(b"\r\n");
    }
    prefixed(WEB_TRAILERS, &block)
}

fn prefixed(flag: u8, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(PREFIX + bytes.len());
    out.push(flag);
    // A response message is far below 4 GiB; the length cannot overflow.
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_framed_message_reads_back() {
        let framed = frame(b"hello");
        assert_eq!(framed, [0, 0, 0, 0, 5, b'h', b'e', b'l', b'l', b'o']);
        assert_eq!(unary_message(&framed), Ok(&b"hello"[..]));
        assert_eq!(unary_message(&frame(b"")), Ok(&b""[..]), "an empty message is a valid message (all defaults)");
    }

    #[test]
    fn malformed_bodies_are_invalid_arguments() {
        let code = |body: &[u8]| unary_message(body).map(<[u8]>::len).map_err(|s| s.code);
        assert_eq!(code(b""), Err(Code::InvalidArgument), "empty");
        assert_eq!(code(&[0, 0, 0]), Err(Code::InvalidArgument), "prefix cut short");
        assert_eq!(code(&[0, 0, 0, 0, 9, 1, 2]), Err(Code::InvalidArgument), "message cut short");
        let mut two = frame(b"a");
        two.extend(frame(b"b"));
        assert_eq!(code(&two), Err(Code::InvalidArgument), "two messages in a unary call");
        assert_eq!(code(&[7, 0, 0, 0, 0]), Err(Code::InvalidArgument), "unknown flag");
    }

    #[test]
    fn compression_is_unimplemented_and_huge_messages_exhaust() {
        assert_eq!(unary_message(&[1, 0, 0, 0, 1, 0]).map_err(|s| s.code), Err(Code::Unimplemented));
        let huge = ((MAX_MESSAGE + 1) as u32).to_be_bytes();
        let body = [&[0u8][..], &huge[..]].concat();
        assert_eq!(unary_message(&body).map_err(|s| s.code), Err(Code::ResourceExhausted), "refused from the prefix alone");
    }

    #[test]
    fn protocols_by_content_type() {
        assert_eq!(Protocol::of(Some("application/grpc")), Some(Protocol::Grpc));
        assert_eq!(Protocol::of(Some("Application/gRPC+proto; charset=x")), Some(Protocol::Grpc));
        assert_eq!(Protocol::of(Some("application/grpc-web+proto")), Some(Protocol::GrpcWeb));
        assert_eq!(Protocol::of(Some("application/grpc+json")), None);
        assert_eq!(Protocol::of(Some("application/grpc-web-text")), None);
        assert_eq!(Protocol::of(Some("application/json")), None);
        assert_eq!(Protocol::of(None), None);
    }

    #[test]
    fn web_trailers_frame_the_status_lines() {
        let trailers = web_trailers(&Status::new(Code::NotFound, "no such user"));
        let block = b"grpc-status: 5\r\ngrpc-message: no such user\r\n";
        assert_eq!(trailers[0], 0x80);
        assert_eq!(&trailers[1..5], &(block.len() as u32).to_be_bytes());
        assert_eq!(&trailers[5..], block);
    }
}
