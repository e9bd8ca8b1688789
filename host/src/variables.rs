//! Application variables: `{{ name }}` templates and Spin's resolution order.
//!
//! Order (first wins): `--variable` on the command line, then `SPIN_VARIABLE_<NAME>` in the
//! process environment, then the same in a `.env` file beside the manifest, then the
//! manifest's `default`. A `required` variable with no value stops the app at load. galley has
//! no runtime-config variable providers (Vault, Azure Key Vault): declaring one in
//! `runtime-config.toml` is refused there.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};

use crate::app::AppComponent;
use crate::bindings::variables as wit;
use crate::manifest::Manifest;

/// Spin's rule for variable names: lowercase letters, digits and `_`, starting with a letter.
pub fn validate_variable_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let starts_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !(starts_ok && rest_ok) {
        bail!("variable name `{name}` must be lowercase letters, digits and `_`, starting with a letter");
    }
    Ok(())
}

/// A string with `{{ variable }}` holes.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(String),
    Variable(String),
}

impl Template {
    pub fn parse(text: &str) -> Result<Template> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Literal(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| anyhow!("unclosed `{{{{` in `{text}`"))?;
            let name = after[..end].trim();
            validate_variable_name(name).with_context(|| format!("in template `{text}`"))?;
            parts.push(Part::Variable(name.to_string()));
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        Ok(Template { parts })
    }

    pub fn variable_names(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            Part::Variable(name) => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    pub fn render(&self, values: &ResolvedVariables) -> Result<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Variable(name) => out.push_str(values.get(name)?),
            }
        }
        Ok(out)
    }
}

/// Renders a template string against the resolved application variables.
pub fn render(text: &str, values: &ResolvedVariables) -> Result<String> {
    Template::parse(text)?.render(values)
}

/// Every application variable with its final value, resolved once at load.
#[derive(Debug, Clone, Default)]
pub struct ResolvedVariables {
    values: HashMap<String, String>,
}

impl ResolvedVariables {
    pub fn get(&self, name: &str) -> Result<&str> {
        self.values
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| anyhow!("variable `{name}` has no value"))
    }
}

/// Where values come from, besides the manifest defaults.
pub struct VariableSources<'a> {
    pub command_line: &'a [(String, String)],
    pub environment: &'a HashMap<String, String>,
    pub dotenv: &'a HashMap<String, String>,
}

/// Reads `.env` beside the manifest (if present) into a map of `SPIN_VARIABLE_*` entries.
pub fn read_dotenv(manifest_dir: &Path) -> Result<HashMap<String, String>> {
    let path = manifest_dir.join(".env");
    if !path.exists() {
        return Ok(HashMap::new());
    }
    let mut values = HashMap::new();
    for item in dotenvy::from_path_iter(&path).with_context(|| format!("reading {}", path.display()))? {
        let (key, value) = item.with_context(|| format!("parsing {}", path.display()))?;
        values.insert(key, value);
    }
    Ok(values)
}

pub fn resolve(manifest: &Manifest, sources: &VariableSources) -> Result<ResolvedVariables> {
    let command_line: BTreeMap<&str, &str> = sources
        .command_line
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    for name in command_line.keys() {
        if !manifest.variables.contains_key(*name) {
            bail!("--variable {name}: the manifest declares no variable `{name}`");
        }
    }
    let mut values = HashMap::new();
    for (name, decl) in &manifest.variables {
        let env_key = format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase());
        let value = command_line
            .get(name.as_str())
            .map(|v| v.to_string())
            .or_else(|| sources.environment.get(&env_key).cloned())
            .or_else(|| sources.dotenv.get(&env_key).cloned())
            .or_else(|| decl.default.clone());
        match value {
            Some(value) => {
                values.insert(name.clone(), value);
            }
            None => bail!(
                "required variable `{name}` has no value: pass --variable {name}=... or set {env_key}"
            ),
        }
    }
    Ok(ResolvedVariables { values })
}

/// A component's own variables (`[component.<id>.variables]`), rendered against the app's.
pub fn component_variables(
    declared: &BTreeMap<String, String>,
    app: &ResolvedVariables,
) -> Result<HashMap<String, String>> {
    declared
        .iter()
        .map(|(name, template)| Ok((name.clone(), render(template, app)?)))
        .collect()
}

/// What one instance may read: its component's own variables, rendered at load.
pub struct VariablesState {
    values: Arc<HashMap<String, String>>,
}

impl VariablesState {
    pub fn new(component: &AppComponent) -> VariablesState {
        VariablesState { values: component.variables.clone() }
    }
}

/// `fermyon:spin/variables@2.0.0`: a component reads only its own `[component.x.variables]`.
impl wit::Host for VariablesState {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, wit::Error>> {
        if validate_variable_name(&name).is_err() {
            return Ok(Err(wit::Error::InvalidName(name)));
        }
        Ok(self.values.get(&name).cloned().ok_or(wit::Error::Undefined(name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(vars: &str) -> Manifest {
        crate::manifest::parse(&format!(
            "spin_manifest_version = 2\n[application]\nname = \"t\"\n[variables]\n{vars}\n"
        ))
        .unwrap()
    }

    fn resolve_with(
        manifest: &Manifest,
        cli: &[(&str, &str)],
        env: &[(&str, &str)],
        dotenv: &[(&str, &str)],
    ) -> Result<ResolvedVariables> {
        let cli: Vec<(String, String)> =
            cli.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let to_map = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        resolve(
            manifest,
            &VariableSources {
                command_line: &cli,
                environment: &to_map(env),
                dotenv: &to_map(dotenv),
            },
        )
    }

    #[test]
    fn resolution_order_is_cli_env_dotenv_default() {
        let m = manifest("a = { default = \"d\" }");
        let key = "SPIN_VARIABLE_A";
        let all = resolve_with(&m, &[("a", "cli")], &[(key, "env")], &[(key, "dot")]).unwrap();
        assert_eq!(all.get("a").unwrap(), "cli");
        let env = resolve_with(&m, &[], &[(key, "env")], &[(key, "dot")]).unwrap();
        assert_eq!(env.get("a").unwrap(), "env");
        let dot = resolve_with(&m, &[], &[], &[(key, "dot")]).unwrap();
        assert_eq!(dot.get("a").unwrap(), "dot");
        let default = resolve_with(&m, &[], &[], &[]).unwrap();
        assert_eq!(default.get("a").unwrap(), "d");
    }

    #[test]
    fn missing_required_variable_stops_the_app() {
        let m = manifest("secret_key = { required = true, secret = true }");
        let err = resolve_with(&m, &[], &[], &[]).unwrap_err().to_string();
        assert!(err.contains("secret_key") && err.contains("SPIN_VARIABLE_SECRET_KEY"), "{err}");
    }

    #[test]
    fn unknown_command_line_variable_is_refused() {
        let m = manifest("a = { default = \"d\" }");
        assert!(resolve_with(&m, &[("b", "x")], &[], &[]).is_err());
    }

    #[test]
    fn dotenv_beside_the_manifest_is_read() {
        let dir = std::env::temp_dir().join(format!("galley-dotenv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(read_dotenv(&dir).unwrap().is_empty());
        std::fs::write(dir.join(".env"), "SPIN_VARIABLE_A=from-dotenv\n# comment\n").unwrap();
        let values = read_dotenv(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(values.get("SPIN_VARIABLE_A").map(String::as_str), Some("from-dotenv"));
    }

    #[test]
    fn templates_render_and_reject_bad_syntax() {
        let m = manifest("host = { default = \"db\" }\nport = { default = \"5432\" }");
        let values = resolve_with(&m, &[], &[], &[]).unwrap();
        assert_eq!(render("postgres://{{host}}:{{ port }}/x", &values).unwrap(), "postgres://db:5432/x");
        assert!(Template::parse("{{ host").is_err());
        assert!(Template::parse("{{ Host }}").is_err());
    }
}
