//! `spin.toml` (manifest version 2): parsing and validation.
//!
//! Only the keys galley implements are accepted. Serde rejects unknown keys with their name
//! and position; keys that Spin knows but galley does not support (`files`, `ai_models`,
//! component dependencies, ...) are caught by name so the message says so plainly instead of
//! silently ignoring them (Spin never ignores a key silently, and neither does galley).

// Some keys are parsed only so that the manifest validates as Spin's does (`version`,
// `description`, trigger `id`s, `[component.x.build]`, ...): galley has no use for them.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::app::template::{validate_variable_name, Template};

/// The whole manifest, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub spin_manifest_version: u32,
    pub application: Application,
    #[serde(default)]
    pub variables: BTreeMap<String, VariableDecl>,
    #[serde(default)]
    pub trigger: Triggers,
    #[serde(default)]
    pub component: BTreeMap<String, ComponentDecl>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub authors: Vec<String>,
    #[serde(default)]
    pub trigger: ApplicationTriggers,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationTriggers {
    #[serde(default)]
    pub redis: Option<ApplicationRedis>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationRedis {
    pub address: String,
}

/// `[variables]` entry: exactly one of `default` or `required = true`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableDecl {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub secret: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Triggers {
    #[serde(default)]
    pub http: Vec<HttpTriggerDecl>,
    #[serde(default)]
    pub redis: Vec<RedisTriggerDecl>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTriggerDecl {
    #[serde(default)]
    pub id: Option<String>,
    pub route: RouteDecl,
    #[serde(default)]
    pub component: Option<ComponentRef>,
    #[serde(default)]
    pub static_response: Option<StaticResponse>,
    #[serde(default)]
    pub executor: Option<toml::Value>,
}

/// `route = "/path"` or `route = { private = true }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RouteDecl {
    Path(String),
    Private { private: bool },
}

/// A trigger's `component`: galley supports a reference by id; inline tables are refused.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ComponentRef {
    Id(String),
    Inline(toml::Table),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticResponse {
    #[serde(default)]
    pub status_code: Option<u16>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisTriggerDecl {
    #[serde(default)]
    pub id: Option<String>,
    pub channel: String,
    pub component: ComponentRef,
    #[serde(default)]
    pub address: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentDecl {
    pub source: toml::Value,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    pub key_value_stores: Vec<String>,
    #[serde(default)]
    pub sqlite_databases: Vec<String>,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub build: Option<BuildDecl>,
    // Spin keys galley refuses, captured so the refusal names them (see `refuse_unsupported`).
    #[serde(default)]
    pub files: Option<toml::Value>,
    #[serde(default)]
    pub exclude_files: Option<toml::Value>,
    #[serde(default)]
    pub ai_models: Option<toml::Value>,
    #[serde(default)]
    pub dependencies: Option<toml::Value>,
    #[serde(default)]
    pub dependencies_inherit_configuration: Option<toml::Value>,
    #[serde(default)]
    pub allowed_http_hosts: Option<toml::Value>,
    #[serde(default)]
    pub tool: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildDecl {
    pub command: toml::Value,
    #[serde(default)]
    pub workdir: Option<String>,
    #[serde(default)]
    pub watch: Vec<String>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
}

/// Reads and validates a manifest file. Paths inside it are relative to its folder.
pub fn load(path: &Path) -> Result<Manifest> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read manifest {}", path.display()))?;
    parse(&text).with_context(|| format!("invalid manifest {}", path.display()))
}

pub fn parse(text: &str) -> Result<Manifest> {
    let manifest: Manifest = toml::from_str(text)?;
    manifest.validate()?;
    Ok(manifest)
}

impl Manifest {
    fn validate(&self) -> Result<()> {
        if self.spin_manifest_version != 2 {
            bail!(
                "`spin_manifest_version` is {}: galley supports version 2 only",
                self.spin_manifest_version
            );
        }
        for (name, decl) in &self.variables {
            validate_variable_name(name).with_context(|| format!("`variables.{name}`"))?;
            match (&decl.default, decl.required) {
                (Some(_), true) => {
                    bail!("`variables.{name}`: give either `default` or `required = true`, not both")
                }
                (None, false) => {
                    bail!("`variables.{name}`: needs either `default = \"...\"` or `required = true`")
                }
                _ => {}
            }
        }
        for (id, component) in &self.component {
            validate_component_id(id)?;
            component.refuse_unsupported(id)?;
            component.source_path(id)?;
            for (name, value) in &component.variables {
                validate_variable_name(name)
                    .with_context(|| format!("`component.{id}.variables.{name}`"))?;
                self.check_template(value, &format!("component.{id}.variables.{name}"))?;
            }
            for host in &component.allowed_outbound_hosts {
                self.check_template(host, &format!("component.{id}.allowed_outbound_hosts"))?;
            }
        }
        for (index, trigger) in self.trigger.http.iter().enumerate() {
            let key = format!("trigger.http[{index}]");
            if trigger.executor.is_some() {
                bail!("`{key}.executor`: galley runs only the default (wasi:http) executor");
            }
            match (&trigger.component, &trigger.static_response) {
                (Some(ComponentRef::Id(id)), None) => self.check_component(id, &key)?,
                (Some(ComponentRef::Inline(_)), _) => {
                    bail!("`{key}.component`: inline components are not supported; declare `[component.<id>]` and refer to it by id")
                }
                (None, Some(_)) => {
                    if matches!(trigger.route, RouteDecl::Private { .. }) {
                        bail!("`{key}`: a private route needs a component, not a static_response");
                    }
                }
                (Some(_), Some(_)) => bail!("`{key}`: give `component` or `static_response`, not both"),
                (None, None) => bail!("`{key}`: needs `component` (or `static_response`)"),
            }
            if let RouteDecl::Private { private: false } = trigger.route {
                bail!("`{key}.route`: `{{ private = false }}` is not a route; write the path");
            }
        }
        for (index, trigger) in self.trigger.redis.iter().enumerate() {
            let key = format!("trigger.redis[{index}]");
            match &trigger.component {
                ComponentRef::Id(id) => self.check_component(id, &key)?,
                ComponentRef::Inline(_) => {
                    bail!("`{key}.component`: inline components are not supported")
                }
            }
            self.check_template(&trigger.channel, &format!("{key}.channel"))?;
            match &trigger.address {
                Some(address) => self.check_template(address, &format!("{key}.address"))?,
                None if self.application.trigger.redis.is_none() => bail!(
                    "`{key}`: no `address`, and no `[application.trigger.redis] address` to fall back on"
                ),
                None => {}
            }
        }
        if let Some(redis) = &self.application.trigger.redis {
            self.check_template(&redis.address, "application.trigger.redis.address")?;
        }
        Ok(())
    }

    fn check_component(&self, id: &str, key: &str) -> Result<()> {
        if !self.component.contains_key(id) {
            bail!("`{key}.component`: no `[component.{id}]` in the manifest");
        }
        Ok(())
    }

    /// A template may name only application variables.
    fn check_template(&self, text: &str, key: &str) -> Result<()> {
        let template = Template::parse(text).with_context(|| format!("`{key}`"))?;
        for name in template.variable_names() {
            if !self.variables.contains_key(name) {
                bail!("`{key}`: `{{{{ {name} }}}}` names no variable in `[variables]`");
            }
        }
        Ok(())
    }
}

impl ComponentDecl {
    fn refuse_unsupported(&self, id: &str) -> Result<()> {
        let refused = [
            ("files", self.files.is_some()),
            ("exclude_files", self.exclude_files.is_some()),
            ("ai_models", self.ai_models.is_some()),
            ("dependencies", self.dependencies.is_some()),
            ("dependencies_inherit_configuration", self.dependencies_inherit_configuration.is_some()),
            ("allowed_http_hosts", self.allowed_http_hosts.is_some()),
        ];
        if let Some((key, _)) = refused.iter().find(|(_, present)| *present) {
            bail!("`component.{id}.{key}` is not supported by galley (see host/README.md)");
        }
        Ok(())
    }

    /// `source` must be a local path; URL/registry sources are refused.
    pub fn source_path(&self, id: &str) -> Result<PathBuf> {
        match &self.source {
            toml::Value::String(path) => Ok(PathBuf::from(path)),
            _ => bail!("`component.{id}.source`: only a local file path is supported"),
        }
    }
}

/// Spin's component ids: lowercase letters, digits and `-`/`_`, starting with a letter.
fn validate_component_id(id: &str) -> Result<()> {
    let mut chars = id.chars();
    let starts_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !(starts_ok && rest_ok) {
        bail!("`component.{id}`: an id is lowercase letters, digits, `-` and `_`, starting with a letter");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
spin_manifest_version = 2
[application]
name = "t"
[variables]
greeting = { default = "hi" }
[[trigger.http]]
route = "/..."
component = "echo"
[component.echo]
source = "echo.wasm"
"#;

    fn with(extra: &str) -> String {
        format!("{MINIMAL}{extra}")
    }

    fn error_of(text: &str) -> String {
        format!("{:#}", parse(text).unwrap_err())
    }

    #[test]
    fn minimal_manifest_loads() {
        let manifest = parse(MINIMAL).unwrap();
        assert_eq!(manifest.trigger.http.len(), 1);
    }

    #[test]
    fn unknown_key_is_named() {
        let err = error_of(&with("colour = \"blue\"\n"));
        assert!(err.contains("colour"), "{err}");
    }

    #[test]
    fn unsupported_spin_key_is_named() {
        let err = error_of(&with("files = [\"static/**\"]\n"));
        assert!(err.contains("component.echo.files"), "{err}");
    }

    #[test]
    fn unknown_trigger_type_is_refused() {
        let err = error_of(&with("[[trigger.cron]]\ncomponent = \"echo\"\n"));
        assert!(err.contains("cron"), "{err}");
    }

    #[test]
    fn variable_needs_default_or_required() {
        let text = MINIMAL.replace("greeting = { default = \"hi\" }", "greeting = { secret = true }");
        assert!(error_of(&text).contains("variables.greeting"));
        let text = MINIMAL.replace("{ default = \"hi\" }", "{ default = \"hi\", required = true }");
        assert!(error_of(&text).contains("not both"));
    }

    #[test]
    fn bad_variable_name_is_refused() {
        let text = MINIMAL.replace("greeting =", "Greeting =");
        assert!(error_of(&text).contains("variables.Greeting"));
    }

    #[test]
    fn template_must_name_a_variable() {
        let err = error_of(&with("[component.echo.variables]\nx = \"{{ nope }}\"\n"));
        assert!(err.contains("nope"), "{err}");
    }

    #[test]
    fn trigger_must_name_a_component() {
        let text = MINIMAL.replace("component = \"echo\"", "component = \"missing\"");
        assert!(error_of(&text).contains("missing"));
    }

    #[test]
    fn only_version_two() {
        let text = MINIMAL.replace("= 2", "= 1");
        assert!(error_of(&text).contains("version 2"));
    }
}
