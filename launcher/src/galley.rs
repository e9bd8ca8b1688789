//! A `galley up` process serving a manifest on a port of its own, awaited until its health
//! check answers (it compiles every component first, or loads them from its code cache).

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// The galley binary: `GALLEY_BIN`, or this checkout's release build.
pub fn default_bin() -> PathBuf {
    std::env::var_os("GALLEY_BIN").map(PathBuf::from).unwrap_or_else(|| crate::repo_root().join("target/release/galley"))
}

/// How long a host may take to become healthy: compiling every component of the app from
/// scratch on a busy 2-core machine takes about a minute.
pub const STARTUP: Duration = Duration::from_secs(180);

/// What to run: `galley up --manifest M --listen 127.0.0.1:PORT --state-dir D [...]`.
#[derive(Debug, Clone)]
pub struct Galley {
    bin: PathBuf,
    manifest: PathBuf,
    port: u16,
    state_dir: PathBuf,
    runtime_config: Option<PathBuf>,
    env: Vec<(String, String)>,
    args: Vec<String>,
    log: PathBuf,
}

impl Galley {
    /// `manifest` served on 127.0.0.1:`port`, with its key-value files, compiled code and (by
    /// default) its log `galley.log` in `state_dir`.
    pub fn new(manifest: &Path, port: u16, state_dir: &Path) -> Galley {
        Galley {
            bin: default_bin(),
            manifest: manifest.to_path_buf(),
            port,
            state_dir: state_dir.to_path_buf(),
            runtime_config: None,
            env: Vec::new(),
            args: Vec::new(),
            log: state_dir.join("galley.log"),
        }
    }

    pub fn bin(mut self, bin: &Path) -> Galley {
        self.bin = bin.to_path_buf();
        self
    }

    pub fn runtime_config(mut self, path: &Path) -> Galley {
        self.runtime_config = Some(path.to_path_buf());
        self
    }

    /// Adds environment variables (later ones win over earlier ones of the same name).
    pub fn envs<K: Into<String>, V: Into<String>>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> Galley {
        self.env.extend(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// Adds arguments after `galley up`'s own (e.g. `--watch`).
    pub fn args<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Galley {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Where stdout and stderr go (appended).
    pub fn log(mut self, path: &Path) -> Galley {
        self.log = path.to_path_buf();
        self
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Starts the process without waiting for it.
    pub fn spawn(&self) -> Result<Child> {
        if !self.bin.is_file() {
            bail!("{} not found: build it with `make build`", self.bin.display());
        }
        std::fs::create_dir_all(&self.state_dir).with_context(|| format!("creating {}", self.state_dir.display()))?;
        let mut command = Command::new(&self.bin);
        command
            .current_dir(crate::repo_root())
            .args(["up", "--listen", &format!("127.0.0.1:{}", self.port)])
            .arg("--manifest")
            .arg(&self.manifest)
            .arg("--state-dir")
            .arg(&self.state_dir);
        if let Some(config) = &self.runtime_config {
            command.arg("--runtime-config-file").arg(config);
        }
        command.args(&self.args).envs(self.env.iter().map(|(k, v)| (k, v)));
        crate::process::spawn_logged(&mut command, &self.log)
    }

    /// Starts the process and returns it once `/.well-known/spin/health` answers 200.
    pub fn start(&self) -> Result<Child> {
        let mut child = self.spawn()?;
        if let Err(e) = self.wait_healthy(&mut child) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
        Ok(child)
    }

    /// Waits for `child` (this host) to answer its health check; fails at once if it exits.
    pub fn wait_healthy(&self, child: &mut Child) -> Result<()> {
        crate::wait::until(&format!("galley on {}", self.port), STARTUP, || {
            if let Some(status) = child.try_wait()? {
                bail!("galley exited with {status} before becoming healthy");
            }
            Ok(crate::wait::http_ok(self.port, "/.well-known/spin/health"))
        })
        .with_context(|| format!("galley's log ({}):\n{}", self.log.display(), crate::process::tail(&self.log, 40)))
    }
}
