//! `GetJwks`: the public keys that verify tokens.

use proto::auth::v1 as pb;

use crate::state::AppState;

pub fn get_jwks(state: &AppState) -> pb::GetJwksResponse {
    pb::GetJwksResponse {
        keys: state.issuer.keys().jwks(),
    }
}
