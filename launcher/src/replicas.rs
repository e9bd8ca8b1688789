//! The replicas profile: N `galley up` processes behind nginx, one app to clients
//! (`make up REPLICAS=N`, bench/replicas.sh).
//!
//! Replica i listens on 127.0.0.1:(base + i). Each has its own state dir, but they share the
//! compiled-code cache (replica 1 compiles, the others load its code) and, through the runtime
//! config, the key-value stores `cache` and `default` on the profile's Redis: any replica may
//! answer any request. Pids, logs, the nginx config and its temp files are in the set's folder.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::galley::Galley;
use crate::nginx::Balancer;
use crate::profile::Profile;

/// A runtime config whose `cache` store (and, with `default_too`, the `default` store) is the
/// Redis at `url`: what replicas share.
pub fn redis_stores_config(url: &str, default_too: bool) -> String {
    let mut text = format!("[key_value_store.cache]\ntype = \"redis\"\nurl = \"{url}\"\n");
    if default_too {
        text.push_str(&format!("\n[key_value_store.default]\ntype = \"redis\"\nurl = \"{url}\"\n"));
    }
    text
}

#[derive(Debug, Clone)]
pub struct ReplicaSet {
    pub dir: PathBuf,
    pub base_port: u16,
    pub listen_port: u16,
    pub manifest: PathBuf,
}

impl ReplicaSet {
    fn pid_file(&self, i: usize) -> PathBuf {
        self.dir.join(format!("galley-{i}.pid"))
    }

    fn balancer(&self, ports: &[u16]) -> Balancer {
        Balancer::new(&self.dir.join("nginx"), self.listen_port, ports)
    }

    /// Starts `n` replicas for `profile` and nginx in front of them, in the background (after
    /// stopping whatever this set ran before); returns once the balancer answers.
    pub fn start(&self, n: usize, profile: &Profile) -> Result<()> {
        crate::nginx::ensure_installed()?;
        self.stop();
        std::fs::create_dir_all(&self.dir)?;
        let runtime_config = self.dir.join("runtime-config.toml");
        std::fs::write(&runtime_config, redis_stores_config(&profile.redis().url(), true))?;
        // The caller's own SPIN_VARIABLE_* win over the profile's; nginx appends the client's
        // address to X-Forwarded-For: one trusted proxy.
        let mut env = profile.app_env()?;
        env.push(("SPIN_VARIABLE_TRUSTED_PROXIES".into(), "1".into()));
        env.retain(|(k, _)| std::env::var_os(k).is_none());
        let ports: Vec<u16> = (1..=n).map(|i| self.base_port + i as u16).collect();
        let mut started = Vec::new();
        for (index, port) in ports.iter().enumerate() {
            let i = index + 1;
            let state = self.dir.join(i.to_string());
            std::fs::create_dir_all(&state)?;
            let compiled = state.join("compiled");
            if i > 1 && !compiled.exists() {
                std::os::unix::fs::symlink(self.dir.join("1/compiled"), &compiled)?;
            }
            let galley = Galley::new(&self.manifest, *port, &state)
                .runtime_config(&runtime_config)
                .envs(env.clone())
                .log(&self.dir.join(format!("galley-{i}.log")));
            let child = galley.spawn()?;
            std::fs::write(self.pid_file(i), child.id().to_string())?;
            started.push((galley, child));
            // Replica 1 alone first (it fills the code cache); then the rest together.
            if i == 1 || i == n {
                for (galley, child) in &mut started {
                    galley.wait_healthy(child).with_context(|| format!("replica on {}", galley.port()))?;
                }
                started.clear();
            }
        }
        self.balancer(&ports).start()?;
        eprintln!(
            "[replicas] {n} galley replicas on 127.0.0.1:{}..{} behind nginx on http://127.0.0.1:{} (logs in {})",
            self.base_port + 1,
            self.base_port + n as u16,
            self.listen_port,
            self.dir.display()
        );
        Ok(())
    }

    /// Stops what [`ReplicaSet::start`] started (from its pid files); nothing if nothing runs.
    pub fn stop(&self) {
        if self.balancer(&[]).stop() {
            eprintln!("[replicas] stopped nginx");
        }
        let pid_files = std::fs::read_dir(&self.dir).into_iter().flatten().flatten().map(|e| e.path());
        for file in pid_files.filter(|p| is_replica_pid_file(p)).collect::<Vec<_>>() {
            if crate::process::stop_pid_file(&file, Duration::from_secs(10)) {
                eprintln!("[replicas] stopped {}", file.display());
            }
        }
    }
}

fn is_replica_pid_file(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("galley-") && n.ends_with(".pid"))
}
