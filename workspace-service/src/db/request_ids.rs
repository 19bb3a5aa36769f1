//! The `request_ids` table: client-chosen request ids (AIP-155), so that a
//! retried create returns what the first call made.
//!
//! The id is claimed in the same transaction that creates the resource,
//! before it: a concurrent call with the same id waits on the row's unique
//! index until the first commits, then finds the row and replays it (or
//! claims it, if the first rolled back). Rows are forgotten after a day
//! ([`forget_before`]).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::schema::request_ids;

/// One request as its id stands for it.
#[derive(Debug, Clone)]
pub struct RequestKey {
    pub user_id: Uuid,
    pub request_id: Uuid,
    /// The RPC, e.g. `CreateTask`: an id is not shared across methods.
    pub method: &'static str,
    /// A digest of what the request asks for.
    pub fingerprint: String,
}

impl RequestKey {
    /// The key of `request` (any serializable view of its fields) to
    /// `method` by `user_id` with `request_id`.
    pub fn new(
        user_id: Uuid,
        request_id: Uuid,
        method: &'static str,
        request: &impl serde::Serialize,
    ) -> Self {
        let encoded = serde_json::to_vec(request).unwrap_or_default();
        Self {
            user_id,
            request_id,
            method,
            fingerprint: hex::encode(Sha256::digest(encoded)),
        }
    }
}

/// What claiming a request id found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// The id is new: create the resource with the id given.
    Fresh,
    /// The same request was made before: its resource.
    Replay(Uuid),
    /// The id was used for a different request.
    Mismatch,
}

impl RequestKey {
    /// Claims `key` for the resource `resource_id` about to be created.
    pub async fn claim(
        conn: &mut AsyncPgConnection,
        key: &RequestKey,
        resource_id: Uuid,
        now: DateTime<Utc>,
    ) -> QueryResult<Claimed> {
        let inserted = diesel::insert_into(request_ids::table)
            .values((
                request_ids::user_id.eq(key.user_id),
                request_ids::request_id.eq(key.request_id),
                request_ids::method.eq(key.method),
                request_ids::fingerprint.eq(&key.fingerprint),
                request_ids::resource_id.eq(resource_id),
                request_ids::created_at.eq(now),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        if inserted == 1 {
            return Ok(Claimed::Fresh);
        }
        let (method, fingerprint, existing): (String, String, Uuid) = request_ids::table
            .find((key.user_id, key.request_id))
            .select((
                request_ids::method,
                request_ids::fingerprint,
                request_ids::resource_id,
            ))
            .first(conn)
            .await?;
        Ok(if method == key.method && fingerprint == key.fingerprint {
            Claimed::Replay(existing)
        } else {
            Claimed::Mismatch
        })
    }

    /// Forgets request ids claimed before `cutoff`; returns how many.
    pub async fn forget_before(
        conn: &mut AsyncPgConnection,
        cutoff: DateTime<Utc>,
    ) -> QueryResult<usize> {
        diesel::delete(request_ids::table.filter(request_ids::created_at.lt(cutoff)))
            .execute(conn)
            .await
    }
}
