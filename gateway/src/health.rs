//! `/healthz` (the process answers) and `/readyz` (the services answer and
//! the verifier has its first revocation snapshot).

use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::error::ApiError;
use crate::state::AppState;

/// What is not ready: the services whose health check fails, and
/// `revocations` before the verifier's first snapshot.
async fn check_readiness(state: &AppState) -> Vec<&'static str> {
    let mut down = Vec::new();
    for name in ["auth", "workspace"] {
        let serving = match state.upstreams.channel(name) {
            Some(channel) => {
                let mut client = HealthClient::new(channel);
                let check = client.check(HealthCheckRequest {
                    service: String::new(),
                });
                matches!(
                    tokio::time::timeout(Duration::from_secs(2), check).await,
                    Ok(Ok(response)) if response.get_ref().status == ServingStatus::Serving as i32
                )
            }
            None => false,
        };
        if !serving {
            down.push(name);
        }
    }
    // Before its first revocation snapshot the edge would let a revoked
    // session's token through.
    if !state.verifier.is_ready() {
        down.push("revocations");
    }
    down
}

pub async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({"status": "ok"}))
}

/// Ready when both services answer their gRPC health check and the token
/// verifier has its first revocation snapshot. Outside every cap, so the
/// answer is kept for a second and made by one request at a time: a flood
/// of probes costs the services two health calls a second, not two each.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let mut cached = state.readiness.lock().await;
    let down = match cached.as_ref() {
        Some((at, down)) if at.elapsed() < Duration::from_secs(1) => down.clone(),
        _ => {
            let down = check_readiness(&state).await;
            *cached = Some((std::time::Instant::now(), down.clone()));
            down
        }
    };
    drop(cached);
    if down.is_empty() {
        axum::Json(serde_json::json!({"status": "ready"})).into_response()
    } else {
        let mut error = ApiError::new(
            Code::Unavailable,
            format!("not ready: {} unavailable", down.join(", ")),
        );
        error.http = StatusCode::SERVICE_UNAVAILABLE;
        error.into_response()
    }
}
