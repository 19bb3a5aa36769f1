//! The `mail_outbox` table: mail waiting to be sent.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::mail_outbox;

/// A mail to send, as written with the change that causes it.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = mail_outbox)]
pub struct NewMail<'a> {
    pub id: Uuid,
    pub recipient: &'a str,
    pub subject: &'a str,
    pub body_text: &'a str,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
}

impl NewMail<'_> {
    /// Writes the mail; call in the transaction of the change that causes it.
    pub async fn insert(&self, conn: &mut AsyncPgConnection) -> QueryResult<()> {
        diesel::insert_into(mail_outbox::table)
            .values(self)
            .execute(conn)
            .await
            .map(drop)
    }
}

/// A row of `mail_outbox`, as the sender reads it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = mail_outbox)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct Mail {
    pub id: Uuid,
    pub recipient: String,
    pub subject: String,
    pub body_text: String,
    pub attempts: i32,
}

impl Mail {
    /// Claims up to `limit` mails that are due: each one's attempt count goes
    /// up and its next attempt moves to `lease_until`, so another sender
    /// (another replica) skips it, and it is tried again should this one die
    /// before it records the outcome.
    pub async fn claim_due(
        conn: &mut AsyncPgConnection,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> QueryResult<Vec<Mail>> {
        conn.transaction(async |conn| {
            let due: Vec<Uuid> = mail_outbox::table
                .filter(mail_outbox::sent_at.is_null())
                .filter(mail_outbox::abandoned_at.is_null())
                .filter(mail_outbox::next_attempt_at.le(now))
                .order(mail_outbox::next_attempt_at)
                .limit(limit)
                .select(mail_outbox::id)
                .for_update()
                .skip_locked()
                .load(conn)
                .await?;
            diesel::update(mail_outbox::table.filter(mail_outbox::id.eq_any(&due)))
                .set((
                    mail_outbox::attempts.eq(mail_outbox::attempts + 1),
                    mail_outbox::next_attempt_at.eq(lease_until),
                ))
                .returning(Mail::as_returning())
                .get_results(conn)
                .await
        })
        .await
    }

    /// Records that the mail was handed to the mail server.
    pub async fn mark_sent(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> QueryResult<()> {
        diesel::update(mail_outbox::table.find(id))
            .set((
                mail_outbox::sent_at.eq(now),
                mail_outbox::last_error.eq(None::<String>),
            ))
            .execute(conn)
            .await
            .map(drop)
    }

    /// Records a failed attempt: the mail is due again at `retry_at`, or,
    /// with `retry_at` None, abandoned.
    pub async fn mark_failed(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> QueryResult<()> {
        let query = diesel::update(mail_outbox::table.find(id));
        match retry_at {
            Some(at) => {
                query
                    .set((
                        mail_outbox::last_error.eq(error),
                        mail_outbox::next_attempt_at.eq(at),
                    ))
                    .execute(conn)
                    .await
            }
            None => {
                query
                    .set((
                        mail_outbox::last_error.eq(error),
                        mail_outbox::abandoned_at.eq(now),
                    ))
                    .execute(conn)
                    .await
            }
        }
        .map(drop)
    }

    /// How many mails are neither sent nor abandoned.
    pub async fn backlog(conn: &mut AsyncPgConnection) -> QueryResult<i64> {
        mail_outbox::table
            .filter(mail_outbox::sent_at.is_null())
            .filter(mail_outbox::abandoned_at.is_null())
            .count()
            .get_result(conn)
            .await
    }

    /// Deletes up to `limit` mails sent or abandoned before `before`.
    pub async fn delete_finished_before(
        conn: &mut AsyncPgConnection,
        before: DateTime<Utc>,
        limit: i64,
    ) -> QueryResult<usize> {
        let old: Vec<Uuid> = mail_outbox::table
            .filter(
                mail_outbox::sent_at
                    .lt(before)
                    .or(mail_outbox::abandoned_at.lt(before)),
            )
            .select(mail_outbox::id)
            .limit(limit)
            .load(conn)
            .await?;
        diesel::delete(mail_outbox::table.filter(mail_outbox::id.eq_any(&old)))
            .execute(conn)
            .await
    }
}
