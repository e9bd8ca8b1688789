//! A PostgreSQL cluster driven by PostgreSQL's own `initdb` and `pg_ctl`, as a plain process
//! on its own port and folder: the profiles' long-lived clusters and the throwaway ones a test
//! stops and starts under a running app.
//!
//! One superuser, `galley`, with trust authentication until [`Cluster::require_passwords`];
//! 127.0.0.1 only; the Unix socket in the cluster's own folder. Postgres refuses to run as
//! root, so when we are root (CI) the cluster belongs to the unprivileged `postgres` user and
//! its programs run as that user.

use std::ffi::CString;
use std::os::unix::fs::chown;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// How much a cluster's data matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// A profile's cluster: every commit flushed, as in production.
    Durable,
    /// A test's own: no fsync at all (a crash of the machine loses it; nothing to keep).
    Throwaway,
}

/// How `pg_ctl stop` ends the server.
#[derive(Debug, Clone, Copy)]
pub enum StopMode {
    /// `-m fast`: sessions are terminated (each told so), then a clean shutdown.
    Fast,
    /// `-m immediate`: every process quits at once, as a crash would; recovery on restart.
    Immediate,
}

/// A cluster under `home`: `home/cluster` (the data), `home/run` (the socket) and
/// `home/postgres.log`.
#[derive(Debug, Clone)]
pub struct Cluster {
    home: PathBuf,
    port: u16,
    bin: PathBuf,
    durability: Durability,
    /// Extra `-c name=value` settings for every start.
    settings: Vec<String>,
}

impl Cluster {
    /// The cluster in `home` (made there by [`Cluster::init`] if it is not yet), listening on
    /// `port`. Installs PostgreSQL with apt when it is missing.
    pub fn new(home: &Path, port: u16, durability: Durability) -> Result<Cluster> {
        let bin = crate::install::ensure_postgres()?;
        Ok(Cluster { home: home.to_path_buf(), port, bin, durability, settings: Vec::new() })
    }

    /// Adds `name=value` to the server's settings (from the next start on).
    pub fn setting(mut self, name: &str, value: &str) -> Cluster {
        self.settings.push(format!("{name}={value}"));
        self
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    fn data(&self) -> PathBuf {
        self.home.join("cluster")
    }

    fn socket_dir(&self) -> PathBuf {
        self.home.join("run")
    }

    pub fn log_path(&self) -> PathBuf {
        self.home.join("postgres.log")
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Creates the cluster unless it exists; makes its folders, owned by whoever runs it.
    pub fn init(&self) -> Result<()> {
        for dir in [&self.home, &self.socket_dir()] {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            give_to_server_user(dir)?;
        }
        if self.data().join("PG_VERSION").exists() {
            return Ok(());
        }
        let mut args = vec!["-D".to_owned(), self.data().display().to_string()];
        args.extend(["-U", "galley", "--auth=trust", "-E", "UTF8", "--no-instructions"].map(String::from));
        if self.durability == Durability::Throwaway {
            args.push("--no-sync".into());
        }
        self.run("initdb", &args).map(drop)
    }

    pub fn is_running(&self) -> bool {
        self.data().join("PG_VERSION").exists()
            && self.command("pg_ctl").arg("-D").arg(self.data()).arg("status").output().is_ok_and(|o| o.status.success())
    }

    /// Starts the server (again, after a stop) and waits until it accepts TCP connections.
    pub fn start(&self) -> Result<()> {
        let mut options = format!("-p {} -k {} -c listen_addresses=127.0.0.1", self.port, self.socket_dir().display());
        if self.durability == Durability::Throwaway {
            options.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
        }
        for setting in &self.settings {
            options.push_str(&format!(" -c {setting}"));
        }
        let data = self.data().display().to_string();
        let log = self.log_path().display().to_string();
        self.run("pg_ctl", &["-D", &data, "-l", &log, "-w", "-t", "60", "-o", &options, "start"].map(String::from))?;
        crate::wait::until(&format!("postgres on {}", self.port), Duration::from_secs(10), || Ok(crate::wait::tcp_listening(self.port)))
    }

    /// Stops the server and waits until it is down.
    pub fn stop(&self, mode: StopMode) -> Result<()> {
        let mode = match mode {
            StopMode::Fast => "fast",
            StopMode::Immediate => "immediate",
        };
        let data = self.data().display().to_string();
        self.run("pg_ctl", &["-D", &data, "-m", mode, "-w", "-t", "60", "stop"].map(String::from)).map(drop)
    }

    /// Runs `sql` in database `postgres` as the superuser over the Unix socket (which needs no
    /// password, and which no component can reach).
    pub fn psql(&self, sql: &str) -> Result<String> {
        let socket = self.socket_dir().display().to_string();
        let port = self.port.to_string();
        self.run("psql", &["-q", "-X", "-v", "ON_ERROR_STOP=1", "-h", &socket, "-p", &port, "-U", "galley", "-d", "postgres", "-c", sql].map(String::from))
    }

    /// From now on every role needs its password over TCP (scram-sha-256), the superuser
    /// included, whose password becomes `superuser_password`; the socket stays trusted.
    pub fn require_passwords(&self, superuser_password: &str) -> Result<()> {
        if superuser_password.is_empty() || !superuser_password.chars().all(|c| c.is_ascii_alphanumeric()) {
            bail!("the superuser's password must be plain letters and digits");
        }
        self.psql(&format!("ALTER ROLE galley PASSWORD '{superuser_password}'"))?;
        let hba = [
            "# Written by the launcher (launcher/src/postgres.rs): passwords over TCP, trust on the socket.",
            "local all all trust",
            "host all all 127.0.0.1/32 scram-sha-256",
            "host all all ::1/128 scram-sha-256",
        ]
        .join("\n")
            + "\n";
        let path = self.data().join("pg_hba.conf");
        if std::fs::read_to_string(&path).ok().as_deref() != Some(hba.as_str()) {
            // Rewriting the file in place keeps its owner.
            std::fs::write(&path, hba).with_context(|| format!("writing {}", path.display()))?;
            let data = self.data().display().to_string();
            self.run("pg_ctl", &["-D", &data, "reload"].map(String::from))?;
        }
        Ok(())
    }

    /// One of PostgreSQL's programs, as `postgres` when we are root, from `/` (which that user
    /// may enter, unlike, say, /root).
    fn command(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        let mut command = if crate::is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        command.current_dir("/");
        command
    }

    /// Runs one of PostgreSQL's programs; its output, or an error with it and the server log.
    fn run(&self, program: &str, args: &[String]) -> Result<String> {
        let out = self.command(program).args(args).output().with_context(|| format!("running {program}"))?;
        if !out.status.success() {
            bail!(
                "{program} {} failed: {}{}\nserver log (end):\n{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                crate::process::tail(&self.log_path(), 20)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// When we are root, `dir` is handed to the `postgres` user (created if the package did not),
/// who runs the server; otherwise it is ours already.
pub fn give_to_server_user(dir: &Path) -> Result<()> {
    if !crate::is_root() {
        return Ok(());
    }
    let (uid, gid) = postgres_user()?;
    chown(dir, Some(uid), Some(gid)).with_context(|| format!("chown postgres {}", dir.display()))
}

/// Whether the `postgres` user (when we are root) or we may write into `dir`.
pub fn server_user_can_write(dir: &Path) -> bool {
    if !crate::is_root() {
        return true;
    }
    Command::new("runuser").args(["-u", "postgres", "--", "test", "-w"]).arg(dir).status().is_ok_and(|s| s.success())
}

/// The `postgres` user's uid and gid, creating it as a system user if it does not exist.
fn postgres_user() -> Result<(u32, u32)> {
    let lookup = || {
        let name = CString::new("postgres").expect("no NUL");
        // SAFETY: getpwnam with a valid C string; the record is read at once, before any
        // other call that could reuse its static storage.
        let entry = unsafe { libc::getpwnam(name.as_ptr()) };
        // SAFETY: non-null means a valid passwd record.
        (!entry.is_null()).then(|| unsafe { ((*entry).pw_uid, (*entry).pw_gid) })
    };
    if let Some(ids) = lookup() {
        return Ok(ids);
    }
    let status = Command::new("useradd")
        .args(["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres"])
        .status()
        .context("useradd postgres")?;
    if !status.success() {
        bail!("useradd postgres failed");
    }
    lookup().context("the postgres user after useradd")
}
