//! The queue: fair claims and leases.
//!
//! A claim takes the ready task (pending, past its `run_after`) of the user
//! served longest ago, oldest first within that user, of a kind the worker
//! takes, from a user under the per-user running limit. It is one statement
//! over `task_queues` (a row per user and kind with pending work, ordered by
//! `last_claim`) and, for each such row in turn, one index probe of
//! `tasks_ready_idx`, locking with `SKIP LOCKED` so that concurrent claimers
//! take different tasks: its cost follows the number of users with pending
//! work, never the number of pending tasks.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::{Changes, Task};
use crate::db::schema::{task_queues, tasks};
use crate::db::tasks::attempts::Attempt;
use crate::domain::kind::{KindFilter, Pattern};
use crate::domain::task_state::Status;

/// The selection of one claim. `$1` now, `$2` any kind, `$3` exact kinds,
/// `$4` LIKE patterns of kinds, `$5` users to pass over (at their running
/// limit when last looked at).
const NEXT_READY: &str = "\
SELECT t.* FROM task_queues q \
CROSS JOIN LATERAL ( \
    SELECT * FROM tasks \
    WHERE tasks.status = 'pending' AND tasks.user_id = q.user_id AND tasks.kind = q.kind \
      AND tasks.run_after <= $1 \
    ORDER BY tasks.run_after, tasks.id \
    LIMIT 1 \
    FOR UPDATE SKIP LOCKED \
) t \
WHERE q.pending > 0 \
  AND ($2 OR q.kind = ANY($3) OR q.kind LIKE ANY($4)) \
  AND q.user_id <> ALL($5) \
ORDER BY q.last_claim, q.user_id, q.kind \
LIMIT 1";

/// The kind filter as the statement's parameters: any, exact kinds, LIKE
/// patterns (a kind's `_` is a LIKE wildcard: escaped).
fn kind_params(filter: &KindFilter) -> (bool, Vec<String>, Vec<String>) {
    let mut exact = Vec::new();
    let mut below = Vec::new();
    match filter {
        KindFilter::Any => return (true, exact, below),
        KindFilter::Only(patterns) => {
            for pattern in patterns {
                match pattern {
                    Pattern::Any => return (true, Vec::new(), Vec::new()),
                    Pattern::Exact(kind) => exact.push(kind.clone()),
                    Pattern::Below(base) => {
                        exact.push(base.clone());
                        below.push(format!("{}.%", base.replace('_', "\\_")));
                    }
                }
            }
        }
    }
    (false, exact, below)
}

/// The claim statement with its parameters, for `EXPLAIN` in tests.
pub fn next_ready_sql() -> &'static str {
    NEXT_READY
}

/// The ready task a claim would take, locked; `None` when there is none.
async fn next_ready(
    conn: &mut AsyncPgConnection,
    filter: &KindFilter,
    passed_over: &[Uuid],
    now: DateTime<Utc>,
) -> QueryResult<Option<Task>> {
    let (any, exact, below) = kind_params(filter);
    diesel::sql_query(NEXT_READY)
        .bind::<Timestamptz, _>(now)
        .bind::<Bool, _>(any)
        .bind::<Array<Text>, _>(exact)
        .bind::<Array<Text>, _>(below)
        .bind::<Array<SqlUuid>, _>(passed_over)
        .get_result(conn)
        .await
        .optional()
}

/// Who claims, for how long.
#[derive(Debug, Clone)]
pub struct Claimant<'a> {
    /// The worker's name.
    pub worker_id: &'a str,
    /// The service account (token subject) behind it.
    pub subject: Uuid,
    /// The kinds it takes.
    pub kinds: &'a KindFilter,
    /// The most tasks of one user running at once (0: no limit).
    pub max_running_per_user: i64,
    /// When the lease ends.
    pub lease_expires_at: DateTime<Utc>,
}

/// How many users at their running limit a claim passes over before it
/// gives up for this call (the worker polls again).
const MAX_PASSES: usize = 8;

/// Locks the `pending` and `processing` counters of `user_id` (creating the
/// latter if missing), in the order every transaction takes them (see
/// `adjust_count`), and returns how many of the user's tasks are running.
/// A concurrent claim for the same user waits here until this one commits
/// and then sees its count, so the running limit holds exactly.
async fn lock_counters(conn: &mut AsyncPgConnection, user_id: Uuid) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct Running {
        #[diesel(sql_type = BigInt)]
        count: i64,
    }
    diesel::sql_query(
        "SELECT count FROM task_counts WHERE user_id = $1 AND status = 'pending' FOR UPDATE",
    )
    .bind::<SqlUuid, _>(user_id)
    .execute(conn)
    .await?;
    let running: Running = diesel::sql_query(
        "INSERT INTO task_counts (user_id, status, count) VALUES ($1, 'processing', 0) \
         ON CONFLICT (user_id, status) DO UPDATE SET count = task_counts.count \
         RETURNING count",
    )
    .bind::<SqlUuid, _>(user_id)
    .get_result(conn)
    .await?;
    Ok(running.count)
}

impl Task {
    /// Takes the next ready task for `claimant` and leases it.
    pub async fn claim(
        conn: &mut AsyncPgConnection,
        claimant: &Claimant<'_>,
        now: DateTime<Utc>,
    ) -> QueryResult<Option<Task>> {
        let mut passed_over = Vec::new();
        let task = loop {
            let Some(task) = next_ready(conn, claimant.kinds, &passed_over, now).await? else {
                return Ok(None);
            };
            let running = lock_counters(conn, task.user_id).await?;
            if claimant.max_running_per_user <= 0 || running < claimant.max_running_per_user {
                break task;
            }
            passed_over.push(task.user_id);
            if passed_over.len() >= MAX_PASSES {
                return Ok(None);
            }
        };
        // This user was served last: every queue of theirs goes to the back.
        // (Counters first, then queue rows in key order: the order every
        // transaction locks them in, so that none deadlocks another.)
        diesel::update(task_queues::table.filter(task_queues::user_id.eq(task.user_id)))
            .set(task_queues::last_claim.eq(diesel::dsl::sql::<BigInt>("nextval('task_claims')")))
            .execute(conn)
            .await?;
        let attempt = task.attempt + 1;
        Attempt::start(conn, task.id, attempt, claimant.worker_id, now).await?;
        let changes = Changes {
            attempt: Some(attempt),
            worker_id: Some(Some(claimant.worker_id.to_owned())),
            worker_subject: Some(Some(claimant.subject)),
            lease_expires_at: Some(Some(claimant.lease_expires_at)),
            started_at: Some(Some(task.started_at.unwrap_or(now))),
            progress: Some(None),
            ..Default::default()
        };
        Task::transition(conn, &task, Status::Processing, changes, None, now)
            .await
            .map(Some)
    }

    /// Extends the lease of `task_id` held by `worker_id` of `subject` to
    /// `until`, if it is still live at `now`; `false` when it is not.
    pub async fn extend_lease(
        conn: &mut AsyncPgConnection,
        task_id: Uuid,
        worker_id: &str,
        subject: Uuid,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> QueryResult<bool> {
        let updated = diesel::update(
            tasks::table
                .find(task_id)
                .filter(tasks::status.eq(Status::Processing.as_str()))
                .filter(tasks::worker_id.eq(worker_id))
                .filter(tasks::worker_subject.eq(subject))
                .filter(tasks::lease_expires_at.gt(now)),
        )
        .set(tasks::lease_expires_at.eq(until))
        .execute(conn)
        .await?;
        Ok(updated == 1)
    }

    /// Processing tasks whose lease ran out before `now`, locked (skipping those
    /// another reaper holds).
    pub async fn expired_leases(
        conn: &mut AsyncPgConnection,
        now: DateTime<Utc>,
        limit: i64,
    ) -> QueryResult<Vec<Task>> {
        tasks::table
            .filter(tasks::status.eq(Status::Processing.as_str()))
            .filter(tasks::lease_expires_at.lt(now))
            .order(tasks::lease_expires_at)
            .limit(limit)
            .select(Task::as_select())
            .for_update()
            .skip_locked()
            .load(conn)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_patterns_become_exact_kinds_and_escaped_like_patterns() {
        assert_eq!(kind_params(&KindFilter::Any), (true, vec![], vec![]));
        let filter = KindFilter::Only(vec![
            Pattern::Exact("ocr.document".into()),
            Pattern::Below("image_x".into()),
        ]);
        assert_eq!(
            kind_params(&filter),
            (
                false,
                vec!["ocr.document".to_owned(), "image_x".to_owned()],
                vec!["image\\_x.%".to_owned()]
            )
        );
    }
}
