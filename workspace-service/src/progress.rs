//! Progress reports, coalesced: a heartbeat only records its task's latest
//! progress in memory, and a flusher writes everything recorded since its
//! last run in one statement every `TASK_PROGRESS_FLUSH_MS`, announcing each
//! changed task to its watchers. A worker reporting ten times a second costs
//! one write per flush interval, not ten; a report the process dies before
//! writing is lost, which a progress report may be (the next one replaces
//! it). A worker's completion, failure or the owner's cancellation takes
//! the task's unwritten report with it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Jsonb, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use postgres_kit::PgPool;
use service_runtime::clock::Clock;
use tokio::sync::watch;
use uuid::Uuid;

/// A report waiting to be written, with the lease it was made under: it is
/// written only while that lease still holds the task.
#[derive(Debug, Clone)]
struct Recorded {
    worker_id: String,
    subject: Uuid,
    progress: serde_json::Value,
}

/// The reports not yet written, by task.
#[derive(Debug, Clone, Default)]
pub struct ProgressBuffer {
    recorded: Arc<Mutex<HashMap<Uuid, Recorded>>>,
}

impl ProgressBuffer {
    /// Records `progress` of `task_id` by the lease holder; replaces any
    /// report not yet written.
    pub fn record(
        &self,
        task_id: Uuid,
        worker_id: &str,
        subject: Uuid,
        progress: serde_json::Value,
    ) {
        if let Ok(mut recorded) = self.recorded.lock() {
            recorded.insert(
                task_id,
                Recorded {
                    worker_id: worker_id.to_owned(),
                    subject,
                    progress,
                },
            );
        }
    }

    /// Takes the unwritten report of `task_id`, if any (the caller writes
    /// it with the task's final state, or drops it).
    pub fn take(&self, task_id: Uuid) -> Option<serde_json::Value> {
        self.recorded
            .lock()
            .ok()
            .and_then(|mut recorded| recorded.remove(&task_id))
            .map(|r| r.progress)
    }

    fn take_all(&self) -> HashMap<Uuid, Recorded> {
        self.recorded
            .lock()
            .map(|mut recorded| std::mem::take(&mut *recorded))
            .unwrap_or_default()
    }

    /// Writes every recorded report whose lease still holds its task, and
    /// announces those tasks; returns how many were written.
    pub async fn flush(&self, pool: &PgPool, now: DateTime<Utc>) -> anyhow::Result<i64> {
        let recorded = self.take_all();
        if recorded.is_empty() {
            return Ok(0);
        }
        let mut ids = Vec::with_capacity(recorded.len());
        let mut workers = Vec::with_capacity(recorded.len());
        let mut subjects = Vec::with_capacity(recorded.len());
        let mut reports = Vec::with_capacity(recorded.len());
        for (id, r) in recorded {
            ids.push(id);
            workers.push(r.worker_id);
            subjects.push(r.subject);
            reports.push(r.progress);
        }
        #[derive(diesel::QueryableByName)]
        struct Written {
            #[diesel(sql_type = BigInt)]
            count: i64,
        }
        let mut conn = pool.get().await?;
        let written: Written = diesel::sql_query(
            "WITH v AS (SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::jsonb[]) \
                        AS v(id, worker_id, worker_subject, progress)), \
                  u AS (UPDATE tasks t SET progress = v.progress, updated_at = $5 FROM v \
                        WHERE t.id = v.id AND t.status = 'processing' \
                          AND t.worker_id = v.worker_id AND t.worker_subject = v.worker_subject \
                        RETURNING t.id) \
             SELECT count(pg_notify($6, u.id::text))::bigint AS count FROM u",
        )
        .bind::<Array<SqlUuid>, _>(ids)
        .bind::<Array<Text>, _>(workers)
        .bind::<Array<SqlUuid>, _>(subjects)
        .bind::<Array<Jsonb>, _>(reports)
        .bind::<Timestamptz, _>(now)
        .bind::<Text, _>(crate::db::tasks::CHANGED_CHANNEL)
        .get_result(&mut conn)
        .await?;
        Ok(written.count)
    }
}

/// Flushes `buffer` every `interval`, and once more when the service
/// drains.
pub fn spawn_flusher(
    buffer: ProgressBuffer,
    pool: PgPool,
    clock: Clock,
    draining: watch::Receiver<bool>,
    interval: Duration,
) {
    let on_drain = service_runtime::shutdown::OnDrain::RunOnceMore;
    service_runtime::shutdown::spawn_every(
        draining,
        (buffer, pool, clock),
        interval,
        on_drain,
        |(buffer, pool, clock)| async move {
            if let Err(e) = buffer.flush(&pool, clock.now()).await {
                tracing::warn!(error = ?e, "writing task progress failed");
            }
        },
    );
}
