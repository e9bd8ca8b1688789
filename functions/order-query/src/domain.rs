//! Order reading rules: which orders a caller may see, and how a listing page is asked for.
//! No Spin types.

use galley_common::auth::{Claims, Role};
use galley_common::error::CommonError;
use galley_common::ids::UserId;
use galley_common::query::{self, DEFAULT_LIMIT};


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
    Self::NotFound => (404, "not-found", "Not found"),
    Self::BadQuery(_) => (400, "invalid-query", "Invalid query"),
    Self::Forbidden => (403, "forbidden", "Forbidden"),
});

/// A listing page: `?limit=N&before=CURSOR&user_id=ID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub limit: u32,
    /// Only orders older than this cursor (the `next_before` of the previous page).
    pub before: Option<i64>,
    /// Whose orders: the caller's own, or (admins only) anyone's, or everyone's.
    pub owner: Owner,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    User(UserId),
    Everyone,
}

impl Page {
    pub fn parse(raw: &str, claims: &Claims) -> Result<Page, QueryError> {
        let me = UserId::parse(&claims.sub).map_err(CommonError::from)?;
        let mut page = Page { limit: DEFAULT_LIMIT, before: None, owner: Owner::User(me.clone()) };
        let admin = claims.role == Role::Admin;
        if admin {
            page.owner = Owner::Everyone;
        }
        for (key, value) in query::pairs(raw) {
            match key.as_ref() {
                "limit" => page.limit = query::limit(&value).map_err(QueryError::BadQuery)?,
                "before" => {
                    page.before = Some(
                        value
                            .parse::<i64>()
                            .ok()
                            .filter(|n| *n > 0)
                            .ok_or_else(|| QueryError::BadQuery("before must be the next_before of a previous page".into()))?,
                    )
                }
                "user_id" => {
                    let user = UserId::parse(&value).map_err(|e| QueryError::BadQuery(e.to_string()))?;
                    if !admin && user != me {
                        return Err(QueryError::Forbidden);
                    }
                    page.owner = Owner::User(user);
                }
                _ => {}
            }
        }
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use galley_common::problem::ApiError;

    const ME: &str = "7ab45f0f-9291-42eb-922d-130b806315c2";
    const YOU: &str = "00000000-9291-42eb-922d-130b806315c2";

    #[test]
    fn customers_see_their_own_admins_anyone() {
        let me = Claims::new(ME, Role::Customer, 0);
        assert_eq!(Page::parse("", &me).unwrap().owner, Owner::User(UserId::parse(ME).unwrap()));
        assert_eq!(Page::parse(&format!("user_id={YOU}"), &me).unwrap_err().status(), 403);
        let admin = Claims::new(YOU, Role::Admin, 0);
        assert_eq!(Page::parse("", &admin).unwrap().owner, Owner::Everyone);
        assert_eq!(Page::parse(&format!("user_id={ME}"), &admin).unwrap().owner, Owner::User(UserId::parse(ME).unwrap()));
    }

    #[test]
    fn pages() {
        let me = Claims::new(ME, Role::Customer, 0);
        let page = Page::parse("limit=5&before=42", &me).unwrap();
        assert_eq!((page.limit, page.before), (5, Some(42)));
        for bad in ["limit=0", "limit=101", "before=x", "before=-1", "user_id=nope"] {
            assert_eq!(Page::parse(bad, &me).unwrap_err().status(), 400, "{bad}");
        }
    }
}
