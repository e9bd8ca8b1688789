//! The public HTTP contract: `api/openapi.yaml` parses, is OpenAPI 3.1, and has a path entry
//! for every public route in `spin.toml` except gRPC services' routes, whose contract is their
//! `.proto` in `api/proto/` (each such route must match a service declared there).

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

/// `/<package>.<service>/...` for every service of every `.proto` under `api/proto/`: the
/// routes that are gRPC, not REST.
fn grpc_service_routes(root: &std::path::Path) -> Vec<String> {
    fn protos(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("reading api/proto").flatten() {
            let path = entry.path();
            if path.is_dir() {
                protos(&path, found);
            } else if path.extension().is_some_and(|e| e == "proto") {
                found.push(path);
            }
        }
    }
    let mut files = Vec::new();
    protos(&root.join("api/proto"), &mut files);
    let mut routes = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("a .proto");
        let words: Vec<&str> = text.lines().filter(|l| !l.trim_start().starts_with("//")).flat_map(str::split_whitespace).collect();
        let package = words.windows(2).find(|w| w[0] == "package").map(|w| w[1].trim_end_matches(';')).expect("a package");
        for service in words.windows(2).filter(|w| w[0] == "service").map(|w| w[1]) {
            routes.push(format!("/{package}.{service}/..."));
        }
    }
    routes
}

#[test]
fn every_grpc_service_has_its_route_and_nothing_else_skips_the_contract() {
    let root = crate::support::repo_root();
    let grpc = grpc_service_routes(&root);
    assert!(grpc.contains(&"/galley.user.v1.UserService/...".to_string()), "{grpc:?}");
    let manifest: toml::Value = toml::from_str(&std::fs::read_to_string(root.join("spin.toml")).unwrap()).unwrap();
    let routes: Vec<&str> = manifest["trigger"]["http"].as_array().unwrap().iter().filter_map(|t| t["route"].as_str()).collect();
    for route in &grpc {
        assert!(routes.contains(&route.as_str()), "the service {route} of api/proto has no route in spin.toml");
    }
}

#[test]
fn every_public_route_is_documented() {
    let root = crate::support::repo_root();
    let spec_text = std::fs::read_to_string(root.join("api/openapi.yaml")).expect("api/openapi.yaml");
    let spec: Yaml = serde_yaml::from_str(&spec_text).expect("api/openapi.yaml parses as YAML");
    let version = spec["openapi"].as_str().expect("`openapi` version string");
    assert!(version.starts_with("3.1"), "OpenAPI 3.1 expected, found {version}");
    let paths = spec["paths"].as_mapping().expect("`paths` mapping");

    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(root.join("spin.toml")).expect("spin.toml")).expect("spin.toml parses");
    let triggers = manifest["trigger"]["http"].as_array().expect("[[trigger.http]]");
    let grpc = grpc_service_routes(&root);
    let mut missing = Vec::new();
    let mut public = 0;
    for trigger in triggers {
        // `route = { private = true }` is reachable only by service chaining.
        let Some(route) = trigger["route"].as_str() else { continue };
        if grpc.iter().any(|g| g == route) {
            continue;
        }
        public += 1;
        let path = openapi_path(route);
        if !paths.contains_key(Yaml::String(path.clone())) {
            missing.push(format!("{route} (expected paths.\"{path}\")"));
        }
    }
    assert!(public > 0, "spin.toml has no public route");
    assert!(missing.is_empty(), "public routes missing from api/openapi.yaml: {missing:?}");
}

/// Components a component calls by service chaining (its `*.spin.internal` outbound hosts).
fn chained_components(component: &toml::Value) -> Vec<String> {
    let hosts = component.get("allowed_outbound_hosts").and_then(|h| h.as_array()).cloned().unwrap_or_default();
    hosts
        .iter()
        .filter_map(|h| h.as_str()?.strip_prefix("http://")?.strip_suffix(".spin.internal").map(str::to_owned))
        .collect()
}

/// Whether `id`, or a component it reaches by chaining, uses a database (and so can be down).
fn reaches_a_database(components: &toml::value::Table, id: &str, seen: &mut Vec<String>) -> bool {
    if seen.iter().any(|s| s == id) {
        return false;
    }
    seen.push(id.to_owned());
    let Some(component) = components.get(id) else { return false };
    let has_db = component.get("variables").and_then(|v| v.get("db_url")).is_some();
    has_db || chained_components(component).iter().any(|next| reaches_a_database(components, next, seen))
}

/// Operations whose component chains to another but which never make the call themselves.
const OPERATIONS_WITHOUT_CHAINED_CALLS: [(&str, &str); 8] = [
    ("get", "/api/v1/products"),
    ("head", "/api/v1/products"),
    ("get", "/api/v1/orders"),
    ("head", "/api/v1/orders"),
    ("get", "/api/v1/orders/{id}"),
    ("head", "/api/v1/orders/{id}"),
    // Recovery reports what it could not settle in its answer, and retries on the next call.
    ("post", "/api/v1/admin/sagas/recover"),
    // One read of the orders database.
    ("get", "/api/v1/admin/sagas/metrics"),
];

/// Components that answer their dependencies' failures inside the body (GraphQL errors with
/// `extensions.code` beside the data that could be read), never as 5xx or 422: the rules
/// above do not apply to their operations.
const ANSWERS_FAILURES_IN_THE_BODY: [&str; 1] = ["gateway"];

/// The answers the platform gives whatever an operation's own rules are, derived from
/// `spin.toml` and checked against every operation of the contract: 503 where a database is
/// involved, 502/504 where another function is called, 400/413/415/422 where a JSON body is
/// read, 401 where a token is required. A new route or a new dependency that the contract
/// does not mention fails here.
#[test]
fn every_operation_documents_the_answers_its_dependencies_can_give() {
    let root = crate::support::repo_root();
    let spec: Yaml = serde_yaml::from_str(&std::fs::read_to_string(root.join("api/openapi.yaml")).unwrap()).unwrap();
    let manifest: toml::Value = toml::from_str(&std::fs::read_to_string(root.join("spin.toml")).unwrap()).unwrap();
    let components = manifest["component"].as_table().expect("[component]");
    let mut missing = Vec::new();
    for trigger in manifest["trigger"]["http"].as_array().expect("[[trigger.http]]") {
        let Some(route) = trigger["route"].as_str() else { continue };
        let id = trigger["component"].as_str().expect("component id");
        if ANSWERS_FAILURES_IN_THE_BODY.contains(&id) {
            continue;
        }
        let path = openapi_path(route);
        let Some(item) = spec["paths"][path.as_str()].as_mapping() else { continue };
        let chains = !chained_components(&components[id]).is_empty();
        let database = reaches_a_database(components, id, &mut Vec::new());
        for (method, operation) in item {
            let method = method.as_str().unwrap_or_default();
            if !["get", "head", "post", "put", "patch", "delete"].contains(&method) {
                continue;
            }
            let mut expected = Vec::new();
            if database {
                expected.push("503");
            }
            if chains && !OPERATIONS_WITHOUT_CHAINED_CALLS.contains(&(method, path.as_str())) {
                expected.extend(["502", "504"]);
            }
            if !operation["requestBody"].is_null() {
                expected.extend(["400", "413", "415", "422"]);
            }
            if !operation["security"].is_null() {
                expected.push("401");
            }
            let responses = operation["responses"].as_mapping().expect("responses");
            for status in expected {
                if !responses.contains_key(Yaml::String(status.into())) {
                    missing.push(format!("{} {path}: {status}", method.to_uppercase()));
                }
            }
        }
    }
    assert!(missing.is_empty(), "answers the code can give that api/openapi.yaml does not document: {missing:?}");
}
