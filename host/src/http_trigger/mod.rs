//! The HTTP trigger: the server, routing a request to its component, and running it.
//!
//! Inbound requests, self-requests (`/path` or `self.alt`) and service-chained requests
//! (`<id>.spin.internal`) all end in [`run_component`]: a fresh instance of the target, the
//! `spin-*` headers Spin sets, the request time limit, and a 500 with an empty body when
//! the guest traps or fails to answer. What galley answers itself (no route, overload, a
//! request over its time limit) is an RFC 9457 problem+json body carrying the trace id.
//!
//! Its parts: the router (Spin's route syntax and precedence), the connection guard (per
//! address, before any HTTP is parsed), the request-body idle timeout, and the host's own
//! problem+json answers.

pub mod body_timeout;
pub mod connections;
pub mod problem;
pub mod router;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, HOST};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use opentelemetry::trace::SpanKind;
use opentelemetry::KeyValue;
use tokio::net::TcpListener;
use tracing::Instrument as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::{WasiBody, WasiHttpView};

use crate::app::{App, AppComponent, HttpTarget};
use crate::metrics::{self, Refusal};
use crate::http_trigger::connections::{AnswerBadHeads, ConnectionsPerAddress, FirstRequest};
use crate::app::reload::LiveApp;
use crate::http_trigger::body_timeout::IdleTimeout;
use crate::app::manifest::StaticResponse;
use crate::capabilities::outbound_http::{InProcessApp, InProcessResponse};
use crate::http_trigger::problem::{problem_body, PROBLEM_JSON};
use crate::http_trigger::router::{Route, RouteMatch};
use crate::telemetry::{self, SpanRecord};
use crate::trace::TraceContext;

const HEALTH_PATH: &str = "/.well-known/spin/health";
const RESERVED_PREFIX: &str = "/.well-known/spin/";

/// How long in-flight requests may take to finish once shutdown has begun.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a client refused at the concurrency limit is asked to wait (`Retry-After`).
const RETRY_AFTER_SECS: &str = "1";
/// The most a request's head (request line and headers) may take, over HTTP/1.1 and as an
/// HTTP/2 header list. Past it HTTP/1.1 gets 431 and the connection closes. hyper's defaults
/// (~400 KiB, and 16 MiB for HTTP/2) let every request hold far more memory than any real
/// client sends (browsers and proxies stop near 8–64 KiB).
const MAX_REQUEST_HEAD: usize = 64 * 1024;

/// How the server treats its connections.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// Off only so `bench/host.sh` can show what it saves (`--tcp-nodelay off`).
    pub tcp_nodelay: bool,
    /// Requests from clients that may run at once; the next one is answered 503 at once.
    pub max_concurrent_requests: usize,
    /// Longest a client may take to send a complete request head: the first one of a
    /// connection (HTTP/1.1, or the HTTP/2 preface and first stream's headers), and over
    /// HTTP/1.1 each later one too. Past it the connection is closed.
    pub head_read_timeout: Duration,
    /// Connections one client address may hold open at once; more are closed at once.
    pub max_connections_per_address: usize,
}

/// Serves until `shutdown` resolves, then drains in-flight connections.
pub async fn serve(
    live: Arc<LiveApp>,
    listener: TcpListener,
    options: ServeOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    // A bound on work in progress, as `wasmtime serve` has: past it a client gets a fast 503
    // with Retry-After (a balancer tries another replica) instead of a queue without bound,
    // a pool of instances run dry, or a 500.
    let in_progress = Arc::new(Semaphore::new(options.max_concurrent_requests));
    let graceful = GracefulShutdown::new();
    // HTTP/1.1 and cleartext HTTP/2 with prior knowledge on the same port, told apart by the
    // connection's first bytes (the h2 preface), as Spin 4 serves them. h2 streams run on
    // the tokio executor; trailers travel as body frames both ways.
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // hyper's own head timeout needs a timer to run at all; it covers every HTTP/1.1 head
    // once the connection's version is known (the accept loop below covers the first).
    builder
        .http1()
        .keep_alive(true)
        .max_buf_size(MAX_REQUEST_HEAD)
        .timer(TokioTimer::new())
        .header_read_timeout(options.head_read_timeout);
    builder.http2().max_header_list_size(MAX_REQUEST_HEAD as u32).timer(TokioTimer::new());
    let per_address = ConnectionsPerAddress::new(options.max_connections_per_address);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // One address cannot hold every socket the process may open: past its share, a new
        // connection is closed before anything is read from it.
        let Some(slot) = per_address.admit(peer.ip()) else {
            tracing::debug!(%peer, "connection closed: this address holds the most connections allowed");
            drop(stream);
            continue;
        };
        // Without TCP_NODELAY a client that waits for each response before sending the next
        // request stalls ~40 ms per round trip on delayed ACKs (a cost Spin pays).
        if let Err(error) = stream.set_nodelay(options.tcp_nodelay) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        let live = live.clone();
        let in_progress = in_progress.clone();
        let first_request = FirstRequest::default();
        let arrived = first_request.clone();
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            arrived.arrived();
            // The version serving when the request arrives serves all of it (`reload.rs`).
            let app = live.current();
            let in_progress = in_progress.clone();
            async move { Ok::<_, Infallible>(handle_inbound(&app, &in_progress, request, peer).await) }
        });
        let stream = AnswerBadHeads::new(stream, first_request.clone());
        let connection = builder.serve_connection(TokioIo::new(stream), service).into_owned();
        let connection = graceful.watch(connection);
        let head_read_timeout = options.head_read_timeout;
        tokio::spawn(async move {
            let _slot = slot;
            tokio::pin!(connection);
            // Until the first request head is in, nothing else bounds the wait: hyper's
            // version detection waits for the first bytes without limit, and HTTP/2 has no
            // head timeout. Dropping the connection closes the socket.
            let ended = tokio::select! {
                ended = &mut connection => ended,
                () = tokio::time::sleep(head_read_timeout) => match first_request.has_arrived() {
                    true => connection.await,
                    false => {
                        tracing::debug!(%peer, "connection closed: no complete request head within {head_read_timeout:?}");
                        return;
                    }
                },
            };
            if let Err(error) = ended {
                tracing::debug!(%peer, error = %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: waiting for in-flight requests");
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await.is_err() {
        tracing::warn!("some requests were still running after {DRAIN_TIMEOUT:?}; stopping anyway");
    }
    Ok(())
}

/// One request from a client: admit it, route it, run it, log one line.
async fn handle_inbound(
    app: &Arc<App>,
    in_progress: &Arc<Semaphore>,
    request: Request<Incoming>,
    peer: SocketAddr,
) -> Response<WasiBody> {
    // Health checks are never refused: a busy replica is not a dead one.
    let admitted = match request.uri().path() == HEALTH_PATH {
        true => None,
        false => match in_progress.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                tracing::warn!(method = %request.method(), path = %request.uri().path(), "refused: at the concurrency limit");
                metrics::refused(Refusal::Concurrency);
                return overloaded();
            }
        },
    };
    let response = run_inbound(app, request, peer).await;
    match admitted {
        // The request counts until its body has been sent: the permit lives as long as the body.
        Some(permit) => response.map(|body| HoldWhileSending { body, _permit: permit }.boxed_unsync()),
        None => response,
    }
}

/// A response body that keeps a concurrency permit until the body is done with. Everything
/// else is the inner body's own, the size hint included (so `content-length` is kept).
struct HoldWhileSending {
    body: WasiBody,
    _permit: OwnedSemaphorePermit,
}

impl hyper::body::Body for HoldWhileSending {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

async fn run_inbound(app: &Arc<App>, request: Request<Incoming>, peer: SocketAddr) -> Response<WasiBody> {
    let started = Instant::now();
    let started_at = std::time::SystemTime::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let trace = TraceContext::continue_or_start(header_str(request.headers(), "traceparent"));
    let idle = app.limits.body_idle_timeout;
    let request = request.map(|body| IdleTimeout::new(body.map_err(wasmtime_wasi_http::Error::from), idle).boxed_unsync());
    // HTTP/2 names the authority in `:authority` (the URI), not in a `host` header.
    let authority = header_str(request.headers(), HOST.as_str())
        .or_else(|| request.uri().authority().map(|a| a.as_str()))
        .unwrap_or("localhost")
        .to_string();
    let dispatched = dispatch(app, request, peer, &authority, trace);
    // For JSON logs, every line logged while the request runs names its trace (`span.trace_id`).
    let (served, response) = match crate::component_log::json_events() {
        true => dispatched.instrument(tracing::info_span!("request", trace_id = %trace.trace_id())).await,
        false => dispatched.await,
    };
    let Served { component, route } = served;
    let status = response.status().as_u16();
    if path != HEALTH_PATH {
        metrics::request_finished(component.as_ref(), route.as_ref(), &method, status, started.elapsed());
    }
    server_span(trace, started_at, method.as_str(), &path, status, component.as_ref());
    tracing::info!(
        component = %component.as_deref().unwrap_or("-"),
        %method,
        %path,
        status,
        duration_ms = (started.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
        trace_id = %trace.trace_id(),
        "request"
    );
    response
}

/// What served a request: the component that ran and the route that chose it (as the
/// manifest names it), each `None` when there was none.
#[derive(Default)]
pub struct Served {
    pub component: Option<Arc<str>>,
    pub route: Option<Arc<str>>,
}

/// Routes a request (from a client or a self-request) and runs what the route names.
pub async fn dispatch(
    app: &Arc<App>,
    request: Request<WasiBody>,
    client_addr: SocketAddr,
    authority: &str,
    trace: TraceContext,
) -> (Served, Response<WasiBody>) {
    let path = request.uri().path();
    if path == HEALTH_PATH {
        return (Served::default(), text_response(StatusCode::OK, "OK"));
    }
    let routed = match path.starts_with(RESERVED_PREFIX) {
        true => None,
        false => app.router.route(path),
    };
    let Some((route, target, found)) = routed else {
        return (Served::default(), problem(StatusCode::NOT_FOUND, "no route of this app matches the path", Some(&trace)));
    };
    let route_name = Some(route.name().clone());
    match target {
        HttpTarget::Static(response) => (Served { component: None, route: route_name }, static_response(response)),
        HttpTarget::Component(id) => {
            let Some(component) = app.component(id) else {
                tracing::error!(component = %id, "the route names a component the app did not load");
                let served = Served { component: Some(Arc::from(id.as_str())), route: route_name };
                return (served, problem(StatusCode::INTERNAL_SERVER_ERROR, "the component this route names is not loaded", Some(&trace)));
            };
            let served = Served { component: Some(component.id.clone()), route: route_name };
            let headers = SpinHeaders::routed(route, &found, authority, client_addr);
            let response = run_or_500(app, component, request, headers, trace).await;
            (served, response)
        }
    }
}

/// Runs a component for a service-chained request: as if its route were `/...`. `caller` is
/// the calling component's client span; the chained component gets a server span of its own
/// under it, as a component behind a network hop would.
/// Outbound HTTP's view of the app: chaining and self-requests, served here in process.
impl InProcessApp for App {
    fn chain(self: Arc<Self>, target: &str, request: Request<WasiBody>, caller: TraceContext) -> Option<InProcessResponse> {
        let component = self.component(target).filter(|c| c.http.is_some()).cloned()?;
        Some(Box::pin(async move { run_chained(&self, &component, request, caller).await }))
    }

    fn listen_addr(&self) -> SocketAddr {
        self.listen_addr.get().copied().unwrap_or(SocketAddr::from(([127, 0, 0, 1], 3000)))
    }

    fn route(self: Arc<Self>, request: Request<WasiBody>, trace: TraceContext) -> InProcessResponse {
        Box::pin(async move {
            let authority = InProcessApp::listen_addr(&*self).to_string();
            dispatch(&self, request, SocketAddr::from(([127, 0, 0, 1], 0)), &authority, trace).await.1
        })
    }
}

pub async fn run_chained(
    app: &Arc<App>,
    component: &Arc<AppComponent>,
    request: Request<WasiBody>,
    caller: TraceContext,
) -> Response<WasiBody> {
    let started_at = std::time::SystemTime::now();
    let trace = caller.child();
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let headers = SpinHeaders::chained(&path);
    let response = run_or_500(app, component, request, headers, trace).await;
    server_span(trace, started_at, &method, &path, response.status().as_u16(), Some(&component.id));
    response
}

/// Records a request a component served (from a client or chained) as a server span.
fn server_span(trace: TraceContext, start: std::time::SystemTime, method: &str, path: &str, status: u16, component: Option<&Arc<str>>) {
    telemetry::record(|| SpanRecord {
        name: format!("{method} {}", component.map_or("(no component)", |id| id)),
        kind: SpanKind::Server,
        trace,
        start,
        attributes: vec![
            KeyValue::new("http.request.method", method.to_string()),
            KeyValue::new("url.path", path.to_string()),
            KeyValue::new("http.response.status_code", i64::from(status)),
            match component {
                Some(id) => KeyValue::new("spin.component", id.clone()),
                None => KeyValue::new("spin.component", "(no component)"),
            },
        ],
        failed: status >= 500,
    });
}

async fn run_or_500(
    app: &Arc<App>,
    component: &Arc<AppComponent>,
    request: Request<WasiBody>,
    headers: SpinHeaders,
    trace: TraceContext,
) -> Response<WasiBody> {
    let _in_flight = metrics::InFlight::start(&component.id);
    match run_component(app, component, request, headers, trace).await {
        Ok(response) => response,
        // Every instance slot is taken (a burst of chained calls can get here below the
        // request limit): that is load, not a fault of the component.
        Err(error) if error.chain().any(|cause| cause.is::<wasmtime::PoolConcurrencyLimitError>()) => {
            tracing::warn!(component = %component.id, "refused: no free instance slot");
            metrics::refused(Refusal::Instances);
            overloaded()
        }
        // The head has not been sent (else `run_component` would have returned it): the client
        // learns that the request took too long, not that something broke. The task that ran
        // out of time has logged it, naming the component.
        Err(error) if error.chain().any(|cause| cause.is::<RanOutOfTime>()) => timed_out(app.limits.request_timeout, &trace),
        Err(error) => {
            tracing::error!(component = %component.id, trace_id = %trace.trace_id(), error = %format!("{error:#}"), "component failed");
            empty_response(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

/// The `spin-*` headers a component sees.
struct SpinHeaders {
    full_url_authority: String,
    path_info: String,
    matched_route: String,
    raw_component_route: String,
    component_route: String,
    client_addr: String,
    params: Vec<(String, String)>,
}

impl SpinHeaders {
    fn routed(route: &Route, found: &RouteMatch, authority: &str, client_addr: SocketAddr) -> SpinHeaders {
        SpinHeaders {
            full_url_authority: authority.to_string(),
            path_info: found.path_info.clone(),
            matched_route: route.to_string(),
            raw_component_route: route.raw().to_string(),
            component_route: route.component_route().to_string(),
            client_addr: client_addr.to_string(),
            params: found.params.clone(),
        }
    }

    fn chained(path: &str) -> SpinHeaders {
        let catch_all = Route::catch_all();
        SpinHeaders {
            full_url_authority: "localhost".into(),
            path_info: path.to_string(),
            matched_route: catch_all.to_string(),
            raw_component_route: catch_all.raw().to_string(),
            component_route: String::new(),
            client_addr: "127.0.0.1:0".into(),
            params: Vec::new(),
        }
    }

    /// Sets the headers, replacing any a client sent under the same names.
    fn apply(&self, request: &mut Request<WasiBody>) -> Result<()> {
        let path_and_query = request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/").to_string();
        let full_url = format!("http://{}{}", self.full_url_authority, path_and_query);
        let mut set = |name: &str, value: &str| -> Result<()> {
            let name = HeaderName::from_bytes(name.as_bytes()).with_context(|| format!("header name {name}"))?;
            let value = HeaderValue::from_str(value).with_context(|| format!("header {name} value"))?;
            request.headers_mut().insert(name, value);
            Ok(())
        };
        set("spin-full-url", &full_url)?;
        set("spin-path-info", &self.path_info)?;
        set("spin-matched-route", &self.matched_route)?;
        set("spin-raw-component-route", &self.raw_component_route)?;
        set("spin-component-route", &self.component_route)?;
        set("spin-base-path", "/")?;
        set("spin-client-addr", &self.client_addr)?;
        for (name, value) in &self.params {
            set(&format!("spin-path-match-{}", name.to_ascii_lowercase().replace('_', "-")), value)?;
        }
        // wasi:http needs an absolute URI (or a Host header) to give the guest an authority.
        let uri = http::Uri::builder()
            .scheme("http")
            .authority(self.full_url_authority.as_str())
            .path_and_query(path_and_query.as_str())
            .build()
            .or_else(|_| http::Uri::builder().scheme("http").authority("localhost").path_and_query(path_and_query.as_str()).build())?;
        *request.uri_mut() = uri;
        Ok(())
    }
}

/// Runs one fresh instance of `component` on `request`.
async fn run_component(
    app: &Arc<App>,
    component: &Arc<AppComponent>,
    mut request: Request<WasiBody>,
    headers: SpinHeaders,
    trace: TraceContext,
) -> Result<Response<WasiBody>> {
    let pre = component.http.clone().with_context(|| format!("component `{}` has no HTTP handler", component.id))?;
    headers.apply(&mut request)?;
    // The component continues the trace in the host's span.
    request.headers_mut().insert("traceparent", HeaderValue::from_str(&trace.traceparent())?);

    let mut store = app.new_store(component, trace);
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let incoming = store.data_mut().http().new_incoming_request(Scheme::Http, request)?;
    let outparam = store.data_mut().http().new_response_outparam(sender)?;
    let limit = app.limits.request_timeout;
    let id = component.id.clone();
    // The instance runs in its own task so it can keep streaming the body after the
    // response head has been returned.
    let task = tokio::spawn(async move {
        let work = async {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy.wasi_http_incoming_handler().call_handle(&mut store, incoming, outparam).await
        };
        let result = match tokio::time::timeout(limit, work).await {
            Ok(result) => result.map_err(anyhow::Error::from).map_err(|error| match is_epoch_interrupt(&error) {
                // `engine::arm_deadline` interrupts a guest still computing at the same limit.
                true => anyhow::Error::new(RanOutOfTime { limit }),
                false => error,
            }),
            Err(_) => Err(anyhow::Error::new(RanOutOfTime { limit })),
        };
        // Logged here, whether or not the head has gone out, so the line names the component
        // even when the client only sees its body cut short.
        if matches!(&result, Err(error) if error.is::<RanOutOfTime>()) {
            tracing::warn!(component = %id, trace_id = %trace.trace_id(), limit_secs = limit.as_secs_f64(), "component ran out of time");
        }
        result
    });
    match receiver.await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(code)) => bail!("component answered with error {code:?}"),
        Err(_) => match task.await {
            Ok(Ok(())) => bail!("component returned without setting a response"),
            Ok(Err(error)) => Err(error),
            Err(join) => Err(anyhow!("component task failed: {join}")),
        },
    }
}

/// A request that was still running at the request time limit (`--request-timeout-secs`).
#[derive(Debug, thiserror::Error)]
#[error("the request ran longer than the {limit:?} limit")]
struct RanOutOfTime {
    limit: Duration,
}

/// Whether a guest was stopped by the epoch deadline, which `engine::arm_deadline` sets only
/// once the request's time is up.
fn is_epoch_interrupt(error: &anyhow::Error) -> bool {
    error.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt)
        || error.chain().any(|cause| cause.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt))
}

fn header_str<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// 503 for a request over a limit (requests in progress, or instances in the pool).
fn overloaded() -> Response<WasiBody> {
    let mut response = problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "the server is at its limit of requests in progress; retry shortly",
        None,
    );
    response.headers_mut().insert(http::header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
    response
}

/// 504 for a request still running at the request time limit. 504 rather than 503: the host,
/// a gateway in front of the component, got no timely answer from it. 503 is galley's "at
/// capacity, retry elsewhere at once" (with `Retry-After`), which a balancer may resend
/// blindly; a request that ran for the whole limit may have had effects and would likely
/// run out of time again.
fn timed_out(limit: Duration, trace: &TraceContext) -> Response<WasiBody> {
    let detail = format!(
        "the request took too long: it was still running when it reached this server's limit of {} s",
        limit.as_secs_f64()
    );
    problem(StatusCode::GATEWAY_TIMEOUT, &detail, Some(trace))
}

/// An answer galley makes itself, as RFC 9457 problem details: `type` is `about:blank` (galley
/// knows nothing of the app's own problem types), `title` the status's reason phrase, and
/// `trace_id` the request's trace when there is one, as the app's own problem bodies carry it.
pub fn problem(status: StatusCode, detail: &str, trace: Option<&TraceContext>) -> Response<WasiBody> {
    let body = problem_body(status, detail, trace.map(TraceContext::trace_id).as_deref());
    let mut response = Response::new(Full::new(Bytes::from(body)).map_err(|never| match never {}).boxed_unsync());
    *response.status_mut() = status;
    response.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    no_sniffing(response)
}


pub fn empty_response(status: StatusCode) -> Response<WasiBody> {
    let mut response = Response::new(Empty::<Bytes>::new().map_err(|never| match never {}).boxed_unsync());
    *response.status_mut() = status;
    no_sniffing(response)
}

fn text_response(status: StatusCode, text: &'static str) -> Response<WasiBody> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())).map_err(|never| match never {}).boxed_unsync());
    *response.status_mut() = status;
    no_sniffing(response)
}

/// What galley answers itself (no route, a failed component, overload, health) tells browsers
/// not to guess a content type, as the app's own answers do; components' answers pass untouched.
fn no_sniffing(mut response: Response<WasiBody>) -> Response<WasiBody> {
    response.headers_mut().insert(http::header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

fn static_response(spec: &StaticResponse) -> Response<WasiBody> {
    let body = spec.body.clone().unwrap_or_default();
    let mut response = Response::new(Full::new(Bytes::from(body)).map_err(|never| match never {}).boxed_unsync());
    *response.status_mut() = spec.status_code.and_then(|s| StatusCode::from_u16(s).ok()).unwrap_or(StatusCode::OK);
    for (name, value) in &spec.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}
