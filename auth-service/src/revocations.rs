//! Broadcasting session revocations to every verifier.
//!
//! A revocation is written in the same transaction as `pg_notify`, which
//! PostgreSQL delivers only when that transaction commits: no verifier hears
//! of a revocation that did not happen, and every replica of the auth-service
//! hears of every revocation, whichever replica made it. Each replica LISTENs
//! on one connection and fans the notifications out to its `WatchRevocations`
//! streams through a [`Hub`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::sql_types::Text;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures::StreamExt;
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::db::sessions::Revoked;

/// The notification channel.
const CHANNEL: &str = "session_revoked";

/// A revoked session and until when its access tokens could live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revocation {
    pub session_id: Uuid,
    pub tokens_expire_at: DateTime<Utc>,
}

impl Revocation {
    /// The revocation of `revoked`, whose tokens live at most `access_ttl`.
    pub fn of(revoked: &Revoked, access_ttl: Duration) -> Self {
        Self {
            session_id: revoked.session_id,
            tokens_expire_at: revoked.revoked_at
                + chrono::Duration::from_std(access_ttl).unwrap_or(chrono::Duration::hours(24)),
        }
    }
}

/// What a hub subscriber hears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HubEvent {
    /// A session was revoked.
    Revoked(Revocation),
    /// Notifications may have been missed (the listener reconnected):
    /// subscribers must start again from a snapshot.
    Resync,
}

/// Announces revocations; call inside the transaction that revoked.
pub async fn notify(
    conn: &mut AsyncPgConnection,
    revocations: &[Revocation],
) -> diesel::QueryResult<()> {
    for revocation in revocations {
        let payload = format!(
            "{} {}",
            revocation.session_id,
            revocation.tokens_expire_at.timestamp()
        );
        diesel::sql_query("SELECT pg_notify($1, $2)")
            .bind::<Text, _>(CHANNEL)
            .bind::<Text, _>(payload)
            .execute(conn)
            .await?;
    }
    Ok(())
}

fn parse(payload: &str) -> Option<Revocation> {
    let (id, expires) = payload.split_once(' ')?;
    Some(Revocation {
        session_id: Uuid::parse_str(id).ok()?,
        tokens_expire_at: DateTime::from_timestamp(expires.parse().ok()?, 0)?,
    })
}

/// Fans revocations out to this replica's subscribers. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Hub {
    tx: broadcast::Sender<HubEvent>,
}

impl Hub {
    /// Starts listening on `database_url`; the listener reconnects with
    /// backoff and sends [`HubEvent::Resync`] after each reconnection.
    pub fn listen(database_url: String) -> Self {
        let (tx, _) = broadcast::channel(4096);
        let hub = Self { tx };
        let sender = hub.tx.clone();
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                match listen_once(&database_url, &sender).await {
                    Ok(()) => backoff = Duration::from_millis(100),
                    Err(e) => tracing::warn!(error = %e, "revocation listener lost its connection"),
                }
                let _ = sender.send(HubEvent::Resync);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        });
        hub
    }

    /// Hears every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<HubEvent> {
        self.tx.subscribe()
    }
}

async fn listen_once(
    url: &str,
    sender: &broadcast::Sender<HubEvent>,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    // Polling messages also drives the connection, so LISTEN completes while
    // this loop runs.
    let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
    let statement = format!("LISTEN {CHANNEL}");
    let listen = client.batch_execute(&statement);
    tokio::pin!(listen);
    let mut listening = false;
    loop {
        tokio::select! {
            result = &mut listen, if !listening => {
                result?;
                listening = true;
                // Revocations made before LISTEN took effect are in the
                // snapshot that subscribers take when told to resync.
                let _ = sender.send(HubEvent::Resync);
            }
            message = messages.next() => match message {
                Some(Ok(tokio_postgres::AsyncMessage::Notification(n))) => {
                    if let Some(revocation) = parse(n.payload()) {
                        let _ = sender.send(HubEvent::Revoked(revocation));
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        let revocation = Revocation {
            session_id: Uuid::new_v4(),
            tokens_expire_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        };
        let payload = format!("{} {}", revocation.session_id, 1_800_000_000);
        assert_eq!(parse(&payload), Some(revocation));
        assert_eq!(parse("garbage"), None);
    }
}
