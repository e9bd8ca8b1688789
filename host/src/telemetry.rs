//! OpenTelemetry span export over OTLP, when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set. Protocol `http/protobuf` (the default of
//! `OTEL_EXPORTER_OTLP_PROTOCOL`); service name from `OTEL_SERVICE_NAME`, else the app's name.
//!
//! The host already decides every trace and span id itself (`trace.rs`: continued from the
//! inbound `traceparent`, handed to components and outbound calls), and records a span only
//! once the work it describes has finished. So it builds the finished span's export record
//! (`SpanData`) directly, with exactly those ids, and batches it for the OTLP exporter itself:
//! the SDK's tracer and batch processor would rebuild a context, consult a sampler and send
//! each span through a channel, work measured at a few per cent of a cache hit's cost
//! (`bench/observability.sh`). Recording a span is one push under a lock into a queue that
//! already has room for a batch; a thread of its own turns the records into export records and
//! sends them.
//!
//! Batching follows the SDK's variables: `OTEL_BSP_SCHEDULE_DELAY` (ms between sends, default
//! 5000), `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` (spans per send, default 512; a full batch is sent
//! at once) and `OTEL_BSP_MAX_QUEUE_SIZE` (spans waiting at most; default 65,536, not the
//! SDK's 2,048, which an order's forty spans at a few hundred orders a second overflow within
//! the delay). Spans past the queue are dropped and counted in the log at shutdown.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context as _, Result};
use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_otlp::SpanExporter;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanExporter as _, SpanLinks};

use crate::trace::TraceContext;

/// Finished spans waiting to be sent, and how the sending thread is told of a full batch.
struct Queue {
    spans: Mutex<Vec<Finished>>,
    batch_full_or_stopping: Condvar,
    stopping: std::sync::atomic::AtomicBool,
    dropped: AtomicU64,
    limits: BatchLimits,
    scope: InstrumentationScope,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct BatchLimits {
    delay: Duration,
    batch: usize,
    queue: usize,
}

impl BatchLimits {
    fn from_env(read: impl Fn(&str) -> Option<String>) -> BatchLimits {
        let number = |name: &str, default: u64| read(name).and_then(|v| v.trim().parse::<u64>().ok()).filter(|n| *n > 0).unwrap_or(default);
        let queue = number("OTEL_BSP_MAX_QUEUE_SIZE", 65_536) as usize;
        BatchLimits {
            delay: Duration::from_millis(number("OTEL_BSP_SCHEDULE_DELAY", 5_000)),
            // As the specification says: a batch is never larger than the queue.
            batch: (number("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512) as usize).min(queue),
            queue,
        }
    }
}

/// How long shutdown waits for the last spans to be sent (the SDK's own bound).
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

static QUEUE: OnceLock<Queue> = OnceLock::new();
static SENDER: Mutex<Option<std::thread::JoinHandle<()>>> = Mutex::new(None);

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
    let mut exporter = SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .build()
        .context("configuring the OTLP span exporter")?;
    let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| app_name.to_string());
    exporter.set_resource(&opentelemetry_sdk::Resource::builder().with_service_name(service).build());
    let limits = BatchLimits::from_env(|name| std::env::var(name).ok());
    let queue = Queue {
        spans: Mutex::new(Vec::with_capacity(limits.batch)),
        batch_full_or_stopping: Condvar::new(),
        stopping: std::sync::atomic::AtomicBool::new(false),
        dropped: AtomicU64::new(0),
        limits,
        scope: InstrumentationScope::builder("galley").with_version(env!("CARGO_PKG_VERSION")).build(),
    };
    if QUEUE.set(queue).is_err() {
        bail!("span export started twice");
    }
    let sender = std::thread::Builder::new()
        .name("galley-otlp".into())
        .spawn(move || send_batches(exporter))
        .context("starting the span sender")?;
    *SENDER.lock().unwrap_or_else(|e| e.into_inner()) = Some(sender);
    Ok(true)
}

/// The sending thread: a batch when one is full, or every `delay`; everything left at shutdown.
fn send_batches(exporter: SpanExporter) {
    let Some(queue) = QUEUE.get() else { return };
    loop {
        // Allocated here, not by the recording requests: the queue is handed a batch's room
        // each time it is emptied, so pushing a span never grows (and copies) it.
        let room = Vec::with_capacity(queue.limits.batch);
        let (finished, stopping) = {
            let guard = queue.spans.lock().unwrap_or_else(|e| e.into_inner());
            let (mut guard, _) = queue
                .batch_full_or_stopping
                .wait_timeout_while(guard, queue.limits.delay, |spans| {
                    spans.len() < queue.limits.batch && !queue.stopping.load(Ordering::Relaxed)
                })
                .unwrap_or_else(|e| e.into_inner());
            (std::mem::replace(&mut *guard, room), queue.stopping.load(Ordering::Relaxed))
        };
        let mut spans: Vec<SpanData> = finished.into_iter().map(|(span, end)| span_data(span, end, &queue.scope)).collect();
        while !spans.is_empty() {
            let rest = spans.split_off(spans.len().min(queue.limits.batch));
            if let Err(error) = futures::executor::block_on(exporter.export(spans)) {
                tracing::warn!(%error, "sending spans failed; they are dropped");
            }
            spans = rest;
        }
        if stopping {
            break;
        }
    }
    if let Err(error) = exporter.shutdown() {
        tracing::warn!(%error, "stopping the span exporter failed");
    }
}

/// Sends every span recorded so far and stops the exporter.
pub fn shutdown() {
    let Some(queue) = QUEUE.get() else { return };
    {
        // Under the lock: the sender is then either before its check (and sees it) or waiting.
        let _spans = queue.spans.lock().unwrap_or_else(|e| e.into_inner());
        queue.stopping.store(true, Ordering::Relaxed);
    }
    queue.batch_full_or_stopping.notify_all();
    // The last send waits at most this long: a collector that does not answer must not keep
    // the process from exiting (the exporter's own timeout is 10 s).
    let deadline = std::time::Instant::now() + SHUTDOWN_TIMEOUT;
    if let Some(sender) = SENDER.lock().unwrap_or_else(|e| e.into_inner()).take() {
        while !sender.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if !sender.is_finished() {
            tracing::warn!("the collector did not take the last spans within {SHUTDOWN_TIMEOUT:?}; exiting without them");
        }
    }
    let dropped = queue.dropped.load(Ordering::Relaxed);
    if dropped > 0 {
        tracing::warn!(dropped, "spans were dropped: more finished than OTEL_BSP_MAX_QUEUE_SIZE could hold until the next send");
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

/// A recorded span and when it ended.
type Finished = (SpanRecord, SystemTime);

/// Exports a span if an exporter is running. The span is only built then: without an
/// exporter, requests pay for one atomic load here and nothing else.
pub fn record(span: impl FnOnce() -> SpanRecord) {
    let Some(queue) = QUEUE.get() else { return };
    let data = (span(), SystemTime::now());
    let mut spans = queue.spans.lock().unwrap_or_else(|e| e.into_inner());
    if spans.len() >= queue.limits.queue {
        queue.dropped.fetch_add(1, Ordering::Relaxed);
        return;
    }
    spans.push(data);
    if spans.len() == queue.limits.batch {
        queue.batch_full_or_stopping.notify_one();
    }
}

/// The export record of a finished span, with the ids the host chose.
fn span_data(span: SpanRecord, end: SystemTime, scope: &InstrumentationScope) -> SpanData {
    let context = SpanContext::new(
        TraceId::from_bytes(span.trace.trace_id_bytes()),
        SpanId::from_bytes(span.trace.span_id_bytes()),
        TraceFlags::SAMPLED,
        false,
        TraceState::default(),
    );
    SpanData {
        span_context: context,
        parent_span_id: span.trace.parent_span_id_bytes().map_or(SpanId::INVALID, SpanId::from_bytes),
        // A server or consumer span's parent is across a hop (a client, a publisher); the
        // host's own client and statement spans are children of a span of this process.
        parent_span_is_remote: matches!(span.kind, SpanKind::Server | SpanKind::Consumer),
        span_kind: span.kind,
        name: Cow::Owned(span.name),
        start_time: span.start,
        end_time: end,
        attributes: span.attributes,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: if span.failed { Status::error("") } else { Status::Unset },
        instrumentation_scope: scope.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_keeps_the_ids_the_host_chose() {
        let trace = TraceContext::continue_or_start(Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")).child();
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1);
        let record = SpanRecord { name: "SELECT orders".into(), kind: SpanKind::Client, trace, start, attributes: vec![KeyValue::new("db.system", "postgresql")], failed: true };
        let data = span_data(record, start + Duration::from_millis(3), &InstrumentationScope::builder("galley").build());
        assert_eq!(data.span_context.trace_id(), TraceId::from_bytes(trace.trace_id_bytes()));
        assert_eq!(data.span_context.span_id(), SpanId::from_bytes(trace.span_id_bytes()));
        assert_eq!(Some(data.parent_span_id.to_bytes()), trace.parent_span_id_bytes());
        assert!(data.span_context.is_sampled() && !data.parent_span_is_remote);
        assert_eq!((data.name.as_ref(), data.span_kind.clone()), ("SELECT orders", SpanKind::Client));
        assert_eq!(data.end_time.duration_since(data.start_time).ok(), Some(Duration::from_millis(3)));
        assert_eq!(data.status, Status::error(""));
    }

    #[test]
    fn batching_follows_the_sdks_variables() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
        assert_eq!(
            BatchLimits::from_env(env(&[])),
            BatchLimits { delay: Duration::from_secs(5), batch: 512, queue: 65_536 }
        );
        let set = BatchLimits::from_env(env(&[("OTEL_BSP_SCHEDULE_DELAY", "100"), ("OTEL_BSP_MAX_QUEUE_SIZE", "64"), ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "512")]));
        assert_eq!(set, BatchLimits { delay: Duration::from_millis(100), batch: 64, queue: 64 });
        assert_eq!(BatchLimits::from_env(env(&[("OTEL_BSP_SCHEDULE_DELAY", "soon")])).delay, Duration::from_secs(5));
    }
}
