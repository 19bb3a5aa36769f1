//! The revocation watcher against a stand-in auth-service that speaks just
//! enough gRPC: it sends the snapshot marker, then nothing, never closing
//! the stream (a half-open connection, a stuck replica).

// Test code: an unwrap is the assertion, and a scenario reads top to bottom.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::routing::post;
use prost::Message;
use proto::auth::v1::WatchRevocationsResponse;

/// One gRPC message frame: uncompressed, length, bytes.
fn frame(message: &WatchRevocationsResponse) -> Vec<u8> {
    let bytes = message.encode_to_vec();
    let mut framed = vec![0u8];
    framed.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    framed.extend_from_slice(&bytes);
    framed
}

#[tokio::test]
async fn a_stream_that_goes_silent_is_dropped_and_opened_again() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let app = axum::Router::new().route(
        "/auth.v1.AuthService/WatchRevocations",
        post(move || {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                let marker = frame(&WatchRevocationsResponse {
                    snapshot_complete: true,
                    ..Default::default()
                });
                // The marker, then silence: the body never ends.
                let body = tokio_stream::StreamExt::chain(
                    tokio_stream::once(Ok::<_, std::io::Error>(axum::body::Bytes::from(marker))),
                    tokio_stream::pending(),
                );
                axum::response::Response::builder()
                    .header("content-type", "application/grpc")
                    .body(Body::from_stream(body))
                    .unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy();
    let list = access::RevocationList::new();
    let watcher =
        access::spawn_revocation_watcher_with(channel, list.clone(), Duration::from_millis(300));
    tokio::time::timeout(Duration::from_secs(10), list.synced())
        .await
        .expect("the marker makes the list synced");
    // Silent for longer than the limit: the watcher opens the stream again.
    let reopened = service_runtime::testing::eventually(Duration::from_secs(10), || {
        let n = calls.load(Ordering::SeqCst);
        async move { n >= 2 }
    })
    .await;
    assert!(reopened, "{} calls", calls.load(Ordering::SeqCst));
    watcher.abort();
}
