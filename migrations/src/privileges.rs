//! Least privilege: every service reaches Postgres as a login role of its own that may connect
//! to its own database only, read and write its tables, and nothing else: no DDL, no other
//! database, no superuser powers. Only `galley-migrate` (as the superuser) creates tables.
//!
//! The role of service `users` is `galley_users`; its password is the Spin variable
//! `users_db_password` (`SPIN_VARIABLE_USERS_DB_PASSWORD` in the environment or the secrets
//! file), the same value the component puts in its connection URL.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use tokio_postgres::Client;

/// The superuser's password, in the environment or the secrets file.
pub const SUPERUSER_PASSWORD: &str = "GALLEY_PG_PASSWORD";

/// Service `users` logs in as `galley_users`. Names come from `SERVICES` only.
pub fn role(service: &str) -> String {
    format!("galley_{service}")
}

/// The Spin variable holding `service`'s database password, e.g. `users_db_password`.
pub fn password_variable(service: &str) -> String {
    format!("{service}_db_password")
}

/// That variable as Spin reads it from the environment, e.g. `SPIN_VARIABLE_USERS_DB_PASSWORD`.
pub fn password_env(service: &str) -> String {
    format!("SPIN_VARIABLE_{}", password_variable(service).to_uppercase())
}

/// Passwords by environment name: the secrets file (`KEY=value` lines, as `scripts/services.sh`
/// writes it), overridden by the process environment.
#[derive(Debug, Default, Clone)]
pub struct Secrets(HashMap<String, String>);

impl Secrets {
    pub fn load(file: Option<&Path>) -> Result<Secrets> {
        let mut values = HashMap::new();
        if let Some(file) = file {
            for item in dotenvy::from_path_iter(file).with_context(|| format!("reading secrets file {}", file.display()))? {
                let (key, value) = item.with_context(|| format!("parsing secrets file {}", file.display()))?;
                values.insert(key, value);
            }
        }
        for (key, value) in std::env::vars() {
            if key == SUPERUSER_PASSWORD || (key.starts_with("SPIN_VARIABLE_") && key.ends_with("_DB_PASSWORD")) {
                values.insert(key, value);
            }
        }
        Ok(Secrets(values))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// `service`'s role password, checked to be usable as is inside a connection URL.
    pub fn service_password(&self, service: &str) -> Result<&str> {
        let key = password_env(service);
        let Some(password) = self.get(&key) else {
            bail!(
                "no database password for service `{service}` (role {}): set {key}, or pass --secrets-file \
                 (scripts/services.sh writes one under .data/<profile>/db-secrets.env)",
                role(service)
            )
        };
        check_password(password).with_context(|| format!("{key}"))?;
        Ok(password)
    }
}

/// A password travels inside `postgres://role:password@host/db` and inside SQL text, so only
/// characters that need no escaping in either are accepted, and enough of them.
fn check_password(password: &str) -> Result<()> {
    if password.len() < 16 {
        bail!("too short: use at least 16 characters (e.g. head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \\n')");
    }
    if !password.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)) {
        bail!("use only letters, digits and - . _ ~ (it is part of a URL)");
    }
    Ok(())
}

/// Creates the service's role if missing and (re)sets what it may do, on the cluster level:
/// log in with `password`, no other attribute; connect to its own `database`, which nobody
/// else (PUBLIC) may connect to any more.
pub async fn ensure_role(admin: &Client, service: &str, database: &str, password: &str) -> Result<()> {
    let role = role(service);
    let exists = admin.query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role]).await?.is_some();
    let verb = if exists { "ALTER" } else { "CREATE" };
    // DDL takes no parameters; the name is ours and the password was checked by `check_password`.
    admin
        .batch_execute(&format!(
            "{verb} ROLE \"{role}\" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT \
             PASSWORD '{password}';
             REVOKE ALL ON DATABASE \"{database}\" FROM PUBLIC;
             GRANT CONNECT, TEMPORARY ON DATABASE \"{database}\" TO \"{role}\";"
        ))
        .await
        .with_context(|| format!("setting up role {role}"))?;
    Ok(())
}

/// Inside the service's own database (after its migrations): its role may read and write the
/// tables and use the sequences, but not the migration history, and may not create anything.
pub async fn grant_tables(db: &Client, service: &str) -> Result<()> {
    let role = role(service);
    db.batch_execute(&format!(
        "REVOKE ALL ON SCHEMA public FROM PUBLIC;
         GRANT USAGE ON SCHEMA public TO \"{role}\";
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO \"{role}\";
         REVOKE ALL ON TABLE refinery_schema_history FROM \"{role}\";
         GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO \"{role}\";"
    ))
    .await
    .with_context(|| format!("granting {role} its tables in `{service}`"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_service() {
        assert_eq!(role("users"), "galley_users");
        assert_eq!(password_variable("orders"), "orders_db_password");
        assert_eq!(password_env("notifications"), "SPIN_VARIABLE_NOTIFICATIONS_DB_PASSWORD");
    }

    #[test]
    fn passwords_must_be_long_and_url_safe() {
        assert!(check_password("0123456789abcdef").is_ok());
        assert!(check_password("short").is_err());
        assert!(check_password("0123456789abcdef'; DROP ROLE x; --").is_err());
        assert!(check_password("0123456789abcdef@host").is_err());
    }

    #[test]
    fn a_missing_password_names_the_variable_to_set() {
        let secrets = Secrets::default();
        let message = format!("{:#}", secrets.service_password("catalog").unwrap_err());
        assert!(message.contains("SPIN_VARIABLE_CATALOG_DB_PASSWORD"), "{message}");
    }
}
