//! The `password_resets` table: outstanding reset tokens, by their hash.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::password_resets;

/// A reset token just issued (only its hash is stored).
#[derive(Debug, Insertable)]
#[diesel(table_name = password_resets)]
pub struct NewPasswordReset<'a> {
    pub id: Uuid,
    pub user_id: Uuid,
    pub token_hash: &'a [u8],
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl NewPasswordReset<'_> {
    pub async fn insert(&self, conn: &mut AsyncPgConnection) -> QueryResult<()> {
        diesel::insert_into(password_resets::table)
            .values(self)
            .execute(conn)
            .await
            .map(drop)
    }
}

/// Reset tokens.
#[derive(Debug)]
pub struct PasswordReset;

impl PasswordReset {
    /// The account of the token with this hash, if it is unused and unexpired.
    pub async fn find_valid(
        conn: &mut AsyncPgConnection,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> QueryResult<Option<Uuid>> {
        password_resets::table
            .filter(password_resets::token_hash.eq(token_hash))
            .filter(password_resets::used_at.is_null())
            .filter(password_resets::expires_at.gt(now))
            .select(password_resets::user_id)
            .first(conn)
            .await
            .optional()
    }

    /// Spends the token with this hash if it is unused and unexpired, and
    /// returns its account. Atomic: of two calls with the same token, one
    /// gets the account.
    pub async fn spend(
        conn: &mut AsyncPgConnection,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> QueryResult<Option<Uuid>> {
        diesel::update(
            password_resets::table
                .filter(password_resets::token_hash.eq(token_hash))
                .filter(password_resets::used_at.is_null())
                .filter(password_resets::expires_at.gt(now)),
        )
        .set(password_resets::used_at.eq(now))
        .returning(password_resets::user_id)
        .get_result(conn)
        .await
        .optional()
    }

    /// Spends every outstanding token of the account.
    pub async fn spend_all_of_user(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> QueryResult<usize> {
        diesel::update(
            password_resets::table
                .filter(password_resets::user_id.eq(user_id))
                .filter(password_resets::used_at.is_null()),
        )
        .set(password_resets::used_at.eq(now))
        .execute(conn)
        .await
    }

    /// Deletes up to `limit` tokens that expired before `before`.
    pub async fn delete_expired_before(
        conn: &mut AsyncPgConnection,
        before: DateTime<Utc>,
        limit: i64,
    ) -> QueryResult<usize> {
        let old: Vec<Uuid> = password_resets::table
            .filter(password_resets::expires_at.lt(before))
            .select(password_resets::id)
            .limit(limit)
            .load(conn)
            .await?;
        diesel::delete(password_resets::table.filter(password_resets::id.eq_any(&old)))
            .execute(conn)
            .await
    }
}
