//! Hot reload: the app version now serving, and replacing it without a restart.
//!
//! A reload (SIGHUP, or `--watch` seeing a source change) loads and validates the new version
//! beside the one serving, then switches with one atomic store. A request takes the version
//! current when it arrives and keeps it to the end (its service-chained and self-requests
//! included), so requests in flight finish on the old version while new ones get the new one;
//! the old version is dropped when its last request ends. A version that fails to load is
//! refused with a log line and the old one keeps serving. Only components whose bytes changed
//! are compiled again (`engine::CompiledCode`). Spin's `spin watch` restarts the whole app
//! instead, dropping what was in flight.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use tokio::sync::{watch, Mutex};

use crate::app::{App, LoadOptions};

/// How often `--watch` looks at the app's files. A poll of a few paths costs nothing, and it
/// sees a file replaced by rename (as cargo and editors do) as surely as one written in place.
const WATCH_INTERVAL: Duration = Duration::from_millis(250);

/// The version of the app that new requests get.
pub struct LiveApp {
    current: watch::Sender<Arc<App>>,
    options: LoadOptions,
    /// One reload at a time: a second SIGHUP during a reload waits, then loads again.
    reloading: Mutex<()>,
}

impl LiveApp {
    pub fn new(app: Arc<App>, options: LoadOptions) -> Arc<LiveApp> {
        Arc::new(LiveApp { current: watch::Sender::new(app), options, reloading: Mutex::new(()) })
    }

    /// The version serving now; the caller keeps it for the whole request.
    pub fn current(&self) -> Arc<App> {
        self.current.borrow().clone()
    }

    /// Wakes on every switch (the Redis trigger follows the subscriptions of each version).
    pub fn subscribe(&self) -> watch::Receiver<Arc<App>> {
        self.current.subscribe()
    }

    /// Loads the app again and, if it loads, switches to it. `cause` is for the log.
    /// Returns whether the new version is now serving.
    pub async fn reload(&self, cause: &str) -> bool {
        let _one_at_a_time = self.reloading.lock().await;
        let started = Instant::now();
        let previous = self.current();
        let previous_version = previous.version.clone();
        let options = self.options.clone();
        // Compiling is CPU work that may take seconds: keep it off the threads serving requests.
        let loaded = tokio::task::spawn_blocking(move || {
            tokio::runtime::Handle::current().block_on(App::load_version(&options, Some(&previous)))
        })
        .await
        .context("the reload task failed")
        .and_then(|loaded| loaded);
        match loaded {
            Ok((app, report)) => {
                crate::metrics::reloaded(Ok((&previous_version, &app.version)));
                self.current.send_replace(app);
                tracing::info!(
                    cause,
                    recompiled = ?report.compiled,
                    reused = report.reused.len(),
                    load_ms = started.elapsed().as_millis() as u64,
                    "app reloaded: new requests get the new version"
                );
                true
            }
            Err(error) => {
                crate::metrics::reloaded(Err(()));
                tracing::error!(cause, error = %format!("{error:#}"), "reload refused: the new version did not load; the running version keeps serving");
                false
            }
        }
    }
}

/// Reloads on every SIGHUP.
pub fn reload_on_hangup(live: Arc<LiveApp>) -> Result<()> {
    let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("cannot listen for SIGHUP")?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            live.reload("SIGHUP").await;
        }
    });
    Ok(())
}

/// `--watch`: reloads when the manifest, the runtime config or a component's source changes.
/// A change is acted on once the files have stopped changing for one poll, so a build that
/// writes a file in several steps is loaded once, complete.
pub fn reload_on_change(live: Arc<LiveApp>) {
    tokio::spawn(async move {
        let mut loaded = stamps(&live.current().sources);
        loop {
            tokio::time::sleep(WATCH_INTERVAL).await;
            let seen = stamps(&live.current().sources);
            if seen == loaded {
                continue;
            }
            tokio::time::sleep(WATCH_INTERVAL).await;
            if stamps(&live.current().sources) != seen {
                continue; // still being written: look again at the next poll
            }
            // Either way, wait for the next change before trying again: a refused version
            // is not retried until its files change, and a new version may watch other files.
            loaded = match live.reload("a watched file changed").await {
                true => stamps(&live.current().sources),
                false => seen,
            };
        }
    });
}

/// What identifies a file's content cheaply: its modification time and length (`None` while
/// it is missing, e.g. between a build's delete and write).
type Stamp = Option<(SystemTime, u64)>;

fn stamps(paths: &[PathBuf]) -> Vec<Stamp> {
    paths
        .iter()
        .map(|path| std::fs::metadata(path).ok().and_then(|meta| Some((meta.modified().ok()?, meta.len()))))
        .collect()
}
