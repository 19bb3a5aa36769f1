//! The `login_throttle` table: attempts counted per subject (`user:<id>`,
//! `login:<name>`, `ip:<address>`, ...) within a window.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::schema::login_throttle;

/// How many attempts a subject gets within a window, and for how long it is
/// locked once they are used up.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub attempts: i32,
    pub window: Duration,
    pub lockout: Duration,
}

impl Limit {
    /// `attempts` within the login window (`LOGIN_FAILURE_WINDOW_SECS`), then
    /// the login lockout (`LOGIN_LOCKOUT_SECS`).
    pub fn login(config: &crate::config::Config, attempts: i32) -> anyhow::Result<Self> {
        Ok(Self {
            attempts,
            window: Duration::from_std(config.login_failure_window)?,
            lockout: Duration::from_std(config.login_lockout)?,
        })
    }
}

/// What counting an attempt decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// The attempt may be evaluated; it is counted until [`undo`] forgives it.
    Allowed,
    /// The subject is locked until then; `first` is true for the first
    /// attempt refused under this lock (later ones are only counted, so a
    /// flood of refused attempts writes one audit row, not one each).
    Refused { until: DateTime<Utc>, first: bool },
}

/// The highest count kept: refused attempts are counted up to it.
const MAX_COUNT: i32 = 1_000_000;

/// Counts an attempt of `subject` at `now` before it is evaluated, and
/// refuses it if the subject is locked: one statement, so concurrent attempts
/// are counted one after another on the row and at most `limit.attempts` of
/// them are ever allowed within a window, however many arrive at once.
///
/// The attempt that uses up the limit locks the subject for
/// `limit.lockout`; a lock that has run out, or a window that has passed
/// without a lock, starts a new window.
pub async fn count_attempt(
    conn: &mut AsyncPgConnection,
    subject: &str,
    now: DateTime<Utc>,
    limit: Limit,
) -> QueryResult<Counted> {
    use diesel::sql_types::{Integer, Text, Timestamptz};

    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Integer)]
        failures: i32,
        #[diesel(sql_type = diesel::sql_types::Nullable<Timestamptz>)]
        locked_until: Option<DateTime<Utc>>,
    }

    // `fresh`: the row's window is over (its lock has run out, or it has no
    // lock and the window has passed), so this attempt starts a new one.
    let row: Row = diesel::sql_query(
        "INSERT INTO login_throttle AS t (subject, failures, window_started_at, locked_until) \
         VALUES ($1, 1, $2, CASE WHEN $5 <= 1 THEN $2 + $4 END) \
         ON CONFLICT (subject) DO UPDATE SET \
           failures = CASE WHEN COALESCE(t.locked_until <= $2, t.window_started_at < $2 - $3) \
                        THEN 1 ELSE LEAST(t.failures + 1, $6) END, \
           window_started_at = CASE WHEN COALESCE(t.locked_until <= $2, t.window_started_at < $2 - $3) \
                        THEN $2 ELSE t.window_started_at END, \
           locked_until = CASE \
             WHEN COALESCE(t.locked_until <= $2, t.window_started_at < $2 - $3) \
               THEN CASE WHEN $5 <= 1 THEN $2 + $4 END \
             WHEN t.locked_until IS NOT NULL THEN t.locked_until \
             WHEN t.failures + 1 >= $5 THEN $2 + $4 \
           END \
         RETURNING failures, locked_until",
    )
    .bind::<Text, _>(subject)
    .bind::<Timestamptz, _>(now)
    .bind::<diesel::sql_types::Interval, _>(pg_interval(limit.window))
    .bind::<diesel::sql_types::Interval, _>(pg_interval(limit.lockout))
    .bind::<Integer, _>(limit.attempts)
    .bind::<Integer, _>(MAX_COUNT)
    .get_result(conn)
    .await?;
    Ok(match row.locked_until {
        Some(until) if row.failures > limit.attempts => Counted::Refused {
            until,
            first: row.failures == limit.attempts + 1,
        },
        _ => Counted::Allowed,
    })
}

/// Forgives one allowed attempt of `subject` that turned out well (a shared
/// address's counter only counts failures); lifts the lock if the failures
/// left are under `limit`.
pub async fn undo(conn: &mut AsyncPgConnection, subject: &str, attempts: i32) -> QueryResult<()> {
    use diesel::sql_types::{Integer, Text};
    diesel::sql_query(
        "UPDATE login_throttle SET failures = failures - 1, \
           locked_until = CASE WHEN failures - 1 < $2 THEN NULL ELSE locked_until END \
         WHERE subject = $1 AND failures > 0",
    )
    .bind::<Text, _>(subject)
    .bind::<Integer, _>(attempts)
    .execute(conn)
    .await
    .map(drop)
}

fn pg_interval(duration: Duration) -> diesel::pg::data_types::PgInterval {
    diesel::pg::data_types::PgInterval::from_microseconds(
        duration.num_microseconds().unwrap_or(i64::MAX),
    )
}

/// Forgets the failures of `subject` (after a successful sign-in).
pub async fn clear(conn: &mut AsyncPgConnection, subject: &str) -> QueryResult<()> {
    diesel::delete(login_throttle::table.filter(login_throttle::subject.eq(subject)))
        .execute(conn)
        .await
        .map(drop)
}

/// Deletes at most `batch` entries whose window and lock are both over at
/// `before`.
pub async fn delete_stale(
    conn: &mut AsyncPgConnection,
    before: DateTime<Utc>,
    batch: i64,
) -> QueryResult<usize> {
    let stale: Vec<String> = login_throttle::table
        .filter(login_throttle::window_started_at.lt(before))
        .filter(
            login_throttle::locked_until
                .is_null()
                .or(login_throttle::locked_until.lt(before)),
        )
        .limit(batch)
        .select(login_throttle::subject)
        .load(conn)
        .await?;
    diesel::delete(login_throttle::table.filter(login_throttle::subject.eq_any(stale)))
        .execute(conn)
        .await
}

/// The subject counting attempts from `ip`: `ip:<address>`, where an IPv6
/// address counts as its /64 (one host usually holds a whole /64, so counting
/// per full address would let it walk around every limit).
pub fn address_subject(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("ip:{v4}"),
            None => {
                let s = v6.segments();
                format!("ip:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Ok(addr) => format!("ip:{addr}"),
        Err(_) => format!("ip:{ip}"),
    }
}

#[cfg(test)]
mod tests {
    use super::address_subject;

    #[test]
    fn ipv6_addresses_count_per_64_and_ipv4_per_address() {
        assert_eq!(
            address_subject("2001:db8:1:2:aaaa::1"),
            address_subject("2001:db8:1:2:ffff:1:2:3")
        );
        assert_ne!(
            address_subject("2001:db8:1:2::1"),
            address_subject("2001:db8:1:3::1")
        );
        assert_eq!(address_subject("2001:db8:1:2::1"), "ip:2001:db8:1:2::/64");
        assert_eq!(address_subject("::ffff:198.51.100.7"), "ip:198.51.100.7");
        assert_eq!(address_subject("198.51.100.7"), "ip:198.51.100.7");
        assert_ne!(
            address_subject("198.51.100.7"),
            address_subject("198.51.100.8")
        );
    }
}
