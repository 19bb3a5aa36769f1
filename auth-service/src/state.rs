//! [`AppState`]: what every RPC and background job of the service needs.
//! It names no handler: handlers depend on it, never the other way.

use std::sync::Arc;

use postgres_kit::PgPool;
use service_runtime::clock::Clock;
use service_runtime::paging::PageTokens;
use tokio::sync::watch;

use crate::config::Config;
use crate::passwords::PasswordHasher;
use crate::revocations::Hub;
use crate::tokens::TokenIssuer;

/// What every RPC needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The configuration.
    pub config: Arc<Config>,
    /// The database.
    pub pool: PgPool,
    /// Password hashing.
    pub hasher: PasswordHasher,
    /// Token signing.
    pub issuer: TokenIssuer,
    /// The time.
    pub clock: Clock,
    /// Revocations made by any replica, as they commit.
    pub hub: Hub,
    /// Signs and checks page tokens.
    pub page_tokens: PageTokens,
    /// Becomes true when the service starts draining: long-lived streams end.
    pub draining: watch::Receiver<bool>,
    /// WeChat login (None when not configured).
    pub wechat: Option<crate::wechat::WechatClient>,
    /// OpenID Connect providers.
    pub oidc: crate::oidc::OidcProviders,
    /// The mail outbox's backlog, as the sender last counted it.
    pub mail_backlog: crate::mail::Backlog,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}
