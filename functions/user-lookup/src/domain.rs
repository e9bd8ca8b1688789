//! Lookup rules: the single "not found" answer for absent, not yours, or not an id.


galley_common::api_errors! {
    pub enum LookupError {
        /// Absent, not yours, or not an id: one answer for all three.
        #[error("no such user")]
        NotFound => galley_common::problem::NOT_FOUND,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use galley_common::problem::ApiError;
    use galley_common::auth::AuthError;

    #[test]
    fn not_found_is_404_and_token_problems_are_401() {
        assert_eq!(LookupError::NotFound.status(), 404);
        assert_eq!(LookupError::from(AuthError::InvalidToken).status(), 401);
        assert_eq!(LookupError::from(AuthError::MissingToken).status(), 401);
    }
}
