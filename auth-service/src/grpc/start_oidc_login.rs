//! `StartOidcLogin`: the nonce a sign-in with an OpenID Connect provider
//! must carry (see `oidc::nonce`). Nothing is stored.

use proto::auth::v1 as pb;

use crate::domain::Invalid;
use crate::error::Result;
use crate::oidc::nonce;
use crate::state::AppState;

pub fn start_oidc_login(
    state: &AppState,
    request: pb::StartOidcLoginRequest,
) -> Result<pb::StartOidcLoginResponse> {
    let provider = request.provider.trim();
    if provider.is_empty() {
        return Err(Invalid::new("provider", "is required").into());
    }
    state.oidc.requires_nonce(provider)?;
    Ok(pb::StartOidcLoginResponse {
        nonce: nonce::issue(&state.page_tokens, provider, state.clock.now()),
        expires_in: nonce::TTL.num_seconds() as i32,
    })
}
