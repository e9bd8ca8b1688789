//! `runtime-config.toml`: the backing stores behind key-value labels.
//!
//! Supported: `[key_value_store.<label>]` with `type = "spin"` (SQLite at `path`, relative to
//! the runtime-config file's folder, or in memory without one) or `type = "redis"`
//! (`url = "redis://..."`). Anything else — other sections, other store types, unknown keys —
//! is an error, as it is in Spin.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    #[serde(default)]
    pub key_value_store: BTreeMap<String, KeyValueStoreConfig>,
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
    fn unknown_keys_and_types_are_errors() {
        assert!(RuntimeConfig::parse("[sqlite_database.default]\ntype = \"spin\"\n").is_err());
        assert!(RuntimeConfig::parse("[key_value_store.x]\ntype = \"azure_cosmos\"\n").is_err());
        assert!(RuntimeConfig::parse("[key_value_store.x]\ntype = \"spin\"\ncolour = 1\n").is_err());
        assert!(RuntimeConfig::parse("[key_value_store.x]\ntype = \"redis\"\nurl = \"http://x\"\n").is_err());
    }
}
