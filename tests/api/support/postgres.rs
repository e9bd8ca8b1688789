//! A Postgres server of a test's own, for tests that stop and start the database under a
//! running app (the shared test Postgres serves every other test at once, so it must never be
//! stopped). The cluster is made as `scripts/services.sh` makes the project's: PostgreSQL's
//! own `initdb`/`pg_ctl`, one superuser `galley` with trust authentication, 127.0.0.1 only,
//! owned by the unprivileged `postgres` user when the tests run as root. The databases are
//! always created by `galley-migrate`, as for every other environment.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::repo_root;

/// Where PostgreSQL's programs are: version 15 first (what `scripts/services.sh` installs).
fn pg_bindir() -> PathBuf {
    let candidates = std::iter::once(PathBuf::from("/usr/lib/postgresql/15/bin")).chain(
        std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path().join("bin")),
    );
    candidates
        .into_iter()
        .find(|dir| dir.join("initdb").exists())
        .expect("PostgreSQL's initdb (installed by `scripts/services.sh up test`)")
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false)
}

/// How `pg_ctl stop` ends the server.
#[derive(Debug, Clone, Copy)]
pub enum StopMode {
    /// `-m fast`: sessions are terminated (each told so), then a clean shutdown.
    Fast,
    /// `-m immediate`: every process quits at once, as a crash would; recovery on restart.
    Immediate,
}

/// A throwaway cluster on a free port, in a temp folder, that a test may stop and start again.
pub struct PostgresServer {
    pub port: u16,
    dir: tempfile::TempDir,
    bin: PathBuf,
    as_postgres: bool,
    running: bool,
}

impl PostgresServer {
    /// initdb (fast: no fsync, trust authentication), start, and create and migrate every
    /// service database with `target/release/galley-migrate`.
    pub fn start() -> PostgresServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let as_postgres = is_root();
        if as_postgres {
            // Postgres refuses to run as root: the cluster belongs to `postgres`, who must own
            // the folder (the temp dir is private to its creator).
            let status = Command::new("chown").arg("postgres").arg(dir.path()).status().expect("chown");
            assert!(status.success(), "chown postgres {}", dir.path().display());
        }
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let mut server = PostgresServer { port, dir, bin: pg_bindir(), as_postgres, running: false };
        let data = server.data();
        server.run("initdb", |c| {
            c.arg("-D").arg(&data).args(["-U", "galley", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"]);
        });
        server.restart();
        let migrate = repo_root().join("target/release/galley-migrate");
        // The service roles get the test profile's passwords, which the harness hands to galley.
        let out = Command::new(&migrate)
            .args(["--port", &port.to_string()])
            .arg("--secrets-file")
            .arg(repo_root().join(".data/test/db-secrets.env"))
            .output()
            .expect("run galley-migrate (`make build`)");
        assert!(out.status.success(), "galley-migrate: {}", String::from_utf8_lossy(&out.stderr));
        server
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("cluster")
    }

    /// One of PostgreSQL's programs, run as `postgres` when we are root (from `/`, which that
    /// user may enter).
    fn command(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        command.current_dir(Path::new("/"));
        command
    }

    /// Runs one of PostgreSQL's programs; panics with its output if it fails.
    fn run(&self, program: &str, args: impl FnOnce(&mut Command)) {
        let mut command = self.command(program);
        args(&mut command);
        let out = command.output().unwrap_or_else(|e| panic!("{program}: {e}"));
        assert!(
            out.status.success(),
            "{program} failed: {}{}\nserver log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
    }

    /// Starts the server (again, after [`PostgresServer::stop`]) on the same port and data.
    pub fn restart(&mut self) {
        let (data, log) = (self.data(), self.dir.path().join("postgres.log"));
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
            self.port,
            self.dir.path().display()
        );
        self.run("pg_ctl", |c| {
            c.arg("-D").arg(&data).arg("-l").arg(&log).args(["-w", "-t", "60", "-o", &options, "start"]);
        });
        self.running = true;
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "postgres did not listen on {}", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server and waits until it is down.
    pub fn stop(&mut self, mode: StopMode) {
        let mode = match mode {
            StopMode::Fast => "fast",
            StopMode::Immediate => "immediate",
        };
        let data = self.data();
        self.run("pg_ctl", |c| {
            c.arg("-D").arg(&data).args(["-m", mode, "-w", "-t", "60", "stop"]);
        });
        self.running = false;
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }

    /// A direct connection to database `name` on this server, for checks behind the API.
    pub async fn database(&self, name: &str) -> tokio_postgres::Client {
        super::connect_database(&self.port, name).await
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        if self.running {
            // Nothing to keep: the folder is deleted next.
            let _ = self.command("pg_ctl").arg("-D").arg(self.data()).args(["-m", "immediate", "-w", "stop"]).output();
        }
    }
}
