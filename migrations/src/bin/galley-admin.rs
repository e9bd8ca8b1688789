//! `galley-admin`: create an admin user. The password is read from standard input (prompted
//! for, without echo, on a terminal) and never from the command line, where it would land in
//! shell history and `ps`. There is no default password anywhere.

use std::io::{BufRead, IsTerminal};

use anyhow::{bail, Context, Result};
use clap::Parser;
use galley_common::{password, users};
use galley_migrate::PgArgs;

#[derive(Parser)]
#[command(about = "Create a Galley admin user; the password is read from stdin")]
struct Cli {
    #[command(flatten)]
    pg: PgArgs,
    #[arg(long)]
    username: String,
    #[arg(long)]
    mobile: String,
}

fn read_password() -> Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password for the new admin: ")?;
        let again = rpassword::prompt_password("Same password again: ")?;
        if first != again {
            bail!("the two passwords differ");
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("reading the password from stdin")?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let username = users::Username::parse(&cli.username)?;
    let mobile = users::Mobile::parse(&cli.mobile)?;
    let pw = users::Password::parse(&read_password()?)?;
    let hash = password::hash(pw.expose())?;
    let db = cli.pg.connect("users").await?;
    let row = db
        .query_opt(
            "INSERT INTO users (username, password_hash, mobile, role) VALUES ($1, $2, $3, 'admin')
             ON CONFLICT ((lower(username))) DO NOTHING RETURNING id::text",
            &[&username.as_str(), &hash, &mobile.as_str()],
        )
        .await?;
    match row {
        Some(row) => {
            let id: String = row.get(0);
            println!("created admin `{}` with id {id}", cli.username);
            Ok(())
        }
        None => bail!("a user named `{}` (in any letter case) already exists", cli.username),
    }
}
