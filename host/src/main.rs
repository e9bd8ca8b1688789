//! `galley`: runs a Spin app (`spin.toml` + `.wasm` components) the way `spin up` does, on
//! wasmtime. See `host/README.md` for what it supports and where it differs from Spin.

mod app;
mod capabilities;
mod http_trigger;
mod bindings;
mod component_log;
mod heap;
mod metrics;
mod redis_trigger;
mod state;
mod telemetry;
mod trace;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

use crate::app::{App, HttpTarget, LoadOptions};
use crate::app::engine::InstanceLimits;
use crate::http_trigger::ServeOptions;
use crate::capabilities::postgres::PgTuning;
use crate::app::reload::{self, LiveApp};
use crate::app::engine;

#[derive(Parser)]
#[command(name = "galley", version, about = "Run a Spin app locally, the way `spin up` does")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load the app, validate it, and serve its triggers until Ctrl-C / SIGTERM.
    Up(UpArgs),
}

#[derive(Parser)]
struct UpArgs {
    /// The application manifest.
    #[arg(short = 'f', long = "manifest", alias = "from", env = "SPIN_MANIFEST", default_value = "spin.toml")]
    manifest: PathBuf,
    /// Address the HTTP trigger listens on.
    #[arg(long, env = "SPIN_HTTP_LISTEN_ADDR", default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Runtime configuration (key-value stores).
    #[arg(long = "runtime-config-file", env = "SPIN_RUNTIME_CONFIG_FILE")]
    runtime_config_file: Option<PathBuf>,
    /// Set an application variable (repeatable); wins over every other source.
    #[arg(long = "variable", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    variables: Vec<(String, String)>,
    /// Where galley keeps state: the default key-value store and compiled code.
    /// Defaults to `.spin` beside the manifest, like Spin.
    #[arg(long = "state-dir", env = "SPIN_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Largest linear memory one instance may use, in MiB.
    #[arg(long, env = "GALLEY_MEMORY_LIMIT_MB", default_value_t = 128)]
    memory_limit_mb: usize,
    /// Longest one request or Redis message may run, in seconds.
    #[arg(long, env = "GALLEY_REQUEST_TIMEOUT_SECS", default_value_t = 60.0)]
    request_timeout_secs: f64,
    /// Instances that may exist at once across the host.
    #[arg(long, env = "GALLEY_MAX_INSTANCES", default_value_t = 1000)]
    max_instances: u32,
    /// Requests from clients that may be in progress at once; past it galley answers 503 with
    /// `Retry-After` at once. Below --max-instances, so that chained calls find a slot.
    #[arg(long, env = "GALLEY_MAX_CONCURRENT_REQUESTS", default_value_t = 500)]
    max_concurrent_requests: usize,
    /// Reload the app when the manifest, the runtime config or a component's `.wasm` changes
    /// (SIGHUP reloads it in any case). Unchanged components are not compiled again.
    #[arg(long)]
    watch: bool,
    /// Longest a component waits for the next bytes of a request body before the read fails
    /// (the component sees an error and answers, typically 400), in seconds.
    #[arg(long, env = "GALLEY_BODY_IDLE_TIMEOUT_SECS", default_value_t = 10.0)]
    body_idle_timeout_secs: f64,
    /// Longest a client may take to send a complete request head (request line and headers;
    /// over HTTP/2 the connection preface and first stream's headers), in seconds; past it the
    /// connection is closed.
    #[arg(long, env = "GALLEY_HEAD_READ_TIMEOUT_SECS", default_value_t = 10.0)]
    head_read_timeout_secs: f64,
    /// Connections one client address may hold open at once; a connection past it is closed
    /// at once. Above --max-concurrent-requests' default, so one proxy in front of galley (all
    /// its connections come from one address) meets the request limit first.
    #[arg(long, env = "GALLEY_MAX_CONNECTIONS_PER_IP", default_value_t = 512)]
    max_connections_per_ip: usize,
    /// Log line format. `json`: one object per line, for log shippers.
    #[arg(long, env = "GALLEY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Serve Prometheus metrics at `http://ADDRESS/metrics` (off unless given). An address of
    /// its own, never the app's: keep it off the public network.
    #[arg(long, env = "GALLEY_METRICS_LISTEN", value_name = "ADDRESS")]
    metrics_listen: Option<SocketAddr>,
    // Benchmark-only switches (hidden; listed in host/README.md): each turns one of galley's
    // savings off, so `bench/` can measure it against Spin's behaviour in the same run.
    /// Cache prepared Postgres statements per pooled client (`off`: prepare every call).
    #[arg(long, hide = true, env = "GALLEY_PG_STATEMENT_CACHE", value_enum, default_value_t = Switch::On)]
    pg_statement_cache: Switch,
    /// What a pooled Postgres client costs on checkout (`clean`: deadpool's cleanup batch).
    #[arg(long, hide = true, env = "GALLEY_PG_RECYCLE", value_enum, default_value_t = PgRecycle::Cheap)]
    pg_recycle: PgRecycle,
    /// Set TCP_NODELAY on accepted sockets.
    #[arg(long, hide = true, env = "GALLEY_TCP_NODELAY", value_enum, default_value_t = Switch::On)]
    tcp_nodelay: Switch,
    /// KiB of each pooled memory and table slot reset in place (not handed back to the kernel)
    /// when an instance ends (`0`: wasmtime's default, every slot reset by `madvise`).
    #[arg(long, hide = true, env = "GALLEY_KEEP_RESIDENT_KB", default_value_t = engine::DEFAULT_KEEP_RESIDENT_KB)]
    keep_resident_kb: usize,
    /// `perfmap`: name the guests' compiled functions for `perf` in /tmp/perf-<pid>.map.
    #[arg(long, value_enum, env = "GALLEY_PROFILE")]
    profile: Option<Profile>,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Profile {
    Perfmap,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Switch {
    On,
    Off,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PgRecycle {
    /// Nothing on checkout, unless the client may be inside a transaction.
    Cheap,
    /// deadpool's cleanup batch on every checkout, as Spin does.
    Clean,
}

fn parse_key_value(text: &str) -> Result<(String, String)> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => bail!("expected KEY=VALUE, got `{text}`"),
    }
}

fn main() -> ExitCode {
    no_backtraces_in_error_values();
    let cli = Cli::parse();
    let Command::Up(args) = cli.command;
    init_logging(args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("galley: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(up(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("Error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// wasmtime builds an error value while tearing down every instance, and with `RUST_BACKTRACE=1`
/// in the environment (common in a developer's shell) each one captured a backtrace: 1.6 % of
/// a cache hit's CPU (`perf record --call-graph dwarf`, `Backtrace::capture` under
/// `drop_fibers_and_futures`). `RUST_LIB_BACKTRACE=0` turns off only those captures; a panic
/// still prints its backtrace as `RUST_BACKTRACE` asks. An operator's own setting wins.
fn no_backtraces_in_error_values() {
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: called first thing in `main`, before any thread exists that could read the
        // environment concurrently.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GALLEY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("galley=info,warn"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => {
            component_log::emit_as_json_events();
            // Lines logged while a request runs carry its trace id in `span.trace_id` (the
            // request's span, `http_trigger/mod.rs`); the request line and component output
            // carry it as `trace_id`.
            builder.json().flatten_event(true).with_current_span(true).with_span_list(false).init()
        }
    }
}

async fn up(args: UpArgs) -> Result<()> {
    if args.memory_limit_mb == 0
        || args.max_concurrent_requests == 0
        || !(args.request_timeout_secs > 0.0)
        || !(args.body_idle_timeout_secs > 0.0)
        || !(args.head_read_timeout_secs > 0.0)
        || args.max_connections_per_ip == 0
    {
        bail!(
            "--memory-limit-mb, --max-concurrent-requests, --request-timeout-secs, --body-idle-timeout-secs, \
             --head-read-timeout-secs and --max-connections-per-ip must be positive"
        );
    }
    let options = LoadOptions {
        manifest: args.manifest.clone(),
        runtime_config: args.runtime_config_file.clone(),
        variables: args.variables.clone(),
        state_dir: args.state_dir.clone(),
        limits: InstanceLimits {
            memory_bytes: args.memory_limit_mb << 20,
            keep_resident_bytes: args.keep_resident_kb << 10,
            perf_map: args.profile == Some(Profile::Perfmap),
            request_timeout: Duration::from_secs_f64(args.request_timeout_secs),
            max_instances: args.max_instances,
            body_idle_timeout: Duration::from_secs_f64(args.body_idle_timeout_secs),
        },
        postgres: PgTuning {
            statement_cache: args.pg_statement_cache == Switch::On,
            clean_on_recycle: args.pg_recycle == PgRecycle::Clean,
        },
    };
    let serve_options = ServeOptions {
        tcp_nodelay: args.tcp_nodelay == Switch::On,
        max_concurrent_requests: args.max_concurrent_requests,
        head_read_timeout: Duration::from_secs_f64(args.head_read_timeout_secs),
        max_connections_per_address: args.max_connections_per_ip,
    };
    let started = std::time::Instant::now();
    let app = App::load(&options).await?;
    engine::start_epoch_ticker(&app.engine);

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let listen = listener.local_addr()?;
    let _ = app.listen_addr.set(listen);
    print_routes(&app, listen, started.elapsed());

    if telemetry::init(&app.name)? {
        tracing::info!("exporting spans over OTLP");
    }
    let live = LiveApp::new(app, options);
    if let Some(address) = args.metrics_listen {
        let sampled = live.clone();
        let sample = move || {
            let app = sampled.current();
            metrics::Sample { max_instances: app.limits.max_instances, pools: app.postgres.statuses() }
        };
        let bound = metrics::serve(address, &live.current().version, sample).await?;
        println!("Metrics at http://{bound}/metrics");
    }
    reload::reload_on_hangup(live.clone())?;
    if args.watch {
        reload::reload_on_change(live.clone());
        tracing::info!("watching the manifest and component sources for changes");
    }
    heap::fix_mmap_threshold();
    heap::start_trimming();
    redis_trigger::start(&live);
    let served = http_trigger::serve(live, listener, serve_options, shutdown_signal()).await;
    // The batch exporter blocks while it flushes: keep that off the async workers.
    let _ = tokio::task::spawn_blocking(telemetry::shutdown).await;
    served
}

fn print_routes(app: &App, listen: SocketAddr, load_time: Duration) {
    println!("Serving http://{listen}");
    println!("Available Routes:");
    for (route, target) in app.router.entries() {
        let name = match target {
            HttpTarget::Component(id) => id.as_str(),
            HttpTarget::Static(_) => "(static response)",
        };
        let wildcard = if route.to_string().ends_with("/...") { " (wildcard)" } else { "" };
        let shown = route.to_string();
        let shown = shown.trim_end_matches("/...");
        let shown = if shown.is_empty() { "/" } else { shown };
        println!("  {name}: http://{listen}{shown}{wildcard}");
    }
    for subscription in &app.redis_subscriptions {
        println!("  {}: redis channel `{}` on {}", subscription.component, subscription.channel, subscription.address);
    }
    tracing::info!(app = %app.name, components = app.components.len(), load_ms = load_time.as_millis() as u64, "app loaded");
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => {
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn up(args: &[&str]) -> UpArgs {
        let Command::Up(args) = Cli::try_parse_from([&["galley", "up"], args].concat()).unwrap().command;
        args
    }

    #[test]
    fn benchmark_flags_are_accepted_and_hidden() {
        Cli::command().debug_assert();
        let args = up(&["--pg-statement-cache", "off", "--pg-recycle", "clean", "--tcp-nodelay", "off"]);
        assert!(args.pg_statement_cache == Switch::Off && args.pg_recycle == PgRecycle::Clean && args.tcp_nodelay == Switch::Off);
        assert!(Cli::try_parse_from(["galley", "up", "--tcp-nodelay", "sometimes"]).is_err());
        let help = Cli::command().find_subcommand_mut("up").unwrap().render_long_help().to_string();
        for flag in ["--pg-statement-cache", "--pg-recycle", "--tcp-nodelay"] {
            assert!(!help.contains(flag), "{flag} is in --help");
        }
        assert!(help.contains("--body-idle-timeout-secs"));
    }
}
