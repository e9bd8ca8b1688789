//! A Postgres server of a test's own, for tests that stop and start the database under a
//! running app (the shared test Postgres serves every other test at once, so it must never be
//! stopped). The cluster is the launcher's (`galley_launcher::postgres`), throwaway (no fsync),
//! in a temp folder; its databases are created by `galley-migrate`, as for every environment.

use galley_launcher::postgres::{Cluster, Durability};
pub use galley_launcher::postgres::StopMode;

use super::repo_root;

/// A throwaway cluster on a free port, in a temp folder, that a test may stop and start again.
pub struct PostgresServer {
    pub port: u16,
    cluster: Cluster,
    running: bool,
    // Last: the folder goes after the server is stopped.
    _dir: tempfile::TempDir,
}

impl PostgresServer {
    /// initdb, start, and create and migrate every service database with
    /// `target/release/galley-migrate`.
    pub fn start() -> PostgresServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = galley_launcher::free_port().expect("free port");
        let cluster = Cluster::new(dir.path(), port, Durability::Throwaway)
            .expect("PostgreSQL")
            .setting("max_connections", "300");
        cluster.init().expect("initdb");
        let mut server = PostgresServer { port, cluster, running: false, _dir: dir };
        server.restart();
        // The service roles get the test profile's passwords, which the harness hands to galley.
        let out = std::process::Command::new(repo_root().join("target/release/galley-migrate"))
            .args(["--port", &port.to_string()])
            .arg("--secrets-file")
            .arg(repo_root().join(".data/test/db-secrets.env"))
            .output()
            .expect("run galley-migrate (`make build`)");
        assert!(out.status.success(), "galley-migrate: {}", String::from_utf8_lossy(&out.stderr));
        server
    }

    /// Starts the server (again, after [`PostgresServer::stop`]) on the same port and data.
    pub fn restart(&mut self) {
        self.cluster.start().unwrap_or_else(|e| panic!("{e:#}"));
        self.running = true;
    }

    /// Stops the server and waits until it is down.
    pub fn stop(&mut self, mode: StopMode) {
        self.cluster.stop(mode).unwrap_or_else(|e| panic!("{e:#}"));
        self.running = false;
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        self.cluster.log()
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
            let _ = self.cluster.stop(StopMode::Immediate);
        }
    }
}
