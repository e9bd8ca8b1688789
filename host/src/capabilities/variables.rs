//! Application variables: Spin's resolution order at load, and `fermyon:spin/variables` for
//! the instances (templates themselves are `template.rs`).
//!
//! Order (first wins): `--variable` on the command line, then `SPIN_VARIABLE_<NAME>` in the
//! process environment, then the same in a `.env` file beside the manifest, then the
//! manifest's `default`. A `required` variable with no value stops the app at load. galley has
//! no runtime-config variable providers (Vault, Azure Key Vault): declaring one in
//! `runtime-config.toml` is refused there.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};

use crate::bindings::variables as wit;
use crate::app::manifest::Manifest;
use crate::app::template::{render, validate_variable_name, ResolvedVariables};

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
    Ok(ResolvedVariables::new(values))
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
    /// `values`: the component's own variables, rendered at load.
    pub fn new(values: Arc<HashMap<String, String>>) -> VariablesState {
        VariablesState { values }
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
        crate::app::manifest::parse(&format!(
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
}
