//! W3C trace context (`traceparent`): continued from the inbound request or created, and
//! carried on every request the host makes or hands to a component.

use rand::RngCore;

/// The trace a request belongs to, and the host's span within it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    /// The caller's span, when this one continues it.
    parent_span_id: Option<[u8; 8]>,
    flags: u8,
}

impl TraceContext {
    /// Continues the caller's trace when its `traceparent` is valid, else starts a new one.
    /// Either way the host gets a fresh span id of its own.
    pub fn continue_or_start(traceparent: Option<&str>) -> TraceContext {
        match traceparent.and_then(parse) {
            Some(caller) => TraceContext { span_id: random_id(), parent_span_id: Some(caller.span_id), ..caller },
            None => TraceContext { trace_id: random_id(), span_id: random_id(), parent_span_id: None, flags: 1 },
        }
    }

    /// A child span in the same trace (for an outbound call).
    pub fn child(&self) -> TraceContext {
        TraceContext { span_id: random_id(), parent_span_id: Some(self.span_id), ..*self }
    }

    pub fn trace_id_bytes(&self) -> [u8; 16] {
        self.trace_id
    }

    pub fn span_id_bytes(&self) -> [u8; 8] {
        self.span_id
    }

    pub fn parent_span_id_bytes(&self) -> Option<[u8; 8]> {
        self.parent_span_id
    }

    pub fn trace_id(&self) -> String {
        hex::encode(self.trace_id)
    }

    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-{:02x}", hex::encode(self.trace_id), hex::encode(self.span_id), self.flags)
    }
}

fn random_id<const N: usize>() -> [u8; N] {
    let mut id = [0u8; N];
    // An all-zero id is invalid in W3C trace context.
    while id.iter().all(|b| *b == 0) {
        rand::thread_rng().fill_bytes(&mut id);
    }
    id
}

fn parse(header: &str) -> Option<TraceContext> {
    let mut parts = header.trim().split('-');
    let version = parts.next()?;
    let trace = parts.next()?;
    let span = parts.next()?;
    let flags = parts.next()?;
    if version.len() != 2 || version == "ff" || trace.len() != 32 || span.len() != 16 || flags.len() != 2 {
        return None;
    }
    let mut trace_id = [0u8; 16];
    let mut span_id = [0u8; 8];
    hex::decode_to_slice(trace, &mut trace_id).ok()?;
    hex::decode_to_slice(span, &mut span_id).ok()?;
    let flags = u8::from_str_radix(flags, 16).ok()?;
    if trace_id.iter().all(|b| *b == 0) || span_id.iter().all(|b| *b == 0) {
        return None;
    }
    Some(TraceContext { trace_id, span_id, parent_span_id: None, flags })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continues_a_valid_trace_with_a_new_span() {
        let inbound = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let context = TraceContext::continue_or_start(Some(inbound));
        assert_eq!(context.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        let header = context.traceparent();
        assert!(header.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert!(!header.contains("00f067aa0ba902b7"));
        assert!(header.ends_with("-01"));
        assert_eq!(context.parent_span_id_bytes().map(hex::encode).as_deref(), Some("00f067aa0ba902b7"));
    }

    #[test]
    fn starts_a_trace_when_missing_or_invalid() {
        for bad in [None, Some("garbage"), Some("00-00000000000000000000000000000000-00f067aa0ba902b7-01")] {
            let context = TraceContext::continue_or_start(bad);
            assert_eq!(context.trace_id().len(), 32);
            assert_ne!(context.trace_id(), "00000000000000000000000000000000");
        }
    }

    #[test]
    fn child_keeps_the_trace() {
        let parent = TraceContext::continue_or_start(None);
        let child = parent.child();
        assert_eq!(parent.trace_id(), child.trace_id());
        assert_ne!(parent.traceparent(), child.traceparent());
        assert_eq!(child.parent_span_id_bytes(), Some(parent.span_id_bytes()));
    }
}
