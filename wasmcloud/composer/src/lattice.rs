//! A local wasmCloud lattice for `make wasmcloud-check`: one `wash dev` host per component
//! (each a real wasmCloud 2.x host with its built-in plugins), the configuration of each
//! written here from `spin.toml`, and the nginx front that routes requests to them.
//!
//! A guest's `127.0.0.1` is its own virtual network on wasmCloud, and its outbound traffic may
//! not reach the machine's loopback. So everything the components dial (Postgres for the
//! Postgres adapter, the front for chained calls) is reached at a private address the script
//! gives the machine ([`Lattice::address`]). The hosts' own plugins (Redis for key-value, NATS
//! for messaging) connect from the host side, on loopback.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::json;

use crate::deployment::render;
use crate::manifest::App;

/// Where the lattice's parts are.
#[derive(Debug, Clone)]
pub struct Lattice {
    /// The machine's private address that components dial.
    pub address: String,
    /// The front's port on [`Lattice::address`]: public routes and chained calls.
    pub front_port: u16,
    /// Postgres, as components reach it: a port on [`Lattice::address`].
    pub postgres_port: u16,
    /// The first of the hosts' HTTP ports (one per component, on 127.0.0.1).
    pub first_port: u16,
    pub nats_url: String,
    pub redis_url: String,
    /// The composed components (`target/wasmcloud`).
    pub wasm_dir: PathBuf,
    /// The app variables' values: secrets, and anything that differs from spin.toml's defaults.
    pub variables: BTreeMap<String, String>,
}

/// The paths of the private components, which have no route in `spin.toml`: the front must
/// still send chained calls to them (the paths are the shared library's constants).
fn private_paths(component: &str) -> &'static [&'static str] {
    match component {
        galley_common::inventory::COMPONENT => &[galley_common::inventory::STOCK_PATH, galley_common::inventory::RESERVATIONS_PATH],
        "payment" => &[galley_common::payments::CHARGES_PATH],
        _ => &[],
    }
}

fn nginx_location(route: &str, upstream: &str) -> String {
    match route.find("/:").or_else(|| route.find("/...")) {
        Some(cut) => format!("        location {}/ {{ proxy_pass http://{upstream}; }}\n", &route[..cut]),
        None => format!("        location = {route} {{ proxy_pass http://{upstream}; }}\n"),
    }
}

impl Lattice {
    fn front(&self) -> String {
        format!("{}:{}", self.address, self.front_port)
    }

    fn value(&self, app: &App, name: &str) -> String {
        if name == "db_host" {
            return self.address.clone();
        }
        if name == "db_port" {
            return self.postgres_port.to_string();
        }
        self.variables.get(name).cloned().or_else(|| app.variables.get(name).and_then(|v| v.default.clone())).unwrap_or_default()
    }

    /// Writes `<dir>/<component>/.wash/config.yaml` for every component and `<dir>/front.conf`;
    /// returns each component's host port, in spin.toml's order.
    pub fn write(&self, app: &App, dir: &Path) -> anyhow::Result<Vec<(String, u16)>> {
        let mut ports = Vec::new();
        let mut locations = String::new();
        for (n, (id, component)) in app.components.iter().enumerate() {
            let port = self.first_port + u16::try_from(n).context("too many components")?;
            let mut config: BTreeMap<String, String> =
                component.variables.iter().map(|(k, t)| (k.clone(), render(t, &|name| self.value(app, name)))).collect();
            config.insert("spin_internal_authority".into(), self.front());
            let mut dev = json!({
                "command": "true",
                "component_path": self.wasm_dir.join(format!("{id}.wasm")),
                "address": format!("127.0.0.1:{port}"),
                "data_nats_url": self.nats_url,
                "wasi_keyvalue_redis_url": self.redis_url,
            });
            if let Some(channel) = app.redis_channel(id) {
                dev["host_interfaces"] = json!([{
                    "namespace": "wasmcloud", "package": "messaging", "version": "0.2.0",
                    "interfaces": ["handler"], "config": { "subscriptions": channel },
                }]);
            }
            let project = json!({
                "build": { "command": "true" },
                "wit": { "skip_fetch": true },
                "dev": dev,
                "workload": {
                    "config": config,
                    "allowedHosts": [format!("{}:{}", self.address, self.postgres_port), self.front()],
                },
            });
            let path = dir.join(id).join(".wash/config.yaml");
            std::fs::create_dir_all(path.parent().context("a folder")?).with_context(|| format!("creating {}", path.display()))?;
            std::fs::write(&path, serde_yaml::to_string(&project)?).with_context(|| format!("writing {}", path.display()))?;

            let upstream = format!("127.0.0.1:{port}");
            for route in app.http_routes(id) {
                locations.push_str(&nginx_location(route, &upstream));
            }
            for path in private_paths(id) {
                locations.push_str(&format!("        location {path} {{ proxy_pass http://{upstream}; }}\n"));
            }
            ports.push((id.clone(), port));
        }
        let front = format!(
            "# The wasmCloud check's front (galley-wasmcloud lattice): spin.toml's routes and the private\n\
             # components' paths, each to the wash host serving that component.\n\
             worker_processes 1;\npid front.pid;\nerror_log front-error.log;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n    access_log front-access.log;\n    client_body_temp_path tmp;\n    proxy_temp_path tmp;\n\
             \x20   proxy_http_version 1.1;\n    proxy_set_header Connection \"\";\n\
             \x20   proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n\
             \x20   server {{\n        listen {};\n        listen 127.0.0.1:{};\n{locations}    }}\n}}\n",
            self.front(),
            self.front_port,
        );
        std::fs::write(dir.join("front.conf"), front).context("writing front.conf")?;
        Ok(ports)
    }
}
