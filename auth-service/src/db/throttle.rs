//! The `login_throttle` table: failed sign-ins counted per subject
//! (`account:<login name>` or `ip:<address>`) within a window.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::schema::login_throttle;

/// The latest lock of any of `subjects` still in force at `now`.
pub async fn locked_until(
    conn: &mut AsyncPgConnection,
    subjects: &[String],
    now: DateTime<Utc>,
) -> QueryResult<Option<DateTime<Utc>>> {
    login_throttle::table
        .filter(login_throttle::subject.eq_any(subjects))
        .filter(login_throttle::locked_until.gt(now))
        .select(diesel::dsl::max(login_throttle::locked_until))
        .first::<Option<DateTime<Utc>>>(conn)
        .await
}

/// Counts a failure of `subject` at `now`; once `limit` failures fall within
/// `window`, locks the subject for `lockout`. A failure after the window has
/// passed starts a new window. Call inside a transaction: the row is locked
/// so that concurrent failures are all counted.
pub async fn record_failure(
    conn: &mut AsyncPgConnection,
    subject: &str,
    now: DateTime<Utc>,
    window: Duration,
    limit: i32,
    lockout: Duration,
) -> QueryResult<()> {
    diesel::insert_into(login_throttle::table)
        .values((
            login_throttle::subject.eq(subject),
            login_throttle::failures.eq(0),
            login_throttle::window_started_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    let (failures, window_started_at, locked_until): (i32, DateTime<Utc>, Option<DateTime<Utc>>) =
        login_throttle::table
            .find(subject)
            .select((
                login_throttle::failures,
                login_throttle::window_started_at,
                login_throttle::locked_until,
            ))
            .for_update()
            .first(conn)
            .await?;
    let (failures, window_started_at) = if window_started_at < now - window {
        (1, now)
    } else {
        (failures + 1, window_started_at)
    };
    let locked_until = if failures >= limit {
        Some(now + lockout)
    } else {
        locked_until
    };
    diesel::update(login_throttle::table.find(subject))
        .set((
            login_throttle::failures.eq(failures),
            login_throttle::window_started_at.eq(window_started_at),
            login_throttle::locked_until.eq(locked_until),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Forgets the failures of `subject` (after a successful sign-in).
pub async fn clear(conn: &mut AsyncPgConnection, subject: &str) -> QueryResult<()> {
    diesel::delete(login_throttle::table.filter(login_throttle::subject.eq(subject)))
        .execute(conn)
        .await
        .map(drop)
}

/// Deletes entries whose window and lock are both over at `now`.
pub async fn delete_stale(
    conn: &mut AsyncPgConnection,
    before: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::delete(
        login_throttle::table
            .filter(login_throttle::window_started_at.lt(before))
            .filter(
                login_throttle::locked_until
                    .is_null()
                    .or(login_throttle::locked_until.lt(before)),
            ),
    )
    .execute(conn)
    .await
}
