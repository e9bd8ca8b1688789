//! The public HTTP contract: `api/openapi.yaml` parses, is OpenAPI 3.1, and has a path entry
//! for every public route in `spin.toml`.

mod support;

use serde_yaml::Value as Yaml;

/// `/api/v1/users/:id` → `/api/v1/users/{id}`; a trailing `/...` wildcard is dropped.
fn openapi_path(route: &str) -> String {
    let route = route.strip_suffix("/...").unwrap_or(route);
    route
        .split('/')
        .map(|seg| seg.strip_prefix(':').map_or(seg.to_owned(), |name| format!("{{{name}}}")))
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn route_conversion() {
    assert_eq!(openapi_path("/api/v1/users/:id"), "/api/v1/users/{id}");
    assert_eq!(openapi_path("/media/..."), "/media");
    assert_eq!(openapi_path("/api/v1/users"), "/api/v1/users");
}

#[test]
fn every_public_route_is_documented() {
    let root = support::repo_root();
    let spec_text = std::fs::read_to_string(root.join("api/openapi.yaml")).expect("api/openapi.yaml");
    let spec: Yaml = serde_yaml::from_str(&spec_text).expect("api/openapi.yaml parses as YAML");
    let version = spec["openapi"].as_str().expect("`openapi` version string");
    assert!(version.starts_with("3.1"), "OpenAPI 3.1 expected, found {version}");
    let paths = spec["paths"].as_mapping().expect("`paths` mapping");

    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(root.join("spin.toml")).expect("spin.toml")).expect("spin.toml parses");
    let triggers = manifest["trigger"]["http"].as_array().expect("[[trigger.http]]");
    let mut missing = Vec::new();
    let mut public = 0;
    for trigger in triggers {
        // `route = { private = true }` is reachable only by service chaining.
        let Some(route) = trigger["route"].as_str() else { continue };
        public += 1;
        let path = openapi_path(route);
        if !paths.contains_key(Yaml::String(path.clone())) {
            missing.push(format!("{route} (expected paths.\"{path}\")"));
        }
    }
    assert!(public > 0, "spin.toml has no public route");
    assert!(missing.is_empty(), "public routes missing from api/openapi.yaml: {missing:?}");
}
