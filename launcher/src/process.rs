//! Processes that outlive the command that started them: pid files, signals, and waiting for
//! one to be gone.

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};

/// Whether process `pid` exists (and may be signalled by us).
pub fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists; nothing is delivered.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
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
