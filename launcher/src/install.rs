//! Installing what a fresh Debian/Ubuntu machine lacks, with apt, only when it is absent:
//! PostgreSQL, Redis, mosquitto, nginx, Prometheus. `make up` and `make test` must work on a
//! clean machine, so the launcher brings its own servers.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

/// `program` on PATH or in /usr/sbin (where Debian puts nginx and mosquitto).
pub fn find(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).chain([PathBuf::from("/usr/sbin")]).map(|dir| dir.join(program)).find(|p| p.is_file())
}

/// `program`, installing Debian's `packages` (apt arguments) first when it is missing.
pub fn ensure(program: &str, packages: &[&str]) -> Result<PathBuf> {
    if let Some(found) = find(program) {
        return Ok(found);
    }
    apt_install(packages)?;
    find(program).with_context(|| format!("`{program}` is still missing after installing {packages:?}"))
}

/// `apt-get install` as root (through sudo when we are not).
pub fn apt_install(packages: &[&str]) -> Result<()> {
    eprintln!("[launcher] installing {} with apt", packages.join(" "));
    run_as_root(&["apt-get", "update", "-qq"])?;
    let mut install = vec!["apt-get", "install", "-y", "-qq"];
    install.extend_from_slice(packages);
    run_as_root(&install)
}

/// Whether apt knows `package` (PostgreSQL 15 where the distribution has it).
pub fn apt_has(package: &str) -> bool {
    Command::new("apt-cache").args(["show", package]).output().is_ok_and(|o| o.status.success())
}

/// Runs `argv` as root: directly when we are, else through sudo; fails on a non-zero exit.
pub fn run_as_root(argv: &[&str]) -> Result<()> {
    let mut command = if crate::is_root() {
        Command::new(argv[0])
    } else {
        let mut sudo = Command::new("sudo");
        sudo.arg(argv[0]);
        sudo
    };
    command.args(&argv[1..]).env("DEBIAN_FRONTEND", "noninteractive");
    let out = command.output().with_context(|| format!("running {}", argv.join(" ")))?;
    if !out.status.success() {
        bail!("{} failed: {}", argv.join(" "), String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// PostgreSQL's programs folder: version 15 first (what this project is tested with), then any.
pub fn postgres_bindir() -> Option<PathBuf> {
    let any = std::fs::read_dir("/usr/lib/postgresql").into_iter().flatten().flatten().map(|entry| entry.path().join("bin"));
    std::iter::once(PathBuf::from("/usr/lib/postgresql/15/bin")).chain(any).find(|dir| dir.join("initdb").is_file())
}

/// PostgreSQL's programs folder, installing PostgreSQL (15 where apt has it) when absent.
pub fn ensure_postgres() -> Result<PathBuf> {
    if let Some(dir) = postgres_bindir() {
        return Ok(dir);
    }
    apt_install(&[if apt_has("postgresql-15") { "postgresql-15" } else { "postgresql" }])?;
    postgres_bindir().context("PostgreSQL's initdb is still missing after installing it")
}

/// Prometheus and promtool, for `make test` (promtool checks deploy/prometheus/; the
/// observability tests run a Prometheus of their own). Only the binaries are wanted: not the
/// package's Recommends (another daemon), and not the system Prometheus on :9090 its postinst
/// starts and enables, which is stopped and disabled right after the install.
pub fn ensure_prometheus() -> Result<()> {
    if find("prometheus").is_some() && find("promtool").is_some() {
        return Ok(());
    }
    apt_install(&["--no-install-recommends", "prometheus"])?;
    if std::path::Path::new("/run/systemd/system").is_dir() {
        let _ = run_as_root(&["systemctl", "disable", "--now", "prometheus.service"]);
    } else if std::path::Path::new("/etc/init.d/prometheus").exists() {
        let _ = run_as_root(&["/etc/init.d/prometheus", "stop"]);
        let _ = run_as_root(&["update-rc.d", "prometheus", "disable"]);
    }
    if find("prometheus").is_none() || find("promtool").is_none() {
        bail!("prometheus and promtool are still missing after installing them");
    }
    Ok(())
}
