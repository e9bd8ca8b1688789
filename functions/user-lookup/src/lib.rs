//! user-lookup: `GET /api/v1/users/:id`. A user may read itself and an admin anyone; every
//! other case, including a malformed id, is the same 404, so existence is never revealed.

pub mod domain;

use galley_common::auth;
use galley_common::edge::http::{json, RequestInfo};
use galley_common::edge::{pg, variable};
use galley_common::users::{User, USER_COLUMNS};
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

use domain::{is_uuid, LookupError};

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
    let id = info.path_param("id").unwrap_or_default();
    if !claims.may_read_user(id) || !is_uuid(id) {
        return Err(LookupError::NotFound);
    }
    let conn = pg::connect(&variable("db_url")?)?;
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = CAST($1::text AS uuid)");
    pg::query_opt::<User>(&conn, &sql, &[pg::text(id)])?.ok_or(LookupError::NotFound)
}
