//! `LoginWithOidc`: an ID token of a configured OpenID Connect provider,
//! checked against the provider's keys, signs the user in (see
//! `identities`).

use proto::auth::v1 as pb;

use crate::domain::Invalid;
use crate::error::Result;
use crate::grpc::client::ClientInfo;
use crate::identities::{self, External};
use crate::state::AppState;

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
    if request.nonce.len() > 512 {
        return Err(Invalid::new("nonce", "is too long to be a nonce").into());
    }
    let claims =
        identities::verify_oidc(state, provider, &request.id_token, &request.nonce, &client)
            .await?;
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
