//! Lookup rules: what counts as an id, and the single "not found" answer.

use galley_common::error::CommonError;

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// Absent, not yours, or not an id: one answer for all three.
    #[error("no such user")]
    NotFound,
    #[error(transparent)]
    Common(#[from] CommonError),
}

galley_common::api_error!(LookupError {
    Self::NotFound => (404, "not-found", "Not found"),
});

/// Canonical textual UUID (8-4-4-4-12 hex digits), checked before the database sees it so a
/// malformed id is a 404 rather than a cast error.
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use galley_common::problem::ApiError;
    use galley_common::auth::AuthError;

    #[test]
    fn uuid_shape() {
        assert!(is_uuid("7ab45f0f-9291-42eb-922d-130b806315c2"));
        assert!(is_uuid("7AB45F0F-9291-42EB-922D-130B806315C2"));
        for bad in ["", "1", "7ab45f0f929142eb922d130b806315c2", "7ab45f0f-9291-42eb-922d-130b806315cz", "7ab45f0f-9291-42eb-922d-130b806315c2x"] {
            assert!(!is_uuid(bad), "{bad}");
        }
    }

    #[test]
    fn not_found_is_404_and_token_problems_are_401() {
        assert_eq!(LookupError::NotFound.status(), 404);
        assert_eq!(LookupError::from(AuthError::InvalidToken).status(), 401);
        assert_eq!(LookupError::from(AuthError::MissingToken).status(), 401);
    }
}
