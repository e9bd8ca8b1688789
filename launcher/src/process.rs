//! Processes that outlive the command that started them: pid files, signals, and waiting for
//! one to be gone.

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};

/// Whether process `pid` exists (and may be signalled by us).
pub fn alive(pid: u32) -> bool {
    // A child of ours that exited stays a zombie, which signal 0 still finds, until reaped:
    // reap it if it is ours and done (for anyone else's pid this fails with ECHILD).
    // SAFETY: waitpid with WNOHANG on one pid, no status wanted; signal 0 only checks that
    // the process exists, nothing is delivered.
    unsafe {
        if libc::waitpid(pid as libc::pid_t, std::ptr::null_mut(), libc::WNOHANG) == pid as libc::pid_t {
            return false;
        }
        libc::kill(pid as libc::pid_t, 0) == 0
    }
}

/// Sends `signal` (libc::SIGTERM, SIGKILL, ...) to `pid`; false if there is no such process.
pub fn signal(pid: u32, signal: libc::c_int) -> bool {
    // SAFETY: kill(2) with a plain pid; a stale pid at worst fails with ESRCH.
    unsafe { libc::kill(pid as libc::pid_t, signal) == 0 }
}

/// SIGKILL, as a crash or the OOM killer would: no chance to clean up.
pub fn kill(pid: u32) -> bool {
    signal(pid, libc::SIGKILL)
}

/// The live process whose pid `file` holds, if any.
pub fn from_pid_file(file: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(file).ok()?.trim().parse().ok()?;
    alive(pid).then_some(pid)
}

/// SIGTERM, then up to `timeout` for the process to exit: every server here shuts down
/// cleanly on SIGTERM (nginx's fast shutdown, Redis's SHUTDOWN, galley's drain).
pub fn terminate(pid: u32, timeout: Duration) -> bool {
    if !signal(pid, libc::SIGTERM) {
        return true;
    }
    crate::wait::until("exit", timeout, || Ok(!alive(pid))).is_ok()
}

/// SIGTERM to every pid at once (they shut down side by side), then waits until all have
/// exited; whatever outlives `timeout` is SIGKILLed. An error only if something survives that.
pub fn stop_all(pids: &[u32], timeout: Duration) -> Result<()> {
    for &pid in pids {
        signal(pid, libc::SIGTERM);
    }
    let all_gone = || Ok(pids.iter().all(|&pid| !alive(pid)));
    if crate::wait::until("exit", timeout, all_gone).is_err() {
        for &pid in pids {
            kill(pid);
        }
        crate::wait::until("exit after SIGKILL", Duration::from_secs(5), all_gone)?;
    }
    Ok(())
}

/// Stops what `file` names (if it runs) and removes the file; whether anything was running.
pub fn stop_pid_file(file: &Path, timeout: Duration) -> bool {
    let stopped = from_pid_file(file).map(|pid| terminate(pid, timeout)).is_some();
    let _ = std::fs::remove_file(file);
    stopped
}

/// Starts `command` with no stdin and both outputs appended to `log`, in a process group of
/// its own: a Ctrl-C meant for the shell that ran the launcher does not reach it.
pub fn spawn_logged(command: &mut Command, log: &Path) -> Result<Child> {
    use std::os::unix::process::CommandExt;
    let out = File::options().create(true).append(true).open(log).with_context(|| format!("log file {}", log.display()))?;
    // A child inherits the signal mask, and `replicas up` blocks SIGTERM in order to wait for
    // it: unblocked here, or the replicas would never see the SIGTERM that stops them.
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(|| {
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::pthread_sigmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
            Ok(())
        });
    }
    command
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {:?}", command.get_program()))
}

/// The last `lines` lines of a log, for an error message.
pub fn tail(log: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A server that forks into the background and records its pid in a file of its own folder
/// (Redis, mosquitto): what they share, from the folder to the wait until it listens.
#[derive(Debug, Clone)]
pub struct Daemon {
    name: &'static str,
    port: u16,
    dir: std::path::PathBuf,
}

impl Daemon {
    /// `name` (also its pid file's and log's stem) on 127.0.0.1:`port`, living in `dir`.
    pub fn new(name: &'static str, port: u16, dir: &Path) -> Daemon {
        Daemon { name, port, dir: dir.to_path_buf() }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn pid_file(&self) -> std::path::PathBuf {
        self.dir.join(format!("{}.pid", self.name))
    }

    pub fn log_path(&self) -> std::path::PathBuf {
        self.dir.join(format!("{}.log", self.name))
    }

    /// Its pid, if it runs.
    pub fn pid(&self) -> Option<u32> {
        from_pid_file(&self.pid_file())
    }

    /// Starts it unless it runs already: installs Debian's package `name` if its `program` is
    /// missing, makes its folder, forgets a stale pid file, runs the command `command` builds
    /// (from the program's path) to fork the server, then waits until the pid file names a
    /// live process and the port accepts connections.
    pub fn start(&self, program: &str, command: impl FnOnce(std::path::PathBuf) -> Result<Command>) -> Result<()> {
        let program = crate::install::ensure(program, &[program])?;
        if self.pid().is_some() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.dir).with_context(|| format!("creating {}", self.dir.display()))?;
        let _ = std::fs::remove_file(self.pid_file());
        let status = command(program)?.status().with_context(|| format!("starting {}", self.name))?;
        if !status.success() {
            anyhow::bail!("{} failed to start: {}", self.name, tail(&self.log_path(), 10));
        }
        crate::wait::until(&format!("{} on {}", self.name, self.port), Duration::from_secs(10), || {
            Ok(self.pid().is_some() && crate::wait::tcp_listening(self.port))
        })
        .with_context(|| tail(&self.log_path(), 10))
    }

    /// SIGTERM (a clean shutdown for both) and the wait; whether it was running.
    pub fn stop(&self) -> bool {
        stop_pid_file(&self.pid_file(), Duration::from_secs(10))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spawn(script: &str) -> Child {
        Command::new("sh").args(["-c", script]).spawn().expect("sh runs")
    }

    #[test]
    fn stop_all_returns_once_every_process_has_exited() {
        let children = [spawn("exec sleep 30"), spawn("exec sleep 30")];
        let pids: Vec<u32> = children.iter().map(Child::id).collect();
        stop_all(&pids, Duration::from_secs(5)).unwrap();
        assert!(pids.iter().all(|&pid| !alive(pid)));
    }

    #[test]
    fn stop_all_kills_what_ignores_sigterm() {
        // The shell ignores SIGTERM and keeps waiting on its sleep.
        let stubborn = spawn("trap '' TERM; while :; do sleep 0.1; done");
        std::thread::sleep(Duration::from_millis(200)); // the trap is set
        stop_all(&[stubborn.id()], Duration::from_millis(300)).unwrap();
        assert!(!alive(stubborn.id()));
    }

    #[test]
    fn stop_all_accepts_pids_already_gone() {
        let mut done = spawn("true");
        done.wait().unwrap();
        stop_all(&[done.id()], Duration::from_secs(1)).unwrap();
    }
}
