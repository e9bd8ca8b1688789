//! The orders listing's rules (`GET /api/v1/orders`), shared by the two components of the
//! orders service: order-create owns the collection route, order-query answers the gateway's
//! chained listings. Which orders a caller may list, and how a page is asked for. No Spin types.

use serde::{Deserialize, Serialize};

use crate::auth::{Claims, Role};
use crate::ids::UserId;
use crate::orders::Order;
use crate::query::{self, DEFAULT_LIMIT};

/// Why a listing was refused; each endpoint answers it as its own 400 or 403.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error("{0}")]
    BadQuery(String),
    #[error("only an admin may list another user's orders")]
    Forbidden,
}

/// A page of orders; `next_before` is the `before` of the next page, absent on the last.
#[derive(Debug, Serialize, Deserialize)]
pub struct Listing {
    pub items: Vec<Order>,
    pub next_before: Option<i64>,
}

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
    /// The page `raw` (a query string) asks for, for the caller `me` (its token's subject).
    pub fn parse(raw: &str, me: &UserId, claims: &Claims) -> Result<Page, PageError> {
        let me = me.clone();
        let mut page = Page { limit: DEFAULT_LIMIT, before: None, owner: Owner::User(me.clone()) };
        let admin = claims.role == Role::Admin;
        if admin {
            page.owner = Owner::Everyone;
        }
        for (key, value) in query::pairs(raw) {
            match key.as_ref() {
                "limit" => page.limit = query::limit(&value).map_err(PageError::BadQuery)?,
                "before" => {
                    page.before = Some(
                        value
                            .parse::<i64>()
                            .ok()
                            .filter(|n| *n > 0)
                            .ok_or_else(|| PageError::BadQuery("before must be the next_before of a previous page".into()))?,
                    )
                }
                "user_id" => {
                    let user = UserId::parse(&value).map_err(|e| PageError::BadQuery(e.to_string()))?;
                    if !admin && user != me {
                        return Err(PageError::Forbidden);
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

    const ME: &str = "7ab45f0f-9291-42eb-922d-130b806315c2";
    const YOU: &str = "00000000-9291-42eb-922d-130b806315c2";

    fn id(text: &str) -> UserId {
        UserId::parse(text).unwrap()
    }

    #[test]
    fn customers_see_their_own_admins_anyone() {
        let me = Claims::new(ME, Role::Customer, 0);
        assert_eq!(Page::parse("", &id(ME), &me).unwrap().owner, Owner::User(UserId::parse(ME).unwrap()));
        assert_eq!(Page::parse(&format!("user_id={YOU}"), &id(ME), &me).unwrap_err(), PageError::Forbidden);
        let admin = Claims::new(YOU, Role::Admin, 0);
        assert_eq!(Page::parse("", &id(YOU), &admin).unwrap().owner, Owner::Everyone);
        assert_eq!(Page::parse(&format!("user_id={ME}"), &id(YOU), &admin).unwrap().owner, Owner::User(UserId::parse(ME).unwrap()));
    }

    #[test]
    fn pages() {
        let me = Claims::new(ME, Role::Customer, 0);
        let page = Page::parse("limit=5&before=42", &id(ME), &me).unwrap();
        assert_eq!((page.limit, page.before), (5, Some(42)));
        for bad in ["limit=0", "limit=101", "before=x", "before=-1", "user_id=nope"] {
            assert!(matches!(Page::parse(bad, &id(ME), &me), Err(PageError::BadQuery(_))), "{bad}");
        }
    }
}
