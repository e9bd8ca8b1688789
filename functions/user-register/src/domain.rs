//! Registration rules: which requests are acceptable and what each failure answers.

use galley_common::error::Failures;
use galley_common::users::{FieldError, Mobile, Password, SentPassword, Username};
use serde::Deserialize;

/// The request body. Unknown fields are refused, so a client cannot believe it set a `role`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub username: String,
    pub password: SentPassword,
    pub mobile: String,
}

/// A request whose every field passed its rule.
#[derive(Debug)]
pub struct NewUser {
    pub username: Username,
    pub password: Password,
    pub mobile: Mobile,
}

galley_common::api_errors! {
    pub enum RegisterError {
        /// Every rule that failed, so the client can fix them all at once.
        #[error("{0}")]
        Invalid(Failures<FieldError>) => (422, "validation", "Invalid user"),
        #[error("username `{0}` is already taken")]
        UsernameTaken(String) => (409, "username-taken", "Username taken"),
    }
}

impl RegisterRequest {
    /// Every field parsed, or every failure at once.
    pub fn validate(self) -> Result<NewUser, RegisterError> {
        match (Username::parse(&self.username), Password::parse(self.password.expose()), Mobile::parse(&self.mobile)) {
            (Ok(username), Ok(password), Ok(mobile)) => Ok(NewUser { username, password, mobile }),
            (username, password, mobile) => {
                Err(RegisterError::Invalid([username.err(), password.err(), mobile.err()].into_iter().flatten().collect()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use galley_common::problem::ApiError;
    use galley_common::body::{parse_json, BodyError};

    fn req(username: &str, password: &str, mobile: &str) -> RegisterRequest {
        let body = serde_json::json!({"username": username, "password": password, "mobile": mobile});
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn valid_request_passes() {
        let u = req("alice_01", "longenough", "13800138000").validate().unwrap();
        assert_eq!(u.username.as_str(), "alice_01");
        assert!(!format!("{u:?}").contains("longenough"), "the password never reaches a log line");
    }

    #[test]
    fn every_failing_rule_is_reported_with_a_422() {
        let err = req("a", "short", "123").validate().unwrap_err();
        assert_eq!(err.status(), 422);
        let detail = err.detail();
        for word in ["username", "password", "mobile"] {
            assert!(detail.contains(word), "{detail}");
        }
    }

    #[test]
    fn duplicate_is_a_409_naming_the_username() {
        let err = RegisterError::UsernameTaken("Alice".into());
        assert_eq!(err.status(), 409);
        assert!(err.detail().contains("Alice"));
    }

    #[test]
    fn a_client_cannot_set_its_role() {
        let body = br#"{"username":"eve","password":"12345678","mobile":"13800138000","role":"admin"}"#;
        assert!(matches!(parse_json::<RegisterRequest>(body, 1024), Err(BodyError::Invalid(_))));
    }

    #[test]
    fn body_errors_keep_their_status() {
        let err: RegisterError = BodyError::TooLarge { limit: 1 }.into();
        assert_eq!(err.status(), 413);
    }
}
