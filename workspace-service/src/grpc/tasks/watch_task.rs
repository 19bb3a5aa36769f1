//! `WatchTask`: the task's states until it is terminal, pushed by
//! PostgreSQL notifications (no polling): one message for each change a
//! client can see (status, progress, outputs, attempts), none for a change
//! it cannot (a lease extended).

use postgres_kit::notify::Notice;
use proto::workspace::v1 as pb;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use uuid::Uuid;

use crate::db::tasks::Task;
use crate::error::{Error, Result};
use crate::grpc::ids;
use crate::state::AppState;

pub type TaskStream = ReceiverStream<Result<pb::WatchTaskResponse, Status>>;

/// Open streams one user may hold; more are RESOURCE_EXHAUSTED. Each holds
/// a task of this process and a subscription to every task change.
pub const MAX_STREAMS_PER_USER: usize = 16;

pub async fn watch_task(
    state: &AppState,
    user_id: Uuid,
    request: pb::WatchTaskRequest,
) -> Result<TaskStream> {
    let id = ids::parse_resource("task", &request.task_id)?;
    let slot = state
        .watch_streams
        .try_enter(user_id)
        .ok_or_else(|| Error::Quota {
            subject: "watch_streams",
            description: format!(
                "at most {MAX_STREAMS_PER_USER} WatchTask streams may be open at once; close one first"
            ),
        })?;
    // Subscribe before reading, so no change falls between the two.
    let mut notices = state.task_changes.subscribe();
    let first = load(state, id, user_id)
        .await?
        .ok_or(Error::NotFound("task"))?;
    let (tx, rx) = mpsc::channel(16);
    let state = state.clone();
    tokio::spawn(async move {
        // Given back when the stream ends, however it ends.
        let _slot = slot;
        let drained = service_runtime::shutdown::drained(state.draining.clone());
        tokio::pin!(drained);
        let mut last = visible(&first.1);
        let mut done = first.0.status().is_terminal();
        if tx
            .send(Ok(pb::WatchTaskResponse {
                task: Some(first.1),
            }))
            .await
            .is_err()
            || done
        {
            return;
        }
        while !done {
            let reload = tokio::select! {
                notice = notices.recv() => match notice {
                    Ok(Notice::Payload(payload)) => payload == id.to_string(),
                    Ok(Notice::Resync) | Err(RecvError::Lagged(_)) => true,
                    Err(RecvError::Closed) => return,
                },
                () = &mut drained => {
                    let _ = tx.send(Err(Status::unavailable("the service is shutting down"))).await;
                    return;
                }
                // The client went away: end now, not at the next change.
                () = tx.closed() => return,
            };
            if !reload {
                continue;
            }
            let (task, wire) = match load(&state, id, user_id).await {
                Ok(Some(loaded)) => loaded,
                Ok(None) => return,
                Err(e) => {
                    let _ = tx.send(Err(e.into())).await;
                    return;
                }
            };
            let seen = visible(&wire);
            if seen == last {
                continue;
            }
            last = seen;
            done = task.status().is_terminal();
            if tx
                .send(Ok(pb::WatchTaskResponse { task: Some(wire) }))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    Ok(ReceiverStream::new(rx))
}

async fn load(state: &AppState, id: Uuid, user_id: Uuid) -> Result<Option<(Task, pb::Task)>> {
    let mut conn = state.pool.get().await?;
    let Some(task) = Task::find_for_user(&mut conn, id, user_id).await? else {
        return Ok(None);
    };
    let wire = super::one_to_wire(&mut conn, &task).await?;
    Ok(Some((task, wire)))
}

/// What a watcher sees of a task: all of it but the time of its last change
/// (which a lease extension moves too).
fn visible(task: &pb::Task) -> pb::Task {
    pb::Task {
        updated_at: None,
        ..task.clone()
    }
}
