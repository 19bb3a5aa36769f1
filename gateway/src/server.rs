//! The HTTP server loop: HTTP/1.1 and HTTP/2 (prior knowledge) with hyper,
//! configured where `axum::serve` cannot be: a deadline for a request's
//! headers (a slow-headers client cannot hold a connection), HTTP/2
//! keep-alive pings, a cap on HTTP/2 header lists, and a graceful stop
//! that lets requests in flight finish within a drain time.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// Server limits.
#[derive(Debug, Clone, Copy)]
pub struct ServerSettings {
    /// How long a client may take to send a request's headers.
    pub header_read_timeout: Duration,
    /// The largest HTTP/2 header list.
    pub max_header_bytes: usize,
    /// How long requests in flight may take to finish after a stop.
    pub drain: Duration,
}

/// Serves `router` on `listener` until `shutdown` completes, then stops
/// accepting and waits up to `settings.drain` for open requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: ServerSettings,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .max_header_list_size(u32::try_from(settings.max_header_bytes).unwrap_or(u32::MAX));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: pause rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = router
            .clone()
            .map_request(move |mut request: hyper::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request.map(Body::new)
            });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!(drain = ?settings.drain, "stopped accepting; finishing open requests");
    if tokio::time::timeout(settings.drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("drain time over; closing the remaining connections");
    }
}
