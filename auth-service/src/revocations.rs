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
use postgres_kit::notify::{Listener, Notice};
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
    listener: Listener,
}

impl Hub {
    /// Starts listening on `database_url` (see [`postgres_kit::notify`]).
    pub fn listen(database_url: postgres_kit::DatabaseUrl) -> Self {
        Self {
            listener: Listener::spawn(database_url, CHANNEL),
        }
    }

    /// Hears every revocation from now on.
    pub fn subscribe(&self) -> Subscription {
        Subscription(self.listener.subscribe())
    }

    /// Open subscriptions: revocation streams, and the replica's own verifier.
    pub fn subscribers(&self) -> usize {
        self.listener.subscribers()
    }

    /// Revocations the slowest subscriber has not taken yet.
    pub fn backlog(&self) -> usize {
        self.listener.backlog()
    }
}

/// The revocations still relevant at `now`: sessions revoked within the last
/// access-token lifetime, whose tokens may not have expired yet.
pub async fn still_relevant(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    access_ttl: Duration,
) -> diesel::QueryResult<Vec<Revocation>> {
    let since = now - chrono::Duration::from_std(access_ttl).unwrap_or(chrono::Duration::hours(24));
    let revoked = crate::db::sessions::Session::revoked_since(conn, since).await?;
    Ok(revoked
        .iter()
        .map(|r| Revocation::of(r, access_ttl))
        .collect())
}

/// A subscriber's view of the hub.
#[derive(Debug)]
pub struct Subscription(broadcast::Receiver<Notice>);

impl Subscription {
    /// The next event; `None` when the hub is gone.
    pub async fn next(&mut self) -> Option<HubEvent> {
        loop {
            return match self.0.recv().await {
                Ok(Notice::Payload(payload)) => match parse(&payload) {
                    Some(revocation) => Some(HubEvent::Revoked(revocation)),
                    None => continue,
                },
                Ok(Notice::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    Some(HubEvent::Resync)
                }
                Err(broadcast::error::RecvError::Closed) => None,
            };
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
