//! user-lookup: `GET /api/v1/users/:id`. A user may read itself and an admin anyone; every
//! other case, including a malformed id, is the same 404, so existence is never revealed.

pub mod domain;

use galley_common::edge::endpoint::{database, Request};
use galley_common::edge::{http::json, pg};
use galley_common::ids::{item_segment, UserId};
use galley_common::method::Method;
use galley_common::users::{self, User, USER_COLUMNS};
use spin_sdk::http::Response;

use domain::LookupError;

galley_common::http_endpoint!(serve);

async fn serve(req: Request) -> Result<Response, LookupError> {
    req.allow(&[Method::Get])?;
    let claims = req.claims()?;
    // A malformed id is the same 404 as a missing one: nothing about ids is revealed. From the
    // path, not the `:id` match: the gateway calls this by service chaining too.
    let id = UserId::parse(item_segment(users::COLLECTION, req.path())).map_err(|_| LookupError::NotFound)?;
    if !claims.may_read_user(&id) {
        return Err(LookupError::NotFound);
    }
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = CAST($1::text AS uuid)");
    let user = pg::query_opt::<User>(&database()?, &sql, &[(&id).into()])?.ok_or(LookupError::NotFound)?;
    Ok(json(200, &user))
}
