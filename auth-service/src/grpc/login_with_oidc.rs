//! `LoginWithOidc`: an ID token of a configured OpenID Connect provider,
//! checked against the provider's keys, signs the user in (see
//! `identities`).

use proto::auth::v1 as pb;

use crate::app::AppState;
use crate::domain::Invalid;
use crate::error::Result;
use crate::grpc::client::ClientInfo;
use crate::identities::{self, External};
use crate::oidc::OidcError;

pub async fn login_with_oidc(
    state: &AppState,
    request: pb::LoginWithOidcRequest,
    client: ClientInfo,
) -> Result<pb::LoginWithOidcResponse> {
    let provider = request.provider.trim();
    if provider.is_empty() {
        return Err(Invalid::new("provider", "is required").into());
    }
    if request.id_token.is_empty() {
        return Err(Invalid::new("id_token", "is required").into());
    }
    if request.id_token.len() > 16 * 1024 {
        return Err(Invalid::new("id_token", "is too long to be an ID token").into());
    }
    let nonce = Some(request.nonce.as_str()).filter(|n| !n.is_empty());
    let claims = match state.oidc.verify(provider, &request.id_token, nonce).await {
        Ok(claims) => claims,
        Err(OidcError::UnknownProvider) => return Err(OidcError::UnknownProvider.into()),
        Err(e) => {
            identities::record_failure(state, provider, None, &client, &e.to_string()).await?;
            return Err(e.into());
        }
    };
    let verified_email = claims.verified_email();
    // A display name for a new account, within the profile's limit.
    let name = claims
        .name
        .as_deref()
        .map(|n| crate::grpc::client::truncate(n.trim(), 100))
        .filter(|n| !n.is_empty());
    let token_pair = identities::sign_in(
        state,
        External {
            provider,
            subject: &claims.sub,
            union_id: None,
            verified_email: verified_email.as_deref(),
            name: name.as_deref(),
            sealed_secret: None,
        },
        &client,
        &request.device_info,
    )
    .await?;
    Ok(pb::LoginWithOidcResponse {
        token_pair: Some(token_pair),
    })
}
