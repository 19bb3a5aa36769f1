//! Database rows to wire messages.

use chrono::{DateTime, Utc};
use proto::auth::v1 as pb;

use crate::audit::EventType;
use crate::db::audit::AuditEvent;
use crate::db::devices::Device;
use crate::db::identities::Identity;
use crate::db::sessions::Session;
use crate::db::users::User;
use uuid::Uuid;

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
        email: user.email.clone().unwrap_or_default(),
        username: user.username.clone().unwrap_or_default(),
        full_name: user.full_name.clone().unwrap_or_default(),
        avatar: user.avatar.clone().unwrap_or_default(),
        is_active: user.is_active,
        is_superuser: user.is_superuser,
        created_at: Some(timestamp(user.created_at)),
        updated_at: Some(timestamp(user.updated_at)),
        last_login_at: user.last_login_at.map(timestamp),
        login_count: user.login_count,
    }
}

/// A session as its owner sees it.
pub fn session(session: &Session, current: Option<Uuid>) -> pb::Session {
    pb::Session {
        session_id: session.id.to_string(),
        created_at: Some(timestamp(session.created_at)),
        last_used_at: Some(timestamp(session.last_used_at)),
        expires_at: Some(timestamp(session.expires_at)),
        ip_address: session.ip_address.clone().unwrap_or_default(),
        user_agent: session.user_agent.clone().unwrap_or_default(),
        device_info: session.device_info.clone().unwrap_or_default(),
        current: current == Some(session.id),
        device_id: session
            .device_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
    }
}

/// A provider identity.
pub fn identity(identity: &Identity) -> pb::Identity {
    pb::Identity {
        identity_id: identity.id.to_string(),
        provider: identity.provider.clone(),
        email: identity.email.clone().unwrap_or_default(),
        created_at: Some(timestamp(identity.created_at)),
        last_login_at: Some(timestamp(identity.last_login_at)),
    }
}

/// A device.
pub fn device(device: &Device) -> pb::Device {
    pb::Device {
        device_id: device.id.to_string(),
        device_info: device.device_info.clone().unwrap_or_default(),
        created_at: Some(timestamp(device.created_at)),
        last_used_at: Some(timestamp(device.last_used_at)),
        expires_at: Some(timestamp(device.expires_at)),
    }
}

/// An audit event.
pub fn audit_event(event: &AuditEvent) -> pb::AuditEvent {
    let id = |id: Option<Uuid>| id.map(|id| id.to_string()).unwrap_or_default();
    pb::AuditEvent {
        event_id: event.id.to_string(),
        r#type: EventType::parse(&event.event_type)
            .map_or(pb::AuditEventType::Unspecified, EventType::to_wire) as i32,
        occurred_at: Some(timestamp(event.occurred_at)),
        user_id: id(event.user_id),
        actor_id: id(event.actor_id),
        session_id: id(event.session_id),
        login_name: event.login_name.clone().unwrap_or_default(),
        ip_address: event.ip_address.clone().unwrap_or_default(),
        user_agent: event.user_agent.clone().unwrap_or_default(),
        reason: event.reason.clone().unwrap_or_default(),
        provider: event.provider.clone().unwrap_or_default(),
    }
}
