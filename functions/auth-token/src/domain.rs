//! Token issuance: the request, the answer, and the one way a login fails.

use galley_common::auth::{Role, TOKEN_TTL_SECS};
use galley_common::users::SentPassword;
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub username: String,
    pub password: SentPassword,
}

/// OAuth 2.0-style token response (RFC 6749 §5.1).
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
}

impl TokenResponse {
    pub fn bearer(access_token: String) -> Self {
        Self { access_token, token_type: "Bearer".into(), expires_in: TOKEN_TTL_SECS }
    }
}

/// What a login needs from the user row; it never leaves this function.
pub struct Credentials {
    pub id: String,
    pub role: Role,
    pub password_hash: String,
}


// Debug without the hash, so no log line can ever print it.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("id", &self.id).field("role", &self.role).finish_non_exhaustive()
    }
}

galley_common::api_errors! {
    pub enum TokenError {
        /// Unknown user and wrong password alike: the answer must not reveal which.
        #[error("invalid username or password")]
        InvalidCredentials => (401, "invalid-credentials", "Invalid credentials"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use galley_common::problem::ApiError;
    use galley_common::body::{parse_json, BodyError};

    #[test]
    fn bad_credentials_are_a_401_that_names_neither_cause() {
        let e = TokenError::InvalidCredentials;
        assert_eq!(e.status(), 401);
        assert_eq!(e.detail(), "invalid username or password");
    }

    #[test]
    fn token_response_is_bearer_for_one_hour() {
        let r = TokenResponse::bearer("t".into());
        assert_eq!((r.token_type.as_str(), r.expires_in), ("Bearer", 3600));
    }

    #[test]
    fn missing_password_is_an_invalid_body() {
        let err = parse_json::<TokenRequest>(br#"{"username":"a"}"#, 1024).unwrap_err();
        assert!(matches!(err, BodyError::Invalid(ref m) if m.contains("password")));
        assert_eq!(TokenError::from(err).status(), 422);
    }

    #[test]
    fn credentials_debug_never_prints_the_hash() {
        let c = Credentials { id: "1".into(), role: Role::Customer, password_hash: "$argon2id$secret".into() };
        assert!(!format!("{c:?}").contains("argon2id"));
    }
}
