//! auth-token: `POST /api/v1/auth/token`. Checks a username and password and answers with an
//! HS256 bearer token (1 h) signed with the `auth_secret` variable. An unknown user and a wrong
//! password get the same 401, after the same amount of argon2 work.

pub mod domain;

use galley_common::auth::{self, Claims};
use galley_common::edge::http::{json, read_json, RequestInfo};
use galley_common::edge::{pg, variable};
use galley_common::{body, password, unix_now};
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

use domain::{Credentials, TokenError, TokenRequest, TokenResponse};
use galley_common::auth::Role;
use galley_common::db::DbError;
use galley_common::edge::pg::{col, FromRow};
use spin_sdk::pg4::Row;

#[http_component]
async fn handle(req: IncomingRequest) -> Response {
    let info = RequestInfo::of(&req);
    match issue_token(req, &info).await {
        Ok(token) => {
            let mut response = json(200, &token);
            // RFC 6749 §5.1: token responses must not be cached.
            response.set_header("cache-control", "no-store");
            response
        }
        Err(err) => info.problem(&err),
    }
}

async fn issue_token(req: IncomingRequest, info: &RequestInfo) -> Result<TokenResponse, TokenError> {
    info.require_method(&["POST"])?;
    let login: TokenRequest = read_json(req, info, body::DEFAULT_LIMIT).await?;
    let secret = variable("auth_secret")?;
    let conn = pg::connect(&variable("db_url")?)?;
    let found = pg::query_opt::<Credentials>(
        &conn,
        "SELECT id::text AS id, role, password_hash FROM users WHERE lower(username) = lower($1)",
        &[pg::text(&login.username)],
    )?;
    let user = match found {
        Some(user) if password::verify(&login.password, &user.password_hash) => user,
        Some(_) => return Err(TokenError::InvalidCredentials),
        None => {
            password::verify_dummy(&login.password);
            return Err(TokenError::InvalidCredentials);
        }
    };
    let claims = Claims::new(user.id, user.role, unix_now());
    let token = auth::issue(&claims, secret.as_bytes())?;
    Ok(TokenResponse::bearer(token))
}

impl FromRow for Credentials {
    fn from_row(row: &Row<'_>) -> Result<Self, DbError> {
        let role: String = col(row, "role")?;
        Ok(Self {
            id: col(row, "id")?,
            role: Role::parse(&role)
                .ok_or_else(|| DbError::Decode { column: "role".into(), reason: format!("unknown role `{role}`") })?,
            password_hash: col(row, "password_hash")?,
        })
    }
}
