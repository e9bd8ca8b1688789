//! mosquitto, the MQTT broker galley's MQTT tests publish to: Debian's package, run as a plain
//! daemon on its own port (not the system service), anonymous, in memory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::process;

#[derive(Debug, Clone)]
pub struct Mosquitto {
    port: u16,
    dir: PathBuf,
}

impl Mosquitto {
    pub fn new(port: u16, dir: &Path) -> Mosquitto {
        Mosquitto { port, dir: dir.to_path_buf() }
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.join("mosquitto.pid")
    }

    pub fn pid(&self) -> Option<u32> {
        process::from_pid_file(&self.pid_file())
    }

    /// Starts the broker unless it runs already; returns once it accepts connections.
    pub fn start(&self) -> Result<()> {
        let broker = crate::install::ensure("mosquitto", &["mosquitto"])?;
        if self.pid().is_some() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.dir).with_context(|| format!("creating {}", self.dir.display()))?;
        let log = self.dir.join("mosquitto.log");
        let mut config = format!(
            "listener {} 127.0.0.1\nallow_anonymous true\npersistence false\npid_file {}\nlog_dest file {}\n",
            self.port,
            self.pid_file().display(),
            log.display()
        );
        if crate::is_root() {
            // As root it would switch to the `mosquitto` user, who cannot write here.
            config.push_str("user root\n");
        }
        let conf = self.dir.join("mosquitto.conf");
        std::fs::write(&conf, config)?;
        let _ = std::fs::remove_file(self.pid_file());
        // Its start-up warnings (running as root) go to its log, not the terminal.
        let stderr = std::fs::File::options().create(true).append(true).open(&log)?;
        let status = Command::new(broker).arg("-c").arg(&conf).arg("-d").stderr(stderr).status().context("starting mosquitto")?;
        if !status.success() {
            bail!("mosquitto failed to start: {}", process::tail(&log, 10));
        }
        crate::wait::until(&format!("mosquitto on {}", self.port), Duration::from_secs(5), || {
            Ok(self.pid().is_some() && crate::wait::tcp_listening(self.port))
        })
        .with_context(|| process::tail(&log, 10))
    }

    pub fn stop(&self) -> bool {
        process::stop_pid_file(&self.pid_file(), Duration::from_secs(5))
    }
}
