//! The two local profiles, each with its own ports and its own folder `.data/<profile>/`, so
//! neither disturbs the other or a system service:
//!
//! | profile | used by | Postgres | Redis | mosquitto |
//! |---|---|---|---|---|
//! | `dev` | `make up` | 54330 | 63790 | 18830 |
//! | `test` | `make test`, fuzz, soak, benches | 54331 | 63791 | 18831 |
//!
//! (`GALLEY_PG_PORT`, `GALLEY_REDIS_PORT` and `GALLEY_MQTT_PORT` move them.) `up` is
//! idempotent: it installs what is missing, runs initdb only once, and starts only what is not
//! running. Every database role needs its password over TCP: the superuser `galley` (for
//! galley-migrate and the tests only) and one role per service, created by galley-migrate;
//! the passwords are generated once into `.data/<profile>/db-secrets.env` (mode 600).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::mosquitto::Mosquitto;
use crate::postgres::{Cluster, Durability, StopMode};
use crate::redis::Redis;

/// The services with a database and a role of their own (galley-migrate's list; it refuses
/// to run without each one's password).
pub const SERVICES: [&str; 7] = ["users", "catalog", "inventory", "orders", "payments", "files", "notifications"];

/// The superuser's password's name in the secrets file.
pub const SUPERUSER_PASSWORD: &str = "GALLEY_PG_PASSWORD";

#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub pg_port: u16,
    pub redis_port: u16,
    pub mqtt_port: u16,
    pub data: PathBuf,
}

fn port_from_env(name: &str, default: u16) -> Result<u16> {
    match std::env::var(name) {
        Ok(value) => value.parse().with_context(|| format!("{name}=`{value}` is not a port")),
        Err(_) => Ok(default),
    }
}

impl Profile {
    pub fn named(name: &str) -> Result<Profile> {
        let (pg, redis, mqtt) = match name {
            "dev" => (54330, 63790, 18830),
            "test" => (54331, 63791, 18831),
            other => bail!("unknown profile `{other}` (dev or test)"),
        };
        Ok(Profile {
            name: name.to_owned(),
            pg_port: port_from_env("GALLEY_PG_PORT", pg)?,
            redis_port: port_from_env("GALLEY_REDIS_PORT", redis)?,
            mqtt_port: port_from_env("GALLEY_MQTT_PORT", mqtt)?,
            data: crate::repo_root().join(".data").join(name),
        })
    }

    pub fn secrets_file(&self) -> PathBuf {
        self.data.join("db-secrets.env")
    }

    /// The runtime config `galley up`/`spin up` get: the repo's, with this profile's Redis.
    pub fn runtime_config(&self) -> PathBuf {
        self.data.join("runtime-config.toml")
    }

    pub fn redis(&self) -> Redis {
        Redis::new(self.redis_port, &self.data.join("redis"))
    }

    pub fn mosquitto(&self) -> Mosquitto {
        Mosquitto::new(self.mqtt_port, &self.data.join("mosquitto"))
    }

    /// The profile's cluster, in `.data/<profile>/pg`, or, when root runs from a checkout the
    /// `postgres` user cannot reach (say, under /root), in /var/tmp with `.data/<profile>/pg`
    /// a link to it, so the layout seen from the repo is the same.
    pub fn postgres(&self) -> Result<Cluster> {
        let home = self.postgres_home()?;
        Ok(Cluster::new(&home, self.pg_port, Durability::Durable)?
            // The host pools up to 64 connections per connection string, per process; the
            // replicas profile and its tests run several processes.
            .setting("max_connections", "1000")
            // Calls, time and WAL per statement, for an operator and bench/orders.sh
            // (`CREATE EXTENSION pg_stat_statements` in a database to read them there).
            .setting("shared_preload_libraries", "pg_stat_statements")
            .setting("pg_stat_statements.track", "all"))
    }

    fn postgres_home(&self) -> Result<PathBuf> {
        let link = self.data.join("pg");
        if link.exists() {
            // Resolved: `postgres` may be unable to traverse the link's own location.
            return link.canonicalize().with_context(|| format!("resolving {}", link.display()));
        }
        std::fs::create_dir_all(&self.data)?;
        crate::postgres::give_to_server_user(&self.data)?;
        if !crate::postgres::server_user_can_write(&self.data) {
            let alt = Path::new("/var/tmp").join(format!("galley-{:012x}", path_hash(&crate::repo_root()))).join(&self.name);
            std::fs::create_dir_all(&alt)?;
            crate::postgres::give_to_server_user(alt.parent().expect("a parent"))?;
            std::os::unix::fs::symlink(&alt, &link)?;
            return Ok(alt);
        }
        Ok(link)
    }

    /// `KEY=value` pairs of the secrets file.
    pub fn secrets(&self) -> Result<Vec<(String, String)>> {
        let path = self.secrets_file();
        let text = std::fs::read_to_string(&path).with_context(|| format!("{} (`scripts/services.sh up {}` writes it)", path.display(), self.name))?;
        Ok(text.lines().filter_map(|line| line.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
    }

    /// One value of [`Profile::secrets`].
    pub fn secret(&self, key: &str) -> Result<String> {
        self.secrets()?.into_iter().find(|(k, _)| k == key).map(|(_, v)| v).with_context(|| format!("{key} missing from {}", self.secrets_file().display()))
    }

    /// What the app needs from this profile, as Spin variables: where Postgres and Redis are,
    /// and each service role's password (never the superuser's).
    pub fn app_env(&self) -> Result<Vec<(String, String)>> {
        let mut env = vec![
            ("SPIN_VARIABLE_DB_HOST".to_owned(), "127.0.0.1".to_owned()),
            ("SPIN_VARIABLE_DB_PORT".to_owned(), self.pg_port.to_string()),
            ("SPIN_VARIABLE_REDIS_PORT".to_owned(), self.redis_port.to_string()),
        ];
        env.extend(self.secrets()?.into_iter().filter(|(k, _)| k.starts_with("SPIN_VARIABLE_")));
        Ok(env)
    }

    /// Adds any missing password to the secrets file; existing ones never change.
    fn write_secrets(&self) -> Result<()> {
        std::fs::create_dir_all(&self.data)?;
        let path = self.secrets_file();
        let existing = std::fs::read_to_string(&path).unwrap_or_default();
        let mut file = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::File::options().create(true).append(true).mode(0o600).open(&path)?
        };
        let keys = std::iter::once(SUPERUSER_PASSWORD.to_owned())
            .chain(SERVICES.iter().map(|s| format!("SPIN_VARIABLE_{}_DB_PASSWORD", s.to_uppercase())));
        for key in keys {
            if !existing.lines().any(|line| line.starts_with(&format!("{key}="))) {
                writeln!(file, "{key}={}", random_hex(24)?)?;
            }
        }
        Ok(())
    }

    fn write_runtime_config(&self) -> Result<()> {
        let text = std::fs::read_to_string(crate::repo_root().join("runtime-config.toml"))?;
        let text = text.replace("127.0.0.1:63790", &format!("127.0.0.1:{}", self.redis_port));
        Ok(std::fs::write(self.runtime_config(), text)?)
    }

    fn log(&self, message: &str) {
        eprintln!("[services:{}] {message}", self.name);
    }

    /// Postgres (with passwords required), Redis and, for `test`, mosquitto and Prometheus's
    /// binaries; the secrets file and the runtime config.
    pub fn up(&self) -> Result<()> {
        self.write_secrets()?;
        let postgres = self.postgres()?;
        postgres.init()?;
        if postgres.is_running() {
            self.log(&format!("postgres already running on 127.0.0.1:{}", self.pg_port));
        } else {
            self.log(&format!("starting postgres on 127.0.0.1:{}", self.pg_port));
            postgres.start()?;
        }
        postgres.require_passwords(&self.secret(SUPERUSER_PASSWORD)?)?;
        let redis = self.redis();
        self.log(&format!("redis on 127.0.0.1:{}", self.redis_port));
        redis.start()?;
        if self.name == "test" {
            self.log(&format!("mosquitto on 127.0.0.1:{}", self.mqtt_port));
            self.mosquitto().start()?;
            crate::install::ensure_prometheus()?;
        }
        self.write_runtime_config()
    }

    pub fn down(&self) -> Result<()> {
        if self.data.join("pg").exists() && crate::install::postgres_bindir().is_some() {
            let postgres = self.postgres()?;
            if postgres.is_running() {
                self.log("stopping postgres");
                postgres.stop(StopMode::Fast)?;
            }
        }
        if self.redis().stop() {
            self.log("stopped redis");
        }
        if self.mosquitto().stop() {
            self.log("stopped mosquitto");
        }
        Ok(())
    }

    /// Stops everything and deletes the profile's data (the cluster included).
    pub fn reset(&self) -> Result<()> {
        self.down()?;
        let link = self.data.join("pg");
        if link.is_symlink() {
            let target = std::fs::read_link(&link)?;
            std::fs::remove_dir_all(&target).with_context(|| format!("removing {}", target.display()))?;
        }
        if self.data.exists() {
            std::fs::remove_dir_all(&self.data).with_context(|| format!("removing {}", self.data.display()))?;
        }
        self.log(&format!("wiped {}", self.data.display()));
        Ok(())
    }

    pub fn status(&self) -> Result<String> {
        let running = |yes: bool| if yes { "running" } else { "not running" };
        let postgres = self.data.join("pg").exists() && self.postgres()?.is_running();
        Ok(format!(
            "postgres 127.0.0.1:{} {}\nredis 127.0.0.1:{} {}\nmosquitto 127.0.0.1:{} {}",
            self.pg_port,
            running(postgres),
            self.redis_port,
            running(self.redis().pid().is_some()),
            self.mqtt_port,
            running(self.mosquitto().pid().is_some())
        ))
    }
}

/// `bytes` random bytes as hex, from the kernel's generator.
pub fn random_hex(bytes: usize) -> Result<String> {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(hex::encode(buf))
}

/// FNV-1a of a path: a stable short name for a checkout's folder under /var/tmp.
fn path_hash(path: &Path) -> u64 {
    path.as_os_str().as_encoded_bytes().iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x100_0000_01b3))
        & 0xffff_ffff_ffff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_have_their_own_ports_and_folders() {
        let (dev, test) = (Profile::named("dev").unwrap(), Profile::named("test").unwrap());
        assert_ne!(dev.data, test.data);
        if std::env::var_os("GALLEY_PG_PORT").is_none() {
            assert_eq!((dev.pg_port, test.pg_port), (54330, 54331));
        }
        assert!(Profile::named("prod").is_err(), "only the two local profiles exist");
    }

    #[test]
    fn secrets_are_long_random_hex() {
        let (a, b) = (random_hex(24).unwrap(), random_hex(24).unwrap());
        assert_eq!(a.len(), 48);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
