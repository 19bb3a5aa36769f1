//! Counting queries for the statistics routes. Task counts come from the
//! per-user counters; the rest are indexed counts.

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// What one user (or everyone, with `user_id` `None`) has.
#[derive(Debug, Clone, Default, QueryableByName)]
pub struct Usage {
    #[diesel(sql_type = BigInt)]
    pub files: i64,
    #[diesel(sql_type = BigInt)]
    pub bytes_stored: i64,
    #[diesel(sql_type = BigInt)]
    pub conversations: i64,
    #[diesel(sql_type = BigInt)]
    pub turns: i64,
    #[diesel(sql_type = BigInt)]
    pub completed_turns: i64,
}

#[derive(QueryableByName)]
struct StatusCount {
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// System-wide figures beyond the usage.
#[derive(Debug, Clone, Default, QueryableByName)]
pub struct System {
    #[diesel(sql_type = BigInt)]
    pub users: i64,
    #[diesel(sql_type = BigInt)]
    pub bytes_deduplicated: i64,
    #[diesel(sql_type = BigInt)]
    pub active_users: i64,
    #[diesel(sql_type = BigInt)]
    pub files_uploaded: i64,
    #[diesel(sql_type = BigInt)]
    pub conversations_started: i64,
    #[diesel(sql_type = BigInt)]
    pub turns_created: i64,
    #[diesel(sql_type = BigInt)]
    pub tasks_created: i64,
    #[diesel(sql_type = BigInt)]
    pub tasks_completed: i64,
}

#[derive(QueryableByName)]
struct Ranked {
    #[diesel(sql_type = SqlUuid)]
    user_id: Uuid,
    #[diesel(sql_type = BigInt)]
    value: i64,
}

/// What a leaderboard ranks by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Tasks,
    Files,
    Storage,
}

impl Usage {
    /// The usage of `user_id`, or of everyone.
    pub async fn of(
        conn: &mut AsyncPgConnection,
        user_id: Option<Uuid>,
    ) -> diesel::QueryResult<Usage> {
        diesel::sql_query(
            "SELECT
               (SELECT count(*) FROM files WHERE $1 IS NULL OR user_id = $1) AS files,
               (SELECT coalesce(sum(size_bytes), 0)::bigint FROM files WHERE $1 IS NULL OR user_id = $1) AS bytes_stored,
               (SELECT count(*) FROM conversations
                  WHERE status <> 'deleted' AND ($1 IS NULL OR user_id = $1)) AS conversations,
               (SELECT count(*) FROM conversation_turns t JOIN conversations c ON c.id = t.conversation_id
                  WHERE c.status <> 'deleted' AND ($1 IS NULL OR c.user_id = $1)) AS turns,
               (SELECT count(*) FROM conversation_turns t JOIN conversations c ON c.id = t.conversation_id
                  WHERE c.status <> 'deleted' AND t.status = 'completed'
                    AND ($1 IS NULL OR c.user_id = $1)) AS completed_turns",
        )
        .bind::<Nullable<SqlUuid>, _>(user_id)
        .get_result(conn)
        .await
    }

    /// Task counts by status over every user.
    pub async fn task_counts(
        conn: &mut AsyncPgConnection,
    ) -> diesel::QueryResult<Vec<(String, i64)>> {
        let rows: Vec<StatusCount> = diesel::sql_query(
            "SELECT status, sum(count)::bigint AS count FROM task_counts GROUP BY status",
        )
        .load(conn)
        .await?;
        Ok(rows.into_iter().map(|r| (r.status, r.count)).collect())
    }
}

impl System {
    /// System-wide figures; activity counts what happened since `since`.
    pub async fn since(
        conn: &mut AsyncPgConnection,
        since: DateTime<Utc>,
    ) -> diesel::QueryResult<System> {
        diesel::sql_query(
            "SELECT
               (SELECT count(*) FROM (SELECT user_id FROM files UNION SELECT user_id FROM conversations
                                      UNION SELECT user_id FROM tasks) u) AS users,
               (SELECT coalesce(sum(size_bytes), 0)::bigint FROM blobs WHERE refs > 0) AS bytes_deduplicated,
               (SELECT count(*) FROM (SELECT user_id FROM files WHERE uploaded_at >= $1
                                      UNION SELECT user_id FROM conversations WHERE created_at >= $1
                                      UNION SELECT user_id FROM tasks WHERE created_at >= $1) a) AS active_users,
               (SELECT count(*) FROM files WHERE uploaded_at >= $1) AS files_uploaded,
               (SELECT count(*) FROM conversations WHERE created_at >= $1) AS conversations_started,
               (SELECT count(*) FROM conversation_turns WHERE created_at >= $1) AS turns_created,
               (SELECT count(*) FROM tasks WHERE created_at >= $1) AS tasks_created,
               (SELECT count(*) FROM tasks WHERE status = 'completed' AND completed_at >= $1) AS tasks_completed",
        )
        .bind::<Timestamptz, _>(since)
        .get_result(conn)
        .await
    }

    /// The `limit` users with the highest `metric`.
    pub async fn top_users(
        conn: &mut AsyncPgConnection,
        metric: Metric,
        limit: i64,
    ) -> diesel::QueryResult<Vec<(Uuid, i64)>> {
        let sql = match metric {
            Metric::Tasks => {
                "SELECT user_id, sum(count)::bigint AS value FROM task_counts GROUP BY user_id"
            }
            Metric::Files => "SELECT user_id, count(*) AS value FROM files GROUP BY user_id",
            Metric::Storage => {
                "SELECT user_id, sum(size_bytes)::bigint AS value FROM files GROUP BY user_id"
            }
        };
        let rows: Vec<Ranked> =
            diesel::sql_query(format!("{sql} ORDER BY value DESC, user_id LIMIT $1"))
                .bind::<BigInt, _>(limit)
                .load(conn)
                .await?;
        Ok(rows.into_iter().map(|r| (r.user_id, r.value)).collect())
    }
}
