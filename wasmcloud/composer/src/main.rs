//! `galley-wasmcloud`: wasmCloud builds of the components `spin.toml` lists (`make wasmcloud`).
//!
//!   galley-wasmcloud compose [--manifest spin.toml] [--adapters DIR] [--out target/wasmcloud]
//!   galley-wasmcloud check [--manifest spin.toml] [--out target/wasmcloud]
//!   galley-wasmcloud interfaces FILE.wasm
//!   galley-wasmcloud deployment [--manifest spin.toml] [--values FILE] [--dir deploy/wasmcloud]

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use galley_wasmcloud::adapters::{Adapter, AdapterDir, Plan, IMPORT_ADAPTERS, WASMCLOUD};
use galley_wasmcloud::{component::Interfaces, compose, deployment, lattice, manifest, wasmcloud::Findings};

fn parse_var(text: &str) -> Result<(String, String), String> {
    text.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).ok_or_else(|| format!("`{text}` is not NAME=VALUE"))
}

#[derive(Parser)]
#[command(
    about = "Compose galley's Spin components with the wasmCloud adapters, and check the result"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct Paths {
    /// The Spin manifest whose components to compose.
    #[arg(long, default_value = "spin.toml")]
    manifest: PathBuf,
    /// Where the composed components are (one `<component id>.wasm` each).
    #[arg(long, default_value = "target/wasmcloud")]
    out: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Compose every component with the adapters it needs.
    Compose {
        #[command(flatten)]
        paths: Paths,
        /// Where the adapters were built.
        #[arg(long, default_value = "target/wasm32-wasip2/release")]
        adapters: PathBuf,
        /// Plug in only these adapters (by name: postgres, chaining, variables, ...), and leave
        /// the Redis trigger as Spin's: a build that still runs on Spin and galley, to try or
        /// measure one adapter there (bench/wasmcloud.sh).
        #[arg(long = "only")]
        only: Vec<String>,
    },
    /// Check that every composed component imports only what a wasmCloud host provides.
    Check {
        #[command(flatten)]
        paths: Paths,
    },
    /// Write a local lattice's configuration into DIR: `<component>/.wash/config.yaml` for a
    /// `wash dev` host per component and `front.conf` for nginx (scripts/wasmcloud-check.sh).
    /// Prints each component and its host's port.
    Lattice {
        #[arg(long, default_value = "spin.toml")]
        manifest: PathBuf,
        #[arg(long)]
        dir: PathBuf,
        /// The machine's private address the components dial.
        #[arg(long)]
        address: String,
        #[arg(long)]
        front_port: u16,
        #[arg(long)]
        postgres_port: u16,
        #[arg(long)]
        first_port: u16,
        #[arg(long)]
        nats_url: String,
        #[arg(long)]
        redis_url: String,
        #[arg(long, default_value = "target/wasmcloud")]
        wasm_dir: PathBuf,
        /// NAME=VALUE for app variables (secrets among them).
        #[arg(long = "var", value_parser = parse_var)]
        vars: Vec<(String, String)>,
    },
    /// Print a component's imports and exports.
    Interfaces { wasm: PathBuf },
    /// Write the wasmCloud 2.x Kubernetes objects (galley.yaml) and each component's Secret
    /// example (secrets/<component>.env.example) into DIR, from spin.toml and the cluster values.
    Deployment {
        #[arg(long, default_value = "spin.toml")]
        manifest: PathBuf,
        #[arg(long, default_value = "deploy/wasmcloud/values.toml")]
        values: PathBuf,
        #[arg(long, default_value = "deploy/wasmcloud")]
        dir: PathBuf,
    },
}

fn composed_path(paths: &Paths, id: &str) -> PathBuf {
    paths.out.join(format!("{id}.wasm"))
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Compose { paths, adapters, only } => {
            let adapters = AdapterDir::new(adapters);
            let chosen: Vec<Adapter> = IMPORT_ADAPTERS.iter().filter(|a| only.iter().any(|name| name == a.name)).copied().collect();
            if let Some(unknown) = only.iter().find(|name| !IMPORT_ADAPTERS.iter().any(|a| a.name == name.as_str())) {
                anyhow::bail!("no adapter named `{unknown}`");
            }
            let plan = if only.is_empty() { WASMCLOUD } else { Plan { adapters: &chosen, messaging_trigger: false } };
            for component in manifest::components(&paths.manifest)? {
                let composed = compose::compose(
                    &component.id,
                    &component.wasm,
                    &adapters,
                    &plan,
                    &composed_path(&paths, &component.id),
                )
                .with_context(|| format!("component `{}`", component.id))?;
                let names: Vec<_> = composed.adapters.iter().map(|a| a.interface).collect();
                println!(
                    "{}: {} (adapted: {})",
                    component.id,
                    composed.output.display(),
                    names.join(", ")
                );
            }
        }
        Command::Check { paths } => {
            let mut failed = 0;
            for component in manifest::components(&paths.manifest)? {
                let findings =
                    Findings::of(&Interfaces::read(&composed_path(&paths, &component.id))?);
                println!("{}: {findings}", component.id);
                failed += usize::from(!findings.portable());
            }
            anyhow::ensure!(
                failed == 0,
                "{failed} component(s) would not run on wasmCloud"
            );
        }
        Command::Deployment { manifest, values, dir } => {
            let app = manifest::App::read(&manifest)?;
            let values = deployment::ClusterValues::read(&values)?;
            let written = deployment::write(&app, &values, &dir)?;
            written.iter().for_each(|path| println!("{}", path.display()));
        }
        Command::Lattice { manifest, dir, address, front_port, postgres_port, first_port, nats_url, redis_url, wasm_dir, vars } => {
            let app = manifest::App::read(&manifest)?;
            let wasm_dir = std::fs::canonicalize(&wasm_dir).with_context(|| format!("{} (make wasmcloud)", wasm_dir.display()))?;
            let lattice = lattice::Lattice {
                address,
                front_port,
                postgres_port,
                first_port,
                nats_url,
                redis_url,
                wasm_dir,
                variables: vars.into_iter().collect(),
            };
            for (id, port) in lattice.write(&app, &dir)? {
                println!("{id} {port}");
            }
        }
        Command::Interfaces { wasm } => {
            let interfaces = Interfaces::read(&wasm)?;
            interfaces
                .imports
                .iter()
                .for_each(|i| println!("import {i}"));
            interfaces
                .exports
                .iter()
                .for_each(|e| println!("export {e}"));
        }
    }
    Ok(())
}
