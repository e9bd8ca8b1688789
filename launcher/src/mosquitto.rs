//! mosquitto, the MQTT broker galley's MQTT tests publish to: Debian's package, run as a plain
//! daemon on its own port (not the system service), anonymous, in memory.

use std::path::Path;
use std::process::Command;

use anyhow::Result;

use crate::process::Daemon;

#[derive(Debug, Clone)]
pub struct Mosquitto(Daemon);

impl Mosquitto {
    pub fn new(port: u16, dir: &Path) -> Mosquitto {
        Mosquitto(Daemon::new("mosquitto", port, dir))
    }

    pub fn pid(&self) -> Option<u32> {
        self.0.pid()
    }

    /// Starts the broker unless it runs already; returns once it accepts connections.
    pub fn start(&self) -> Result<()> {
        self.0.start("mosquitto", |broker| {
            let log = self.0.log_path();
            let mut config = format!(
                "listener {} 127.0.0.1\nallow_anonymous true\npersistence false\npid_file {}\nlog_dest file {}\n",
                self.0.port(),
                self.0.pid_file().display(),
                log.display()
            );
            if crate::is_root() {
                // As root it would switch to the `mosquitto` user, who cannot write here.
                config.push_str("user root\n");
            }
            let conf = self.0.dir().join("mosquitto.conf");
            std::fs::write(&conf, config)?;
            // Its start-up warnings (running as root) go to its log, not the terminal.
            let stderr = std::fs::File::options().create(true).append(true).open(&log)?;
            let mut command = Command::new(broker);
            command.arg("-c").arg(&conf).arg("-d").stderr(stderr);
            Ok(command)
        })
    }

    pub fn stop(&self) -> bool {
        self.0.stop()
    }
}
