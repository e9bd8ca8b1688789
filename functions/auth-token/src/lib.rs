//! auth-token: `POST /api/v1/auth/token`. Checks a username and password and answers with an
//! HS256 bearer token (1 h) signed with the `auth_secret` variable. An unknown user and a wrong
//! password get the same 401, after the same amount of argon2 work. Repeated failures per
//! username and per client address are slowed down (`throttle.rs`): a locked login is a 429
//! with `Retry-After`, answered before any password is checked.

pub mod domain;
pub mod throttle;

use galley_common::auth::{self, Claims};
use galley_common::db::DbError;
use galley_common::edge::endpoint::{auth_secret, database, Request};
use galley_common::edge::http::{json, RequestInfo};
use galley_common::edge::kv::Cache;
use galley_common::edge::variable;
use galley_common::error::TooManyAttempts;
use galley_common::edge::pg::{self, col, FromRow};
use galley_common::method::Method;
use galley_common::{password, unix_now};
use spin_sdk::http::Response;
use sha2::Digest;
use spin_sdk::pg4::Row;

use domain::{Credentials, TokenError, TokenRequest, TokenResponse};
use throttle::{Failures, Policy, PER_ADDRESS, PER_USERNAME};

galley_common::http_endpoint!(serve);

async fn serve(mut req: Request) -> Result<Response, TokenError> {
    req.allow(&[Method::Post])?;
    let login: TokenRequest = req.json().await?;
    let now = unix_now();
    let attempts = Attempts::of(req.info(), &login.username);
    if let Some(retry_after_secs) = attempts.retry_after(now) {
        return Err(TooManyAttempts { retry_after_secs }.into());
    }
    let found = pg::query_opt::<Credentials>(
        &database()?,
        "SELECT id::text AS id, role, password_hash FROM users WHERE lower(username) = lower($1)",
        &[pg::text(&login.username)],
    )?;
    let user = match found {
        Some(user) if password::verify(login.password.expose(), &user.password_hash) => user,
        Some(_) => {
            attempts.record_failure(now);
            return Err(TokenError::InvalidCredentials);
        }
        None => {
            password::verify_dummy(login.password.expose());
            attempts.record_failure(now);
            return Err(TokenError::InvalidCredentials);
        }
    };
    attempts.record_success();
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

/// The failed-login counts this login is judged by, in the `cache` store. The store is a
/// brake, not a gate: if it is unreachable, logins go on unthrottled (logged), so a cache
/// outage never locks everyone out.
struct Attempts {
    store: Option<Cache>,
    keys: [(String, &'static Policy); 2],
}

impl Attempts {
    fn of(info: &RequestInfo, username: &str) -> Attempts {
        let trusted_proxies = variable("trusted_proxies").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(0);
        let address = throttle::client_address(
            info.header("spin-client-addr").unwrap_or(""),
            info.header("x-forwarded-for"),
            trusted_proxies,
        );
        // Usernames are matched case-insensitively; hashed, any name makes a short, safe key.
        let username = hex::encode(sha2::Sha256::digest(username.to_lowercase().as_bytes()));
        let store = Cache::open("cache", PER_ADDRESS.window_secs.max(PER_USERNAME.window_secs))
            .map_err(|e| eprintln!("login throttle: cannot open the `cache` store, not throttling: {e}"))
            .ok();
        Attempts {
            store,
            keys: [(format!("login-failures:user:{username}"), &PER_USERNAME), (format!("login-failures:addr:{address}"), &PER_ADDRESS)],
        }
    }

    fn failures(&self, key: &str) -> Failures {
        self.store.as_ref().and_then(|store| store.get::<Failures>(key)).unwrap_or_default()
    }

    /// The longest lock among the username's and the address's, if any.
    fn retry_after(&self, now: u64) -> Option<u64> {
        self.keys.iter().filter_map(|(key, _)| self.failures(key).retry_after(now)).max()
    }

    fn record_failure(&self, now: u64) {
        for (key, policy) in &self.keys {
            self.put(key, &self.failures(key).after_failure(policy, now));
        }
    }

    /// A success clears the username's count (not the address's: an attacker must not be able
    /// to reset its own count by logging into an account of its own).
    fn record_success(&self) {
        let (key, _) = &self.keys[0];
        if self.failures(key) != Failures::default() {
            self.put(key, &Failures::default());
        }
    }

    fn put(&self, key: &str, failures: &Failures) {
        if let Some(store) = &self.store {
            if let Err(e) = store.put(key, failures) {
                eprintln!("login throttle: cannot record `{key}`: {e}");
            }
        }
    }
}
