//! user-register: `POST /api/v1/users`. Validates, hashes the password with argon2id and
//! inserts the user in one statement; the unique index on `lower(username)` decides races,
//! so of any number of concurrent registrations of one name exactly one wins.

pub mod domain;

use galley_common::edge::http::{json, read_json, RequestInfo};
use galley_common::edge::{pg, variable};
use galley_common::users::{User, USER_COLUMNS};
use galley_common::{body, password};
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

use domain::{RegisterError, RegisterRequest};

#[http_component]
async fn handle(req: IncomingRequest) -> Response {
    let info = RequestInfo::of(&req);
    match register(req, &info).await {
        Ok(user) => {
            let mut response = json(201, &user);
            response.set_header("location", format!("/api/v1/users/{}", user.id));
            response
        }
        Err(err) => info.problem(&err),
    }
}

async fn register(req: IncomingRequest, info: &RequestInfo) -> Result<User, RegisterError> {
    info.require_method(&["POST"])?;
    let request: RegisterRequest = read_json(req, info, body::DEFAULT_LIMIT).await?;
    let new_user = request.validate()?;
    let hash = password::hash(&new_user.password)?;
    let conn = pg::connect(&variable("db_url")?)?;
    let sql = format!(
        "INSERT INTO users (username, password_hash, mobile, role) VALUES ($1, $2, $3, 'customer') \
         ON CONFLICT ((lower(username))) DO NOTHING RETURNING {USER_COLUMNS}"
    );
    let inserted = pg::query_opt::<User>(
        &conn,
        &sql,
        &[pg::text(&new_user.username), pg::text(&hash), pg::text(&new_user.mobile)],
    )?;
    inserted.ok_or(RegisterError::UsernameTaken(new_user.username))
}
