//! `CreateTurn`: the next turn of a conversation, backed by a task that the
//! workers process (one queue for turns and tasks), within the caller's
//! task limits; a retry with the same `request_id` returns the first call's
//! turn.

use diesel_async::AsyncConnection;
use proto::workspace::v1 as pb;
use uuid::Uuid;

use crate::db::conversations::Conversation;
use crate::db::request_ids::{Claimed, RequestKey};
use crate::db::tasks::NewTask;
use crate::db::turns::{NewTurn, Turn};
use crate::domain::Query;
use crate::domain::kind::Kind;
use crate::domain::task_state::Status;
use crate::error::{Error, Result};
use crate::grpc::ids;
use crate::grpc::tasks::create_task::{Admit, check_limits};
use crate::state::AppState;

pub async fn create_turn(
    state: &AppState,
    user_id: Uuid,
    request: pb::CreateTurnRequest,
) -> Result<pb::CreateTurnResponse> {
    let conversation_id = ids::parse_resource("conversation", &request.conversation_id)?;
    let query = Query::parse(&request.query)?.into_inner();
    let kind = Kind::parse(&request.kind).map_err(|why| Error::invalid("kind", why))?;
    let key = ids::request_id(&request.request_id)?.map(|id| {
        RequestKey::new(
            user_id,
            id,
            "CreateTurn",
            &(conversation_id, &query, kind.as_str()),
        )
    });
    let now = state.clock.now();
    let turn_id = Uuid::now_v7();
    let mut conn = state.pool.get().await?;
    let turn = conn
        .transaction(async |conn| -> Result<Turn> {
            if let Some(key) = &key {
                match RequestKey::claim(conn, key, turn_id, now).await? {
                    Claimed::Fresh => {}
                    Claimed::Replay(id) => {
                        return Turn::find_for_user(conn, id, user_id)
                            .await?
                            .ok_or(Error::NotFound("turn"));
                    }
                    Claimed::Mismatch => return Err(ids::request_id_reused()),
                }
            }
            // Locks the conversation row until commit: concurrent turns take
            // consecutive numbers.
            let number = Conversation::next_turn_number(conn, conversation_id, user_id, now)
                .await?
                .ok_or(Error::NotFound("conversation"))?;
            check_limits(conn, state, user_id, Admit::Create(Status::Pending)).await?;
            let turn = NewTurn {
                id: turn_id,
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
            let file_ids: Vec<Uuid> = Conversation::file_ids(conn, &[conversation_id])
                .await?
                .into_iter()
                .map(|(_, f)| f)
                .collect();
            let task = NewTask {
                id: Uuid::now_v7(),
                user_id,
                query: &query,
                kind: kind.as_str(),
                status: Status::Pending.as_str(),
                max_attempts: state.config.task_max_attempts,
                turn_id: Some(turn.id),
                created_at: now,
                updated_at: now,
                run_after: now,
            }
            .insert(conn, &file_ids)
            .await?;
            Turn::set_task(conn, turn.id, task.id).await?;
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
