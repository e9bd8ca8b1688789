//! A component's stdout/stderr, captured line by line and labelled with its id.
//!
//! Guests write whatever they like; the host prints each complete line as
//! `[component-id] text` on its own stdout or stderr so interleaved requests stay readable.
//! With `--log-format json` each line is instead a JSON log event on stderr (with the host's
//! own lines) carrying the component, the stream and the request's trace id, so a log shipper
//! can join a component's output to the request and its trace.

use std::io::Write;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

use crate::trace::TraceContext;

/// Set once at start-up by `--log-format json`.
static AS_JSON_EVENTS: AtomicBool = AtomicBool::new(false);

/// Component output becomes JSON log events from now on.
pub fn emit_as_json_events() {
    AS_JSON_EVENTS.store(true, Ordering::Relaxed);
}

/// Whether logs are JSON events (`--log-format json`).
pub fn json_events() -> bool {
    AS_JSON_EVENTS.load(Ordering::Relaxed)
}

#[derive(Clone, Copy)]
enum Target {
    Stdout,
    Stderr,
}

#[derive(Clone)]
pub struct ComponentLog {
    label: Arc<str>,
    target: Target,
    /// The request (or message) the instance serves.
    trace: TraceContext,
}

impl ComponentLog {
    pub fn stdout(component_id: &Arc<str>, trace: TraceContext) -> ComponentLog {
        ComponentLog { label: component_id.clone(), target: Target::Stdout, trace }
    }

    pub fn stderr(component_id: &Arc<str>, trace: TraceContext) -> ComponentLog {
        ComponentLog { label: component_id.clone(), target: Target::Stderr, trace }
    }
}

impl IsTerminal for ComponentLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for ComponentLog {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineWriter { log: self.clone(), pending: Vec::new() })
    }
}

/// Buffers a partial line until its newline arrives (or the stream is dropped).
struct LineWriter {
    log: ComponentLog,
    pending: Vec<u8>,
}

impl LineWriter {
    fn emit(&self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches('\r');
        if json_events() {
            let stream = match self.log.target {
                Target::Stdout => "stdout",
                Target::Stderr => "stderr",
            };
            let trace_id = self.log.trace.trace_id();
            tracing::info!(target: "galley::component", component = %self.log.label, stream, trace_id, "{text}");
            return;
        }
        // Writes to the host's own stdio are small and rare enough to do inline.
        let _ = match self.log.target {
            Target::Stdout => writeln!(std::io::stdout().lock(), "[{}] {}", self.log.label, text),
            Target::Stderr => writeln!(std::io::stderr().lock(), "[{}] {}", self.log.label, text),
        };
    }

    fn emit_complete_lines(&mut self) {
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            self.emit(&line[..line.len() - 1]);
        }
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.pending.extend_from_slice(buf);
        self.emit_complete_lines();
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            self.emit(&rest);
        }
    }
}
