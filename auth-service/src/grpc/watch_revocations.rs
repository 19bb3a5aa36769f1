//! `WatchRevocations`: the revocation stream verifiers subscribe to.

use proto::auth::v1 as pb;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::error::Result;
use crate::grpc::convert::timestamp;
use crate::revocations::{self, HubEvent, Revocation};
use crate::state::AppState;

pub type RevocationStream = ReceiverStream<Result<pb::WatchRevocationsResponse, Status>>;

/// How often a quiet stream says it is alive.
pub const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(10);

/// Sends the revocations still relevant, a marker, then each new one, with a
/// heartbeat every [`HEARTBEAT`]. The stream ends
/// (UNAVAILABLE) when notifications may have been missed or the service is
/// draining; the subscriber reconnects and starts from a fresh snapshot.
pub async fn watch_revocations(state: &AppState) -> Result<RevocationStream> {
    // Subscribe before the snapshot, so nothing falls between the two.
    let mut events = state.hub.subscribe();
    let snapshot = {
        let mut conn = state.pool.get().await?;
        revocations::still_relevant(&mut conn, state.clock.now(), state.issuer.access_ttl()).await?
    };
    let (tx, rx) = mpsc::channel(256);
    let drained = service_runtime::shutdown::drained(state.draining.clone());

    tokio::spawn(async move {
        tokio::pin!(drained);
        let message = |r: Revocation| {
            Ok(pb::WatchRevocationsResponse {
                session_id: r.session_id.to_string(),
                expires_at: Some(timestamp(r.tokens_expire_at)),
                ..Default::default()
            })
        };
        for revocation in snapshot {
            if tx.send(message(revocation)).await.is_err() {
                return;
            }
        }
        let marker = pb::WatchRevocationsResponse {
            snapshot_complete: true,
            ..Default::default()
        };
        if tx.send(Ok(marker)).await.is_err() {
            return;
        }
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        heartbeat.tick().await;
        loop {
            tokio::select! {
                _ = heartbeat.tick() => {
                    let beat = pb::WatchRevocationsResponse {
                        heartbeat: true,
                        ..Default::default()
                    };
                    if tx.send(Ok(beat)).await.is_err() {
                        return;
                    }
                }
                () = tx.closed() => return,
                event = events.next() => match event {
                    Some(HubEvent::Revoked(revocation)) => {
                        if tx.send(message(revocation)).await.is_err() {
                            return;
                        }
                    }
                    Some(HubEvent::Resync) => {
                        let _ = tx.send(Err(Status::unavailable("resynchronise: reconnect"))).await;
                        return;
                    }
                    None => return,
                },
                () = &mut drained => {
                    let _ = tx.send(Err(Status::unavailable("the service is shutting down"))).await;
                    return;
                }
            }
        }
    });
    Ok(ReceiverStream::new(rx))
}
