//! nginx in front of galley replicas: Debian's package, run as a plain daemon with its
//! config, pid, logs and temp files in a folder of its own, from the template
//! `scripts/nginx.conf.in` (round robin, a failed replica taken out for 5 s).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::process;

#[derive(Debug, Clone)]
pub struct Balancer {
    dir: PathBuf,
    port: u16,
    upstreams: Vec<u16>,
}

/// nginx, installed with apt when missing.
pub fn ensure_installed() -> Result<PathBuf> {
    crate::install::ensure("nginx", &["nginx"])
}

impl Balancer {
    /// nginx on 127.0.0.1:`port` in front of galley on each of `upstreams`, living in `dir`.
    pub fn new(dir: &Path, port: u16, upstreams: &[u16]) -> Balancer {
        Balancer { dir: dir.to_path_buf(), port, upstreams: upstreams.to_vec() }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.join("nginx.pid")
    }

    /// The template filled in for this balancer.
    pub fn config(&self) -> Result<String> {
        let template_path = crate::repo_root().join("scripts/nginx.conf.in");
        let template = std::fs::read_to_string(&template_path).with_context(|| format!("reading {}", template_path.display()))?;
        let servers: Vec<String> =
            self.upstreams.iter().map(|p| format!("        server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;")).collect();
        Ok(template
            .replace("@USER@", if crate::is_root() { "user root;" } else { "" })
            .replace("@DIR@", &self.dir.display().to_string())
            .replace("@LISTEN@", &self.port.to_string())
            .replace("@SERVERS@", &servers.join("\n")))
    }

    /// Writes the config and starts nginx; returns once the balancer answers galley's health
    /// check (through a replica).
    pub fn start(&self) -> Result<()> {
        let nginx = ensure_installed()?;
        std::fs::create_dir_all(self.dir.join("tmp")).with_context(|| format!("creating {}", self.dir.display()))?;
        let conf = self.dir.join("nginx.conf");
        std::fs::write(&conf, self.config()?)?;
        let error_log = self.dir.join("error.log");
        let out = Command::new(nginx).arg("-p").arg(&self.dir).arg("-c").arg(&conf).arg("-e").arg(&error_log).output()?;
        if !out.status.success() {
            bail!("nginx did not start: {}{}", String::from_utf8_lossy(&out.stderr), process::tail(&error_log, 10));
        }
        crate::wait::until(&format!("nginx on {}", self.port), Duration::from_secs(20), || {
            Ok(crate::wait::http_ok(self.port, "/.well-known/spin/health"))
        })
        .with_context(|| process::tail(&error_log, 20))
    }

    /// nginx's fast shutdown (SIGTERM), workers included; whether it was running.
    pub fn stop(&self) -> bool {
        process::stop_pid_file(&self.pid_file(), Duration::from_secs(5))
    }

    /// nginx's error log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}
