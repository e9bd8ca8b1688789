//! Prometheus metrics, served in the text format on an address of their own
//! (`--metrics-listen`, off by default; never on the app's port, where a route could shadow
//! it or a client could read it).
//!
//! Recording goes through the `metrics` facade with `metrics-exporter-prometheus` as the
//! recorder. Without `--metrics-listen` no recorder is installed and every function here returns
//! after one atomic load, so the request path pays nothing for metrics it does not serve.
//! Gauges that describe a pool (Postgres connections, live instances) are read when Prometheus
//! scrapes, not kept up to date on every checkout.
//!
//! The names and labels are documented for operators in `docs/observability.md`; the alert
//! rules in `deploy/prometheus/rules.yml` depend on them.

use std::collections::HashMap;
use std::convert::Infallible;
use std::hash::Hash;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use anyhow::{Context as _, Result};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};


/// OpenTelemetry's advised boundaries for `http.server.request.duration`, in seconds.
const REQUEST_DURATION_BUCKETS: [f64; 14] = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0];

/// A pooled Postgres connection is normally handed over in microseconds; these show a pool
/// run dry (every connection busy) as the wait it causes.
const POOL_WAIT_BUCKETS: [f64; 10] = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0];

pub const REQUEST_DURATION: &str = "http_server_request_duration_seconds";
const IN_FLIGHT: &str = "galley_http_requests_in_flight";
const REFUSED: &str = "galley_http_requests_refused_total";
const INSTANCES_IN_USE: &str = "galley_instances_in_use";
const INSTANCES_MAX: &str = "galley_instances_max";
const POOL_CONNECTIONS: &str = "galley_postgres_pool_connections";
const POOL_MAX: &str = "galley_postgres_pool_max_connections";
const POOL_WAITING: &str = "galley_postgres_pool_waiting";
const POOL_WAIT: &str = "galley_postgres_pool_wait_seconds";
const BREAKER_OPEN: &str = "galley_redis_breaker_open";
const CHAINED_CALLS: &str = "galley_chained_calls_total";
const RELOADS: &str = "galley_reloads_total";
const APP_INFO: &str = "galley_app_info";

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Instances alive now, across the host (a request's, a chained call's, a Redis message's).
static INSTANCES: AtomicI64 = AtomicI64::new(0);

/// Whether metrics are served: callers skip building labels when not.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// What a scrape reads from the app serving now (gauges sampled, not counted as they change).
pub struct Sample {
    /// The instance pool's size (`--max-instances`).
    pub max_instances: u32,
    /// Each Postgres pool's state.
    pub pools: Vec<PoolStatus>,
}

/// A Postgres pool's state when metrics are scraped.
pub struct PoolStatus {
    pub database: String,
    pub idle: usize,
    pub in_use: usize,
    pub max: usize,
    pub waiting: usize,
}

/// Installs the recorder and serves `GET /metrics` on `listen` until the process ends;
/// `version` is the app's version at start, `sample` reads the app serving at each scrape.
/// Returns the address bound (port 0 picks one).
pub async fn serve(listen: SocketAddr, version: &str, sample: impl Fn() -> Sample + Send + Sync + 'static) -> Result<SocketAddr> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(REQUEST_DURATION.into()), &REQUEST_DURATION_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(POOL_WAIT.into()), &POOL_WAIT_BUCKETS)?
        .install_recorder()
        .context("installing the metrics recorder")?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen for metrics on {listen}"))?;
    let bound = listener.local_addr()?;
    ENABLED.store(true, Ordering::Relaxed);
    describe();
    app_version(None, version);
    let sample = Arc::new(sample);
    // Histograms are drained into their buckets on render or upkeep; upkeep keeps memory
    // bounded when nobody scrapes for a while.
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let handle = handle.clone();
            let sample = sample.clone();
            let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                let response = scrape(&request, &handle, &*sample);
                async move { Ok::<_, Infallible>(response) }
            });
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(bound)
}

fn scrape(request: &Request<hyper::body::Incoming>, handle: &PrometheusHandle, sample: &dyn Fn() -> Sample) -> Response<Full<Bytes>> {
    let respond = |status: StatusCode, content_type: &str, body: String| {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        if let Ok(value) = content_type.parse() {
            response.headers_mut().insert(hyper::header::CONTENT_TYPE, value);
        }
        response
    };
    if request.uri().path() != "/metrics" {
        return respond(StatusCode::NOT_FOUND, "text/plain", "metrics are at /metrics\n".into());
    }
    if request.method() != hyper::Method::GET && request.method() != hyper::Method::HEAD {
        return respond(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "GET /metrics\n".into());
    }
    let now = sample();
    gauge!(INSTANCES_IN_USE).set(INSTANCES.load(Ordering::Relaxed) as f64);
    gauge!(INSTANCES_MAX).set(f64::from(now.max_instances));
    for pool in now.pools {
        let database = pool.database;
        gauge!(POOL_CONNECTIONS, "database" => database.clone(), "state" => "idle").set(pool.idle as f64);
        gauge!(POOL_CONNECTIONS, "database" => database.clone(), "state" => "in_use").set(pool.in_use as f64);
        gauge!(POOL_MAX, "database" => database.clone()).set(pool.max as f64);
        gauge!(POOL_WAITING, "database" => database).set(pool.waiting as f64);
    }
    respond(StatusCode::OK, "text/plain; version=0.0.4; charset=utf-8", handle.render())
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_histogram!(REQUEST_DURATION, Unit::Seconds, "Time from a request's arrival to its response head, per component and route.");
    describe_gauge!(IN_FLIGHT, "Requests (inbound and chained) a component is running now.");
    describe_counter!(REFUSED, "Requests answered 503 because galley was at capacity.");
    describe_gauge!(INSTANCES_IN_USE, "Component instances alive now.");
    describe_gauge!(INSTANCES_MAX, "Instances the pool may hold at once (--max-instances).");
    describe_gauge!(POOL_CONNECTIONS, "Connections of a Postgres pool, idle or in use.");
    describe_gauge!(POOL_MAX, "Connections a Postgres pool may open.");
    describe_gauge!(POOL_WAITING, "Instances waiting for a connection of a Postgres pool.");
    describe_histogram!(POOL_WAIT, Unit::Seconds, "Time an instance waited for a pooled Postgres connection.");
    describe_gauge!(BREAKER_OPEN, "1 while the circuit breaker to a Redis address is open (calls fail fast).");
    describe_counter!(CHAINED_CALLS, "Service-chained calls from one component to another.");
    describe_counter!(RELOADS, "App reloads (SIGHUP or --watch), by outcome.");
    describe_gauge!(APP_INFO, "1 for the app version serving now.");
    // Counters appear at zero from the first scrape: `rate()` cannot see a series' first
    // sample, so a counter born at 1 would hide the first refusal or failed reload.
    for reason in ["concurrency", "instances"] {
        counter!(REFUSED, "reason" => reason).increment(0);
    }
    for outcome in ["ok", "failed"] {
        counter!(RELOADS, "outcome" => outcome).increment(0);
    }
}

/// The class of a status code as the rules group it: `2xx`, `4xx`…
fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// One inbound request answered: which component and route served it (`-` for none, when no
/// route matched or a static response answered), how, and how long the response head took.
pub fn request_finished(component: Option<&Arc<str>>, route: Option<&Arc<str>>, method: &http::Method, status: u16, elapsed: Duration) {
    if !enabled() {
        return;
    }
    static SERIES: Handles<RequestSeries, metrics::Histogram> = Handles::new();
    let none = || Arc::<str>::from("-");
    let series = RequestSeries {
        component: component.cloned().unwrap_or_else(none),
        route: route.cloned().unwrap_or_else(none),
        method: method_label(method),
        status_class: status_class(status),
    };
    SERIES
        .get_or_register(series, |series| {
            histogram!(
                REQUEST_DURATION,
                "component" => series.component.to_string(),
                "route" => series.route.to_string(),
                "method" => series.method,
                "status_class" => series.status_class,
            )
        })
        .record(elapsed.as_secs_f64());
}

/// The labels of one request-duration series.
#[derive(Clone, PartialEq, Eq, Hash)]
struct RequestSeries {
    component: Arc<str>,
    route: Arc<str>,
    method: &'static str,
    status_class: &'static str,
}

/// The method as a label: one of HTTP's own, else `_OTHER` (as OpenTelemetry's conventions
/// say), so a client inventing methods cannot create series without end.
fn method_label(method: &http::Method) -> &'static str {
    const STANDARD: [&str; 9] = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];
    STANDARD.into_iter().find(|known| *known == method.as_str()).unwrap_or("_OTHER")
}

/// Metric handles by their labels, registered once. The facade's macros build the labels'
/// strings and look the series up on every call; a request would pay for that several times
/// (`bench/observability.sh`), so the request path keeps its handles here.
struct Handles<K, H>(OnceLock<RwLock<HashMap<K, H>>>);

impl<K: Eq + Hash, H: Clone> Handles<K, H> {
    const fn new() -> Self {
        Handles(OnceLock::new())
    }

    fn get_or_register(&self, key: K, register: impl FnOnce(&K) -> H) -> H {
        let map = self.0.get_or_init(Default::default);
        if let Some(handle) = map.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return handle.clone();
        }
        let handle = register(&key);
        map.write().unwrap_or_else(|e| e.into_inner()).entry(key).or_insert(handle).clone()
    }
}

/// Why galley answered 503 at capacity.
#[derive(Clone, Copy)]
pub enum Refusal {
    /// --max-concurrent-requests requests were in progress.
    Concurrency,
    /// Every instance slot was taken.
    Instances,
}

pub fn refused(reason: Refusal) {
    if !enabled() {
        return;
    }
    let reason = match reason {
        Refusal::Concurrency => "concurrency",
        Refusal::Instances => "instances",
    };
    counter!(REFUSED, "reason" => reason).increment(1);
}

/// Counts a component's request in flight while it lives.
pub struct InFlight(Option<metrics::Gauge>);

impl InFlight {
    pub fn start(component: &Arc<str>) -> InFlight {
        if !enabled() {
            return InFlight(None);
        }
        static BY_COMPONENT: Handles<Arc<str>, metrics::Gauge> = Handles::new();
        let gauge = BY_COMPONENT.get_or_register(component.clone(), |id| gauge!(IN_FLIGHT, "component" => id.to_string()));
        gauge.increment(1.0);
        InFlight(Some(gauge))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(gauge) = &self.0 {
            gauge.decrement(1.0);
        }
    }
}

/// Counts an instance while it lives (held in its store's state).
pub struct LiveInstance(());

impl LiveInstance {
    pub fn new() -> LiveInstance {
        INSTANCES.fetch_add(1, Ordering::Relaxed);
        LiveInstance(())
    }
}

impl Drop for LiveInstance {
    fn drop(&mut self) {
        INSTANCES.fetch_sub(1, Ordering::Relaxed);
    }
}

pub fn chained_call(from: &str, to: &str) {
    if !enabled() {
        return;
    }
    counter!(CHAINED_CALLS, "from" => from.to_string(), "to" => to.to_string()).increment(1);
}

pub fn pool_wait(database: &Arc<str>, waited: Duration) {
    if !enabled() {
        return;
    }
    static BY_DATABASE: Handles<Arc<str>, metrics::Histogram> = Handles::new();
    BY_DATABASE
        .get_or_register(database.clone(), |database| histogram!(POOL_WAIT, "database" => database.to_string()))
        .record(waited.as_secs_f64());
}

pub fn breaker(address: &str, open: bool) {
    if !enabled() {
        return;
    }
    gauge!(BREAKER_OPEN, "address" => address.to_string()).set(if open { 1.0 } else { 0.0 });
}

/// A reload finished; on success `previous` stops being the version serving.
pub fn reloaded(outcome: Result<(&str, &str), ()>) {
    if !enabled() {
        return;
    }
    match outcome {
        Ok((previous, now)) => {
            counter!(RELOADS, "outcome" => "ok").increment(1);
            app_version(Some(previous), now);
        }
        Err(()) => counter!(RELOADS, "outcome" => "failed").increment(1),
    }
}

fn app_version(previous: Option<&str>, now: &str) {
    if let Some(previous) = previous.filter(|p| *p != now) {
        gauge!(APP_INFO, "version" => previous.to_string()).set(0.0);
    }
    gauge!(APP_INFO, "version" => now.to_string()).set(1.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes() {
        assert_eq!(status_class(101), "1xx");
        assert_eq!(status_class(204), "2xx");
        assert_eq!(status_class(308), "3xx");
        assert_eq!(status_class(429), "4xx");
        assert_eq!(status_class(503), "5xx");
    }

    #[test]
    fn invented_methods_share_one_label() {
        assert_eq!(method_label(&http::Method::PATCH), "PATCH");
        let invented = http::Method::from_bytes(b"BREW").expect("a valid token");
        assert_eq!(method_label(&invented), "_OTHER");
    }
}
