//! Spin's own conformance suite (fermyon/conformance-tests) against galley. The suite is
//! vendored in `host/tests/spin-conformance/` (Apache-2.0; `VENDORED.md` says from which
//! commit), so every `make test` builds and runs it; `GALLEY_CONFORMANCE_DIR` points the test
//! at another checkout (a newer suite, say).
//!
//! As the suite's own runners do: each component is built for `wasm32-unknown-unknown` (core
//! modules carrying their component type, the suite's release format); each test's
//! `spin.toml` gets its `%{source=…}` and `%{port=N}` filled in (N: the well-known port of a
//! service, mapped to the local one: a TCP echo, an HTTP echo, and the test profile's
//! Postgres, Redis and MQTT broker); galley serves it from a fresh state dir; and every
//! invocation's response must have exactly the expected status and body, every expected
//! header, and no other header.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::{connect, ensure_rust_target, free_port, galley_bin, mqtt_port, pg_port, redis_port, workspace_root};

#[tokio::test]
async fn spins_conformance_suite() {
    let suite = std::env::var_os("GALLEY_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("host/tests/spin-conformance"));
    let sources = build_components(&suite);
    prepare_postgres(&suite).await;
    let ports = HashMap::from([
        ("7".to_string(), tcp_echo().await),
        ("80".to_string(), http_echo().await),
        ("1883".to_string(), mqtt_port()),
        ("5432".to_string(), pg_port()),
        ("6379".to_string(), redis_port()),
    ]);
    let mut names: Vec<String> = std::fs::read_dir(suite.join("tests"))
        .expect("the suite's tests folder")
        .filter_map(|entry| entry.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    let mut failures = Vec::new();
    for name in &names {
        match run_test(&suite.join("tests").join(name), &sources, &ports).await {
            Ok(()) => eprintln!("PASS {name}"),
            Err(problem) => {
                eprintln!("FAIL {name}: {problem}");
                failures.push(name.clone());
            }
        }
    }
    eprintln!("conformance: {} passed, {} failed", names.len() - failures.len(), failures.len());
    assert!(failures.is_empty(), "failed: {failures:?}");
}

/// Builds every component of the suite; returns each one's `.wasm` by folder name.
/// The vendored suite is whole in git: its own `.gitignore` names `conformance-tests` (its
/// built binary), which also matches a folder of its sources, so a copy added without `-f`
/// builds here and fails in every clone.
#[test]
fn every_vendored_file_is_tracked() {
    let root = workspace_root();
    let folder = "host/tests/spin-conformance";
    let tracked = Command::new("git")
        .current_dir(&root)
        .args(["ls-files", "-z", folder])
        .output()
        .expect("git (the tests run in a checkout)");
    assert!(tracked.status.success(), "git ls-files: {}", String::from_utf8_lossy(&tracked.stderr));
    let tracked: std::collections::HashSet<String> =
        String::from_utf8_lossy(&tracked.stdout).split('\0').filter(|p| !p.is_empty()).map(str::to_owned).collect();
    fn walk(dir: &Path, root: &Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("the vendored folder").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, root, found);
            } else {
                found.push(path.strip_prefix(root).expect("inside the checkout").to_string_lossy().into_owned());
            }
        }
    }
    let mut present = Vec::new();
    walk(&root.join(folder), &root, &mut present);
    assert!(present.len() > 100, "the suite is there: {} files", present.len());
    let untracked: Vec<&String> = present.iter().filter(|p| !tracked.contains(*p)).collect();
    assert!(untracked.is_empty(), "vendored but not in git (add them with `git add -f`): {untracked:?}");
}

fn build_components(suite: &Path) -> HashMap<String, PathBuf> {
    ensure_rust_target("wasm32-unknown-unknown");
    let mut packages = HashMap::new();
    for entry in std::fs::read_dir(suite.join("components")).expect("the suite's components folder").flatten() {
        let manifest = std::fs::read_to_string(entry.path().join("Cargo.toml")).expect("a component's Cargo.toml");
        let package = manifest
            .lines()
            .find_map(|line| line.strip_prefix("name = \"").and_then(|rest| rest.strip_suffix('"')))
            .expect("a package name")
            .to_string();
        packages.insert(entry.file_name().to_string_lossy().into_owned(), package);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // The suite is a workspace of its own; its build goes under ours (ignored, kept between runs).
    let target = workspace_root().join("target/spin-conformance");
    let mut build = Command::new(cargo);
    build.current_dir(suite).args(["build", "--release", "--target", "wasm32-unknown-unknown", "--target-dir"]).arg(&target);
    for package in packages.values() {
        build.args(["-p", package]);
    }
    assert!(build.status().expect("running cargo").success(), "building the suite's components failed");
    let out = target.join("wasm32-unknown-unknown/release");
    packages.into_iter().map(|(folder, package)| (folder, out.join(format!("{}.wasm", package.replace('-', "_"))))).collect()
}

/// The suite's Postgres: user `postgres`, database `spin_dev` with its init scripts.
async fn prepare_postgres(suite: &Path) {
    let admin = connect("postgres").await;
    // One at a time: DROP/CREATE DATABASE cannot run inside the implicit transaction of a batch.
    for statement in [
        // The suite's own credentials (its PG_CONNECTION_STRING says password=postgres).
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'postgres') THEN CREATE ROLE postgres SUPERUSER LOGIN; END IF; END $$",
        "ALTER ROLE postgres PASSWORD 'postgres'",
        "DROP DATABASE IF EXISTS spin_dev",
        "CREATE DATABASE spin_dev OWNER postgres",
    ] {
        admin.batch_execute(statement).await.unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    let url = format!("postgres://postgres:postgres@127.0.0.1:{}/spin_dev", pg_port());
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("connecting to spin_dev");
    tokio::spawn(connection);
    let init = suite.join("crates/test-environment/services/postgres-init");
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(init).expect("the init scripts").flatten().map(|e| e.path()).collect();
    scripts.sort();
    for script in scripts {
        client.batch_execute(&std::fs::read_to_string(&script).unwrap()).await.unwrap_or_else(|e| panic!("{}: {e}", script.display()));
    }
}

/// A local port whose every connection `serve` answers, each on a task of its own.
async fn serve_locally<F, Fut>(serve: F) -> u16
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a local port");
    let port = listener.local_addr().expect("the listener's address").port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(serve(socket));
        }
    });
    port
}

async fn tcp_echo() -> u16 {
    serve_locally(|mut socket| async move {
        let mut buffer = [0u8; 1024];
        while let Ok(n) = socket.read(&mut buffer).await {
            if n == 0 || socket.write_all(&buffer[..n]).await.is_err() {
                break;
            }
        }
    })
    .await
}

/// Answers every request with 200, `text/plain` and the request's body.
async fn http_echo() -> u16 {
    serve_locally(|mut socket| async move {
        let mut data = Vec::new();
        let mut buffer = [0u8; 4096];
        let head_end = loop {
            if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            match socket.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => data.extend_from_slice(&buffer[..n]),
            }
        };
        let head = String::from_utf8_lossy(&data[..head_end]).to_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
            .unwrap_or(0);
        while data.len() < head_end + length {
            match socket.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => data.extend_from_slice(&buffer[..n]),
            }
        }
        let body = &data[head_end..head_end + length];
        let head = format!("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len());
        let _ = socket.write_all(head.as_bytes()).await;
        let _ = socket.write_all(body).await;
    })
    .await
}

/// The suite's manifests are JSON5 as far as bare keys and trailing commas go.
fn json5(text: &str) -> Value {
    let mut quoted = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        let key_len = trimmed.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(0);
        if key_len > 0 && trimmed[key_len..].trim_start().starts_with(':') {
            quoted.push_str(&line[..line.len() - trimmed.len()]);
            quoted.push_str(&format!("\"{}\"{}", &trimmed[..key_len], &trimmed[key_len..]));
        } else {
            quoted.push_str(line);
        }
        quoted.push('\n');
    }
    // Drop commas that close a list or object, outside strings.
    let (mut json, mut in_string, mut escaped) = (String::new(), false, false);
    let chars: Vec<char> = quoted.chars().collect();
    for (index, &c) in chars.iter().enumerate() {
        if in_string {
            in_string = !(c == '"' && !escaped);
            escaped = c == '\\' && !escaped;
        } else if c == '"' {
            in_string = true;
        } else if c == ',' && chars[index + 1..].iter().find(|c| !c.is_whitespace()).is_some_and(|c| *c == '}' || *c == ']') {
            continue;
        }
        json.push(c);
    }
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("not JSON5 this reader knows: {e}\n{json}"))
}

/// Fills in `%{key=value}` templates.
fn substitute(text: &str, sources: &HashMap<String, PathBuf>, ports: &HashMap<String, u16>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("%{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').ok_or("unclosed template")? + start;
        let (key, value) = rest[start + 2..end].split_once('=').ok_or("template without =")?;
        let (key, value) = (key.trim(), value.trim());
        match key {
            "port" => out.push_str(&ports.get(value).ok_or(format!("no service for port {value}"))?.to_string()),
            "source" => out.push_str(&sources.get(value).ok_or(format!("no component {value}"))?.display().to_string()),
            _ => return Err(format!("unknown template key {key}")),
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

async fn run_test(test: &Path, sources: &HashMap<String, PathBuf>, ports: &HashMap<String, u16>) -> Result<(), String> {
    let config = json5(&std::fs::read_to_string(test.join("test.json5")).map_err(|e| e.to_string())?);
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let manifest = dir.path().join("spin.toml");
    let text = std::fs::read_to_string(test.join("spin.toml")).map_err(|e| e.to_string())?;
    std::fs::write(&manifest, substitute(&text, sources, ports)?).map_err(|e| e.to_string())?;
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("galley.log")).map_err(|e| e.to_string())?;
    let mut galley = Command::new(galley_bin())
        .args(["up", "--manifest"])
        .arg(&manifest)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--state-dir"])
        .arg(dir.path().join(".spin"))
        .current_dir(dir.path())
        .stdout(Stdio::from(log.try_clone().map_err(|e| e.to_string())?))
        .stderr(Stdio::from(log))
        .spawn()
        .map_err(|e| e.to_string())?;
    let result = invoke(&config, port, ports, &mut galley, dir.path()).await;
    let _ = galley.kill();
    let _ = galley.wait();
    result
}

async fn invoke(config: &Value, port: u16, ports: &HashMap<String, u16>, galley: &mut std::process::Child, dir: &Path) -> Result<(), String> {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = galley.try_wait() {
            return Err(format!("galley exited ({status}): {}", std::fs::read_to_string(dir.join("galley.log")).unwrap_or_default()));
        }
        let health = client.get(format!("http://127.0.0.1:{port}/.well-known/spin/health")).send().await;
        if health.is_ok_and(|r| r.status() == 200) {
            break;
        }
        if Instant::now() > deadline {
            return Err("galley did not become healthy".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for invocation in config["invocations"].as_array().ok_or("no invocations")? {
        let request = &invocation["request"];
        let method = request["method"].as_str().unwrap_or("GET");
        let path = request["path"].as_str().ok_or("no path")?;
        let url = format!("http://127.0.0.1:{port}{path}");
        let mut outgoing = client.request(method.parse().map_err(|_| format!("method {method}"))?, url);
        for header in request["headers"].as_array().into_iter().flatten() {
            let value = substitute(header["value"].as_str().unwrap_or(""), &HashMap::new(), ports)?;
            outgoing = outgoing.header(header["name"].as_str().unwrap_or(""), value);
        }
        if let Some(body) = request["body"].as_str() {
            outgoing = outgoing.body(body.to_string());
        }
        let response = outgoing.send().await.map_err(|e| e.to_string())?;
        check(&invocation["response"], response).await?;
    }
    Ok(())
}

/// The suite's own rules: status, then the exact body, then every expected header (by value
/// when one is given) and no other header.
async fn check(expected: &Value, response: reqwest::Response) -> Result<(), String> {
    let status = response.status().as_u16();
    let mut headers: HashMap<String, String> = response
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_lowercase(), String::from_utf8_lossy(v.as_bytes()).to_lowercase()))
        .collect();
    let body = response.text().await.map_err(|e| e.to_string())?;
    let want_status = expected["status"].as_u64().unwrap_or(200);
    if u64::from(status) != want_status {
        return Err(format!("status {status} != {want_status}: {body}"));
    }
    let want_body = expected["body"].as_str().unwrap_or("");
    if body != want_body {
        return Err(format!("body {body:?} != {want_body:?}"));
    }
    for header in expected["headers"].as_array().into_iter().flatten() {
        let name = header["name"].as_str().unwrap_or("").to_lowercase();
        match (headers.remove(&name), header["value"].as_str()) {
            (None, _) if header["optional"].as_bool() == Some(true) => {}
            (None, _) => return Err(format!("header {name} missing")),
            (Some(actual), Some(want)) if actual != want.to_lowercase() => return Err(format!("header {name}: {actual:?} != {want:?}")),
            _ => {}
        }
    }
    if !headers.is_empty() {
        return Err(format!("unexpected headers {headers:?}"));
    }
    Ok(())
}
