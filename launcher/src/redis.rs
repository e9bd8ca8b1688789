//! A Redis server as a plain daemon on its own port and folder, configured as the project's
//! (`scripts/redis.conf`: loopback only, nothing kept on disk).

use std::path::Path;
use std::process::Command;

use anyhow::Result;

use crate::process::Daemon;

#[derive(Debug, Clone)]
pub struct Redis(Daemon);

impl Redis {
    /// The server on `port` whose pid, log and working files are in `dir`.
    pub fn new(port: u16, dir: &Path) -> Redis {
        Redis(Daemon::new("redis", port, dir))
    }

    pub fn port(&self) -> u16 {
        self.0.port()
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port())
    }

    /// The running server's pid, if it runs.
    pub fn pid(&self) -> Option<u32> {
        self.0.pid()
    }

    /// Starts the server unless it runs already; returns once it accepts connections.
    pub fn start(&self) -> Result<()> {
        self.0.start("redis-server", |server| {
            // Volatile by design: a snapshot left by an older setup is not loaded.
            for stale in ["dump.rdb", "appendonly.aof"] {
                let _ = std::fs::remove_file(self.0.dir().join(stale));
            }
            let mut command = Command::new(server);
            command
                .arg(crate::repo_root().join("scripts/redis.conf"))
                .args(["--port", &self.port().to_string(), "--daemonize", "yes"])
                .arg("--dir")
                .arg(self.0.dir())
                .arg("--pidfile")
                .arg(self.0.pid_file())
                .arg("--logfile")
                .arg(self.0.log_path());
            Ok(command)
        })
    }

    /// A clean shutdown (SIGTERM is Redis's SHUTDOWN), as an operator's `systemctl stop`
    /// would do; whether it was running.
    pub fn stop(&self) -> bool {
        self.0.stop()
    }

    /// Runs a `redis-cli` command against this server; its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli").args(["-p", &self.port().to_string()]).args(args).output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned()).unwrap_or_default()
    }
}
