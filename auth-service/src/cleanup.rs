//! Periodic cleanup: sessions (and with them their refresh tokens) that ended
//! more than 7 days ago, refresh tokens expired as long, stale brute-force
//! counters, and audit events older than the retention. Several replicas may
//! run it; a transaction-level advisory lock lets one of them work at a time.

use std::time::Duration;

use diesel::sql_types::{BigInt, Bool};
use diesel_async::{AsyncConnection, RunQueryDsl};

use crate::app::AppState;
use crate::db::audit::AuditEvent;
use crate::db::refresh_tokens::RefreshToken;
use crate::db::sessions::Session;
use crate::db::throttle;

/// The advisory lock key of the cleanup ("cleanup!" in ASCII).
const LOCK_KEY: i64 = 0x636c_6561_6e75_7021;

/// How long ended sessions and tokens are kept (seed 000).
const KEEP_ENDED: chrono::Duration = chrono::Duration::days(7);

/// What one run deleted; `None` when another replica held the lock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    pub sessions: usize,
    pub refresh_tokens: usize,
    pub audit_events: usize,
    pub throttle_entries: usize,
}

#[derive(diesel::QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

/// Runs the cleanup once.
pub async fn run_once(state: &AppState) -> anyhow::Result<Option<Report>> {
    let now = state.clock.now();
    let retention = chrono::Duration::from_std(state.config.audit_retention)?;
    let mut conn = state.pool.get().await?;
    let report = conn
        .transaction(
            async |conn| -> Result<Option<Report>, diesel::result::Error> {
                let locked: Locked =
                    diesel::sql_query("SELECT pg_try_advisory_xact_lock($1) AS locked")
                        .bind::<BigInt, _>(LOCK_KEY)
                        .get_result(conn)
                        .await?;
                if !locked.locked {
                    return Ok(None);
                }
                Ok(Some(Report {
                    sessions: Session::delete_ended(conn, now - KEEP_ENDED).await?,
                    refresh_tokens: RefreshToken::delete_expired(conn, now - KEEP_ENDED).await?,
                    audit_events: AuditEvent::delete_older_than(conn, now - retention).await?,
                    throttle_entries: throttle::delete_stale(conn, now - chrono::Duration::days(1))
                        .await?,
                }))
            },
        )
        .await?;
    Ok(report)
}

/// Runs the cleanup every `interval` until the service drains.
pub fn spawn(state: AppState, interval: Duration) {
    let drained = crate::app::drained(state.draining.clone());

    tokio::spawn(async move {
        tokio::pin!(drained);
        let mut ticker = tokio::time::interval(interval);
        loop {
            tokio::select! {
                _ = ticker.tick() => match run_once(&state).await {
                    Ok(Some(report)) => tracing::info!(?report, "cleanup done"),
                    Ok(None) => tracing::debug!("cleanup running on another replica"),
                    Err(e) => tracing::warn!(error = ?e, "cleanup failed"),
                },
                () = &mut drained => return,
            }
        }
    });
}
