//! The `conversations` and `conversation_files` tables.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::{conversation_files, conversations};

/// A row of `conversations`.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = conversations)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct Conversation {
    pub id: Uuid,
    pub user_id: Uuid,
    pub title: String,
    pub status: String,
    pub turn_count: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A new conversation.
#[derive(Debug, Insertable)]
#[diesel(table_name = conversations)]
pub struct NewConversation<'a> {
    pub id: Uuid,
    pub user_id: Uuid,
    pub title: &'a str,
    pub status: &'a str,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl NewConversation<'_> {
    /// Inserts the conversation and its file links.
    pub async fn insert(
        &self,
        conn: &mut AsyncPgConnection,
        file_ids: &[Uuid],
    ) -> QueryResult<Conversation> {
        let conversation = diesel::insert_into(conversations::table)
            .values(self)
            .returning(Conversation::as_returning())
            .get_result(conn)
            .await?;
        let links: Vec<_> = file_ids
            .iter()
            .map(|file_id| {
                (
                    conversation_files::conversation_id.eq(self.id),
                    conversation_files::file_id.eq(*file_id),
                    conversation_files::created_at.eq(self.created_at),
                )
            })
            .collect();
        if !links.is_empty() {
            diesel::insert_into(conversation_files::table)
                .values(links)
                .execute(conn)
                .await?;
        }
        Ok(conversation)
    }
}

/// Fields to change: `None` keeps a field.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = conversations)]
pub struct ConversationChange<'a> {
    pub title: Option<&'a str>,
    pub status: Option<&'a str>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// Where a page of conversations starts: after this (updated_at, id).
pub type Position = (DateTime<Utc>, Uuid);

/// Which conversations a list shows.
#[derive(Debug, Clone, Copy)]
pub struct ListFilter<'a> {
    pub user_id: Uuid,
    /// One status; `None` for active and archived.
    pub status: Option<&'a str>,
}

impl ListFilter<'_> {
    fn query(&self) -> conversations::BoxedQuery<'_, diesel::pg::Pg> {
        let query = conversations::table
            .filter(conversations::user_id.eq(self.user_id))
            .into_boxed();
        match self.status {
            Some(status) => query.filter(conversations::status.eq(status)),
            None => query.filter(conversations::status.ne("deleted")),
        }
    }

    /// One page, most recently updated first, starting after `after`.
    pub async fn page(
        &self,
        conn: &mut AsyncPgConnection,
        after: Option<Position>,
        limit: i64,
    ) -> QueryResult<Vec<Conversation>> {
        let mut query = self.query();
        if let Some((updated_at, id)) = after {
            query = query.filter(
                conversations::updated_at
                    .lt(updated_at)
                    .or(conversations::updated_at
                        .eq(updated_at)
                        .and(conversations::id.lt(id))),
            );
        }
        query
            .order((conversations::updated_at.desc(), conversations::id.desc()))
            .limit(limit)
            .select(Conversation::as_select())
            .load(conn)
            .await
    }

    /// How many conversations match.
    pub async fn count(&self, conn: &mut AsyncPgConnection) -> QueryResult<i64> {
        self.query().count().get_result(conn).await
    }
}

impl Conversation {
    /// The caller's conversation that is not deleted, or `None`.
    pub async fn find_for_user(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        user_id: Uuid,
    ) -> QueryResult<Option<Conversation>> {
        conversations::table
            .find(id)
            .filter(conversations::user_id.eq(user_id))
            .filter(conversations::status.ne("deleted"))
            .select(Conversation::as_select())
            .first(conn)
            .await
            .optional()
    }

    /// Takes the next turn number of the caller's (not deleted) conversation:
    /// increments its turn count under the row's lock and bumps `updated_at`.
    /// Concurrent callers get consecutive numbers.
    pub async fn next_turn_number(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> QueryResult<Option<i32>> {
        diesel::update(
            conversations::table
                .find(id)
                .filter(conversations::user_id.eq(user_id))
                .filter(conversations::status.ne("deleted")),
        )
        .set((
            conversations::turn_count.eq(conversations::turn_count + 1),
            conversations::updated_at.eq(now),
        ))
        .returning(conversations::turn_count)
        .get_result(conn)
        .await
        .optional()
    }

    /// Applies `change` to the caller's (not deleted) conversation.
    pub async fn update(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        user_id: Uuid,
        change: &ConversationChange<'_>,
    ) -> QueryResult<Option<Conversation>> {
        diesel::update(
            conversations::table
                .find(id)
                .filter(conversations::user_id.eq(user_id))
                .filter(conversations::status.ne("deleted")),
        )
        .set(change)
        .returning(Conversation::as_returning())
        .get_result(conn)
        .await
        .optional()
    }

    /// Replaces the files of a conversation.
    pub async fn replace_files(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        file_ids: &[Uuid],
        now: DateTime<Utc>,
    ) -> QueryResult<()> {
        diesel::delete(
            conversation_files::table.filter(conversation_files::conversation_id.eq(id)),
        )
        .execute(conn)
        .await?;
        let links: Vec<_> = file_ids
            .iter()
            .map(|file_id| {
                (
                    conversation_files::conversation_id.eq(id),
                    conversation_files::file_id.eq(*file_id),
                    conversation_files::created_at.eq(now),
                )
            })
            .collect();
        if !links.is_empty() {
            diesel::insert_into(conversation_files::table)
                .values(links)
                .execute(conn)
                .await?;
        }
        Ok(())
    }

    /// The file ids of each of `conversation_ids`, in the order they were linked.
    pub async fn file_ids(
        conn: &mut AsyncPgConnection,
        conversation_ids: &[Uuid],
    ) -> QueryResult<Vec<(Uuid, Uuid)>> {
        conversation_files::table
            .filter(conversation_files::conversation_id.eq_any(conversation_ids))
            .order((conversation_files::created_at, conversation_files::file_id))
            .select((
                conversation_files::conversation_id,
                conversation_files::file_id,
            ))
            .load(conn)
            .await
    }
}
