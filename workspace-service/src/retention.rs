//! The cleanup job: finished tasks older than `TASK_RETENTION_DAYS` are
//! deleted with their outputs, and request ids older than a day are
//! forgotten. Tasks that process a conversation turn are kept with their
//! conversation. One replica at a time does the work: each batch runs under
//! a transaction-level advisory lock, which the others try and skip.

use std::time::Duration;

use diesel::sql_types::{BigInt, Bool};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::db::request_ids::RequestKey;
use crate::db::tasks;
use crate::db::tasks::Task;
use crate::state::AppState;
use service_runtime::shutdown::OnDrain;

/// The advisory lock key of the cleanup job (any constant, unique in this
/// database).
pub const LOCK_KEY: i64 = 0x0074_6173_6b63_6c6e; // "taskcln"

/// Tasks deleted per transaction.
const BATCH: i64 = 500;

/// How long a request id is remembered.
pub const REQUEST_ID_TTL: chrono::Duration = chrono::Duration::hours(24);

/// What one cleanup removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleanupReport {
    /// Tasks deleted.
    pub tasks: usize,
    /// Request ids forgotten.
    pub request_ids: usize,
    /// Whether another replica held the lock (and did the work).
    pub skipped: bool,
}

/// Takes the cleanup lock for the caller's transaction, if no one holds it.
async fn try_lock(conn: &mut AsyncPgConnection) -> diesel::QueryResult<bool> {
    #[derive(diesel::QueryableByName)]
    struct Locked {
        #[diesel(sql_type = Bool)]
        locked: bool,
    }
    let locked: Locked = diesel::sql_query("SELECT pg_try_advisory_xact_lock($1) AS locked")
        .bind::<BigInt, _>(LOCK_KEY)
        .get_result(conn)
        .await?;
    Ok(locked.locked)
}

/// Runs the cleanup once.
pub async fn clean(state: &AppState) -> anyhow::Result<CleanupReport> {
    let now = state.clock.now();
    let mut report = CleanupReport::default();
    let mut conn = state.pool.get().await?;
    let days = state.config.task_retention_days;
    loop {
        let cutoff = now - chrono::Duration::days(i64::from(days));
        let batch = conn
            .transaction(
                async |conn| -> diesel::QueryResult<Option<(usize, Vec<String>)>> {
                    if !try_lock(conn).await? {
                        return Ok(None);
                    }
                    let mut freed = Vec::new();
                    let old = if days == 0 {
                        Vec::new()
                    } else {
                        Task::finished_before(conn, cutoff, BATCH).await?
                    };
                    for task in &old {
                        freed.extend(tasks::Task::delete_with_outputs(conn, task).await?);
                    }
                    Ok(Some((old.len(), freed)))
                },
            )
            .await?;
        let Some((deleted, freed)) = batch else {
            report.skipped = true;
            return Ok(report);
        };
        crate::blobs::free_all(state, &freed).await;
        report.tasks += deleted;
        if deleted < BATCH as usize {
            break;
        }
    }
    report.request_ids = RequestKey::forget_before(&mut conn, now - REQUEST_ID_TTL).await?;
    Ok(report)
}

/// Cleans every `interval` until the service drains.
pub fn spawn_cleanup(state: AppState, interval: Duration) {
    service_runtime::shutdown::spawn_every(
        state.draining.clone(),
        state,
        interval,
        OnDrain::Stop,
        |state| async move {
            match clean(&state).await {
                Ok(report) if report.tasks > 0 => tracing::info!(?report, "old tasks deleted"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = ?e, "the task cleanup failed"),
            }
        },
    );
}
