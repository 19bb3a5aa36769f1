//! What an operator sees of each gRPC call: a span carrying the method, the
//! trace id (continued from the caller's `traceparent`) and the user once
//! known; one log line when the call completes, with its status code and
//! latency; and the RPC metrics. A tower layer for tonic servers.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http_body::{Body, Frame};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tower::{Layer, Service};
use tracing::Instrument;

use crate::trace::{TRACEPARENT, TraceContext};

/// Labels of a completed call.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RpcLabels {
    /// `package.Service/Method`.
    pub method: String,
    /// The gRPC status code name (`OK`, `NOT_FOUND`, ...).
    pub code: String,
}

/// Labels of a call in progress.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct MethodLabels {
    /// `package.Service/Method`.
    pub method: String,
}

/// The RPC metrics of one server.
#[derive(Debug, Clone)]
pub struct RpcMetrics {
    requests: Family<RpcLabels, Counter>,
    duration: Family<RpcLabels, Histogram>,
    in_flight: Family<MethodLabels, Gauge>,
}

impl RpcMetrics {
    /// Creates the metrics and registers them in `registry`:
    /// `rpc_server_requests_total`, `rpc_server_request_duration_seconds`
    /// (by method and code) and `rpc_server_requests_in_flight` (by method).
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            requests: Family::default(),
            duration: Family::new_with_constructor(|| {
                // 1 ms to ~16 s: RPCs here range from a cached read to a
                // bcrypt hash behind a queue.
                Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                    0.001, 2.0, 15,
                ))
            }),
            in_flight: Family::default(),
        };
        registry.register(
            "rpc_server_requests",
            "gRPC calls completed, by method and status code",
            metrics.requests.clone(),
        );
        registry.register(
            "rpc_server_request_duration_seconds",
            "gRPC call latency, from the request to the end of the response",
            metrics.duration.clone(),
        );
        registry.register(
            "rpc_server_requests_in_flight",
            "gRPC calls in progress",
            metrics.in_flight.clone(),
        );
        metrics
    }
}

/// The layer; see the module documentation.
#[derive(Debug, Clone)]
pub struct ObserveLayer {
    metrics: Arc<RpcMetrics>,
}

impl ObserveLayer {
    /// Observes calls into `metrics`.
    pub fn new(metrics: RpcMetrics) -> Self {
        Self {
            metrics: Arc::new(metrics),
        }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// See [`ObserveLayer`].
#[derive(Debug, Clone)]
pub struct Observe<S> {
    inner: S,
    metrics: Arc<RpcMetrics>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, RB> Service<http::Request<B>> for Observe<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    RB: Body + Send + 'static,
{
    type Response = http::Response<ObservedBody<RB>>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let method = request.uri().path().trim_start_matches('/').to_owned();
        let mut trace = TraceContext::continue_or_start(
            request
                .headers()
                .get(TRACEPARENT)
                .and_then(|v| v.to_str().ok()),
        );
        let span = tracing::info_span!(
            "rpc",
            method = %method,
            trace_id = tracing::field::Empty,
            span_id = tracing::field::Empty,
            user_id = tracing::field::Empty,
        );
        crate::telemetry::join(&span, &mut trace);
        // Code further in may pass the trace on to calls it makes.
        request.extensions_mut().insert(trace);
        let completion = Completion::start(self.metrics.clone(), method, span.clone());
        let call = self.inner.call(request).instrument(span);
        Box::pin(async move {
            let mut completion = completion;
            match call.await {
                Ok(response) => {
                    let (parts, body) = response.into_parts();
                    // A trailers-only response (most errors) carries its
                    // status in the headers.
                    completion.code = parts
                        .headers
                        .get("grpc-status")
                        .and_then(|v| v.to_str().ok())
                        .map(code_name);
                    Ok(http::Response::from_parts(
                        parts,
                        ObservedBody {
                            inner: body,
                            completion: Some(completion),
                        },
                    ))
                }
                Err(error) => {
                    completion.code = Some("UNKNOWN");
                    Err(error)
                }
            }
        })
    }
}

/// Records the call when dropped: after the last frame of the response, or
/// when the client went away first (then the code is `CANCELLED`).
struct Completion {
    metrics: Arc<RpcMetrics>,
    method: String,
    span: tracing::Span,
    started: Instant,
    code: Option<&'static str>,
}

impl Completion {
    fn start(metrics: Arc<RpcMetrics>, method: String, span: tracing::Span) -> Self {
        metrics
            .in_flight
            .get_or_create(&MethodLabels {
                method: method.clone(),
            })
            .inc();
        Self {
            metrics,
            method,
            span,
            started: Instant::now(),
            code: None,
        }
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        let elapsed = self.started.elapsed();
        let code = self.code.unwrap_or("CANCELLED");
        let method = std::mem::take(&mut self.method);
        self.metrics
            .in_flight
            .get_or_create(&MethodLabels {
                method: method.clone(),
            })
            .dec();
        let labels = RpcLabels {
            method,
            code: code.to_owned(),
        };
        self.metrics.requests.get_or_create(&labels).inc();
        self.metrics
            .duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        let latency_ms = elapsed.as_secs_f64() * 1000.0;
        // Probes and exploration every few seconds would drown the log.
        let routine = labels.method.starts_with("grpc.health.")
            || labels.method.starts_with("grpc.reflection.");
        if matches!(code, "INTERNAL" | "UNKNOWN" | "DATA_LOSS" | "UNAVAILABLE") {
            tracing::warn!(parent: &self.span, code, latency_ms, "rpc finished");
        } else if routine {
            tracing::debug!(parent: &self.span, code, latency_ms, "rpc finished");
        } else {
            tracing::info!(parent: &self.span, code, latency_ms, "rpc finished");
        }
    }
}

pin_project_lite::pin_project! {
    /// A response body that reports the call's end to the layer.
    pub struct ObservedBody<B> {
        #[pin]
        inner: B,
        completion: Option<Completion>,
    }
}

impl<B: Body> Body for ObservedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let result = this.inner.poll_frame(cx);
        match &result {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(code) = frame
                    .trailers_ref()
                    .and_then(|t| t.get("grpc-status"))
                    .and_then(|v| v.to_str().ok())
                    && let Some(completion) = this.completion.as_mut()
                {
                    completion.code = Some(code_name(code));
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(completion) = this.completion.as_mut() {
                    completion.code.get_or_insert("UNKNOWN");
                }
                this.completion.take();
            }
            Poll::Ready(None) => {
                // The response ended: record the call with the code its
                // headers or trailers gave.
                this.completion.take();
            }
            Poll::Pending => {}
        }
        result
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The name of a numeric gRPC status code.
pub fn code_name(code: &str) -> &'static str {
    match code.trim() {
        "0" => "OK",
        "1" => "CANCELLED",
        "2" => "UNKNOWN",
        "3" => "INVALID_ARGUMENT",
        "4" => "DEADLINE_EXCEEDED",
        "5" => "NOT_FOUND",
        "6" => "ALREADY_EXISTS",
        "7" => "PERMISSION_DENIED",
        "8" => "RESOURCE_EXHAUSTED",
        "9" => "FAILED_PRECONDITION",
        "10" => "ABORTED",
        "11" => "OUT_OF_RANGE",
        "12" => "UNIMPLEMENTED",
        "13" => "INTERNAL",
        "14" => "UNAVAILABLE",
        "15" => "DATA_LOSS",
        "16" => "UNAUTHENTICATED",
        _ => "UNKNOWN",
    }
}

/// Records the authenticated caller on the current call's span (called by
/// the access layer once the token is verified).
pub fn record_user(user_id: &str) {
    tracing::Span::current().record("user_id", user_id);
}
