//! Password hashing with Argon2id (RFC 9106), in PHC string format.
//!
//! Parameters follow OWASP's minimum for Argon2id: 19 MiB of memory, 2 passes, 1 lane,
//! a 16-byte random salt and a 32-byte output. They are stored inside each PHC string, so
//! raising them later only affects new hashes; old ones still verify.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

pub const MEMORY_KIB: u32 = 19 * 1024;
pub const ITERATIONS: u32 = 2;
pub const PARALLELISM: u32 = 1;
pub const OUTPUT_LEN: usize = 32;
pub const SALT_LEN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("no randomness available for a salt")]
    Random,
    #[error("argon2 failed: {0}")]
    Argon2(String),
}

impl crate::problem::ApiError for HashError {
    fn problem_row(&self) -> crate::problem::ProblemRow {
        crate::problem::INTERNAL
    }
    fn detail(&self) -> String {
        crate::problem::INTERNAL_DETAIL.into()
    }
}

fn hasher() -> Result<Argon2<'static>, HashError> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, Some(OUTPUT_LEN))
        .map_err(|e| HashError::Argon2(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes `password` with a fresh random salt.
pub fn hash(password: &str) -> Result<String, HashError> {
    let mut salt = [0u8; SALT_LEN];
    getrandom::fill(&mut salt).map_err(|_| HashError::Random)?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| HashError::Argon2(e.to_string()))?;
    hasher()?
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError::Argon2(e.to_string()))
}

/// Whether `password` matches the PHC string `stored`. A malformed stored hash never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else { return false };
    // The parameters come from the stored string; the hasher only supplies the algorithm family.
    Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok()
}

/// A valid hash of no real password, used when a username is unknown so that the reply takes
/// as long as a wrong password would (no user enumeration by timing).
pub const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3UWrkf6vmUNOGxmeCQusjXgXXZpmTqA7F0XGMyYMRlI";

/// Spends the same work as [`verify`] against [`DUMMY_HASH`]; always false.
pub fn verify_dummy(password: &str) -> bool {
    let _ = verify(password, DUMMY_HASH);
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_argon2id_with_documented_params_and_verifies() {
        let h = hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("correct horse battery", &h));
        assert!(!verify("wrong horse battery", &h));
    }

    #[test]
    fn salts_differ_between_hashes() {
        assert_ne!(hash("same password").unwrap(), hash("same password").unwrap());
    }

    #[test]
    fn malformed_stored_hash_never_matches() {
        assert!(!verify("x", "not-a-phc-string"));
    }

    #[test]
    fn dummy_hash_parses_so_it_costs_a_real_verification() {
        let parsed = PasswordHash::new(DUMMY_HASH).unwrap();
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        assert!(!verify_dummy("anything"));
    }
}
