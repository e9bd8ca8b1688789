//! A Redis server as a plain daemon on its own port and folder, configured as the project's
//! (`scripts/redis.conf`: loopback only, nothing kept on disk).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::process;

#[derive(Debug, Clone)]
pub struct Redis {
    port: u16,
    dir: PathBuf,
}

impl Redis {
    /// The server on `port` whose pid, log and working files are in `dir`.
    pub fn new(port: u16, dir: &Path) -> Redis {
        Redis { port, dir: dir.to_path_buf() }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.join("redis.pid")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("redis.log")
    }

    /// The running server's pid, if it runs.
    pub fn pid(&self) -> Option<u32> {
        process::from_pid_file(&self.pid_file())
    }

    /// Starts the server unless it runs already; returns once it accepts connections.
    pub fn start(&self) -> Result<()> {
        let server = crate::install::ensure("redis-server", &["redis-server"])?;
        if self.pid().is_some() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.dir).with_context(|| format!("creating {}", self.dir.display()))?;
        // Volatile by design: a snapshot left by an older setup is not loaded.
        for stale in ["dump.rdb", "appendonly.aof", "redis.pid"] {
            let _ = std::fs::remove_file(self.dir.join(stale));
        }
        let status = Command::new(server)
            .arg(crate::repo_root().join("scripts/redis.conf"))
            .args(["--port", &self.port.to_string(), "--daemonize", "yes"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--pidfile")
            .arg(self.pid_file())
            .arg("--logfile")
            .arg(self.log_path())
            .status()
            .context("starting redis-server")?;
        if !status.success() {
            bail!("redis-server failed to start: {}", process::tail(&self.log_path(), 10));
        }
        crate::wait::until(&format!("redis on {}", self.port), Duration::from_secs(10), || {
            Ok(self.pid().is_some() && crate::wait::tcp_listening(self.port))
        })
        .with_context(|| process::tail(&self.log_path(), 10))
    }

    /// A clean shutdown (SIGTERM is Redis's SHUTDOWN), as an operator's `systemctl stop`
    /// would do; whether it was running.
    pub fn stop(&self) -> bool {
        process::stop_pid_file(&self.pid_file(), Duration::from_secs(10))
    }

    /// Runs a `redis-cli` command against this server; its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli").args(["-p", &self.port.to_string()]).args(args).output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned()).unwrap_or_default()
    }
}
