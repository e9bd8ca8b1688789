//! The project's one launcher: everything Galley runs beside itself, started as plain
//! processes on ports and folders of their own, awaited until it answers, and stopped.
//!
//! One module a kind of process: [`postgres`] (a cluster driven by PostgreSQL's own
//! `initdb`/`pg_ctl`), [`redis`], [`mosquitto`], [`nginx`] (the replicas' balancer) and
//! [`galley`] (a `galley up` process). [`profile`] puts them together as the two local
//! profiles, `dev` (`make up`) and `test` (`make test`), and [`replicas`] as N galley
//! processes behind nginx. The `galley-services` binary is the command line over the same
//! code (`scripts/services.sh` builds and runs it); the end-to-end harnesses use the library.
//!
//! Why a Rust crate and not a process manager: the harnesses are Rust and need the same
//! start/stop/await logic per test (a database server a test stops mid-load, a Redis of its
//! own, replicas behind nginx), so the code they call must be a library; the shell scripts
//! get the same behaviour through the binary, with no second copy in bash or Python.

pub mod galley;
pub mod install;
pub mod mosquitto;
pub mod nginx;
pub mod postgres;
pub mod process;
pub mod profile;
pub mod redis;
pub mod replicas;
pub mod wait;

use std::path::PathBuf;

/// The checkout this launcher was built from (it lives in `launcher/`): where `scripts/`,
/// `spin.toml` and `.data/` are.
pub fn repo_root() -> PathBuf {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    root.canonicalize().unwrap_or(root)
}

/// A TCP port on 127.0.0.1 that nothing listens on right now.
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Whether this process runs as root (CI does): servers that refuse root, or switch to a
/// system user, are then run as an unprivileged one.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}
