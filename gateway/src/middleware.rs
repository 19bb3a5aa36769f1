//! The middleware of every request: its id and trace context, and CORS.
//! (The protections of the edge, caps and rate limits, are in
//! [`crate::edge`].)

use std::time::Duration;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderValue, header};
use tracing::Instrument;

/// The header carrying the request id.
pub const REQUEST_ID: &str = "x-request-id";

/// CORS for the configured origins: the API's methods, the headers a
/// client sends, and the ones it may read.
pub fn cors(origins: &[HeaderValue]) -> tower_http::cors::CorsLayer {
    use http::Method;
    tower_http::cors::CorsLayer::new()
        .allow_origin(origins.to_vec())
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::HeaderName::from_static(REQUEST_ID),
        ])
        .expose_headers([
            header::HeaderName::from_static(REQUEST_ID),
            header::CONTENT_DISPOSITION,
            header::ETAG,
            header::RETRY_AFTER,
            header::WWW_AUTHENTICATE,
        ])
        .max_age(Duration::from_secs(600))
}

/// Keeps the client's `x-request-id` when it is sane, else makes one; the id
/// goes to the services and back to the client.
/// Gives every request its id (`x-request-id`, kept if the client sent a
/// sane one) and its place in a trace (W3C `traceparent`: continued or
/// started, passed on to the service with the gateway's own span id), runs it
/// in a span carrying both, and logs it once when it completes.
pub async fn request_id(mut request: Request, next: Next) -> Response {
    let sane = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned);
    let id = sane.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let value = HeaderValue::from_str(&id).expect("checked or generated as visible ASCII");
    request.headers_mut().insert(REQUEST_ID, value.clone());
    let mut trace = service_runtime::trace::TraceContext::continue_or_start(
        request
            .headers()
            .get(service_runtime::trace::TRACEPARENT)
            .and_then(|v| v.to_str().ok()),
    );
    // The path without its query string, which may hold anything.
    let span = tracing::info_span!(
        "http",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %id,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
    );
    service_runtime::telemetry::join(&span, &mut trace);
    request.headers_mut().insert(
        service_runtime::trace::TRACEPARENT,
        HeaderValue::from_str(&trace.traceparent()).expect("hex and dashes"),
    );
    // Probes and scrapes every few seconds would drown the log.
    let routine = matches!(request.uri().path(), "/healthz" | "/readyz" | "/metrics");
    let started = std::time::Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let route = response
        .extensions()
        .get::<crate::metrics::RouteLabel>()
        .map_or("", |r| r.0.as_str());
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    if routine {
        tracing::debug!(parent: &span, status, route, latency_ms, "request finished");
    } else if status >= 500 {
        tracing::warn!(parent: &span, status, route, latency_ms, "request finished");
    } else {
        tracing::info!(parent: &span, status, route, latency_ms, "request finished");
    }
    response.headers_mut().insert(REQUEST_ID, value);
    response
}
