//! Order reading rules: which order a caller may see (the listing's rules are shared with
//! order-create: `galley_common::order_listing`). No Spin types.

use galley_common::error::CommonError;
use galley_common::order_listing::PageError;

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// Absent, or another user's: one answer for both, so order ids reveal nothing.
    #[error("no such order")]
    NotFound,
    #[error("{0}")]
    BadQuery(String),
    #[error("only an admin may list another user's orders")]
    Forbidden,
    #[error(transparent)]
    Common(#[from] CommonError),
}

galley_common::api_error!(QueryError {
    Self::NotFound => galley_common::problem::NOT_FOUND,
    Self::BadQuery(_) => (400, "invalid-query", "Invalid query"),
    Self::Forbidden => (403, "forbidden", "Forbidden"),
});

impl From<PageError> for QueryError {
    fn from(error: PageError) -> Self {
        match error {
            PageError::BadQuery(detail) => QueryError::BadQuery(detail),
            PageError::Forbidden => QueryError::Forbidden,
        }
    }
}
