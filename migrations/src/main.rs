//! `galley-migrate`: create each service database if missing, apply its migrations, and give
//! the service's own role (and only it) access to it.

use anyhow::{bail, Result};
use clap::Parser;
use galley_migrate::{ensure_database, privileges, runner, PgArgs, SERVICES};

#[derive(Parser)]
#[command(about = "Create and migrate Galley's per-service Postgres databases")]
struct Cli {
    #[command(flatten)]
    pg: PgArgs,
    /// Drop and recreate the databases first (the test profile starts every run clean).
    #[arg(long)]
    fresh: bool,
    /// Only these services (default: all of them).
    #[arg(long = "service")]
    services: Vec<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let services: Vec<String> =
        if cli.services.is_empty() { SERVICES.iter().map(|s| s.to_string()).collect() } else { cli.services.clone() };
    if let Some(unknown) = services.iter().find(|s| !SERVICES.contains(&s.as_str())) {
        bail!("unknown service `{unknown}`; known: {}", SERVICES.join(", "));
    }
    let secrets = cli.pg.secrets()?;
    // Every password first: a missing one stops the run before anything is changed.
    let passwords = services.iter().map(|s| secrets.service_password(s)).collect::<Result<Vec<_>>>()?;
    let admin = cli.pg.connect("postgres").await?;
    for (service, password) in services.iter().zip(passwords) {
        let created = ensure_database(&admin, service, cli.fresh).await?;
        privileges::ensure_role(&admin, service, password).await?;
        let mut client = cli.pg.connect(service).await?;
        let Some(runner) = runner(service) else { bail!("no migrations for `{service}`") };
        let report = runner.run_async(&mut client).await?;
        privileges::grant_tables(&client, service).await?;
        let applied: Vec<String> = report.applied_migrations().iter().map(|m| m.to_string()).collect();
        println!(
            "{service:<14} {} {}",
            if created { "created," } else { "exists, " },
            if applied.is_empty() { "up to date".to_string() } else { format!("applied {}", applied.join(", ")) }
        );
    }
    Ok(())
}
