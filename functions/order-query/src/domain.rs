//! Order reading rules: which order a caller may see (the listing's rules are shared with
//! order-create: `galley_common::order_listing`). No Spin types.

use galley_common::order_listing::PageError;

galley_common::api_errors! {
    pub enum QueryError {
        /// Absent, or another user's: one answer for both, so order ids reveal nothing.
        #[error("no such order")]
        NotFound => galley_common::problem::NOT_FOUND,
        #[error("{0}")]
        BadQuery(String) => galley_common::problem::INVALID_QUERY,
        #[error("only an admin may list another user's orders")]
        Forbidden => galley_common::problem::FORBIDDEN,
    }
}

impl From<PageError> for QueryError {
    fn from(error: PageError) -> Self {
        match error {
            PageError::BadQuery(detail) => QueryError::BadQuery(detail),
            PageError::Forbidden => QueryError::Forbidden,
        }
    }
}
