//! Database rows to wire messages.

use chrono::{DateTime, Utc};
use proto::auth::v1 as pb;

use crate::db::users::User;

/// A protobuf timestamp.
pub fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

/// The user as the wire shows it: never the password hash.
pub fn user(user: &User) -> pb::User {
    pb::User {
        user_id: user.id.to_string(),
        email: user.email.clone(),
        username: user.username.clone().unwrap_or_default(),
        full_name: user.full_name.clone().unwrap_or_default(),
        avatar: user.avatar.clone().unwrap_or_default(),
        is_active: user.is_active,
        is_superuser: user.is_superuser,
        created_at: Some(timestamp(user.created_at)),
        updated_at: Some(timestamp(user.updated_at)),
        last_login_at: user.last_login_at.map(timestamp),
    }
}
