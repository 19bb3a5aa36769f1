//! `RevokeDevice`: forgets one of the caller's devices and ends the sessions
//! opened from it.

use access::Claims;
use diesel_async::AsyncConnection;
use proto::auth::v1 as pb;
use uuid::Uuid;

use crate::audit::{Event, EventType};
use crate::db::devices::Device;
use crate::db::sessions::Session;
use crate::error::{Error, Result};
use crate::grpc::client::ClientInfo;
use crate::sessions;
use crate::state::AppState;

const REASON: &str = "device revoked by the user";

pub async fn revoke_device(
    state: &AppState,
    caller: &Claims,
    request: pb::RevokeDeviceRequest,
    client: ClientInfo,
) -> Result<pb::RevokeDeviceResponse> {
    // A malformed id names no device the caller has.
    let device_id =
        Uuid::parse_str(request.device_id.trim()).map_err(|_| Error::NotFound("device"))?;
    let now = state.clock.now();
    let mut conn = state.pool.get().await?;
    let revoked = conn
        .transaction(async |conn| -> Result<usize> {
            if !Device::revoke(conn, caller.sub, device_id, now).await? {
                return Err(Error::NotFound("device"));
            }
            let ids = Session::unrevoked_ids_of_device(conn, device_id).await?;
            let revoked = sessions::revoke(conn, state, &ids, REASON, now).await?;
            Event::new(EventType::SessionRevoked, now)
                .user(caller.sub)
                .client(&client)
                .reason(REASON)
                .record(conn)
                .await?;
            Ok(revoked.len())
        })
        .await?;
    Ok(pb::RevokeDeviceResponse {
        revoked_sessions: revoked as i32,
    })
}
