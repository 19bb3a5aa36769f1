//! Logging and tracing: human-readable logs in a terminal, JSON lines with
//! `LOG_FORMAT=json`, the level from `RUST_LOG` (default `info`); and, when
//! the standard `OTEL_EXPORTER_OTLP_ENDPOINT` is set, spans exported over
//! OTLP/gRPC (the other `OTEL_*` variables apply as the OpenTelemetry SDK
//! defines them). Off by default.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::trace::TraceContext;

/// Whether spans go to OpenTelemetry (the OTLP layer is installed).
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Keeps the OTLP export running; flushes the spans still buffered when
/// dropped (at the end of `main`).
#[must_use = "dropping it stops the span export"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("exporting", &self.provider.is_some())
            .finish()
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            // On a plain thread: the exporter's runtime must not be dropped
            // from inside an async context.
            let flushed = std::thread::spawn(move || provider.shutdown()).join();
            if !matches!(flushed, Ok(Ok(()))) {
                tracing::warn!("flushing the last spans failed");
            }
        }
    }
}

/// Installs the global subscriber for the process `service` (its name in
/// exported spans). Safe to call more than once (later calls do nothing),
/// so tests and the in-process dev stack can call it freely.
pub fn init(service: &'static str) -> Telemetry {
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let provider = otlp_provider(service);
    let otel = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer(service)));
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    let installed = if json {
        registry
            .with(tracing_subscriber::fmt::layer().json().flatten_event(true))
            .try_init()
    } else {
        // Colour only for a person at a terminal: a log redirected to a file
        // or a pipe stays free of escape codes.
        let ansi = std::io::stdout().is_terminal();
        registry
            .with(tracing_subscriber::fmt::layer().with_ansi(ansi))
            .try_init()
    };
    if installed.is_ok() && provider.is_some() {
        EXPORTING.store(true, Ordering::Release);
        tracing::info!("exporting spans over OTLP");
    }
    Telemetry {
        provider: installed.ok().and(provider),
    }
}

/// The tracer provider, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
fn otlp_provider(service: &'static str) -> Option<SdkTracerProvider> {
    std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .ok()
        .filter(|v| !v.trim().is_empty())?;
    match OnItsOwnRuntime::new() {
        Ok(exporter) => Some(
            SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(
                    opentelemetry_sdk::Resource::builder()
                        .with_service_name(service)
                        .build(),
                )
                .build(),
        ),
        Err(e) => {
            // Before the subscriber exists: straight to standard error.
            #[allow(clippy::print_stderr)]
            {
                eprintln!("OTEL_EXPORTER_OTLP_ENDPOINT is set but the exporter cannot start: {e}");
            }
            None
        }
    }
}

/// The OTLP/gRPC exporter on a small Tokio runtime of its own: the SDK's
/// batch processor exports from a plain thread, and tonic needs a reactor.
struct OnItsOwnRuntime {
    runtime: tokio::runtime::Runtime,
    inner: opentelemetry_otlp::SpanExporter,
}

impl std::fmt::Debug for OnItsOwnRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnItsOwnRuntime").finish_non_exhaustive()
    }
}

impl OnItsOwnRuntime {
    fn new() -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("otlp-export")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let inner = {
            let _context = runtime.enter();
            opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .build()
                .map_err(|e| e.to_string())?
        };
        Ok(Self { runtime, inner })
    }
}

impl opentelemetry_sdk::trace::SpanExporter for OnItsOwnRuntime {
    fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> impl std::future::Future<Output = opentelemetry_sdk::error::OTelSdkResult> + Send {
        // Called on the batch processor's own thread, outside any runtime.
        let result = self.runtime.block_on(self.inner.export(batch));
        std::future::ready(result)
    }

    fn shutdown_with_timeout(
        &self,
        timeout: std::time::Duration,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource);
    }
}

/// Makes `span` this hop of `trace`. When spans are exported, the
/// OpenTelemetry span continues the caller's (`trace.parent_id`) and its ids
/// become the trace's, so what is logged, exported and passed on agree.
/// Records `trace_id` and `span_id` on `span` (declared empty by the caller).
pub fn join(span: &tracing::Span, trace: &mut TraceContext) {
    if EXPORTING.load(Ordering::Acquire) {
        use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
        if let (Some(parent), Ok(trace_id)) = (&trace.parent_id, TraceId::from_hex(&trace.trace_id))
            && let Ok(parent) = SpanId::from_hex(parent)
        {
            let flags = if trace.sampled {
                TraceFlags::SAMPLED
            } else {
                TraceFlags::default()
            };
            let remote = SpanContext::new(trace_id, parent, flags, true, TraceState::default());
            let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
        }
        let context = span.context();
        let own = context.span().span_context().clone();
        if own.is_valid() {
            trace.trace_id = own.trace_id().to_string();
            trace.span_id = own.span_id().to_string();
            trace.sampled = own.is_sampled();
        }
    }
    span.record("trace_id", trace.trace_id.as_str());
    span.record("span_id", trace.span_id.as_str());
}
