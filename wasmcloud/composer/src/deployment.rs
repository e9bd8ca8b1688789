//! The Kubernetes objects that deploy the composed components on wasmCloud 2.x (its runtime
//! operator's `WorkloadDeployment`), generated from `spin.toml` so the two cannot drift:
//! `galley-wasmcloud deployment` writes `deploy/wasmcloud/galley.yaml`, and a test fails when
//! the committed file is not what the manifest gives.
//!
//! Per component:
//! - a `WorkloadDeployment` running its composed image, with the host interfaces its
//!   adapters import, its Spin variables as `wasi:config` (plain ones resolved from the cluster
//!   values, the ones built from a secret from a Secret `galley-<component>` whose keys are the
//!   variable names), and what its guest code dials as the workload's `allowedHosts` and
//!   `allowedIpNameLookups` (Postgres, for the Postgres adapter; the other workloads, to chain);
//! - for an HTTP component, a Service of its name (the operator keeps its endpoints) and, for
//!   its public routes, an Ingress that sends them there with the Host header the workload is
//!   bound to (wasmCloud routes HTTP by host). Service chaining uses the same names.
//!
//! The Redis-triggered component subscribes to its channel as a messaging subject.

use std::collections::BTreeMap;

use anyhow::Context;
use serde_json::{json, Value};

use crate::manifest::{App, AppComponent};

/// Cluster-side settings: the namespace, where images live, and the values of the app
/// variables that are not secret (from `deploy/wasmcloud/values.toml`).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ClusterValues {
    pub namespace: String,
    pub image_prefix: String,
    pub image_tag: String,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
}

impl ClusterValues {
    pub fn read(path: &std::path::Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// The name a component is served under, inside the cluster.
    pub fn host_of(&self, component: &str) -> String {
        format!("{component}.{}.svc.cluster.local", self.namespace)
    }
}

/// A variable's template with every `{{ name }}` replaced by `value(name)`.
pub(crate) fn render(template: &str, value: &dyn Fn(&str) -> String) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else { break };
        out.push_str(&value(rest[start + 2..start + end].trim()));
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

/// The app variables a template refers to.
fn referenced(template: &str) -> Vec<String> {
    let names = std::cell::RefCell::new(Vec::new());
    render(template, &|name| {
        names.borrow_mut().push(name.to_owned());
        String::new()
    });
    names.into_inner()
}

/// A component's variables split into plain configuration and the secret ones (with the
/// template of each, secrets left as `<name>`, for the Secret's example file).
pub struct Variables {
    pub config: BTreeMap<String, String>,
    pub secret: BTreeMap<String, String>,
}

pub fn variables(app: &App, component: &AppComponent, values: &ClusterValues) -> Variables {
    let value = |name: &str| {
        values.variables.get(name).cloned().or_else(|| app.variables.get(name).and_then(|v| v.default.clone())).unwrap_or_default()
    };
    let mut out = Variables { config: BTreeMap::new(), secret: BTreeMap::new() };
    for (name, template) in &component.variables {
        let secret = referenced(template).iter().any(|r| app.variables.get(r).is_some_and(|v| v.secret));
        if secret {
            let example = render(template, &|n| if app.variables.get(n).is_some_and(|v| v.secret) { format!("<{n}>") } else { value(n) });
            out.secret.insert(name.clone(), example);
        } else {
            out.config.insert(name.clone(), render(template, &value));
        }
    }
    out
}

fn host_interface(namespace: &str, package: &str, version: Option<&str>, interfaces: &[&str], config: Option<Value>) -> Value {
    let mut interface = json!({ "namespace": namespace, "package": package, "interfaces": interfaces });
    if let Some(version) = version {
        interface["version"] = json!(version);
    }
    if let Some(config) = config {
        interface["config"] = config;
    }
    interface
}

/// The Spin route as an Ingress path: exact, or a prefix up to its first parameter or wildcard.
fn ingress_path(route: &str) -> Value {
    match route.find("/:").or_else(|| route.find("/...")) {
        Some(cut) => json!({ "path": format!("{}/", &route[..cut]), "pathType": "Prefix" }),
        None => json!({ "path": route, "pathType": "Exact" }),
    }
}

/// Every object, in order: per component its WorkloadDeployment, then its Service and Ingress.
pub fn objects(app: &App, values: &ClusterValues) -> Vec<Value> {
    let mut objects = Vec::new();
    for (id, component) in &app.components {
        let vars = variables(app, component, values);
        let routes: Vec<&str> = app.http_routes(id);
        let http = app.is_http(id);
        let channel = app.redis_channel(id);

        let mut config: BTreeMap<String, String> = vars.config;
        if component.chains() {
            config.insert("spin_internal_authority".into(), values.host_of("{component}"));
        }
        let mut local = json!({ "config": config });
        if !vars.secret.is_empty() {
            local["environment"] = json!({ "secretFrom": [{ "name": format!("galley-{id}") }] });
        }
        // What the guest itself dials: Postgres (the adapter's socket, after its own name lookup)
        // and, when it chains, the other workloads. Redis is not here: on wasmCloud the host's
        // key-value and messaging plugins reach their backends, not the component.
        let postgres: Vec<String> = component
            .allowed_outbound_hosts
            .iter()
            .filter_map(|h| h.strip_prefix("postgres://"))
            .map(|h| render(h, &|n| values.variables.get(n).cloned().unwrap_or_default()))
            .collect();
        let allowed: Vec<String> = postgres
            .iter()
            .cloned()
            .chain(component.chains().then(|| format!("*.{}.svc.cluster.local", values.namespace)))
            .collect();
        if !allowed.is_empty() {
            local["allowedHosts"] = json!(allowed);
        }
        let lookups: Vec<&str> = postgres.iter().map(|h| h.rsplit_once(':').map_or(h.as_str(), |(host, _)| host)).collect();
        if !lookups.is_empty() {
            local["allowedIpNameLookups"] = json!(lookups);
        }

        let mut interfaces = vec![host_interface("wasi", "config", Some("0.2.0-rc.1"), &["store"], None)];
        if http {
            interfaces.push(host_interface("wasi", "http", None, &["incoming-handler"], Some(json!({ "host": values.host_of(id) }))));
        }
        if !component.key_value_stores.is_empty() || component.uses_redis() {
            interfaces.push(host_interface("wasi", "keyvalue", Some("0.2.0-draft"), &["store"], None));
        }
        if component.uses_redis() {
            interfaces.push(host_interface("wasmcloud", "messaging", Some("0.2.0"), &["consumer"], None));
        }
        if let Some(channel) = channel {
            let subscription = json!({ "subscriptions": channel });
            interfaces.push(host_interface("wasmcloud", "messaging", Some("0.2.0"), &["handler"], Some(subscription)));
        }

        let mut template = json!({
            "components": [{
                "name": id,
                "image": format!("{}/{id}:{}", values.image_prefix, values.image_tag),
                "localResources": local,
            }],
            "hostInterfaces": interfaces,
        });
        if http {
            template["kubernetes"] = json!({ "service": { "name": id } });
        }
        objects.push(json!({
            "apiVersion": "runtime.wasmcloud.dev/v1alpha1",
            "kind": "WorkloadDeployment",
            "metadata": { "name": id, "labels": { "app.kubernetes.io/part-of": "galley" } },
            "spec": { "replicas": 1, "template": { "spec": template } },
        }));
        if http {
            objects.push(json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": { "name": id, "labels": { "app.kubernetes.io/part-of": "galley" } },
                "spec": { "ports": [{ "name": "http", "port": 80, "protocol": "TCP" }] },
            }));
        }
        if !routes.is_empty() {
            let paths: Vec<Value> = routes
                .iter()
                .map(|route| {
                    let mut path = ingress_path(route);
                    path["backend"] = json!({ "service": { "name": id, "port": { "number": 80 } } });
                    path
                })
                .collect();
            objects.push(json!({
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": {
                    "name": id,
                    "labels": { "app.kubernetes.io/part-of": "galley" },
                    // ingress-nginx: the workload is bound to this host name, not the public one.
                    "annotations": { "nginx.ingress.kubernetes.io/upstream-vhost": values.host_of(id) },
                },
                "spec": { "ingressClassName": "nginx", "rules": [{ "http": { "paths": paths } }] },
            }));
        }
    }
    objects
}

/// The objects as one YAML stream, with a header saying where it comes from.
pub fn yaml(app: &App, values: &ClusterValues) -> anyhow::Result<String> {
    let mut out = String::from(
        "# Generated by `galley-wasmcloud deployment` from spin.toml and deploy/wasmcloud/values.toml:\n\
         # do not edit (make wasmcloud-deployment writes it; a test checks it is up to date).\n",
    );
    for object in objects(app, values) {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&object)?);
    }
    Ok(out)
}

/// The example of each component's Secret: `<component>.env.example` → its text.
pub fn secret_examples(app: &App, values: &ClusterValues) -> BTreeMap<String, String> {
    app.components
        .iter()
        .filter_map(|(id, component)| {
            let secret = variables(app, component, values).secret;
            (!secret.is_empty()).then(|| {
                let lines: String = secret.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
                (format!("{id}.env.example"), format!("# Secret galley-{id}: copy to {id}.env and fill in the <...> parts.\n{lines}"))
            })
        })
        .collect()
}

/// The file the objects go to, inside the deployment folder.
pub const OBJECTS_FILE: &str = "galley.yaml";
/// The folder of the Secrets' examples, inside the deployment folder.
pub const SECRETS_DIR: &str = "secrets";

/// The kustomization: the objects, and each component's Secret from its `secrets/<id>.env`
/// (never committed; the `.env.example` beside it says what goes in).
pub fn kustomization(app: &App, values: &ClusterValues) -> anyhow::Result<String> {
    let generators: Vec<Value> = secret_examples(app, values)
        .keys()
        .map(|example| {
            let id = example.trim_end_matches(".env.example");
            json!({ "name": format!("galley-{id}"), "envs": [format!("{SECRETS_DIR}/{id}.env")] })
        })
        .collect();
    let kustomization = json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": values.namespace,
        "resources": [OBJECTS_FILE],
        "secretGenerator": generators,
        // The workloads name their Secrets; kustomize cannot rewrite names inside a custom resource.
        "generatorOptions": { "disableNameSuffixHash": true },
    });
    Ok(format!(
        "# kubectl apply -k deploy/wasmcloud/ (docs/wasmcloud.md). Generated with galley.yaml: do not edit.\n{}",
        serde_yaml::to_string(&kustomization)?
    ))
}

/// Every generated file, by its path inside the deployment folder.
pub fn files(app: &App, values: &ClusterValues) -> anyhow::Result<BTreeMap<std::path::PathBuf, String>> {
    let mut files = BTreeMap::new();
    files.insert(OBJECTS_FILE.into(), yaml(app, values)?);
    files.insert("kustomization.yaml".into(), kustomization(app, values)?);
    for (name, text) in secret_examples(app, values) {
        files.insert(std::path::Path::new(SECRETS_DIR).join(name), text);
    }
    Ok(files)
}

/// Writes [`files`] into `dir`; returns their paths.
pub fn write(app: &App, values: &ClusterValues, dir: &std::path::Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let mut written = Vec::new();
    for (name, text) in files(app, values)? {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_rendered_and_their_references_found() {
        let value = |n: &str| format!("[{n}]");
        assert_eq!(render("postgres://u:{{ pw }}@{{db_host}}:5432/x", &value), "postgres://u:[pw]@[db_host]:5432/x");
        assert_eq!(referenced("{{ a }}-{{b}}"), vec!["a".to_owned(), "b".to_owned()]);
        assert_eq!(render("no template", &value), "no template");
    }

    #[test]
    fn routes_become_exact_or_prefix_paths() {
        assert_eq!(ingress_path("/api/v1/users"), json!({"path": "/api/v1/users", "pathType": "Exact"}));
        assert_eq!(ingress_path("/api/v1/users/:id"), json!({"path": "/api/v1/users/", "pathType": "Prefix"}));
        assert_eq!(ingress_path("/galley.user.v1.UserService/..."), json!({"path": "/galley.user.v1.UserService/", "pathType": "Prefix"}));
    }
}
