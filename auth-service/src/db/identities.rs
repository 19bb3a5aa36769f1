//! `external_identities`: a user's accounts at identity providers.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::external_identities;

/// A row of `external_identities`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = external_identities)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct Identity {
    pub id: Uuid,
    pub user_id: Uuid,
    pub provider: String,
    pub subject: String,
    pub union_id: Option<String>,
    pub email: Option<String>,
    pub secret: Option<Vec<u8>>,
    pub created_at: DateTime<Utc>,
    pub last_login_at: DateTime<Utc>,
}

impl Identity {
    /// The identity `subject` at `provider`, locked for this transaction.
    pub async fn find_for_update(
        conn: &mut AsyncPgConnection,
        provider: &str,
        subject: &str,
    ) -> QueryResult<Option<Identity>> {
        external_identities::table
            .filter(external_identities::provider.eq(provider))
            .filter(external_identities::subject.eq(subject))
            .for_update()
            .select(Identity::as_select())
            .first(conn)
            .await
            .optional()
    }

    /// Inserts the identity; None if another transaction linked the same
    /// (provider, subject) first.
    pub async fn insert(&self, conn: &mut AsyncPgConnection) -> QueryResult<Option<Identity>> {
        diesel::insert_into(external_identities::table)
            .values(self)
            .on_conflict((external_identities::provider, external_identities::subject))
            .do_nothing()
            .returning(Identity::as_returning())
            .get_result(conn)
            .await
            .optional()
    }

    /// Records a sign-in, with what the provider said this time.
    pub async fn record_login(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        union_id: Option<&str>,
        secret: Option<&[u8]>,
        at: DateTime<Utc>,
    ) -> QueryResult<()> {
        diesel::update(external_identities::table.find(id))
            .set((
                external_identities::last_login_at.eq(at),
                external_identities::union_id.eq(union_id),
                external_identities::secret.eq(secret),
            ))
            .execute(conn)
            .await
            .map(|_| ())
    }

    /// Every identity of a user.
    pub async fn of_user(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
    ) -> QueryResult<Vec<Identity>> {
        external_identities::table
            .filter(external_identities::user_id.eq(user_id))
            .select(Identity::as_select())
            .load(conn)
            .await
    }

    /// The user's identity `id`, if it is theirs.
    pub async fn find_of_user(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
        id: Uuid,
    ) -> QueryResult<Option<Identity>> {
        external_identities::table
            .filter(external_identities::id.eq(id))
            .filter(external_identities::user_id.eq(user_id))
            .select(Identity::as_select())
            .first(conn)
            .await
            .optional()
    }

    /// Deletes the identity `id`.
    pub async fn delete(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
        diesel::delete(external_identities::table.find(id))
            .execute(conn)
            .await
            .map(drop)
    }
}

/// Records `nonce_hash` as spent until `expires_at`; false if it already was.
pub async fn spend_nonce(
    conn: &mut AsyncPgConnection,
    nonce_hash: &[u8],
    expires_at: DateTime<Utc>,
) -> QueryResult<bool> {
    use super::schema::oidc_nonces_spent;
    diesel::insert_into(oidc_nonces_spent::table)
        .values((
            oidc_nonces_spent::nonce_hash.eq(nonce_hash),
            oidc_nonces_spent::expires_at.eq(expires_at),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await
        .map(|n| n == 1)
}

/// Deletes at most `batch` spent nonces that expired before `before`.
pub async fn delete_expired_nonces(
    conn: &mut AsyncPgConnection,
    before: DateTime<Utc>,
    batch: i64,
) -> QueryResult<usize> {
    use super::schema::oidc_nonces_spent;
    let expired: Vec<Vec<u8>> = oidc_nonces_spent::table
        .filter(oidc_nonces_spent::expires_at.lt(before))
        .limit(batch)
        .select(oidc_nonces_spent::nonce_hash)
        .load(conn)
        .await?;
    diesel::delete(oidc_nonces_spent::table.filter(oidc_nonces_spent::nonce_hash.eq_any(expired)))
        .execute(conn)
        .await
}
