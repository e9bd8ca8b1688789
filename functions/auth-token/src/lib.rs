//! auth-token: `POST /api/v1/auth/token`. Checks a username and password and answers with an
//! HS256 bearer token (1 h) signed with the `auth_secret` variable. An unknown user and a wrong
//! password get the same 401, after the same amount of argon2 work.

pub mod domain;

use galley_common::auth::{self, Claims};
use galley_common::db::DbError;
use galley_common::edge::endpoint::{auth_secret, database, Request};
use galley_common::edge::http::json;
use galley_common::edge::pg::{self, col, FromRow};
use galley_common::method::Method;
use galley_common::{password, unix_now};
use spin_sdk::http::Response;
use spin_sdk::pg4::Row;

use domain::{Credentials, TokenError, TokenRequest, TokenResponse};

galley_common::http_endpoint!(serve);

async fn serve(mut req: Request) -> Result<Response, TokenError> {
    req.allow(&[Method::Post])?;
    let login: TokenRequest = req.json().await?;
    let found = pg::query_opt::<Credentials>(
        &database()?,
        "SELECT id::text AS id, role, password_hash FROM users WHERE lower(username) = lower($1)",
        &[pg::text(&login.username)],
    )?;
    let user = match found {
        Some(user) if password::verify(login.password.expose(), &user.password_hash) => user,
        Some(_) => return Err(TokenError::InvalidCredentials),
        None => {
            password::verify_dummy(login.password.expose());
            return Err(TokenError::InvalidCredentials);
        }
    };
    let token = auth::issue(&Claims::new(user.id, user.role, unix_now()), auth_secret()?.as_bytes())?;
    let mut response = json(200, &TokenResponse::bearer(token));
    // RFC 6749 §5.1: token responses must not be cached.
    response.set_header("cache-control", "no-store");
    Ok(response)
}

impl FromRow for Credentials {
    fn from_row(row: &Row<'_>) -> Result<Self, DbError> {
        Ok(Self { id: col(row, "id")?, role: pg::role(row, "role")?, password_hash: col(row, "password_hash")? })
    }
}
