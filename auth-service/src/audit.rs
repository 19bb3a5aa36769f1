//! Recording security events. Events are written in the same transaction as
//! what they record, so the log never claims something that did not happen.

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use proto::auth::v1::AuditEventType;
use uuid::Uuid;

use crate::db::audit::AuditEvent;
use crate::grpc::ClientInfo;

/// The kinds of event, as stored (`event_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    LoginSucceeded,
    LoginFailed,
    Logout,
    Refresh,
    RefreshReuse,
    SessionRevoked,
    PasswordChanged,
    AccountActivated,
    AccountDeactivated,
    RoleChanged,
    Registered,
    ServiceTokenIssued,
    IdentityLinked,
    IdentityUnlinked,
    PasswordResetRequested,
    PasswordReset,
}

const ALL: [EventType; 16] = [
    EventType::LoginSucceeded,
    EventType::LoginFailed,
    EventType::Logout,
    EventType::Refresh,
    EventType::RefreshReuse,
    EventType::SessionRevoked,
    EventType::PasswordChanged,
    EventType::AccountActivated,
    EventType::AccountDeactivated,
    EventType::RoleChanged,
    EventType::Registered,
    EventType::ServiceTokenIssued,
    EventType::IdentityLinked,
    EventType::IdentityUnlinked,
    EventType::PasswordResetRequested,
    EventType::PasswordReset,
];

impl EventType {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoginSucceeded => "login_succeeded",
            Self::LoginFailed => "login_failed",
            Self::Logout => "logout",
            Self::Refresh => "refresh",
            Self::RefreshReuse => "refresh_reuse",
            Self::SessionRevoked => "session_revoked",
            Self::PasswordChanged => "password_changed",
            Self::AccountActivated => "account_activated",
            Self::AccountDeactivated => "account_deactivated",
            Self::RoleChanged => "role_changed",
            Self::Registered => "registered",
            Self::ServiceTokenIssued => "service_token_issued",
            Self::IdentityLinked => "identity_linked",
            Self::IdentityUnlinked => "identity_unlinked",
            Self::PasswordResetRequested => "password_reset_requested",
            Self::PasswordReset => "password_reset",
        }
    }

    /// The wire enum.
    pub fn to_wire(self) -> AuditEventType {
        match self {
            Self::LoginSucceeded => AuditEventType::LoginSucceeded,
            Self::LoginFailed => AuditEventType::LoginFailed,
            Self::Logout => AuditEventType::Logout,
            Self::Refresh => AuditEventType::Refresh,
            Self::RefreshReuse => AuditEventType::RefreshReuse,
            Self::SessionRevoked => AuditEventType::SessionRevoked,
            Self::PasswordChanged => AuditEventType::PasswordChanged,
            Self::AccountActivated => AuditEventType::AccountActivated,
            Self::AccountDeactivated => AuditEventType::AccountDeactivated,
            Self::RoleChanged => AuditEventType::RoleChanged,
            Self::Registered => AuditEventType::Registered,
            Self::ServiceTokenIssued => AuditEventType::ServiceTokenIssued,
            Self::IdentityLinked => AuditEventType::IdentityLinked,
            Self::IdentityUnlinked => AuditEventType::IdentityUnlinked,
            Self::PasswordResetRequested => AuditEventType::PasswordResetRequested,
            Self::PasswordReset => AuditEventType::PasswordReset,
        }
    }

    /// The type of a wire enum (`None` for unspecified).
    pub fn from_wire(wire: AuditEventType) -> Option<Self> {
        ALL.into_iter().find(|t| t.to_wire() == wire)
    }

    /// The type of a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// An event being described, then recorded.
#[derive(Debug, Clone)]
pub struct Event {
    row: AuditEvent,
}

impl Event {
    /// An event of `event_type` at `at`.
    pub fn new(event_type: EventType, at: DateTime<Utc>) -> Self {
        Self {
            row: AuditEvent {
                id: Uuid::now_v7(),
                occurred_at: at,
                event_type: event_type.as_str().to_owned(),
                user_id: None,
                actor_id: None,
                session_id: None,
                login_name: None,
                ip_address: None,
                user_agent: None,
                reason: None,
                provider: None,
            },
        }
    }

    /// The account concerned.
    pub fn user(mut self, user_id: Uuid) -> Self {
        self.row.user_id = Some(user_id);
        self
    }

    /// Who acted, when not the user.
    pub fn actor(mut self, actor_id: Uuid) -> Self {
        self.row.actor_id = Some(actor_id);
        self
    }

    /// The session concerned.
    pub fn session(mut self, session_id: Uuid) -> Self {
        self.row.session_id = Some(session_id);
        self
    }

    /// The login name typed (bounded: it comes from outside).
    pub fn login_name(mut self, name: &str) -> Self {
        self.row.login_name = Some(crate::grpc::truncate(name, 320));
        self
    }

    /// Where the request came from.
    pub fn client(mut self, client: &ClientInfo) -> Self {
        self.row.ip_address.clone_from(&client.ip_address);
        self.row.user_agent.clone_from(&client.user_agent);
        self
    }

    /// The identity provider a sign-in went through.
    pub fn provider(mut self, provider: &str) -> Self {
        self.row.provider = Some(provider.to_owned());
        self
    }

    /// Why (a failure reason, or what changed).
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.row.reason = Some(reason.into());
        self
    }

    /// Writes the event.
    pub async fn record(self, conn: &mut AsyncPgConnection) -> diesel::QueryResult<()> {
        self.row.insert(conn).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips_through_its_name_and_the_wire() {
        for event_type in ALL {
            assert_eq!(EventType::parse(event_type.as_str()), Some(event_type));
            assert_eq!(EventType::from_wire(event_type.to_wire()), Some(event_type));
        }
        assert_eq!(EventType::from_wire(AuditEventType::Unspecified), None);
    }
}
