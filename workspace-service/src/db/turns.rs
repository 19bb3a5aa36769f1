//! The `conversation_turns` table.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::{conversation_turns, conversations};

/// A row of `conversation_turns`.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = conversation_turns)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct Turn {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub turn_number: i32,
    pub query: String,
    pub status: String,
    pub analysis: Option<String>,
    pub variables: Option<serde_json::Value>,
    pub new_columns: Option<serde_json::Value>,
    pub formulas: Option<serde_json::Value>,
    pub errors: Option<serde_json::Value>,
    pub output_file_id: Option<Uuid>,
    pub task_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// A new turn.
#[derive(Debug, Insertable)]
#[diesel(table_name = conversation_turns)]
pub struct NewTurn<'a> {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub turn_number: i32,
    pub query: &'a str,
    pub status: &'a str,
    pub task_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl NewTurn<'_> {
    /// Inserts the turn.
    pub async fn insert(&self, conn: &mut AsyncPgConnection) -> QueryResult<Turn> {
        diesel::insert_into(conversation_turns::table)
            .values(self)
            .returning(Turn::as_returning())
            .get_result(conn)
            .await
    }
}

impl Turn {
    /// Links a turn to the task that processes it.
    pub async fn set_task(
        conn: &mut AsyncPgConnection,
        turn_id: Uuid,
        task_id: Uuid,
    ) -> QueryResult<()> {
        diesel::update(conversation_turns::table.find(turn_id))
            .set(conversation_turns::task_id.eq(task_id))
            .execute(conn)
            .await
            .map(drop)
    }

    /// The turns of a conversation, in order.
    pub async fn of_conversation(
        conn: &mut AsyncPgConnection,
        conversation_id: Uuid,
    ) -> QueryResult<Vec<Turn>> {
        conversation_turns::table
            .filter(conversation_turns::conversation_id.eq(conversation_id))
            .order(conversation_turns::turn_number)
            .select(Turn::as_select())
            .load(conn)
            .await
    }

    /// The caller's turn (its conversation not deleted), or `None`.
    pub async fn find_for_user(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        user_id: Uuid,
    ) -> QueryResult<Option<Turn>> {
        conversation_turns::table
            .inner_join(conversations::table)
            .filter(conversation_turns::id.eq(id))
            .filter(conversations::user_id.eq(user_id))
            .filter(conversations::status.ne("deleted"))
            .select(Turn::as_select())
            .first(conn)
            .await
            .optional()
    }

    /// A turn, or `None`.
    pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Turn>> {
        conversation_turns::table
            .find(id)
            .select(Turn::as_select())
            .first(conn)
            .await
            .optional()
    }

    /// The turns of a conversation numbered below `before`, in order.
    pub async fn earlier(
        conn: &mut AsyncPgConnection,
        conversation_id: Uuid,
        before: i32,
    ) -> QueryResult<Vec<Turn>> {
        conversation_turns::table
            .filter(conversation_turns::conversation_id.eq(conversation_id))
            .filter(conversation_turns::turn_number.lt(before))
            .order(conversation_turns::turn_number)
            .select(Turn::as_select())
            .load(conn)
            .await
    }
}
