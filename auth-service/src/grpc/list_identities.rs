//! `ListIdentities`: the provider identities linked to the caller's account.

use access::Claims;
use proto::auth::v1 as pb;

use crate::db::identities::Identity;
use crate::error::Result;
use crate::grpc::convert;
use crate::state::AppState;

pub async fn list_identities(
    state: &AppState,
    caller: &Claims,
) -> Result<pb::ListIdentitiesResponse> {
    let mut conn = state.pool.get().await?;
    let mut identities = Identity::of_user(&mut conn, caller.sub).await?;
    identities.sort_by_key(|i| (i.created_at, i.id));
    Ok(pb::ListIdentitiesResponse {
        identities: identities.iter().map(convert::identity).collect(),
    })
}
