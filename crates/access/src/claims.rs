//! The claims of the tokens the auth-service signs.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    /// A signed-in user's access token.
    Access,
    /// A service account's token (client credentials), which carries scopes.
    Service,
}

/// The claims of an access or service token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user's (or service account's) id.
    pub sub: Uuid,
    /// The session the token belongs to (user tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<Uuid>,
    /// The token's own id.
    pub jti: Uuid,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expires at, seconds since the epoch.
    pub exp: i64,
    /// The issuer.
    pub iss: String,
    /// The audience.
    pub aud: String,
    /// The user's email (user tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether the user is a superuser.
    #[serde(default)]
    pub is_superuser: bool,
    /// Space-separated scopes (service tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// What the token is for.
    #[serde(rename = "type")]
    pub token_type: TokenType,
}

impl Claims {
    /// Whether the token grants `scope`, itself or narrowed by a qualifier
    /// (`tasks.process:image.*` grants `tasks.process` for some kinds of
    /// work; the service checks the qualifier).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.as_deref().is_some_and(|scopes| {
            scopes.split(' ').any(|s| {
                s == scope
                    || s.strip_prefix(scope)
                        .is_some_and(|rest| rest.starts_with(':') && rest.len() > 1)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_scope(scope: &str) -> Claims {
        Claims {
            sub: Uuid::nil(),
            sid: None,
            jti: Uuid::nil(),
            iat: 0,
            exp: 0,
            iss: "i".into(),
            aud: "a".into(),
            email: None,
            is_superuser: false,
            scope: Some(scope.into()),
            token_type: TokenType::Service,
        }
    }

    #[test]
    fn a_qualified_scope_grants_its_base_and_a_look_alike_does_not() {
        assert!(with_scope("tasks.process").has_scope("tasks.process"));
        assert!(with_scope("a tasks.process:image.*").has_scope("tasks.process"));
        for other in ["tasks.processx", "tasks.process:", "tasks", "reports.read"] {
            assert!(!with_scope(other).has_scope("tasks.process"), "{other}");
        }
    }
}
