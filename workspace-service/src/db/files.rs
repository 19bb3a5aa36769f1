//! The `files` table.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::files;

/// Of `ids`, those that are files of `user_id`.
pub async fn owned_by(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    ids: &[Uuid],
) -> QueryResult<Vec<Uuid>> {
    files::table
        .filter(files::user_id.eq(user_id))
        .filter(files::id.eq_any(ids))
        .select(files::id)
        .load(conn)
        .await
}
