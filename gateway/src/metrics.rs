//! Prometheus metrics of the gateway at `GET /metrics` (OpenMetrics text,
//! `prometheus-client`): requests by method, route template and status,
//! their latency (until the response head is sent; a stream's body is not
//! counted), and the requests in flight.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The route template a response answered, set by the transcoding handler
/// (routes of the gateway's own are known by their path).
#[derive(Debug, Clone)]
pub struct RouteLabel(pub String);

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

type Histograms = Family<RequestLabels, Histogram, fn() -> Histogram>;

/// The gateway's metrics and their registry.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    requests: Family<RequestLabels, Counter>,
    duration: Histograms,
    in_flight: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        // 1 ms to about 16 s.
        let duration: Histograms =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.001, 2.0, 15)));
        let in_flight = Gauge::default();
        registry.register(
            "http_server_requests",
            "HTTP requests answered, by method, route template and status",
            requests.clone(),
        );
        registry.register(
            "http_server_request_duration_seconds",
            "Time to the response head, by method, route template and status",
            duration.clone(),
        );
        registry.register(
            "http_server_requests_in_flight",
            "HTTP requests being handled",
            in_flight.clone(),
        );
        Self {
            registry: Arc::new(registry),
            requests,
            duration,
            in_flight,
        }
    }
}

impl Metrics {
    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String does not fail");
        text
    }
}

/// Counts and times every request.
pub async fn track(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    // Known methods only: any token is a valid method, and each would be a
    // new series.
    let method = match *request.method() {
        http::Method::GET
        | http::Method::POST
        | http::Method::PUT
        | http::Method::PATCH
        | http::Method::DELETE
        | http::Method::HEAD
        | http::Method::OPTIONS => request.method().as_str().to_owned(),
        _ => "OTHER".to_owned(),
    };
    let matched = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    // Decremented on drop too: a request whose client went away ends here.
    struct InFlight(Gauge);
    impl Drop for InFlight {
        fn drop(&mut self) {
            self.0.dec();
        }
    }
    metrics.in_flight.inc();
    let in_flight = InFlight(metrics.in_flight.clone());
    let started = Instant::now();
    let response = next.run(request).await;
    drop(in_flight);
    let route = response
        .extensions()
        .get::<RouteLabel>()
        .map(|r| r.0.clone())
        .or(matched)
        .unwrap_or_else(|| "unmatched".to_owned());
    let labels = RequestLabels {
        method,
        route,
        status: response.status().as_u16(),
    };
    metrics.requests.get_or_create(&labels).inc();
    metrics
        .duration
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    response
}

/// `GET /metrics`.
pub async fn serve(State(metrics): State<Metrics>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.encode(),
    )
}
