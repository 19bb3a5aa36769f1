//! Periodic cleanup: sessions (and with them their refresh tokens) and device
//! tokens that ended more than 7 days ago, refresh tokens and password reset
//! tokens expired as long, mail sent or abandoned as long ago,
//! stale brute-force counters, and audit events older than the retention,
//! deleted a page at a time. Several replicas may
//! run it; a transaction-level advisory lock lets one of them work at a time.

use std::time::Duration;

use diesel::sql_types::{BigInt, Bool};
use diesel_async::{AsyncConnection, RunQueryDsl};

use crate::db::audit::AuditEvent;
use crate::db::devices::Device;
use crate::db::mail_outbox::Mail;
use crate::db::password_resets::PasswordReset;
use crate::db::refresh_tokens::RefreshToken;
use crate::db::sessions::Session;
use crate::db::throttle;
use crate::state::AppState;

/// The advisory lock key of the cleanup ("cleanup!" in ASCII).
const LOCK_KEY: i64 = 0x636c_6561_6e75_7021;

/// How long ended sessions and tokens are kept (seed 000).
const KEEP_ENDED: chrono::Duration = chrono::Duration::days(7);

/// Rows deleted per table in one transaction: a large backlog is deleted
/// page by page, so no transaction holds locks on millions of rows.
pub const BATCH: i64 = 5_000;

/// What one run deleted; `None` when another replica held the lock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    pub sessions: usize,
    pub refresh_tokens: usize,
    pub devices: usize,
    pub spent_nonces: usize,
    pub audit_events: usize,
    pub throttle_entries: usize,
    pub password_resets: usize,
    pub mails: usize,
}

impl Report {
    fn add(&mut self, page: Report) {
        self.sessions += page.sessions;
        self.refresh_tokens += page.refresh_tokens;
        self.devices += page.devices;
        self.spent_nonces += page.spent_nonces;
        self.audit_events += page.audit_events;
        self.throttle_entries += page.throttle_entries;
        self.password_resets += page.password_resets;
        self.mails += page.mails;
    }

    /// Whether some table gave a full page (there may be more).
    fn full(&self, batch: i64) -> bool {
        let batch = batch as usize;
        [
            self.sessions,
            self.refresh_tokens,
            self.devices,
            self.spent_nonces,
            self.audit_events,
            self.throttle_entries,
            self.password_resets,
            self.mails,
        ]
        .iter()
        .any(|&n| n >= batch)
    }
}

#[derive(diesel::QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

/// Runs the cleanup once, [`BATCH`] rows per table and transaction.
pub async fn run_once(state: &AppState) -> anyhow::Result<Option<Report>> {
    run_in_pages(state, BATCH).await
}

/// Runs the cleanup once, deleting at most `batch` rows per table in each
/// transaction until a page comes back short.
pub async fn run_in_pages(state: &AppState, batch: i64) -> anyhow::Result<Option<Report>> {
    let now = state.clock.now();
    let retention = chrono::Duration::from_std(state.config.audit_retention)?;
    let mut total = Report::default();
    loop {
        let Some(page) = delete_page(state, now, retention, batch).await? else {
            return Ok((total != Report::default()).then_some(total));
        };
        total.add(page);
        if !page.full(batch) {
            return Ok(Some(total));
        }
        tokio::task::yield_now().await;
    }
}

/// One page of every table, under the advisory lock; `None` when another
/// replica holds it.
async fn delete_page(
    state: &AppState,
    now: chrono::DateTime<chrono::Utc>,
    retention: chrono::Duration,
    batch: i64,
) -> anyhow::Result<Option<Report>> {
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
                let ended = now - KEEP_ENDED;
                Ok(Some(Report {
                    sessions: Session::delete_ended(conn, ended, batch).await?,
                    refresh_tokens: RefreshToken::delete_expired(conn, ended, batch).await?,
                    devices: Device::delete_ended(conn, ended, batch).await?,
                    spent_nonces: crate::db::identities::delete_expired_nonces(conn, now, batch)
                        .await?,
                    audit_events: AuditEvent::delete_older_than(conn, now - retention, batch)
                        .await?,
                    throttle_entries: throttle::delete_stale(
                        conn,
                        now - chrono::Duration::days(1),
                        batch,
                    )
                    .await?,
                    password_resets: PasswordReset::delete_expired_before(conn, ended, batch)
                        .await?,
                    mails: Mail::delete_finished_before(conn, ended, batch).await?,
                }))
            },
        )
        .await?;
    Ok(report)
}

/// Runs the cleanup every `interval` until the service drains.
pub fn spawn(state: AppState, interval: Duration) {
    let drained = service_runtime::shutdown::drained(state.draining.clone());

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
