//! user-register: `POST /api/v1/users`. Validates, hashes the password with argon2id and
//! inserts the user in one statement; the unique index on `lower(username)` decides races,
//! so of any number of concurrent registrations of one name exactly one wins.

pub mod domain;

use galley_common::edge::endpoint::{database, Request};
use galley_common::edge::{http::json, pg};
use galley_common::method::Method;
use galley_common::password;
use galley_common::users::{User, USER_COLUMNS};
use spin_sdk::http::Response;

use domain::{RegisterError, RegisterRequest};

galley_common::http_endpoint!(serve);

async fn serve(mut req: Request) -> Result<Response, RegisterError> {
    req.allow(&[Method::Post])?;
    let new_user = req.json::<RegisterRequest>().await?.validate()?;
    let hash = password::hash(new_user.password.expose())?;
    let sql = format!(
        "INSERT INTO users (username, password_hash, mobile, role) VALUES ($1, $2, $3, 'customer') \
         ON CONFLICT ((lower(username))) DO NOTHING RETURNING {USER_COLUMNS}"
    );
    let params = [pg::text(new_user.username.as_str()), pg::text(&hash), pg::text(new_user.mobile.as_str())];
    let user = pg::query_opt::<User>(&database()?, &sql, &params)?
        .ok_or_else(|| RegisterError::UsernameTaken(new_user.username.as_str().to_owned()))?;
    let mut response = json(201, &user);
    response.set_header("location", format!("/api/v1/users/{}", user.id));
    Ok(response)
}
