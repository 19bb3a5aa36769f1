//! `LinkIdentity`: the signed-in user attaches an OpenID Connect identity
//! to their account, proving it with an ID token and a nonce of
//! `StartOidcLogin`, within 10 minutes of signing in (the session's start,
//! not its last refresh).

use access::Claims;
use proto::auth::v1 as pb;
use uuid::Uuid;

use crate::audit::{Event, EventType};
use crate::db::identities::Identity;
use crate::db::sessions::Session;
use crate::domain::Invalid;
use crate::error::{Error, Result};
use crate::grpc::client::ClientInfo;
use crate::grpc::convert;
use crate::identities;
use crate::state::AppState;

/// How recent the caller's sign-in must be.
const RECENT_SIGN_IN: chrono::Duration = chrono::Duration::minutes(10);

pub async fn link_identity(
    state: &AppState,
    caller: &Claims,
    request: pb::LinkIdentityRequest,
    client: ClientInfo,
) -> Result<pb::LinkIdentityResponse> {
    let provider = request.provider.trim();
    if provider.is_empty() {
        return Err(Invalid::new("provider", "is required").into());
    }
    if request.id_token.is_empty() {
        return Err(Invalid::new("id_token", "is required").into());
    }
    if request.id_token.len() > 16 * 1024 || request.nonce.len() > 512 {
        return Err(Invalid::new("id_token", "is too long to be an ID token").into());
    }
    // A new way into the account is given only right after a sign-in: a
    // stolen access or refresh token of an older session cannot add one.
    let now = state.clock.now();
    let mut conn = state.pool.get().await?;
    let signed_in_at = match caller.sid {
        Some(sid) => Session::find(&mut conn, sid).await?.map(|s| s.created_at),
        None => None,
    };
    if signed_in_at.is_none_or(|at| now - at > RECENT_SIGN_IN) {
        return Err(Error::FailedPrecondition(
            "sign in again to link a provider (a sign-in of the last 10 minutes is needed)",
        ));
    }
    drop(conn);
    let claims =
        identities::verify_oidc(state, provider, &request.id_token, &request.nonce, &client)
            .await?;
    let mut conn = state.pool.get().await?;
    let identity = Identity {
        id: Uuid::now_v7(),
        user_id: caller.sub,
        provider: provider.to_owned(),
        subject: claims.sub.clone(),
        union_id: None,
        email: claims.verified_email(),
        secret: None,
        created_at: now,
        last_login_at: now,
    };
    let linked = match identity.insert(&mut conn).await? {
        Some(linked) => linked,
        None => {
            // Already linked: to this account, nothing to do; to another,
            // the person there owns it.
            let existing = Identity::find_for_update(&mut conn, provider, &claims.sub)
                .await?
                .ok_or(Error::Unavailable(
                    "the identity is being changed; try again",
                ))?;
            if existing.user_id != caller.sub {
                return Err(Error::AlreadyExists {
                    field: "id_token",
                    description: "this identity is linked to another account".into(),
                });
            }
            existing
        }
    };
    Event::new(EventType::IdentityLinked, now)
        .user(caller.sub)
        .provider(provider)
        .login_name(&format!("{provider}:{}", claims.sub))
        .client(&client)
        .record(&mut conn)
        .await?;
    Ok(pb::LinkIdentityResponse {
        identity: Some(convert::identity(&linked)),
    })
}
