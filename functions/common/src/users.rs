//! The rules for a user's fields, shared by registration and the admin bootstrap tool.
//!
//! Usernames compare case-insensitively (the database enforces it with a unique index on
//! `lower(username)`); mobiles are mainland-China numbers as the seed system stored them.

use serde::{Deserialize, Serialize};

use crate::auth::Role;

/// A user's id: a UUID, always held in its canonical lower-case hyphenated form, so two ids
/// that name the same user compare equal however a client spelled them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserId(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not a user id: ids are UUIDs such as 7ab45f0f-9291-42eb-922d-130b806315c2")]
pub struct BadUserId(pub String);

impl UserId {
    /// 8-4-4-4-12 hex digits in either letter case; nothing else (no braces, no `urn:`).
    pub fn parse(text: &str) -> Result<UserId, BadUserId> {
        let b = text.as_bytes();
        let well_formed = b.len() == 36
            && b.iter().enumerate().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => *c == b'-',
                _ => c.is_ascii_hexdigit(),
            });
        if well_formed {
            Ok(UserId(text.to_ascii_lowercase()))
        } else {
            Err(BadUserId(text.chars().take(40).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user as the API shows it. There is no hash field, so none can be serialised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
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

/// ASCII letters, digits and `_`, 3 to 32 of them.
pub fn validate_username(username: &str) -> Result<(), FieldError> {
    let ok = (USERNAME_MIN..=USERNAME_MAX).contains(&username.len())
        && username.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    ok.then_some(()).ok_or(FieldError::Username)
}

/// Length in characters (not bytes), so a non-ASCII passphrase is measured as typed.
pub fn validate_password(password: &str) -> Result<(), FieldError> {
    let n = password.chars().count();
    (PASSWORD_MIN..=PASSWORD_MAX).contains(&n).then_some(()).ok_or(FieldError::Password)
}

/// `1[3-9]` followed by nine digits: 11 ASCII digits in all.
pub fn validate_mobile(mobile: &str) -> Result<(), FieldError> {
    let b = mobile.as_bytes();
    let ok = b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]) && b.iter().all(u8::is_ascii_digit);
    ok.then_some(()).ok_or(FieldError::Mobile)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_canonical() {
        let lower = UserId::parse("7ab45f0f-9291-42eb-922d-130b806315c2").unwrap();
        assert_eq!(UserId::parse("7AB45F0F-9291-42EB-922D-130B806315C2").unwrap(), lower);
        assert_eq!(lower.as_str(), "7ab45f0f-9291-42eb-922d-130b806315c2");
        for bad in ["", "1", "7ab45f0f929142eb922d130b806315c2", "{7ab45f0f-9291-42eb-922d-130b806315c2}", "7ab45f0f-9291-42eb-922d-130b806315cz", "7ab45f0f-9291-42eb-922d-130b806315c2x"] {
            assert!(UserId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn usernames() {
        for ok in ["abc", "Alice_01", &"a".repeat(32)] {
            assert_eq!(validate_username(ok), Ok(()), "{ok}");
        }
        for bad in ["ab", &"a".repeat(33), "has space", "dash-ed", "émile", "", "semi;colon"] {
            assert_eq!(validate_username(bad), Err(FieldError::Username), "{bad}");
        }
    }

    #[test]
    fn passwords() {
        assert_eq!(validate_password("12345678"), Ok(()));
        assert_eq!(validate_password(&"x".repeat(128)), Ok(()));
        assert_eq!(validate_password("1234567"), Err(FieldError::Password));
        assert_eq!(validate_password(&"x".repeat(129)), Err(FieldError::Password));
        // 8 characters, 16 bytes: long enough.
        assert_eq!(validate_password("密码密码密码密码"), Ok(()));
    }

    #[test]
    fn mobiles() {
        for ok in ["13800138000", "19912345678", "15000000000"] {
            assert_eq!(validate_mobile(ok), Ok(()), "{ok}");
        }
        for bad in ["12800138000", "1380013800", "138001380000", "23800138000", "1380013800a", "+8613800138000", ""] {
            assert_eq!(validate_mobile(bad), Err(FieldError::Mobile), "{bad}");
        }
    }
}
