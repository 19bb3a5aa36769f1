//! Revoked sessions, as a verifier knows them. The auth-service streams every
//! revocation (`WatchRevocations`); a [`RevocationList`] keeps each revoked
//! session until its access tokens would have expired anyway, so a logout,
//! a password change or a deactivation reaches every verifier within a second
//! without a call to the auth-service per request.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use proto::auth::v1::{WatchRevocationsRequest, auth_service_client::AuthServiceClient};
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use uuid::Uuid;

/// Prune expired entries after this many insertions.
const PRUNE_EVERY: usize = 1024;

/// Revoked sessions and until when their tokens could live. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RevocationList {
    inner: Arc<RwLock<Inner>>,
    /// Whether a first snapshot has come in.
    synced: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Default for RevocationList {
    fn default() -> Self {
        Self {
            inner: Arc::default(),
            synced: Arc::new(tokio::sync::watch::Sender::new(false)),
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// Session id → the time (Unix seconds) after which none of its access
    /// tokens can be valid anyway.
    sessions: HashMap<Uuid, i64>,
    inserted: usize,
}

/// How long a stream may stay silent (the auth-service sends a heartbeat
/// every 10 s) before it is taken for dead and opened again.
pub const SILENCE: Duration = Duration::from_secs(30);

impl RevocationList {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `session_id` is revoked; its tokens expire by `until`
    /// (Unix seconds).
    pub fn revoke(&self, session_id: Uuid, until: i64) {
        let mut inner = self.inner.write().expect("revocation list lock");
        let entry = inner.sessions.entry(session_id).or_insert(until);
        *entry = (*entry).max(until);
        inner.inserted += 1;
        if inner.inserted.is_multiple_of(PRUNE_EVERY) {
            let now = chrono::Utc::now().timestamp();
            inner.sessions.retain(|_, until| *until >= now);
        }
    }

    /// Whether `session_id` is revoked.
    pub fn is_revoked(&self, session_id: Uuid) -> bool {
        self.inner
            .read()
            .expect("revocation list lock")
            .sessions
            .contains_key(&session_id)
    }

    /// How many sessions are listed.
    pub fn len(&self) -> usize {
        self.inner
            .read()
            .expect("revocation list lock")
            .sessions
            .len()
    }

    /// Whether no session is listed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the list has had a first snapshot of the revocations: before
    /// it, a revoked session's tokens would pass, so the verifier is not
    /// ready.
    pub fn is_synced(&self) -> bool {
        *self.synced.borrow()
    }

    /// Records that a snapshot came in.
    pub fn mark_synced(&self) {
        self.synced.send_replace(true);
    }

    /// Completes once [`is_synced`](Self::is_synced).
    pub async fn synced(&self) {
        let mut synced = self.synced.subscribe();
        let _ = synced.wait_for(|s| *s).await;
    }
}

/// Keeps `list` up to date from the auth-service at `channel`, for as long as
/// the returned task runs: reconnects with backoff (100 ms doubling to 5 s)
/// whenever the stream ends or stays silent for [`SILENCE`] (heartbeats come
/// every 10 s: silence is a dead connection or a stuck replica), and starts
/// each connection with the revocations still relevant, so nothing revoked
/// while disconnected is missed.
pub fn spawn_revocation_watcher(channel: Channel, list: RevocationList) -> JoinHandle<()> {
    spawn_revocation_watcher_with(channel, list, SILENCE)
}

/// [`spawn_revocation_watcher`], taking a stream for dead after `silence`.
pub fn spawn_revocation_watcher_with(
    channel: Channel,
    list: RevocationList,
    silence: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut client = AuthServiceClient::new(channel);
        let mut backoff = Duration::from_millis(100);
        loop {
            match client.watch_revocations(WatchRevocationsRequest {}).await {
                Ok(response) => {
                    let mut stream = response.into_inner();
                    loop {
                        let Ok(next) = tokio::time::timeout(silence, stream.message()).await else {
                            tracing::warn!(
                                ?silence,
                                "the revocation stream went silent; reconnecting"
                            );
                            break;
                        };
                        match next {
                            Ok(Some(revoked)) => {
                                backoff = Duration::from_millis(100);
                                if revoked.snapshot_complete {
                                    list.mark_synced();
                                }
                                let (Ok(session_id), Some(until)) =
                                    (Uuid::parse_str(&revoked.session_id), revoked.expires_at)
                                else {
                                    continue;
                                };
                                list.revoke(session_id, until.seconds);
                            }
                            Ok(None) => break,
                            Err(status) => {
                                tracing::debug!(status = %status.message(), "revocation stream ended");
                                break;
                            }
                        }
                    }
                }
                Err(status) => {
                    tracing::warn!(status = %status.message(), "cannot watch revocations; retrying");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revoked_session_is_listed() {
        let list = RevocationList::new();
        let sid = Uuid::new_v4();
        assert!(!list.is_revoked(sid));
        list.revoke(sid, chrono::Utc::now().timestamp() + 900);
        assert!(list.is_revoked(sid));
        assert!(!list.is_revoked(Uuid::new_v4()));
    }

    #[test]
    fn expired_entries_are_pruned() {
        let list = RevocationList::new();
        let past = chrono::Utc::now().timestamp() - 10;
        for _ in 0..PRUNE_EVERY {
            list.revoke(Uuid::new_v4(), past);
        }
        assert!(list.is_empty());
    }
}
