//! The `users` table.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::users;

/// A row of `users`.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct User {
    pub id: Uuid,
    pub email: String,
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
    pub email: &'a str,
    pub username: Option<&'a str>,
    pub password_hash: Option<&'a str>,
    pub full_name: Option<&'a str>,
    pub is_superuser: bool,
}

impl NewUser<'_> {
    /// Inserts the account and returns it.
    pub async fn insert(&self, conn: &mut AsyncPgConnection) -> QueryResult<User> {
        diesel::insert_into(users::table)
            .values(self)
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
        diesel::define_sql_function!(fn lower(x: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>);
        users::table
            .filter(lower(users::username).eq(username.to_lowercase()))
            .select(User::as_select())
            .first(conn)
            .await
            .optional()
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
