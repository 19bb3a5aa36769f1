//! The `sessions` table: one row per sign-in on a device.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::sessions;

/// A row of `sessions`.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = sessions)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct Session {
    pub id: Uuid,
    pub user_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_reason: Option<String>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub device_info: Option<String>,
    pub device_id: Option<Uuid>,
}

/// A new session.
#[derive(Debug, Insertable)]
#[diesel(table_name = sessions)]
pub struct NewSession<'a> {
    pub id: Uuid,
    pub user_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ip_address: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub device_info: Option<&'a str>,
    pub device_id: Option<Uuid>,
}

impl NewSession<'_> {
    /// Inserts the session.
    pub async fn insert(&self, conn: &mut AsyncPgConnection) -> QueryResult<Session> {
        diesel::insert_into(sessions::table)
            .values(self)
            .returning(Session::as_returning())
            .get_result(conn)
            .await
    }
}

/// A revoked session, as verifiers learn of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revoked {
    pub session_id: Uuid,
    pub revoked_at: DateTime<Utc>,
}

impl Session {
    /// The session with this id.
    pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Session>> {
        sessions::table
            .find(id)
            .select(Session::as_select())
            .first(conn)
            .await
            .optional()
    }

    /// The user's sessions that are neither revoked nor expired at `now`, newest first.
    pub async fn live_of_user(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> QueryResult<Vec<Session>> {
        sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::expires_at.gt(now))
            .order((sessions::created_at.desc(), sessions::id.desc()))
            .select(Session::as_select())
            .load(conn)
            .await
    }

    /// Records a refresh: the session was used at `at` and now lasts until `expires_at`.
    pub async fn touch(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> QueryResult<()> {
        diesel::update(sessions::table.find(id))
            .set((
                sessions::last_used_at.eq(at),
                sessions::expires_at.eq(expires_at),
            ))
            .execute(conn)
            .await
            .map(drop)
    }

    /// Revokes the sessions in `ids` that are not revoked yet and returns them.
    /// The caller broadcasts them (see `revocations`) in the same transaction.
    pub async fn revoke(
        conn: &mut AsyncPgConnection,
        ids: &[Uuid],
        reason: &str,
        at: DateTime<Utc>,
    ) -> QueryResult<Vec<Revoked>> {
        let revoked: Vec<Uuid> = diesel::update(
            sessions::table
                .filter(sessions::id.eq_any(ids))
                .filter(sessions::revoked_at.is_null()),
        )
        .set((
            sessions::revoked_at.eq(at),
            sessions::revoked_reason.eq(reason),
        ))
        .returning(sessions::id)
        .get_results(conn)
        .await?;
        Ok(revoked
            .into_iter()
            .map(|session_id| Revoked {
                session_id,
                revoked_at: at,
            })
            .collect())
    }

    /// The ids of the user's sessions that are not revoked, except `keep`.
    pub async fn unrevoked_ids_of_user(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
        keep: Option<Uuid>,
    ) -> QueryResult<Vec<Uuid>> {
        let mut query = sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::revoked_at.is_null())
            .select(sessions::id)
            .into_boxed();
        if let Some(keep) = keep {
            query = query.filter(sessions::id.ne(keep));
        }
        query.load(conn).await
    }

    /// The ids of the sessions opened from `device_id` that are not revoked.
    pub async fn unrevoked_ids_of_device(
        conn: &mut AsyncPgConnection,
        device_id: Uuid,
    ) -> QueryResult<Vec<Uuid>> {
        sessions::table
            .filter(sessions::device_id.eq(device_id))
            .filter(sessions::revoked_at.is_null())
            .select(sessions::id)
            .load(conn)
            .await
    }

    /// Sessions revoked at or after `since` (their access tokens may still be live).
    pub async fn revoked_since(
        conn: &mut AsyncPgConnection,
        since: DateTime<Utc>,
    ) -> QueryResult<Vec<Revoked>> {
        let rows: Vec<(Uuid, Option<DateTime<Utc>>)> = sessions::table
            .filter(sessions::revoked_at.ge(since))
            .select((sessions::id, sessions::revoked_at))
            .load(conn)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(session_id, at)| {
                at.map(|revoked_at| Revoked {
                    session_id,
                    revoked_at,
                })
            })
            .collect())
    }

    /// Deletes at most `batch` sessions that expired, or were revoked, before
    /// `before` (their refresh tokens go with them).
    pub async fn delete_ended(
        conn: &mut AsyncPgConnection,
        before: DateTime<Utc>,
        batch: i64,
    ) -> QueryResult<usize> {
        let ended: Vec<Uuid> = sessions::table
            .filter(
                sessions::expires_at
                    .lt(before)
                    .or(sessions::revoked_at.lt(before)),
            )
            .limit(batch)
            .select(sessions::id)
            .load(conn)
            .await?;
        diesel::delete(sessions::table.filter(sessions::id.eq_any(ended)))
            .execute(conn)
            .await
    }
}
