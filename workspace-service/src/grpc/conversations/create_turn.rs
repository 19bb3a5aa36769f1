//! `CreateTurn`: the next turn of a conversation, backed by a task that the
//! workers process (one queue for turns and tasks).

use diesel_async::AsyncConnection;
use proto::workspace::v1 as pb;
use uuid::Uuid;

use crate::app::AppState;
use crate::db::conversations;
use crate::db::tasks::NewTask;
use crate::db::turns::{self, NewTurn, Turn};
use crate::domain::task_state::Status;
use crate::error::{Error, Result};
use crate::grpc::ids;

pub async fn create_turn(
    state: &AppState,
    user_id: Uuid,
    request: pb::CreateTurnRequest,
) -> Result<pb::CreateTurnResponse> {
    let conversation_id = ids::parse_resource("conversation", &request.conversation_id)?;
    let query = ids::text("query", &request.query, crate::grpc::MAX_QUERY_CHARS)?;
    let now = state.clock.now();
    let mut conn = state.pool.get().await?;
    let turn = conn
        .transaction(async |conn| -> Result<Turn> {
            // Locks the conversation row until commit: concurrent turns take
            // consecutive numbers.
            let number = conversations::next_turn_number(conn, conversation_id, user_id, now)
                .await?
                .ok_or(Error::NotFound("conversation"))?;
            let turn = NewTurn {
                id: Uuid::now_v7(),
                conversation_id,
                turn_number: number,
                query: &query,
                status: Status::Pending.as_str(),
                task_id: None,
                created_at: now,
                updated_at: now,
            }
            .insert(conn)
            .await?;
            let file_ids: Vec<Uuid> = conversations::file_ids(conn, &[conversation_id])
                .await?
                .into_iter()
                .map(|(_, f)| f)
                .collect();
            let task = NewTask {
                id: Uuid::now_v7(),
                user_id,
                query: &query,
                status: Status::Pending.as_str(),
                max_attempts: state.config.task_max_attempts,
                turn_id: Some(turn.id),
                created_at: now,
                updated_at: now,
            }
            .insert(conn, &file_ids)
            .await?;
            turns::set_task(conn, turn.id, task.id).await?;
            Ok(Turn {
                task_id: Some(task.id),
                ..turn
            })
        })
        .await?;
    Ok(pb::CreateTurnResponse {
        turn: Some(super::turn_to_wire(&turn)),
    })
}
