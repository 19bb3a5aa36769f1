//! W3C Trace Context (`traceparent`): a request continues the trace its
//! caller started, or starts one, and passes it on with its own span id, so
//! one trace id appears in the logs of every process a request crosses.

use rand::RngCore;

/// The header (HTTP) and metadata key (gRPC) carrying the trace context.
pub const TRACEPARENT: &str = "traceparent";

/// One hop of a trace: the trace id shared by the whole request, the caller's
/// span id (if any) and this hop's own span id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// The caller's span (16 hex digits), when the trace was continued.
    pub parent_id: Option<String>,
    /// This hop's span (16 hex digits).
    pub span_id: String,
    /// The caller's sampling decision (`01`), kept as given.
    pub sampled: bool,
}

impl TraceContext {
    /// Continues the trace of a valid `traceparent` value, or starts a new
    /// one when it is missing or invalid (as the W3C recommendation says: an
    /// invalid header is ignored, not an error).
    pub fn continue_or_start(traceparent: Option<&str>) -> Self {
        match traceparent.and_then(parse) {
            Some((trace_id, parent_id, sampled)) => Self {
                trace_id,
                parent_id: Some(parent_id),
                span_id: random_hex::<8>(),
                sampled,
            },
            None => Self {
                trace_id: random_hex::<16>(),
                parent_id: None,
                span_id: random_hex::<8>(),
                sampled: true,
            },
        }
    }

    /// The `traceparent` to send downstream: this trace, this hop's span.
    pub fn traceparent(&self) -> String {
        format!(
            "00-{}-{}-{}",
            self.trace_id,
            self.span_id,
            if self.sampled { "01" } else { "00" }
        )
    }
}

/// Parses `version-traceid-parentid-flags`; None for anything invalid.
pub fn parse(value: &str) -> Option<(String, String, bool)> {
    let value = value.trim();
    let mut parts = value.split('-');
    let version = parts.next()?;
    let trace_id = parts.next()?;
    let parent_id = parts.next()?;
    let flags = parts.next()?;
    // Version 00 has exactly four fields; later versions may add more.
    if version == "00" && parts.next().is_some() {
        return None;
    }
    let hex = |s: &str, len: usize| {
        s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    if !hex(version, 2) || version == "ff" || !hex(flags, 2) {
        return None;
    }
    if !hex(trace_id, 32) || trace_id.bytes().all(|b| b == b'0') {
        return None;
    }
    if !hex(parent_id, 16) || parent_id.bytes().all(|b| b == b'0') {
        return None;
    }
    let flags = u8::from_str_radix(flags, 16).ok()?;
    Some((trace_id.to_owned(), parent_id.to_owned(), flags & 1 == 1))
}

fn random_hex<const N: usize>() -> String {
    let mut bytes = [0u8; N];
    loop {
        rand::rng().fill_bytes(&mut bytes);
        if bytes.iter().any(|b| *b != 0) {
            return bytes.iter().map(|b| format!("{b:02x}")).collect();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_is_continued_with_a_new_span() {
        let context = TraceContext::continue_or_start(Some(VALID));
        assert_eq!(context.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(context.parent_id.as_deref(), Some("00f067aa0ba902b7"));
        assert_ne!(context.span_id, "00f067aa0ba902b7");
        assert!(context.sampled);
        let next = context.traceparent();
        assert!(next.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert_eq!(parse(&next).unwrap().1, context.span_id);
    }

    #[test]
    fn invalid_traceparents_start_a_new_trace() {
        for bad in [
            "",
            "garbage",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
            let context = TraceContext::continue_or_start(Some(bad));
            assert_eq!(context.parent_id, None);
            assert_ne!(context.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        }
    }

    #[test]
    fn a_later_version_may_carry_more_fields() {
        let value = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-more";
        let (trace, _, sampled) = parse(value).unwrap();
        assert_eq!(trace, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(!sampled);
    }

    #[test]
    fn new_traces_are_well_formed() {
        let context = TraceContext::continue_or_start(None);
        assert!(parse(&context.traceparent()).is_some());
    }
}
