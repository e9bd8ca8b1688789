//! The rules for a user's fields, shared by registration and the admin bootstrap tool.
//!
//! Usernames compare case-insensitively (the database enforces it with a unique index on
//! `lower(username)`); mobiles are mainland-China numbers as the seed system stored them.

use serde::{Deserialize, Serialize};

use crate::auth::Role;
pub use crate::ids::UserId;

/// A user as the API shows it. There is no hash field, so none can be serialised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub mobile: String,
    pub role: Role,
    /// UTC, RFC 3339 (`2026-11-25T17:00:00Z`).
    pub created_at: String,
}

/// The `SELECT`/`RETURNING` list that yields a [`User`]. It names no hash column, and formats
/// in SQL so the row is plain text whichever Postgres driver reads it.
pub const USER_COLUMNS: &str =
    "id::text AS id, username, mobile, role, to_char(created_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS created_at";

/// The public collection route; a user is `<COLLECTION>/<id>` (user-lookup, also to other
/// functions by service chaining).
pub const COLLECTION: &str = "/api/v1/users";

pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 32;
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 128;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FieldError {
    #[error("username must be {USERNAME_MIN}-{USERNAME_MAX} characters of letters, digits and `_`")]
    Username,
    #[error("password must be {PASSWORD_MIN}-{PASSWORD_MAX} characters long")]
    Password,
    #[error("mobile must be an 11-digit mainland China number: 1, then 3-9, then 9 digits")]
    Mobile,
}

/// A username: ASCII letters, digits and `_`, 3 to 32 of them. Unique regardless of letter
/// case (the database's index on `lower(username)` decides), shown as registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(text: &str) -> Result<Username, FieldError> {
        let ok = (USERNAME_MIN..=USERNAME_MAX).contains(&text.len())
            && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        ok.then(|| Username(text.to_owned())).ok_or(FieldError::Username)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A mainland-China mobile number: `1[3-9]` followed by nine digits, 11 ASCII digits in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mobile(String);

impl Mobile {
    pub fn parse(text: &str) -> Result<Mobile, FieldError> {
        let b = text.as_bytes();
        let ok = b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]) && b.iter().all(u8::is_ascii_digit);
        ok.then(|| Mobile(text.to_owned())).ok_or(FieldError::Mobile)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password as a client sent it, before any rule: what a login checks and a registration
/// parses into a [`Password`]. Its `Debug` never shows it, so a body holding one can be logged.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct SentPassword(String);

impl SentPassword {
    /// The secret itself, for the hasher and the verifier only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SentPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SentPassword(..)")
    }
}

/// A new password, 8 to 128 characters (not bytes, so a non-ASCII passphrase is measured as
/// typed). It has no `Display`, and its `Debug` never shows it, so no log line can.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn parse(text: &str) -> Result<Password, FieldError> {
        let n = text.chars().count();
        (PASSWORD_MIN..=PASSWORD_MAX).contains(&n).then(|| Password(text.to_owned())).ok_or(FieldError::Password)
    }

    /// The secret itself, for the hasher only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for ok in ["abc", "Alice_01", &"a".repeat(32)] {
            assert_eq!(Username::parse(ok).map(|u| u.0), Ok(ok.to_string()), "{ok}");
        }
        for bad in ["ab", &"a".repeat(33), "has space", "dash-ed", "émile", "", "semi;colon"] {
            assert_eq!(Username::parse(bad), Err(FieldError::Username), "{bad}");
        }
    }

    #[test]
    fn passwords() {
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse(&"x".repeat(128)).is_ok());
        assert_eq!(Password::parse("1234567"), Err(FieldError::Password));
        assert_eq!(Password::parse(&"x".repeat(129)), Err(FieldError::Password));
        // 8 characters, 16 bytes: long enough.
        assert!(Password::parse("密码密码密码密码").is_ok());
        assert_eq!(format!("{:?}", Password::parse("hunter2hunter2").unwrap()), "Password(..)", "never printed");
    }

    #[test]
    fn mobiles() {
        for ok in ["13800138000", "19912345678", "15000000000"] {
            assert_eq!(Mobile::parse(ok).map(|m| m.0), Ok(ok.to_string()), "{ok}");
        }
        for bad in ["12800138000", "1380013800", "138001380000", "23800138000", "1380013800a", "+8613800138000", ""] {
            assert_eq!(Mobile::parse(bad), Err(FieldError::Mobile), "{bad}");
        }
    }
}
