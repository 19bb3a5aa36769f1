//! The `users` table.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::users;

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>);

/// Profile fields to change: `None` keeps a field, `Some(None)` clears it.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct ProfileChange<'a> {
    pub username: Option<Option<&'a str>>,
    pub full_name: Option<Option<&'a str>>,
    pub avatar: Option<Option<&'a str>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// Administrative flags to change: `None` keeps a flag.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct FlagsChange {
    pub is_active: Option<bool>,
    pub is_superuser: Option<bool>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// Where a page of users starts: after this (created_at, id).
pub type Position = (DateTime<Utc>, Uuid);

/// A row of `users`.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct User {
    pub id: Uuid,
    /// None for accounts made by an identity provider that gave no verified email.
    pub email: Option<String>,
    pub username: Option<String>,
    pub password_hash: Option<String>,
    pub full_name: Option<String>,
    pub avatar: Option<String>,
    pub is_active: bool,
    pub is_superuser: bool,
    pub login_count: i32,
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A new account.
#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub id: Uuid,
    pub email: Option<&'a str>,
    pub username: Option<&'a str>,
    pub password_hash: Option<&'a str>,
    pub full_name: Option<&'a str>,
    pub is_superuser: bool,
    pub created_at: DateTime<Utc>,
}

impl NewUser<'_> {
    /// Inserts the account and returns it.
    pub async fn insert(&self, conn: &mut AsyncPgConnection) -> QueryResult<User> {
        diesel::insert_into(users::table)
            .values((self, users::updated_at.eq(self.created_at)))
            .returning(User::as_returning())
            .get_result(conn)
            .await
    }
}

impl User {
    /// The account with this id.
    pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<User>> {
        users::table
            .find(id)
            .select(User::as_select())
            .first(conn)
            .await
            .optional()
    }

    /// The account with this (normalised) email.
    pub async fn find_by_email(
        conn: &mut AsyncPgConnection,
        email: &str,
    ) -> QueryResult<Option<User>> {
        users::table
            .filter(users::email.eq(email))
            .select(User::as_select())
            .first(conn)
            .await
            .optional()
    }

    /// The account with this username, whatever its case.
    pub async fn find_by_username(
        conn: &mut AsyncPgConnection,
        username: &str,
    ) -> QueryResult<Option<User>> {
        users::table
            .filter(lower(users::username).eq(username.to_lowercase()))
            .select(User::as_select())
            .first(conn)
            .await
            .optional()
    }

    /// The account with this id, locked until the transaction ends.
    pub async fn find_for_update(
        conn: &mut AsyncPgConnection,
        id: Uuid,
    ) -> QueryResult<Option<User>> {
        users::table
            .find(id)
            .select(User::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()
    }

    /// Applies a profile change.
    pub async fn update_profile(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        change: &ProfileChange<'_>,
    ) -> QueryResult<User> {
        diesel::update(users::table.find(id))
            .set(change)
            .returning(User::as_returning())
            .get_result(conn)
            .await
    }

    /// Applies an administrative change.
    pub async fn update_flags(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        change: &FlagsChange,
    ) -> QueryResult<User> {
        diesel::update(users::table.find(id))
            .set(change)
            .returning(User::as_returning())
            .get_result(conn)
            .await
    }

    /// Replaces the password hash.
    pub async fn set_password_hash(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        hash: &str,
        at: DateTime<Utc>,
    ) -> QueryResult<()> {
        diesel::update(users::table.find(id))
            .set((users::password_hash.eq(hash), users::updated_at.eq(at)))
            .execute(conn)
            .await
            .map(drop)
    }

    /// One page of users whose email or username starts with `prefix`
    /// (case-insensitive), newest first, after `after`.
    pub async fn page(
        conn: &mut AsyncPgConnection,
        prefix: &str,
        after: Option<Position>,
        limit: i64,
    ) -> QueryResult<Vec<User>> {
        let mut query = Self::matching(prefix);
        if let Some((created_at, id)) = after {
            query = query.filter(
                users::created_at
                    .lt(created_at)
                    .or(users::created_at.eq(created_at).and(users::id.lt(id))),
            );
        }
        query
            .order((users::created_at.desc(), users::id.desc()))
            .limit(limit)
            .select(User::as_select())
            .load(conn)
            .await
    }

    /// How many users match `prefix`.
    pub async fn count_matching(conn: &mut AsyncPgConnection, prefix: &str) -> QueryResult<i64> {
        Self::matching(prefix).count().get_result(conn).await
    }

    fn matching(prefix: &str) -> users::BoxedQuery<'static, diesel::pg::Pg> {
        let query = users::table.into_boxed();
        if prefix.is_empty() {
            return query;
        }
        // LIKE's wildcards in the prefix are literal characters.
        let pattern = format!(
            "{}%",
            prefix
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        query.filter(
            users::email
                .like(pattern.clone())
                .or(lower(users::username).like(pattern)),
        )
    }

    /// Records a successful sign-in.
    pub async fn record_login(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> QueryResult<User> {
        diesel::update(users::table.find(id))
            .set((
                users::last_login_at.eq(at),
                users::login_count.eq(users::login_count + 1),
            ))
            .returning(User::as_returning())
            .get_result(conn)
            .await
    }
}
