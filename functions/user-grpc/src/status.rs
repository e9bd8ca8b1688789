//! gRPC status: the codes this service answers and how a status travels, as `grpc-status`
//! and a percent-encoded `grpc-message` (gRPC over HTTP/2, "Responses").

use galley_common::error::CommonError;
use galley_common::problem::ApiError;

/// The gRPC status codes this service can answer, with their numbers from the gRPC spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Ok = 0,
    InvalidArgument = 3,
    NotFound = 5,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    Unauthenticated = 16,
}

impl Code {
    pub fn number(self) -> u8 {
        self as u8
    }
}

/// A status to answer: the code and a message for the caller (never internals).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct Status {
    pub code: Code,
    pub message: String,
}

impl Status {
    pub fn new(code: Code, message: impl Into<String>) -> Status {
        Status { code, message: message.into() }
    }

    pub fn ok() -> Status {
        Status::new(Code::Ok, "")
    }

    /// `grpc-message`: percent-encoded UTF-8, every byte outside printable ASCII and `%`
    /// itself as `%XX`, as the spec asks (the header must stay plain ASCII).
    pub fn encoded_message(&self) -> String {
        let mut out = String::with_capacity(self.message.len());
        for byte in self.message.bytes() {
            if (0x20..=0x7e).contains(&byte) && byte != b'%' {
                out.push(byte as char);
            } else {
                out.push_str(&format!("%{byte:02X}"));
            }
        }
        out
    }

    /// The status as header fields: `grpc-status`, and `grpc-message` when there is one.
    pub fn fields(&self) -> Vec<(String, Vec<u8>)> {
        let mut fields = vec![("grpc-status".to_string(), self.code.number().to_string().into_bytes())];
        if !self.message.is_empty() {
            fields.push(("grpc-message".to_string(), self.encoded_message().into_bytes()));
        }
        fields
    }
}

/// The failures shared with the REST functions, as gRPC codes: the REST answer's HTTP status
/// decides, mapped the way gRPC maps HTTP statuses, so both APIs agree on what went wrong. The
/// message is the REST problem's `detail`, which never holds internals.
impl From<CommonError> for Status {
    fn from(error: CommonError) -> Status {
        let code = match error.status() {
            400 | 422 => Code::InvalidArgument,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            404 => Code::NotFound,
            413 => Code::ResourceExhausted,
            502..=504 => Code::Unavailable,
            _ => Code::Internal,
        };
        if code == Code::Internal || code == Code::Unavailable {
            eprintln!("error grpc_status={} {error}", code.number());
        }
        Status::new(code, error.detail())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use galley_common::auth::AuthError;
    use galley_common::db::DbError;
    use galley_common::error::ConfigError;

    #[test]
    fn codes_have_the_numbers_of_the_grpc_spec() {
        let numbers: Vec<u8> = [
            Code::Ok,
            Code::InvalidArgument,
            Code::NotFound,
            Code::PermissionDenied,
            Code::ResourceExhausted,
            Code::Unimplemented,
            Code::Internal,
            Code::Unavailable,
            Code::Unauthenticated,
        ]
        .iter()
        .map(|c| c.number())
        .collect();
        assert_eq!(numbers, [0, 3, 5, 7, 8, 12, 13, 14, 16]);
    }

    #[test]
    fn the_message_is_percent_encoded_and_ascii_passes_unchanged() {
        let status = Status::new(Code::NotFound, "no user: 100% sure, ünïcode\n");
        assert_eq!(status.encoded_message(), "no user: 100%25 sure, %C3%BCn%C3%AFcode%0A");
        assert_eq!(Status::new(Code::NotFound, "plain text (ok)").encoded_message(), "plain text (ok)");
    }

    #[test]
    fn an_ok_status_has_no_message_field() {
        assert_eq!(Status::ok().fields(), vec![("grpc-status".to_string(), b"0".to_vec())]);
        let fields = Status::new(Code::NotFound, "gone").fields();
        assert_eq!(fields[1], ("grpc-message".to_string(), b"gone".to_vec()));
    }

    #[test]
    fn shared_failures_map_as_their_http_statuses_do() {
        let code = |e: CommonError| Status::from(e).code;
        assert_eq!(code(AuthError::MissingToken.into()), Code::Unauthenticated);
        assert_eq!(code(AuthError::InvalidToken.into()), Code::Unauthenticated);
        assert_eq!(code(DbError::Connect("refused".into()).into()), Code::Unavailable);
        assert_eq!(code(DbError::Query { code: None, message: "boom".into() }.into()), Code::Internal);
        let config = Status::from(CommonError::from(ConfigError("variable `auth_secret`".into())));
        assert_eq!(config.code, Code::Internal);
        assert!(!config.message.contains("auth_secret"), "internals stay in the log: {}", config.message);
    }
}
