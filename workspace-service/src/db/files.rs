//! The `files` and `blobs` tables.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::{blobs, conversation_files, conversations, files, user_usage};
use crate::db::conversations::Conversation;

/// A row of `files`.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable, Insertable)]
#[diesel(table_name = files)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct File {
    pub id: Uuid,
    pub user_id: Uuid,
    pub filename: String,
    pub mime_type: String,
    pub size_bytes: i64,
    pub md5: String,
    pub sha256: String,
    pub uploaded_at: DateTime<Utc>,
}

impl File {
    /// Inserts the file.
    pub async fn insert(&self, conn: &mut AsyncPgConnection) -> QueryResult<()> {
        diesel::insert_into(files::table)
            .values(self)
            .execute(conn)
            .await
            .map(drop)
    }
}

/// Where a page of files starts: after this (uploaded_at, id).
pub type Position = (DateTime<Utc>, Uuid);

/// Drops a deleted file's blob reference and usage.
async fn forget(conn: &mut AsyncPgConnection, file: &File) -> QueryResult<()> {
    File::release_blob(conn, &file.sha256).await?;
    // Never below zero: rows written before usage was kept were not counted.
    diesel::update(user_usage::table.find(file.user_id))
        .set((
            user_usage::stored_bytes.eq(diesel::dsl::sql::<diesel::sql_types::Int8>(
                "greatest(stored_bytes - ",
            )
            .bind::<diesel::sql_types::Int8, _>(file.size_bytes)
            .sql(", 0)")),
            user_usage::file_count.eq(diesel::dsl::sql::<diesel::sql_types::Int8>(
                "greatest(file_count - 1, 0)",
            )),
        ))
        .execute(conn)
        .await
        .map(drop)
}

impl File {
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

    /// Of `ids`, the files of `user_id`, in no particular order.
    pub async fn of_user(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
        ids: &[Uuid],
    ) -> QueryResult<Vec<File>> {
        files::table
            .filter(files::user_id.eq(user_id))
            .filter(files::id.eq_any(ids))
            .select(File::as_select())
            .load(conn)
            .await
    }

    /// The caller's file, or `None`.
    pub async fn find_for_user(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        user_id: Uuid,
    ) -> QueryResult<Option<File>> {
        files::table
            .find(id)
            .filter(files::user_id.eq(user_id))
            .select(File::as_select())
            .first(conn)
            .await
            .optional()
    }

    /// One page of the caller's files, newest first, after `after`.
    pub async fn page(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
        after: Option<Position>,
        limit: i64,
    ) -> QueryResult<Vec<File>> {
        let mut query = files::table.filter(files::user_id.eq(user_id)).into_boxed();
        if let Some((at, id)) = after {
            query = query.filter(
                files::uploaded_at
                    .lt(at)
                    .or(files::uploaded_at.eq(at).and(files::id.lt(id))),
            );
        }
        query
            .order((files::uploaded_at.desc(), files::id.desc()))
            .limit(limit)
            .select(File::as_select())
            .load(conn)
            .await
    }

    /// How many files the caller has, and their total size.
    pub async fn totals(conn: &mut AsyncPgConnection, user_id: Uuid) -> QueryResult<(i64, i64)> {
        files::table
            .filter(files::user_id.eq(user_id))
            .select((
                diesel::dsl::count_star(),
                // sum() of bigint is numeric in PostgreSQL: cast back.
                diesel::dsl::sql::<diesel::sql_types::Int8>("coalesce(sum(size_bytes), 0)::bigint"),
            ))
            .first(conn)
            .await
    }

    /// Deletes the caller's file, its blob reference and its share of the
    /// caller's usage; returns it, or `None` when it was not theirs.
    pub async fn delete_for_user(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        user_id: Uuid,
    ) -> QueryResult<Option<File>> {
        let file = diesel::delete(files::table.find(id).filter(files::user_id.eq(user_id)))
            .returning(File::as_returning())
            .get_result(conn)
            .await
            .optional()?;
        if let Some(file) = &file {
            forget(conn, file).await?;
        }
        Ok(file)
    }

    /// Deletes the files `ids` whoever owns them, as [`delete_for_user`] does
    /// one; returns the contents they used (to be freed when unreferenced).
    pub async fn delete_many(
        conn: &mut AsyncPgConnection,
        ids: &[Uuid],
    ) -> QueryResult<Vec<String>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let deleted: Vec<File> = diesel::delete(files::table.filter(files::id.eq_any(ids)))
            .returning(File::as_returning())
            .get_results(conn)
            .await?;
        for file in &deleted {
            forget(conn, file).await?;
        }
        Ok(deleted.into_iter().map(|f| f.sha256).collect())
    }

    /// Counts `size_bytes` more against `user_id`'s stored bytes, unless that
    /// would exceed `quota` (0: no quota); `false` when it would. Takes the
    /// usage row's lock until the transaction ends, so concurrent uploads of
    /// one user are counted one after the other and cannot overshoot together.
    pub async fn reserve_usage(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
        size_bytes: i64,
        quota: u64,
    ) -> QueryResult<bool> {
        let quota = i64::try_from(quota).unwrap_or(i64::MAX);
        let limit = if quota == 0 { i64::MAX } else { quota };
        if size_bytes > limit {
            return Ok(false);
        }
        #[derive(QueryableByName)]
        struct Reserved {
            #[diesel(sql_type = diesel::sql_types::Int8)]
            #[allow(dead_code)]
            stored_bytes: i64,
        }
        use diesel::sql_types::{Int8, Uuid as SqlUuid};
        let reserved: Option<Reserved> = diesel::sql_query(
            "INSERT INTO user_usage (user_id, stored_bytes, file_count) VALUES ($1, $2, 1) \
             ON CONFLICT (user_id) DO UPDATE \
               SET stored_bytes = user_usage.stored_bytes + $2, file_count = user_usage.file_count + 1 \
               WHERE user_usage.stored_bytes <= $3 - $2 \
             RETURNING stored_bytes",
        )
        .bind::<SqlUuid, _>(user_id)
        .bind::<Int8, _>(size_bytes)
        .bind::<Int8, _>(limit)
        .get_result(conn)
        .await
        .optional()?;
        Ok(reserved.is_some())
    }

    /// What `user_id` stores: bytes and files.
    pub async fn usage(conn: &mut AsyncPgConnection, user_id: Uuid) -> QueryResult<(i64, i64)> {
        Ok(user_usage::table
            .find(user_id)
            .select((user_usage::stored_bytes, user_usage::file_count))
            .first(conn)
            .await
            .optional()?
            .unwrap_or((0, 0)))
    }

    /// The caller's conversations (not deleted) that use a file.
    pub async fn conversations_of(
        conn: &mut AsyncPgConnection,
        file_id: Uuid,
        user_id: Uuid,
    ) -> QueryResult<Vec<Conversation>> {
        conversations::table
            .inner_join(conversation_files::table)
            .filter(conversation_files::file_id.eq(file_id))
            .filter(conversations::user_id.eq(user_id))
            .filter(conversations::status.ne("deleted"))
            .order((conversations::updated_at.desc(), conversations::id.desc()))
            .select(Conversation::as_select())
            .load(conn)
            .await
    }

    /// Takes a reference on the blob `sha256` (creating its row), and holds the
    /// row's lock until the transaction ends: the caller stores the content
    /// while no one can free it.
    pub async fn acquire_blob(
        conn: &mut AsyncPgConnection,
        sha256: &str,
        size_bytes: i64,
        now: DateTime<Utc>,
    ) -> QueryResult<()> {
        diesel::insert_into(blobs::table)
            .values((
                blobs::sha256.eq(sha256),
                blobs::size_bytes.eq(size_bytes),
                blobs::refs.eq(1),
                blobs::created_at.eq(now),
            ))
            .on_conflict(blobs::sha256)
            .do_update()
            .set(blobs::refs.eq(blobs::refs + 1))
            .execute(conn)
            .await
            .map(drop)
    }

    /// Drops a reference on the blob `sha256`.
    pub async fn release_blob(conn: &mut AsyncPgConnection, sha256: &str) -> QueryResult<()> {
        diesel::update(blobs::table.find(sha256).filter(blobs::refs.gt(0)))
            .set(blobs::refs.eq(blobs::refs - 1))
            .execute(conn)
            .await
            .map(drop)
    }

    /// Locks the blob row `sha256` if no file references it (skipping one that
    /// another transaction holds); the caller deletes the content, then the row.
    pub async fn lock_unreferenced(
        conn: &mut AsyncPgConnection,
        sha256: &str,
    ) -> QueryResult<bool> {
        let locked: Option<String> = blobs::table
            .find(sha256)
            .filter(blobs::refs.eq(0))
            .select(blobs::sha256)
            .for_update()
            .skip_locked()
            .first(conn)
            .await
            .optional()?;
        Ok(locked.is_some())
    }

    /// Blobs no file references.
    pub async fn unreferenced(
        conn: &mut AsyncPgConnection,
        limit: i64,
    ) -> QueryResult<Vec<String>> {
        blobs::table
            .filter(blobs::refs.eq(0))
            .select(blobs::sha256)
            .limit(limit)
            .load(conn)
            .await
    }

    /// Deletes the blob row.
    pub async fn delete_blob_row(conn: &mut AsyncPgConnection, sha256: &str) -> QueryResult<()> {
        diesel::delete(blobs::table.find(sha256))
            .execute(conn)
            .await
            .map(drop)
    }

    /// Of `hashes`, those with a blob row.
    pub async fn known_blobs(
        conn: &mut AsyncPgConnection,
        hashes: &[String],
    ) -> QueryResult<Vec<String>> {
        blobs::table
            .filter(blobs::sha256.eq_any(hashes))
            .select(blobs::sha256)
            .load(conn)
            .await
    }
}
