//! `galley-migrate`: create each service database if missing, apply its migrations, and give
//! the service's own role (and only it) access to it.

use anyhow::{bail, Result};
use clap::Parser;
use galley_migrate::{drop_database, ensure_database, privileges, runner, PgArgs, SERVICES};

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
    /// Name each database `<service><SUFFIX>` instead of `<service>`: a set of its own on the
    /// same server, with the same roles (an end-to-end test's isolated databases). Lower-case
    /// letters, digits and `_`, at most 24.
    #[arg(long, default_value = "", value_parser = parse_suffix)]
    database_suffix: String,
    /// Drop the databases instead (e.g. an isolated set that is done with), then stop.
    #[arg(long, conflicts_with = "fresh")]
    drop: bool,
}

fn parse_suffix(raw: &str) -> Result<String, String> {
    let valid = raw.len() <= 24 && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if valid {
        Ok(raw.to_string())
    } else {
        Err("a database suffix is at most 24 lower-case letters, digits and `_`".into())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let services: Vec<String> =
        if cli.services.is_empty() { SERVICES.iter().map(|s| s.to_string()).collect() } else { cli.services.clone() };
    if let Some(unknown) = services.iter().find(|s| !SERVICES.contains(&s.as_str())) {
        bail!("unknown service `{unknown}`; known: {}", SERVICES.join(", "));
    }
    if cli.drop {
        let admin = cli.pg.connect("postgres").await?;
        for service in &services {
            drop_database(&admin, &format!("{service}{}", cli.database_suffix)).await?;
        }
        return Ok(());
    }
    let secrets = cli.pg.secrets()?;
    // Every password first: a missing one stops the run before anything is changed.
    let passwords = services.iter().map(|s| secrets.service_password(s)).collect::<Result<Vec<_>>>()?;
    let admin = cli.pg.connect("postgres").await?;
    for (service, password) in services.iter().zip(passwords) {
        let database = format!("{service}{}", cli.database_suffix);
        let created = ensure_database(&admin, &database, cli.fresh).await?;
        privileges::ensure_role(&admin, service, &database, password).await?;
        let mut client = cli.pg.connect(&database).await?;
        let Some(runner) = runner(service) else { bail!("no migrations for `{service}`") };
        let report = runner.run_async(&mut client).await?;
        privileges::grant_tables(&client, service).await?;
        let applied: Vec<String> = report.applied_migrations().iter().map(|m| m.to_string()).collect();
        println!(
            "{database:<14} {} {}",
            if created { "created," } else { "exists, " },
            if applied.is_empty() { "up to date".to_string() } else { format!("applied {}", applied.join(", ")) }
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_suffix;

    #[test]
    fn a_database_suffix_is_a_short_plain_name_part() {
        assert_eq!(parse_suffix("_t123_4"), Ok("_t123_4".to_string()));
        assert_eq!(parse_suffix(""), Ok(String::new()));
        for bad in ["_T1", "x\"; DROP", "a-b", "é", &"x".repeat(25)] {
            assert!(parse_suffix(bad).is_err(), "{bad} accepted");
        }
    }
}
