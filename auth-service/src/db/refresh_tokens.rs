//! The `refresh_tokens` table. A refresh token is 256 random bits handed to
//! the client once; only its SHA-256 is stored.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::refresh_tokens;

/// A row of `refresh_tokens`.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = refresh_tokens)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct RefreshToken {
    pub id: Uuid,
    pub session_id: Uuid,
    pub token_hash: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub spent_at: Option<DateTime<Utc>>,
    pub replaced_by: Option<Uuid>,
}

/// A new refresh token.
#[derive(Debug, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct NewRefreshToken<'a> {
    pub id: Uuid,
    pub session_id: Uuid,
    pub token_hash: &'a [u8],
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl NewRefreshToken<'_> {
    /// Inserts the token.
    pub async fn insert(&self, conn: &mut AsyncPgConnection) -> QueryResult<()> {
        diesel::insert_into(refresh_tokens::table)
            .values(self)
            .execute(conn)
            .await
            .map(drop)
    }
}

impl RefreshToken {
    /// The token with this hash, locked until the transaction ends so that two
    /// concurrent uses of one token are decided one after the other.
    pub async fn find_for_update(
        conn: &mut AsyncPgConnection,
        token_hash: &[u8],
    ) -> QueryResult<Option<RefreshToken>> {
        refresh_tokens::table
            .filter(refresh_tokens::token_hash.eq(token_hash))
            .select(RefreshToken::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()
    }

    /// The token `id`, locked like [`RefreshToken::find_for_update`].
    pub async fn find_by_id_for_update(
        conn: &mut AsyncPgConnection,
        id: Uuid,
    ) -> QueryResult<Option<RefreshToken>> {
        refresh_tokens::table
            .find(id)
            .select(RefreshToken::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()
    }

    /// Points a spent token at a newer successor (after a forgiven reuse),
    /// keeping when it was spent.
    pub async fn redirect(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        successor: Uuid,
    ) -> QueryResult<()> {
        diesel::update(refresh_tokens::table.find(id))
            .set(refresh_tokens::replaced_by.eq(successor))
            .execute(conn)
            .await
            .map(drop)
    }

    /// Marks the token spent, replaced by `successor`.
    pub async fn spend(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        successor: Uuid,
        at: DateTime<Utc>,
    ) -> QueryResult<()> {
        diesel::update(refresh_tokens::table.find(id))
            .set((
                refresh_tokens::spent_at.eq(at),
                refresh_tokens::replaced_by.eq(successor),
            ))
            .execute(conn)
            .await
            .map(drop)
    }

    /// Deletes at most `batch` tokens that expired before `before`.
    pub async fn delete_expired(
        conn: &mut AsyncPgConnection,
        before: DateTime<Utc>,
        batch: i64,
    ) -> QueryResult<usize> {
        let expired: Vec<Uuid> = refresh_tokens::table
            .filter(refresh_tokens::expires_at.lt(before))
            .limit(batch)
            .select(refresh_tokens::id)
            .load(conn)
            .await?;
        diesel::delete(refresh_tokens::table.filter(refresh_tokens::id.eq_any(expired)))
            .execute(conn)
            .await
    }
}
