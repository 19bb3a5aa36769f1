//! The admin HTTP endpoint of each service (`/metrics` in the Prometheus
//! text format, on its own port so that it is never exposed with the API),
//! and gauges read at scrape time.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::response::IntoResponse;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;
pub use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

/// Reads the current values of a gauge family: `(label values, value)`.
type Read = Box<dyn Fn() -> Vec<(Vec<(String, String)>, i64)> + Send + Sync>;

/// A gauge family whose values are read when scraped (pool sizes, queue
/// lengths: things that already have a number somewhere).
pub struct GaugeFn {
    name: &'static str,
    help: &'static str,
    read: Read,
}

impl std::fmt::Debug for GaugeFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GaugeFn").field("name", &self.name).finish()
    }
}

impl GaugeFn {
    /// A gauge family `name`; `read` gives each label set's value.
    pub fn new(
        name: &'static str,
        help: &'static str,
        read: impl Fn() -> Vec<(Vec<(String, String)>, i64)> + Send + Sync + 'static,
    ) -> Self {
        Self {
            name,
            help,
            read: Box::new(read),
        }
    }

    /// A gauge without labels.
    pub fn single(
        name: &'static str,
        help: &'static str,
        read: impl Fn() -> i64 + Send + Sync + 'static,
    ) -> Self {
        Self::new(name, help, move || vec![(Vec::new(), read())])
    }
}

impl Collector for GaugeFn {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let values = (self.read)();
        let mut metric =
            encoder.encode_descriptor(self.name, self.help, None, MetricType::Gauge)?;
        if let [(labels, value)] = values.as_slice()
            && labels.is_empty()
        {
            return ConstGauge::new(*value).encode(metric);
        }
        for (labels, value) in values {
            ConstGauge::new(value).encode(metric.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// A database pool's state at one moment.
#[derive(Debug, Clone, Copy)]
pub struct PoolStatus {
    /// The most connections it opens.
    pub max_size: usize,
    /// Connections open.
    pub size: usize,
    /// Open and idle.
    pub idle: usize,
    /// Requests waiting for a connection.
    pub waiting: usize,
}

impl From<deadpool::Status> for PoolStatus {
    fn from(status: deadpool::Status) -> Self {
        Self {
            max_size: status.max_size,
            size: status.size,
            idle: status.available,
            waiting: status.waiting,
        }
    }
}

/// Registers the gauges of a database pool: `db_pool_connections` by state
/// (`in_use`, `idle`), `db_pool_max_connections` and
/// `db_pool_waiting_requests`, read from `status` at each scrape.
pub fn register_pool(
    registry: &mut Registry,
    status: impl Fn() -> PoolStatus + Send + Sync + Clone + 'static,
) {
    let read = status.clone();
    registry.register_collector(Box::new(GaugeFn::new(
        "db_pool_connections",
        "Open database connections by state",
        move || {
            let s = read();
            let idle = s.idle.min(s.size);
            vec![
                (
                    vec![("state".into(), "in_use".into())],
                    to_i64(s.size - idle),
                ),
                (vec![("state".into(), "idle".into())], to_i64(idle)),
            ]
        },
    )));
    let read = status.clone();
    registry.register_collector(Box::new(GaugeFn::single(
        "db_pool_max_connections",
        "The most database connections the pool opens",
        move || to_i64(read().max_size),
    )));
    registry.register_collector(Box::new(GaugeFn::single(
        "db_pool_waiting_requests",
        "Requests waiting for a free database connection",
        move || to_i64(status().waiting),
    )));
}

/// A count as a gauge value.
pub fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Work done before each scrape (counting rows for a gauge, say).
pub type BeforeScrape =
    Arc<dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send + Sync>;

/// Serves `/metrics` (and `/healthz`) from `registry` on `listener` until
/// the task is dropped or aborted; `before_scrape` runs first (at most 2 s).
pub async fn serve_admin(
    listener: TcpListener,
    registry: Arc<Registry>,
    before_scrape: Option<BeforeScrape>,
) {
    use axum::routing::get;
    let app = axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let registry = registry.clone();
                let before_scrape = before_scrape.clone();
                async move {
                    if let Some(work) = before_scrape {
                        let _ =
                            tokio::time::timeout(std::time::Duration::from_secs(2), work()).await;
                    }
                    let mut text = String::new();
                    match prometheus_client::encoding::text::encode(&mut text, &registry) {
                        Ok(()) => (
                            [(
                                http::header::CONTENT_TYPE,
                                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                            )],
                            text,
                        )
                            .into_response(),
                        Err(_) => http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                    }
                }
            }),
        )
        .route("/healthz", get(|| async { "ok" }));
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "the admin endpoint stopped");
    }
}

/// Binds the admin endpoint's address.
pub async fn bind_admin(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
