//! Bearer tokens: HS256-signed JWTs carrying the user id, role and a one-hour expiry.
//!
//! Signed and checked with `jsonwebtoken` (its pure-Rust `rust_crypto` backend, which builds
//! for wasm32-wasip2). Only HS256 is accepted, so a token cannot pick its own algorithm.
//!
//! Every token names its key in the header's `kid` (a short hash of the secret, which reveals
//! nothing of it), so `auth_secret` can be rotated with a grace period: the new secret signs,
//! and tokens signed with the previous one (`auth_secret_previous`) are still accepted until
//! that variable is emptied — at most one token lifetime later.

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Lifetime of an issued token, in seconds.
pub const TOKEN_TTL_SECS: u64 = 3600;
/// `iss` of every Galley token; tokens from anywhere else are refused.
pub const ISSUER: &str = "galley";
/// A shorter HMAC key is refused: HS256 wants at least as many key bytes as its output.
pub const MIN_SECRET_LEN: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Customer,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "customer" => Some(Role::Customer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id.
    pub sub: String,
    pub role: Role,
    pub iss: String,
    pub iat: u64,
    pub exp: u64,
}

impl Claims {
    pub fn new(sub: impl Into<String>, role: Role, now: u64) -> Self {
        Self { sub: sub.into(), role, iss: ISSUER.into(), iat: now, exp: now + TOKEN_TTL_SECS }
    }

    /// The user these claims speak for. `sub` stays text on the wire (an admin token need not
    /// name a user); whoever acts as the caller asks here, so the parsing lives in one place.
    pub fn user_id(&self) -> Result<crate::users::UserId, crate::ids::BadId> {
        crate::users::UserId::parse(&self.sub)
    }

    /// Whether these claims may read the user with id `user_id`: themselves, or anyone if admin.
    /// Ids compare in their canonical form, so the letter case a client used does not matter.
    pub fn may_read_user(&self, user_id: &crate::users::UserId) -> bool {
        self.role == Role::Admin || self.user_id().is_ok_and(|me| &me == user_id)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("an `Authorization: Bearer <token>` header is required")]
    MissingToken,
    #[error("the bearer token is invalid or expired")]
    InvalidToken,
    #[error("the signing secret is not configured correctly")]
    BadSecret,
    #[error("this operation needs an admin token")]
    Forbidden,
}

impl crate::problem::ApiError for AuthError {
    fn problem_row(&self) -> crate::problem::ProblemRow {
        match self {
            Self::MissingToken | Self::InvalidToken => (401, "unauthorized", "Unauthorized"),
            Self::Forbidden => crate::problem::FORBIDDEN,
            Self::BadSecret => crate::problem::INTERNAL,
        }
    }
}

fn check_secret(secret: &[u8]) -> Result<(), AuthError> {
    if secret.len() < MIN_SECRET_LEN {
        Err(AuthError::BadSecret)
    } else {
        Ok(())
    }
}

/// The `kid` naming a secret: the first 16 hex digits of its SHA-256, domain-separated.
pub fn key_id(secret: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new().chain_update(b"galley-token-key:").chain_update(secret).finalize();
    hex::encode(&digest[..8])
}

/// The `kid` a token's header names, if it has one (read without checking the signature).
pub fn token_key_id(token: &str) -> Option<String> {
    jsonwebtoken::decode_header(token).ok()?.kid
}

/// Signs `claims` with `secret`, naming it in the `kid` header.
pub fn issue(claims: &Claims, secret: &[u8]) -> Result<String, AuthError> {
    check_secret(secret)?;
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(key_id(secret));
    encode(&header, claims, &EncodingKey::from_secret(secret)).map_err(|_| AuthError::BadSecret)
}

/// The secrets tokens are checked with: the current one and, during a rotation, the previous.
#[derive(Debug, Clone, Copy)]
pub struct VerifyingKeys<'a> {
    pub current: &'a [u8],
    pub previous: Option<&'a [u8]>,
}

/// Checks a token against one secret; see [`verify_with`].
pub fn verify(token: &str, secret: &[u8]) -> Result<Claims, AuthError> {
    verify_with(token, &VerifyingKeys { current: secret, previous: None })
}

/// Checks signature, algorithm, issuer and expiry (no leeway: issuer and checker share a clock),
/// with the secret the token's `kid` names (a token without one, issued before key ids, is
/// checked with the current secret). Every failure is the same `InvalidToken`, so a caller
/// learns nothing about why.
pub fn verify_with(token: &str, keys: &VerifyingKeys<'_>) -> Result<Claims, AuthError> {
    check_secret(keys.current)?;
    let kid = jsonwebtoken::decode_header(token).map_err(|_| AuthError::InvalidToken)?.kid;
    let secret = match kid {
        None => keys.current,
        Some(kid) if kid == key_id(keys.current) => keys.current,
        Some(kid) => match keys.previous {
            Some(previous) if kid == key_id(previous) => previous,
            _ => return Err(AuthError::InvalidToken),
        },
    };
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.set_issuer(&[ISSUER]);
    validation.set_required_spec_claims(&["exp", "iss", "sub"]);
    decode::<Claims>(token, &DecodingKey::from_secret(secret), &validation)
        .map(|data| data.claims)
        .map_err(|_| AuthError::InvalidToken)
}

/// The claims of a valid admin token in an `Authorization` header value: 401 without a valid
/// token, 403 with a valid one that is not an admin's.
pub fn require_admin(header: Option<&str>, keys: &VerifyingKeys<'_>) -> Result<Claims, AuthError> {
    let claims = verify_with(bearer_token(header)?, keys)?;
    if claims.role == Role::Admin {
        Ok(claims)
    } else {
        Err(AuthError::Forbidden)
    }
}

/// The token of an `Authorization: Bearer <token>` header value (scheme case-insensitive).
pub fn bearer_token(header: Option<&str>) -> Result<&str, AuthError> {
    let value = header.ok_or(AuthError::MissingToken)?.trim();
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::MissingToken)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(AuthError::MissingToken);
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test";

    fn now() -> u64 {
        crate::unix_now()
    }

    #[test]
    fn issued_token_verifies_with_its_claims() {
        let claims = Claims::new("u1", Role::Admin, now());
        let token = issue(&claims, SECRET).unwrap();
        assert_eq!(token.split('.').count(), 3, "JWT compact form");
        assert_eq!(verify(&token, SECRET).unwrap(), claims);
        assert_eq!(claims.exp - claims.iat, 3600);
    }

    #[test]
    fn expired_token_is_refused() {
        let claims = Claims::new("u1", Role::Customer, now() - 2 * TOKEN_TTL_SECS);
        let token = issue(&claims, SECRET).unwrap();
        assert_eq!(verify(&token, SECRET), Err(AuthError::InvalidToken));
    }

    #[test]
    fn token_signed_with_another_secret_is_refused() {
        let token = issue(&Claims::new("u1", Role::Customer, now()), b"another-secret-another-secret-xx").unwrap();
        assert_eq!(verify(&token, SECRET), Err(AuthError::InvalidToken));
    }

    #[test]
    fn tampered_payload_is_refused() {
        let token = issue(&Claims::new("u1", Role::Customer, now()), SECRET).unwrap();
        let admin = issue(&Claims::new("u1", Role::Admin, now()), b"another-secret-another-secret-xx").unwrap();
        // Graft the admin payload onto the customer's signature.
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!("{}.{}.{}", parts[0], admin.split('.').nth(1).unwrap(), parts[2]);
        assert_eq!(verify(&forged, SECRET), Err(AuthError::InvalidToken));
    }

    #[test]
    fn alg_none_is_refused() {
        use base64_like::url_encode;
        let header = url_encode(br#"{"alg":"none","typ":"JWT"}"#);
        let claims = serde_json::to_vec(&Claims::new("u1", Role::Admin, now())).unwrap();
        let token = format!("{header}.{}.", url_encode(&claims));
        assert_eq!(verify(&token, SECRET), Err(AuthError::InvalidToken));
    }

    #[test]
    fn short_secret_is_a_configuration_error() {
        assert_eq!(issue(&Claims::new("u", Role::Customer, now()), b"short"), Err(AuthError::BadSecret));
    }

    #[test]
    fn a_rotated_secret_accepts_the_previous_keys_tokens_only_while_it_is_listed() {
        const NEW: &[u8] = b"the-new-secret-the-new-secret-0123456789";
        let old_token = issue(&Claims::new("u", Role::Customer, now()), SECRET).unwrap();
        let new_token = issue(&Claims::new("u", Role::Customer, now()), NEW).unwrap();
        assert_eq!(token_key_id(&new_token), Some(key_id(NEW)));
        assert_eq!(key_id(NEW).len(), 16);

        let during = VerifyingKeys { current: NEW, previous: Some(SECRET) };
        assert_eq!(verify_with(&old_token, &during).map(|c| c.sub), Ok("u".into()));
        assert_eq!(verify_with(&new_token, &during).map(|c| c.sub), Ok("u".into()));
        let after = VerifyingKeys { current: NEW, previous: None };
        assert_eq!(verify_with(&old_token, &after), Err(AuthError::InvalidToken));
        assert_eq!(verify_with(&new_token, &after).map(|c| c.sub), Ok("u".into()));
    }

    #[test]
    fn a_token_naming_one_key_but_signed_with_another_is_refused() {
        // The kid picks the key; it cannot make a forged signature pass.
        const NEW: &[u8] = b"the-new-secret-the-new-secret-0123456789";
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(key_id(NEW));
        let forged = encode(&header, &Claims::new("u", Role::Admin, now()), &EncodingKey::from_secret(b"an-attackers-secret-an-attackers-secret")).unwrap();
        assert_eq!(verify_with(&forged, &VerifyingKeys { current: NEW, previous: Some(SECRET) }), Err(AuthError::InvalidToken));
        // A token without a kid (issued before key ids) is checked with the current secret.
        let legacy = encode(&Header::new(Algorithm::HS256), &Claims::new("u", Role::Customer, now()), &EncodingKey::from_secret(NEW)).unwrap();
        assert!(verify_with(&legacy, &VerifyingKeys { current: NEW, previous: None }).is_ok());
    }

    #[test]
    fn bearer_header_parsing() {
        assert_eq!(bearer_token(Some("Bearer abc")), Ok("abc"));
        assert_eq!(bearer_token(Some("bearer  abc ")), Ok("abc"));
        assert_eq!(bearer_token(None), Err(AuthError::MissingToken));
        assert_eq!(bearer_token(Some("Basic abc")), Err(AuthError::MissingToken));
        assert_eq!(bearer_token(Some("Bearer ")), Err(AuthError::MissingToken));
    }

    #[test]
    fn admin_only_operations_tell_401_from_403() {
        let admin = issue(&Claims::new("a", Role::Admin, now()), SECRET).unwrap();
        let customer = issue(&Claims::new("c", Role::Customer, now()), SECRET).unwrap();
        let keys = VerifyingKeys { current: SECRET, previous: None };
        assert_eq!(require_admin(Some(&format!("Bearer {admin}")), &keys).map(|c| c.sub), Ok("a".into()));
        assert_eq!(require_admin(Some(&format!("Bearer {customer}")), &keys), Err(AuthError::Forbidden));
        assert_eq!(require_admin(Some("Bearer nonsense"), &keys), Err(AuthError::InvalidToken));
        assert_eq!(require_admin(None, &keys), Err(AuthError::MissingToken));
        use crate::problem::ApiError;
        assert_eq!(AuthError::Forbidden.status(), 403);
    }

    #[test]
    fn only_self_or_admin_may_read_a_user() {
        use crate::users::UserId;
        let me_id = "7ab45f0f-9291-42eb-922d-130b806315c2";
        let you = UserId::parse("00000000-9291-42eb-922d-130b806315c2").unwrap();
        let me = Claims::new(me_id, Role::Customer, 0);
        assert!(me.may_read_user(&UserId::parse(me_id).unwrap()));
        assert!(me.may_read_user(&UserId::parse(&me_id.to_uppercase()).unwrap()), "letter case is not identity");
        assert!(!me.may_read_user(&you));
        assert!(Claims::new("boss", Role::Admin, 0).may_read_user(&you));
        // A customer whose subject names no user reads nobody.
        assert!(!Claims::new("boss", Role::Customer, 0).may_read_user(&you));
    }

    #[test]
    fn the_subject_is_the_callers_user_id_in_its_one_spelling() {
        let upper = "7AB45F0F-9291-42EB-922D-130B806315C2";
        assert_eq!(Claims::new(upper, Role::Customer, 0).user_id().unwrap().as_str(), upper.to_ascii_lowercase());
        assert!(Claims::new("boss", Role::Admin, 0).user_id().is_err(), "an admin token may name no user");
    }

    /// Minimal base64url (no padding) so the test can build an unsigned token by hand.
    mod base64_like {
        const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        pub fn url_encode(bytes: &[u8]) -> String {
            let mut out = String::new();
            for chunk in bytes.chunks(3) {
                let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (*b as u32) << (16 - 8 * i));
                for i in 0..=chunk.len() {
                    out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
                }
            }
            out
        }
    }
}
