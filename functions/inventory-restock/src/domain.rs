//! Restock rules: who may restock, and the answers for a bad id. The body's rules (`on_hand`
//! or `delta`) belong to inventory-adjust, which owns the stock; this function does not
//! repeat them.

use galley_common::catalog::BadProductId;
use galley_common::error::CommonError;

#[derive(Debug, thiserror::Error)]
pub enum RestockError {
    #[error(transparent)]
    BadId(#[from] BadProductId),
    #[error(transparent)]
    Common(#[from] CommonError),
}

galley_common::api_error!(RestockError {
    Self::BadId(_) => (400, "invalid-id", "Invalid product id"),
});

#[cfg(test)]
mod tests {
    use super::*;
    use galley_common::auth::AuthError;
    use galley_common::catalog::parse_product_id;
    use galley_common::problem::ApiError;

    #[test]
    fn statuses() {
        let bad: RestockError = parse_product_id("x").unwrap_err().into();
        assert_eq!(bad.status(), 400);
        assert_eq!(RestockError::from(AuthError::Forbidden).status(), 403);
        assert_eq!(RestockError::from(AuthError::MissingToken).status(), 401);
    }
}
