//! `{{ name }}` templates: parsing, the names they use, and rendering against the resolved
//! application variables. Plain text work with no other part of the host: the manifest parses
//! its templates with it at load, and `variables.rs` resolves the values they are rendered with.

use std::collections::HashMap;

use anyhow::{anyhow, bail, Context, Result};

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
    pub fn new(values: HashMap<String, String>) -> ResolvedVariables {
        ResolvedVariables { values }
    }

    pub fn get(&self, name: &str) -> Result<&str> {
        self.values
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| anyhow!("variable `{name}` has no value"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_render_and_reject_bad_syntax() {
        let values = ResolvedVariables::new(HashMap::from([("host".into(), "db".into()), ("port".into(), "5432".into())]));
        assert_eq!(render("postgres://{{host}}:{{ port }}/x", &values).unwrap(), "postgres://db:5432/x");
        assert!(Template::parse("{{ host").is_err());
        assert!(Template::parse("{{ Host }}").is_err());
        assert!(render("{{ missing }}", &values).is_err());
    }
}
