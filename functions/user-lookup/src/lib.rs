//! user-lookup: `GET /api/v1/users/:id`. A user may read itself and an admin anyone; every
//! other case, including a malformed id, is the same 404, so existence is never revealed.

pub mod domain;

use galley_common::auth;
use galley_common::edge::http::{json, RequestInfo};
use galley_common::edge::{pg, variable};
use galley_common::users::{User, UserId, USER_COLUMNS};
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

use domain::LookupError;

#[http_component]
async fn handle(req: IncomingRequest) -> Response {
    let info = RequestInfo::of(&req);
    match lookup(&info) {
        Ok(user) => json(200, &user),
        Err(err) => info.problem(&err),
    }
}

fn lookup(info: &RequestInfo) -> Result<User, LookupError> {
    info.require_method(&["GET"])?;
    let token = auth::bearer_token(info.header("authorization"))?;
    let claims = auth::verify(token, variable("auth_secret")?.as_bytes())?;
    // A malformed id is the same 404 as a missing one: nothing about ids is revealed.
    let id = UserId::parse(info.path_param("id").unwrap_or_default()).map_err(|_| LookupError::NotFound)?;
    if !claims.may_read_user(&id) {
        return Err(LookupError::NotFound);
    }
    let conn = pg::connect(&variable("db_url")?)?;
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = CAST($1::text AS uuid)");
    pg::query_opt::<User>(&conn, &sql, &[pg::text(id.as_str())])?.ok_or(LookupError::NotFound)
}
