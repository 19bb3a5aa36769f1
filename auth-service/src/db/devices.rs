//! The `devices` table: devices that signed in to an account with its
//! password, known by the SHA-256 of their device token.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::devices;

/// A row of `devices`.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = devices)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct Device {
    pub id: Uuid,
    pub user_id: Uuid,
    pub token_hash: Vec<u8>,
    pub device_info: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A new device.
#[derive(Debug, Insertable)]
#[diesel(table_name = devices)]
pub struct NewDevice<'a> {
    pub id: Uuid,
    pub user_id: Uuid,
    pub token_hash: &'a [u8],
    pub device_info: Option<&'a str>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl NewDevice<'_> {
    /// Inserts the device.
    pub async fn insert(&self, conn: &mut AsyncPgConnection) -> QueryResult<()> {
        diesel::insert_into(devices::table)
            .values(self)
            .execute(conn)
            .await
            .map(drop)
    }
}

impl Device {
    /// The live device (not revoked, not expired at `now`) whose token hashes
    /// to `token_hash`.
    pub async fn find_live_by_hash(
        conn: &mut AsyncPgConnection,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> QueryResult<Option<Device>> {
        devices::table
            .filter(devices::token_hash.eq(token_hash))
            .filter(devices::revoked_at.is_null())
            .filter(devices::expires_at.gt(now))
            .select(Device::as_select())
            .first(conn)
            .await
            .optional()
    }

    /// The user's live devices, most recently used first.
    pub async fn live_of_user(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> QueryResult<Vec<Device>> {
        devices::table
            .filter(devices::user_id.eq(user_id))
            .filter(devices::revoked_at.is_null())
            .filter(devices::expires_at.gt(now))
            .order((devices::last_used_at.desc(), devices::id.desc()))
            .select(Device::as_select())
            .load(conn)
            .await
    }

    /// Records a sign-in from the device at `at` if it is still live; it
    /// then lasts until `expires_at`. False when it was revoked (or expired)
    /// meanwhile: the update waits for a revocation in progress to commit.
    pub async fn touch(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> QueryResult<bool> {
        diesel::update(
            devices::table
                .filter(devices::id.eq(id))
                .filter(devices::revoked_at.is_null())
                .filter(devices::expires_at.gt(at)),
        )
        .set((
            devices::last_used_at.eq(at),
            devices::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .await
        .map(|n| n == 1)
    }

    /// Revokes the user's device `id` if it is live; false when there is no
    /// such device of that user.
    pub async fn revoke(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> QueryResult<bool> {
        diesel::update(
            devices::table
                .filter(devices::id.eq(id))
                .filter(devices::user_id.eq(user_id))
                .filter(devices::revoked_at.is_null())
                .filter(devices::expires_at.gt(at)),
        )
        .set(devices::revoked_at.eq(at))
        .execute(conn)
        .await
        .map(|n| n > 0)
    }

    /// Revokes the user's live devices beyond the `keep` most recently used,
    /// so that signing in again and again without a device token cannot grow
    /// an account's list without bound.
    pub async fn revoke_beyond(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
        keep: i64,
        at: DateTime<Utc>,
    ) -> QueryResult<usize> {
        let beyond: Vec<Uuid> = devices::table
            .filter(devices::user_id.eq(user_id))
            .filter(devices::revoked_at.is_null())
            .order((devices::last_used_at.desc(), devices::id.desc()))
            .offset(keep)
            .select(devices::id)
            .load(conn)
            .await?;
        if beyond.is_empty() {
            return Ok(0);
        }
        diesel::update(devices::table.filter(devices::id.eq_any(beyond)))
            .set(devices::revoked_at.eq(at))
            .execute(conn)
            .await
    }

    /// Deletes devices that expired or were revoked before `before`, at most
    /// `batch` of them; returns how many.
    pub async fn delete_ended(
        conn: &mut AsyncPgConnection,
        before: DateTime<Utc>,
        batch: i64,
    ) -> QueryResult<usize> {
        let ended: Vec<Uuid> = devices::table
            .filter(
                devices::expires_at
                    .lt(before)
                    .or(devices::revoked_at.lt(before)),
            )
            .limit(batch)
            .select(devices::id)
            .load(conn)
            .await?;
        diesel::delete(devices::table.filter(devices::id.eq_any(ended)))
            .execute(conn)
            .await
    }
}
