//! Reading users from the `users` database, for the two components that answer a user by id
//! (user-lookup over REST, user-grpc over gRPC), so both apply one authorisation rule.

use super::endpoint::database;
use super::pg;
use crate::auth::Claims;
use crate::error::CommonError;
use crate::users::{User, UserId, USER_COLUMNS};

/// The user `id` if `claims` may read it (itself, or anyone for an admin). `None` both when it
/// does not exist and when it is not the caller's to read: one answer, so existence is never
/// revealed. The database is not asked about a user the caller may not read.
pub fn find_readable(claims: &Claims, id: &UserId) -> Result<Option<User>, CommonError> {
    if !claims.may_read_user(id) {
        return Ok(None);
    }
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = CAST($1::text AS uuid)");
    Ok(pg::query_opt::<User>(&database()?, &sql, &[id.into()])?)
}
