//! OpenTelemetry span export over OTLP, when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set. Protocol `http/protobuf` (the default of
//! `OTEL_EXPORTER_OTLP_PROTOCOL`); service name from `OTEL_SERVICE_NAME`, else the app's name.
//!
//! The host already decides every trace and span id itself (`trace.rs`: continued from the
//! inbound `traceparent`, handed to components and outbound calls). Spans are recorded when
//! the work they describe has finished, with exactly those ids, so what a collector shows
//! matches the `traceparent` headers components saw.

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::SystemTime;

use anyhow::{bail, Context as _, Result};
use opentelemetry::trace::{Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId, TraceState, Tracer as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{IdGenerator, SdkTracer, SdkTracerProvider};

use crate::trace::TraceContext;

static TRACER: OnceLock<(SdkTracerProvider, SdkTracer)> = OnceLock::new();

thread_local! {
    /// The ids the next span built on this thread must carry (see [`HostChosenIds`]).
    static NEXT_IDS: Cell<Option<(TraceId, SpanId)>> = const { Cell::new(None) };
}

/// The SDK always asks its id generator for a span's ids; this one answers with the ids the
/// host chose, which [`record`] sets immediately before building the span on the same thread.
#[derive(Debug)]
struct HostChosenIds;

impl IdGenerator for HostChosenIds {
    fn new_trace_id(&self) -> TraceId {
        NEXT_IDS.with(|ids| ids.get()).map(|(trace, _)| trace).unwrap_or(TraceId::INVALID)
    }
    fn new_span_id(&self) -> SpanId {
        NEXT_IDS.with(|ids| ids.get()).map(|(_, span)| span).unwrap_or(SpanId::INVALID)
    }
}

/// Starts the exporter if the environment asks for one. Returns whether spans are exported.
pub fn init(app_name: &str) -> Result<bool> {
    let endpoint_set = ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
        .iter()
        .any(|name| std::env::var(name).is_ok_and(|v| !v.is_empty()));
    if !endpoint_set {
        return Ok(false);
    }
    let protocol = std::env::var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|_| std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .unwrap_or_else(|_| "http/protobuf".into());
    if protocol != "http/protobuf" {
        bail!("OTEL_EXPORTER_OTLP_PROTOCOL={protocol} is not supported by galley; use http/protobuf");
    }
    use opentelemetry_otlp::WithExportConfig as _;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .build()
        .context("configuring the OTLP span exporter")?;
    let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| app_name.to_string());
    let provider = SdkTracerProvider::builder()
        .with_id_generator(HostChosenIds)
        .with_batch_exporter(exporter)
        .with_resource(opentelemetry_sdk::Resource::builder().with_service_name(service).build())
        .build();
    let tracer = provider.tracer("galley");
    let _ = TRACER.set((provider, tracer));
    Ok(true)
}

/// Flushes and stops the exporter.
pub fn shutdown() {
    if let Some((provider, _)) = TRACER.get() {
        if let Err(error) = provider.shutdown() {
            tracing::warn!(%error, "flushing spans on shutdown failed");
        }
    }
}

/// Runs a call the host makes for a component (a database or cache command) and records it as
/// a client span under `parent`. The name and attributes are built only if spans are exported.
pub async fn client_call<T, E>(
    parent: &TraceContext,
    name: impl FnOnce() -> String,
    attributes: impl FnOnce() -> Vec<KeyValue>,
    call: impl std::future::Future<Output = std::result::Result<T, E>>,
) -> std::result::Result<T, E> {
    let start = SystemTime::now();
    let result = call.await;
    record(|| SpanRecord {
        name: name(),
        kind: SpanKind::Client,
        trace: parent.child(),
        start,
        attributes: attributes(),
        failed: result.is_err(),
    });
    result
}

/// A finished piece of work to export as a span.
pub struct SpanRecord {
    pub name: String,
    pub kind: SpanKind,
    pub trace: TraceContext,
    pub start: SystemTime,
    pub attributes: Vec<KeyValue>,
    pub failed: bool,
}

/// Exports a span if an exporter is running. The span is only built then: without an
/// exporter, requests pay for one atomic load here and nothing else.
pub fn record(span: impl FnOnce() -> SpanRecord) {
    let Some((_, tracer)) = TRACER.get() else { return };
    let span = span();
    let trace_id = TraceId::from_bytes(span.trace.trace_id_bytes());
    let parent = match span.trace.parent_span_id_bytes() {
        Some(parent) => Context::new().with_remote_span_context(SpanContext::new(
            trace_id,
            SpanId::from_bytes(parent),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        )),
        None => Context::new(),
    };
    let builder = tracer
        .span_builder(span.name)
        .with_kind(span.kind)
        .with_start_time(span.start)
        .with_attributes(span.attributes);
    NEXT_IDS.with(|ids| ids.set(Some((trace_id, SpanId::from_bytes(span.trace.span_id_bytes())))));
    let mut built = tracer.build_with_context(builder, &parent);
    NEXT_IDS.with(|ids| ids.set(None));
    if span.failed {
        built.set_status(Status::error(""));
    }
    built.end_with_timestamp(SystemTime::now());
}
