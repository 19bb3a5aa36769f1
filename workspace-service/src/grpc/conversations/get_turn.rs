//! `GetTurn`: one turn with its result.

use proto::workspace::v1 as pb;
use uuid::Uuid;

use crate::db::turns::Turn;
use crate::error::{Error, Result};
use crate::grpc::ids;
use crate::state::AppState;

pub async fn get_turn(
    state: &AppState,
    user_id: Uuid,
    request: pb::GetTurnRequest,
) -> Result<pb::GetTurnResponse> {
    let id = ids::parse_resource("turn", &request.turn_id)?;
    let mut conn = state.pool.get().await?;
    let turn = Turn::find_for_user(&mut conn, id, user_id)
        .await?
        .ok_or(Error::NotFound("turn"))?;
    Ok(pb::GetTurnResponse {
        turn: Some(super::turn_to_wire(&turn)),
    })
}
