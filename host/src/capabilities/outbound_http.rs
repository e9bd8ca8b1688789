//! Outbound HTTP from a component (`wasi:http/outgoing-handler`), as Spin routes it.
//!
//! * `http://<component-id>.spin.internal/...`: service chaining, run in process without a TCP
//!   hop, private components included; allowed by `http://<id>.spin.internal` or
//!   `http://*.spin.internal`.
//! * A relative URL (which spin-sdk sends with an empty host) or host `self.alt`: a
//!   self-request through the app's full router; allowed by `http://self` or `http://self.alt`.
//! * Anything else goes over the network if `allowed_outbound_hosts` allows it — the URL
//!   `http://self/...` included, as in Spin: `self` is a name for allow-list entries, not a
//!   host, so that URL is denied unless an entry allows a host called `self` (`http://*`).
//!
//! Refusals fail the request with `HTTP-request-denied`. Every outbound request carries a
//! `traceparent` in the caller's trace, replacing any the guest set.

use std::future::Future;
use std::pin::Pin;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderValue, HOST};
use http::Request;
use http_body_util::BodyExt;
use opentelemetry::trace::SpanKind;
use opentelemetry::KeyValue;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::capabilities::allowed_hosts::{AllowList, OutboundAddress};
use crate::telemetry::{self, SpanRecord};
use crate::trace::TraceContext;

const CHAINING_SUFFIX: &str = ".spin.internal";

type ResponseAndIo = (http::Response<WasiBody>, Box<dyn Future<Output = Result<(), Error>> + Send>);

/// A response served in process, when it is ready.
pub type InProcessResponse = Pin<Box<dyn Future<Output = http::Response<WasiBody>> + Send>>;

/// What outbound HTTP needs of the app it runs in: its own components, reached in process.
/// The HTTP trigger provides it (`http_trigger.rs`), so this capability knows nothing else of
/// the app.
pub trait InProcessApp: Send + Sync + 'static {
    /// `request` served by the app's HTTP component `target` (service chaining, private
    /// components included), the caller's trace continued; `None` when there is no such
    /// component.
    fn chain(self: Arc<Self>, target: &str, request: Request<WasiBody>, caller: TraceContext) -> Option<InProcessResponse>;
    /// Where the app's HTTP server listens (for a self-request's `Host`).
    fn listen_addr(&self) -> SocketAddr;
    /// `request` served through the app's own router, as from a client on the loopback.
    fn route(self: Arc<Self>, request: Request<WasiBody>, trace: TraceContext) -> InProcessResponse;
}

/// The per-instance hooks wasmtime-wasi-http calls for every outbound request.
pub struct OutboundHttp {
    app: Arc<dyn InProcessApp>,
    allowed_hosts: Arc<AllowList>,
    component_id: Arc<str>,
    trace: TraceContext,
}

impl OutboundHttp {
    /// `app`: for chaining and self-requests; `allowed_hosts`: the component's allow-list.
    pub fn new(app: Arc<dyn InProcessApp>, allowed_hosts: Arc<AllowList>, component_id: Arc<str>, trace: TraceContext) -> OutboundHttp {
        OutboundHttp { app, allowed_hosts, component_id, trace }
    }
}

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_errors: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = Result<ResponseAndIo, Error>> + Send> {
        let app = self.app.clone();
        let caller = Caller { allowed_hosts: self.allowed_hosts.clone(), id: self.component_id.clone() };
        let trace = self.trace.child();
        Box::new(async move {
            let started = std::time::SystemTime::now();
            let method = request.method().to_string();
            let url = request.uri().to_string();
            let result = send(app, caller, trace, request, options).await;
            let status = result.as_ref().map(|(response, _)| i64::from(response.status().as_u16()));
            telemetry::record(|| SpanRecord {
                name: method.clone(),
                kind: SpanKind::Client,
                trace,
                start: started,
                attributes: vec![
                    KeyValue::new("http.request.method", method),
                    KeyValue::new("url.full", url),
                    KeyValue::new("http.response.status_code", status.as_ref().copied().unwrap_or(0)),
                ],
                failed: status.map_or(true, |s| s >= 500),
            });
            result
        })
    }
}

/// Where an outbound request goes.
#[derive(Debug, PartialEq)]
enum Destination {
    Chained(String),
    SelfApp,
    Network,
}

fn destination(uri: &http::Uri) -> Destination {
    let host = uri.host().unwrap_or("");
    if let Some(id) = host.strip_suffix(CHAINING_SUFFIX) {
        return Destination::Chained(id.to_string());
    }
    let scheme = uri.scheme_str().unwrap_or("http");
    let address = OutboundAddress { scheme, host, port: uri.port_u16() };
    if address.is_self() {
        Destination::SelfApp
    } else {
        Destination::Network
    }
}

/// The component making the request.
struct Caller {
    allowed_hosts: Arc<AllowList>,
    id: Arc<str>,
}

async fn send(
    app: Arc<dyn InProcessApp>,
    component: Caller,
    trace: TraceContext,
    mut request: Request<WasiBody>,
    options: Option<RequestOptions>,
) -> Result<ResponseAndIo, Error> {
    if let Ok(value) = HeaderValue::from_str(&trace.traceparent()) {
        request.headers_mut().insert("traceparent", value);
    }
    let uri = request.uri().clone();
    let deny = || {
        tracing::warn!(component = %component.id, url = %uri, "outbound request denied: not in allowed_outbound_hosts");
        Err(Error::HttpRequestDenied)
    };
    let response = match destination(&uri) {
        Destination::Chained(target_id) => {
            if !component.allowed_hosts.allows_chaining_to(&target_id) {
                return deny();
            }
            let Some(response) = app.chain(&target_id, request, trace) else {
                return Err(Error::DestinationNotFound);
            };
            crate::metrics::chained_call(&component.id, &target_id);
            in_process(options, response).await?
        }
        Destination::SelfApp => {
            // Spin checks self-requests against `http://self` whatever scheme the guest's
            // client filled in for a relative URL (spin-sdk assumes https).
            let address = OutboundAddress { scheme: "http", host: "", port: None };
            if !component.allowed_hosts.allows(&address) {
                return deny();
            }
            if let Ok(host) = HeaderValue::from_str(&app.listen_addr().to_string()) {
                request.headers_mut().insert(HOST, host);
            }
            in_process(options, app.route(request, trace)).await?
        }
        Destination::Network => {
            let scheme = uri.scheme_str().unwrap_or("https");
            let address = OutboundAddress { scheme, host: uri.host().unwrap_or(""), port: uri.port_u16() };
            if !component.allowed_hosts.allows(&address) {
                return deny();
            }
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            return Ok((response.map(BodyExt::boxed_unsync), Box::new(io)));
        }
    };
    Ok((response, Box::new(async { Ok(()) })))
}

/// Awaits an in-process response, honouring the caller's first-byte timeout if it set one.
async fn in_process(
    options: Option<RequestOptions>,
    response: impl Future<Output = http::Response<WasiBody>>,
) -> Result<http::Response<WasiBody>, Error> {
    let limit: Option<Duration> = options.and_then(|o| o.first_byte_timeout.or(o.connect_timeout));
    match limit {
        Some(limit) => tokio::time::timeout(limit, response).await.map_err(|_| Error::ConnectionReadTimeout),
        None => Ok(response.await),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(url: &str) -> Destination {
        destination(&url.parse().unwrap())
    }

    #[test]
    fn destinations() {
        assert_eq!(dest("http://inventory.spin.internal/reserve"), Destination::Chained("inventory".into()));
        assert_eq!(dest("http://:80/api"), Destination::SelfApp);
        assert_eq!(dest("http://self.alt/api"), Destination::SelfApp);
        assert_eq!(dest("http://self/api"), Destination::Network);
        assert_eq!(dest("https://example.com/"), Destination::Network);
    }
}
