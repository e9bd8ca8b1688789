//! `runtime-config.toml`: the backing stores behind key-value labels and SQLite databases.
//!
//! Supported: `[key_value_store.<label>]` with `type = "spin"` (SQLite at `path`, relative to
//! the runtime-config file's folder, or in memory without one) or `type = "redis"`
//! (`url = "redis://..."`); `[sqlite_database.<label>]` with `type = "spin"` (a file at
//! `path`, or in memory without one). A relative SQLite database `path` is relative to the
//! working directory, not to the file: Spin resolves it that way (unlike key-value paths), and
//! the same runtime config must open the same database under either host. Anything else —
//! other sections, other store types (`libsql` included), unknown keys — is an error, as it
//! is in Spin.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    #[serde(default)]
    pub key_value_store: BTreeMap<String, KeyValueStoreConfig>,
    #[serde(default)]
    pub sqlite_database: BTreeMap<String, SqliteDatabaseConfig>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum SqliteDatabaseConfig {
    Spin {
        #[serde(default)]
        path: Option<PathBuf>,
    },
    /// A remote libSQL (Turso) database: recognised only so the refusal can say so.
    #[allow(dead_code)]
    Libsql {
        #[serde(default)]
        url: Option<String>,
        #[serde(default)]
        token: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum KeyValueStoreConfig {
    Spin {
        #[serde(default)]
        path: Option<PathBuf>,
    },
    Redis {
        url: String,
    },
}

impl RuntimeConfig {
    /// Reads the file; relative SQLite paths are made relative to the file's folder.
    pub fn load(path: &Path) -> Result<RuntimeConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read runtime config {}", path.display()))?;
        let mut config = Self::parse(&text)
            .with_context(|| format!("invalid runtime config {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for store in config.key_value_store.values_mut() {
            if let KeyValueStoreConfig::Spin { path: Some(file) } = store {
                if file.is_relative() {
                    *file = base.join(&*file);
                }
            }
        }
        Ok(config)
    }

    pub fn parse(text: &str) -> Result<RuntimeConfig> {
        let config: RuntimeConfig = toml::from_str(text)?;
        for (label, store) in &config.key_value_store {
            if let KeyValueStoreConfig::Redis { url } = store {
                if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                    bail!("`key_value_store.{label}.url` must be a redis:// URL");
                }
            }
        }
        for (label, database) in &config.sqlite_database {
            if let SqliteDatabaseConfig::Libsql { .. } = database {
                bail!("`sqlite_database.{label}`: type = \"libsql\" (a remote libSQL database) is not supported by galley; use type = \"spin\"");
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spin_and_redis_stores() {
        let config = RuntimeConfig::parse(
            "[key_value_store.cache]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:6379\"\n\
             [key_value_store.mem]\ntype = \"spin\"\n\
             [key_value_store.disk]\ntype = \"spin\"\npath = \"data/kv.db\"\n",
        )
        .unwrap();
        assert_eq!(config.key_value_store.len(), 3);
        assert_eq!(config.key_value_store["mem"], KeyValueStoreConfig::Spin { path: None });
    }

    #[test]
    fn sqlite_databases() {
        let config = RuntimeConfig::parse(
            "[sqlite_database.default]\ntype = \"spin\"\npath = \"data/app.db\"\n\
             [sqlite_database.scratch]\ntype = \"spin\"\n",
        )
        .unwrap();
        assert_eq!(config.sqlite_database["default"], SqliteDatabaseConfig::Spin { path: Some("data/app.db".into()) });
        assert_eq!(config.sqlite_database["scratch"], SqliteDatabaseConfig::Spin { path: None });
    }

    #[test]
    fn unknown_keys_and_types_are_errors() {
        assert!(RuntimeConfig::parse("[llm_compute]\ntype = \"spin\"\n").is_err());
        assert!(RuntimeConfig::parse("[sqlite_database.x]\ntype = \"spin\"\ncolour = 1\n").is_err());
        let libsql = RuntimeConfig::parse("[sqlite_database.x]\ntype = \"libsql\"\nurl = \"https://db\"\ntoken = \"t\"\n");
        assert!(libsql.unwrap_err().to_string().contains("libsql"));
        assert!(RuntimeConfig::parse("[key_value_store.x]\ntype = \"azure_cosmos\"\n").is_err());
        assert!(RuntimeConfig::parse("[key_value_store.x]\ntype = \"spin\"\ncolour = 1\n").is_err());
        assert!(RuntimeConfig::parse("[key_value_store.x]\ntype = \"redis\"\nurl = \"http://x\"\n").is_err());
    }
}
