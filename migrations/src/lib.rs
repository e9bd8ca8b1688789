//! galley-migrate: one Postgres database per service, each with its own ordered migrations.
//!
//! Migrations are embedded at build time from `migrations/<service>/V<n>__<name>.sql` and
//! applied with refinery, which records what ran in each database's
//! `refinery_schema_history` table, so running again is a no-op.

use std::path::PathBuf;

use anyhow::{Context, Result};
use tokio_postgres::{Client, NoTls};

pub mod privileges;

/// Declares the services, one line each (the module of its embedded migrations, and its name,
/// which is also its migrations' folder), and from that one list [`SERVICES`] and [`runner`].
macro_rules! services {
    ($($module:ident => $name:tt),+ $(,)?) => {
        /// The service databases, in the order they are created.
        pub const SERVICES: [&str; [$($name),+].len()] = [$($name),+];

        mod embedded {
            $(pub mod $module {
                refinery::embed_migrations!($name);
            })+
        }

        /// The refinery runner holding `service`'s migrations.
        pub fn runner(service: &str) -> Option<refinery::Runner> {
            match service {
                $($name => Some(embedded::$module::migrations::runner()),)+
                _ => None,
            }
        }
    };
}

services! {
    users => "users",
    catalog => "catalog",
    inventory => "inventory",
    orders => "orders",
    payments => "payments",
    files => "files",
    notifications => "notifications",
}

/// Where the cluster is. Each value also comes from the environment, as the Makefile sets it.
#[derive(Debug, Clone, clap::Args)]
pub struct PgArgs {
    #[arg(long, env = "GALLEY_PG_HOST", default_value = "127.0.0.1")]
    pub host: String,
    #[arg(long, env = "GALLEY_PG_PORT", default_value_t = 54330)]
    pub port: u16,
    #[arg(long = "pg-user", env = "GALLEY_PG_USER", default_value = "galley")]
    pub user: String,
    /// `KEY=value` lines with the superuser's password (`GALLEY_PG_PASSWORD`) and each
    /// service role's (`SPIN_VARIABLE_<SERVICE>_DB_PASSWORD`); the environment overrides it.
    /// The local profiles keep theirs in `.data/<profile>/db-secrets.env`.
    #[arg(long = "secrets-file", env = "GALLEY_DB_SECRETS_FILE")]
    pub secrets_file: Option<PathBuf>,
}

impl PgArgs {
    /// The passwords from `--secrets-file` and the environment.
    pub fn secrets(&self) -> Result<privileges::Secrets> {
        privileges::Secrets::load(self.secrets_file.as_deref())
    }

    /// A connected client for database `dbname` (the connection task runs in the background).
    pub async fn connect(&self, dbname: &str) -> Result<Client> {
        let secrets = self.secrets()?;
        let mut config = tokio_postgres::Config::new();
        config.host(&self.host).port(self.port).user(&self.user).dbname(dbname);
        if let Some(password) = secrets.get(privileges::SUPERUSER_PASSWORD) {
            config.password(password);
        }
        let (client, connection) = config
            .connect(NoTls)
            .await
            .with_context(|| format!("connecting to database `{dbname}` at {}:{}", self.host, self.port))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                eprintln!("postgres connection error: {e}");
            }
        });
        Ok(client)
    }
}

/// Creates database `name` unless it exists. Names are a service's from [`SERVICES`] plus a
/// checked suffix (lower-case letters, digits, `_`), never free input, which is why quoting
/// them as identifiers here is enough.
pub async fn ensure_database(admin: &Client, name: &str, fresh: bool) -> Result<bool> {
    if fresh {
        drop_database(admin, name).await?;
    }
    let exists = admin.query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name]).await?.is_some();
    if !exists {
        admin.batch_execute(&format!("CREATE DATABASE \"{name}\"")).await?;
    }
    Ok(!exists)
}

/// Drops database `name` if it exists, ending its sessions ([`ensure_database`] on names).
pub async fn drop_database(admin: &Client, name: &str) -> Result<()> {
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_has_its_own_migrations_and_no_other_name_has_any() {
        for service in SERVICES {
            let runner = runner(service).unwrap_or_else(|| panic!("{service} has no runner"));
            assert!(!runner.get_migrations().is_empty(), "{service} has no migrations");
        }
        assert!(runner("nobody").is_none());
    }
}
