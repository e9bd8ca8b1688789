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
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderValue, HOST};
use http::Request;
use http_body_util::BodyExt;
use opentelemetry::trace::SpanKind;
use opentelemetry::KeyValue;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::allowed_hosts::OutboundAddress;
use crate::app::{App, AppComponent};
use crate::http_trigger;
use crate::telemetry::{self, SpanRecord};
use crate::trace::TraceContext;

const CHAINING_SUFFIX: &str = ".spin.internal";

type ResponseAndIo = (http::Response<WasiBody>, Box<dyn Future<Output = Result<(), Error>> + Send>);

/// The per-instance hooks wasmtime-wasi-http calls for every outbound request.
pub struct OutboundHttp {
    app: Arc<App>,
    component: Arc<AppComponent>,
    trace: TraceContext,
}

impl OutboundHttp {
    pub fn new(app: Arc<App>, component: Arc<AppComponent>, trace: TraceContext) -> OutboundHttp {
        OutboundHttp { app, component, trace }
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
        let component = self.component.clone();
        let trace = self.trace.child();
        Box::new(async move {
            let started = std::time::SystemTime::now();
            let method = request.method().to_string();
            let url = request.uri().to_string();
            let result = send(app, component, trace, request, options).await;
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

async fn send(
    app: Arc<App>,
    component: Arc<AppComponent>,
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
            let Some(target) = app.component(&target_id).filter(|c| c.http.is_some()).cloned() else {
                return Err(Error::DestinationNotFound);
            };
            crate::metrics::chained_call(&component.id, &target_id);
            in_process(options, http_trigger::run_chained(&app, &target, request, trace)).await?
        }
        Destination::SelfApp => {
            // Spin checks self-requests against `http://self` whatever scheme the guest's
            // client filled in for a relative URL (spin-sdk assumes https).
            let address = OutboundAddress { scheme: "http", host: "", port: None };
            if !component.allowed_hosts.allows(&address) {
                return deny();
            }
            let listen = app.listen_addr.get().copied().unwrap_or(SocketAddr::from(([127, 0, 0, 1], 3000)));
            if let Ok(host) = HeaderValue::from_str(&listen.to_string()) {
                request.headers_mut().insert(HOST, host);
            }
            let client = SocketAddr::from(([127, 0, 0, 1], 0));
            let authority = listen.to_string();
            in_process(options, async { http_trigger::dispatch(&app, request, client, &authority, trace).await.1 }).await?
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
