//! `galley-services`: the launcher's command line (`scripts/services.sh` builds and runs it).
//! Every command starts things in the background and returns once they answer, or stops them.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use galley_launcher::{galley::Galley, profile::Profile, redis::Redis, replicas::ReplicaSet};

#[derive(Parser)]
#[command(name = "galley-services", about = "Starts, awaits and stops what Galley runs beside itself")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Postgres, Redis (and for `test` mosquitto and promtool), installed if absent, started
    /// if not running; the profile's secrets file and runtime config.
    Up { profile: String },
    /// Stops the profile's Postgres, Redis and mosquitto.
    Down { profile: String },
    /// Stops everything and deletes the profile's data.
    Reset { profile: String },
    Status { profile: String },
    /// Only the profile's MQTT broker (galley's host tests).
    Mqtt { profile: String },
    /// Installs a tool with apt if absent: `prometheus` (with promtool) or `nginx`.
    Install { tool: Tool },
    /// N galley processes behind nginx.
    Replicas {
        #[command(subcommand)]
        action: ReplicasAction,
        #[arg(long, default_value = "dev", global = true)]
        profile: String,
        /// Replica i listens on BASE+i (default: dev 3100, test 3200).
        #[arg(long, env = "REPLICAS_BASE_PORT", global = true)]
        base_port: Option<u16>,
        /// nginx's address (default: dev 127.0.0.1:3000, test 127.0.0.1:3290).
        #[arg(long, env = "GALLEY_LISTEN", global = true)]
        listen: Option<String>,
        /// Pids, logs and state (default .data/<profile>/replicas).
        #[arg(long, env = "REPLICAS_DIR", global = true)]
        dir: Option<PathBuf>,
        #[arg(long, env = "GALLEY_MANIFEST", default_value = "spin.toml", global = true)]
        manifest: PathBuf,
    },
    /// One `galley up` in the background, with the profile's Postgres and Redis as Spin
    /// variables; prints its pid once its health check answers.
    Galley {
        #[arg(long)]
        port: u16,
        #[arg(long)]
        state_dir: PathBuf,
        #[arg(long, default_value = "test")]
        profile: String,
        #[arg(long, default_value = "spin.toml")]
        manifest: PathBuf,
        /// Default: the profile's.
        #[arg(long)]
        runtime_config: Option<PathBuf>,
        /// Default: STATE_DIR/galley.log.
        #[arg(long)]
        log: Option<PathBuf>,
        /// NAME=VALUE, added to the environment (repeatable; wins over the profile's).
        #[arg(long = "env", value_parser = parse_assignment)]
        env: Vec<(String, String)>,
    },
    /// A Redis of its own in the background (pid, log and files in DIR); prints its pid.
    Redis {
        #[arg(long)]
        port: u16,
        #[arg(long)]
        dir: PathBuf,
    },
    /// SIGTERM to each PID, then waits until every one has exited (SIGKILL after TIMEOUT
    /// seconds): a script that then deletes the processes' folders does not race their last
    /// writes (Redis and galley log as they shut down).
    Stop {
        pids: Vec<u32>,
        #[arg(long, default_value_t = 20)]
        timeout: u64,
    },
    /// Prints a TCP port nothing listens on.
    FreePort,
    /// Waits until URL (http://127.0.0.1:PORT/...) answers 200.
    WaitHttp {
        url: String,
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
}

#[derive(Subcommand)]
enum ReplicasAction {
    /// Starts N replicas and nginx in the background.
    Start { n: usize },
    Stop,
    /// Starts N replicas, then waits in the foreground; Ctrl-C stops them.
    Up { n: usize },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Tool {
    Prometheus,
    Nginx,
}

fn parse_assignment(text: &str) -> Result<(String, String), String> {
    text.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).ok_or_else(|| format!("`{text}` is not NAME=VALUE"))
}

fn main() {
    match run(Cli::parse()) {
        Ok(Some(output)) => println!("{output}"),
        Ok(None) => {}
        Err(error) => {
            eprintln!("galley-services: {error:#}");
            std::process::exit(1);
        }
    }
}

/// Runs one command; what it prints on stdout (a pid, a port, a status), if anything.
fn run(cli: Cli) -> Result<Option<String>> {
    let nothing = |done: Result<()>| done.map(|()| None);
    match cli.command {
        Command::Up { profile } => nothing(Profile::named(&profile)?.up()),
        Command::Down { profile } => nothing(Profile::named(&profile)?.down()),
        Command::Reset { profile } => nothing(Profile::named(&profile)?.reset()),
        Command::Status { profile } => Ok(Some(Profile::named(&profile)?.status()?)),
        Command::Mqtt { profile } => nothing(Profile::named(&profile)?.mosquitto().start()),
        Command::Install { tool: Tool::Prometheus } => nothing(galley_launcher::install::ensure_prometheus()),
        Command::Install { tool: Tool::Nginx } => nothing(galley_launcher::nginx::ensure_installed().map(drop)),
        Command::Replicas { action, profile, base_port, listen, dir, manifest } => {
            let profile = Profile::named(&profile)?;
            let (default_base, default_listen) = if profile.name == "dev" { (3100, 3000) } else { (3200, 3290) };
            let listen_port = match listen {
                Some(address) => address.rsplit(':').next().and_then(|p| p.parse().ok()).with_context(|| format!("`{address}` has no port"))?,
                None => default_listen,
            };
            let set = ReplicaSet {
                dir: dir.unwrap_or_else(|| profile.data.join("replicas")),
                base_port: base_port.unwrap_or(default_base),
                listen_port,
                manifest,
            };
            nothing(match action {
                ReplicasAction::Start { n } => set.start(n, &profile),
                ReplicasAction::Stop => {
                    set.stop();
                    Ok(())
                }
                ReplicasAction::Up { n } => {
                    let stop_signals = block_stop_signals();
                    let started = set.start(n, &profile);
                    if started.is_ok() {
                        eprintln!("Stop with Ctrl-C.");
                        wait_for(&stop_signals);
                    }
                    set.stop();
                    started
                }
            })
        }
        Command::Galley { port, state_dir, profile, manifest, runtime_config, log, env } => {
            let profile = Profile::named(&profile)?;
            let mut galley = Galley::new(&manifest, port, &state_dir)
                .runtime_config(&runtime_config.unwrap_or_else(|| profile.runtime_config()))
                .envs(profile.app_env()?)
                .envs(env);
            if let Some(log) = log {
                galley = galley.log(&log);
            }
            let child = galley.start()?;
            // The process outlives this command; whoever started it stops it by this pid.
            Ok(Some(child.id().to_string()))
        }
        Command::Redis { port, dir } => {
            let redis = Redis::new(port, &dir);
            redis.start()?;
            Ok(Some(redis.pid().context("redis-server's pid")?.to_string()))
        }
        Command::Stop { pids, timeout } => nothing(galley_launcher::process::stop_all(&pids, Duration::from_secs(timeout))),
        Command::FreePort => Ok(Some(galley_launcher::free_port()?.to_string())),
        Command::WaitHttp { url, timeout } => {
            let (port, path) = galley_launcher::wait::parse_local_url(&url)?;
            nothing(galley_launcher::wait::until(&url, Duration::from_secs(timeout), || Ok(galley_launcher::wait::http_ok(port, &path))))
        }
    }
}

/// SIGINT and SIGTERM, blocked so that [`wait_for`] receives them instead of dying of them.
fn block_stop_signals() -> libc::sigset_t {
    // SAFETY: a zeroed sigset_t is initialised by sigemptyset before use; pthread_sigmask
    // only changes this thread's mask (there are no other threads yet).
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

fn wait_for(signals: &libc::sigset_t) {
    let mut received = 0;
    // SAFETY: `signals` is a set built by block_stop_signals.
    unsafe { libc::sigwait(signals, &mut received) };
}
