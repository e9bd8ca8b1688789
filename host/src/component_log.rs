//! A component's stdout/stderr, captured line by line and labelled with its id.
//!
//! Guests write whatever they like; the host prints each complete line as
//! `[component-id] text` on its own stdout or stderr so interleaved requests stay readable.

use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

#[derive(Clone, Copy)]
enum Target {
    Stdout,
    Stderr,
}

#[derive(Clone)]
pub struct ComponentLog {
    label: Arc<str>,
    target: Target,
}

impl ComponentLog {
    pub fn stdout(component_id: &str) -> ComponentLog {
        ComponentLog { label: component_id.into(), target: Target::Stdout }
    }

    pub fn stderr(component_id: &str) -> ComponentLog {
        ComponentLog { label: component_id.into(), target: Target::Stderr }
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
