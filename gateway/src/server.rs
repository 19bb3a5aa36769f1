//! The HTTP server loop: HTTP/1.1 and HTTP/2 (prior knowledge) with hyper,
//! configured where `axum::serve` cannot be: a deadline for a request's
//! headers (a slow-headers client cannot hold a connection), HTTP/2
//! keep-alive pings, a cap on HTTP/2 header lists, and a graceful stop
//! that lets requests in flight finish within a drain time.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http::HeaderValue;
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
    /// How long, after a stop, keep-alive connections are still served
    /// (each HTTP/1 response then says `Connection: close`) before the idle
    /// ones are closed. Without it, a client that sends on an idle
    /// connection just as it is closed loses its request.
    pub close_linger: Duration,
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
    let closing = Arc::new(AtomicBool::new(false));
    tokio::pin!(shutdown);
    // After the stop, connections are still accepted and served for the
    // linger, each HTTP/1 response saying `Connection: close`: a request a
    // client sent before the stop is answered, whether its connection was
    // idle, busy or still being opened.
    let linger = tokio::time::sleep(Duration::MAX);
    tokio::pin!(linger);
    let mut stopping = false;
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown, if !stopping => {
                stopping = true;
                closing.store(true, Ordering::Relaxed);
                tracing::info!(linger = ?settings.close_linger, "stopping; asking clients to close their connections");
                linger.as_mut().reset(tokio::time::Instant::now() + settings.close_linger);
                continue;
            }
            () = &mut linger, if stopping => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: pause rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let (router, closing) = (router.clone(), closing.clone());
        let service = tower::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let http1 = request.version() < http::Version::HTTP_2;
            let (router, closing) = (router.clone(), closing.clone());
            async move {
                let mut response = router.oneshot(request.map(Body::new)).await?;
                if http1 && closing.load(Ordering::Relaxed) {
                    response
                        .headers_mut()
                        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
                }
                Ok::<_, Infallible>(response)
            }
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
