//! user-lookup: `GET /api/v1/users/:id`. A user may read itself and an admin anyone; every
//! other case, including a malformed id, is the same 404, so existence is never revealed.

pub mod domain;

use galley_common::edge::endpoint::Request;
use galley_common::edge::{http::json, users_db};
use galley_common::ids::{item_segment, UserId};
use galley_common::method::Method;
use galley_common::users;
use spin_sdk::http::Response;

use domain::LookupError;

galley_common::http_endpoint!(serve);

async fn serve(req: Request) -> Result<Response, LookupError> {
    req.allow(&[Method::Get])?;
    let claims = req.claims()?;
    // A malformed id is the same 404 as a missing one: nothing about ids is revealed. From the
    // path, not the `:id` match: the gateway calls this by service chaining too.
    let id = UserId::parse(item_segment(users::COLLECTION, req.path())).map_err(|_| LookupError::NotFound)?;
    let user = users_db::find_readable(&claims, &id)?.ok_or(LookupError::NotFound)?;
    Ok(json(200, &user))
}
