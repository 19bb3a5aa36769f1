//! `GetTaskContext`: what a turn's task builds on (its conversation's files,
//! the earlier turns and their outputs), for the worker holding the lease.
//! The same context bounds what `ReadTaskFile` may read.

use std::collections::HashSet;

use diesel_async::AsyncPgConnection;
use proto::workspace::v1 as pb;
use uuid::Uuid;

use crate::db::conversations::Conversation;
use crate::db::files::File;
use crate::db::tasks::Task;
use crate::db::tasks::TaskFile;
use crate::db::turns::Turn;
use crate::error::Result;
use crate::grpc::conversations::turn_to_wire;
use crate::grpc::ids;
use crate::grpc::tasks::{file_to_task_file, task_file_to_wire};
use crate::state::AppState;

pub async fn get_task_context(
    state: &AppState,
    subject: Uuid,
    request: pb::GetTaskContextRequest,
) -> Result<pb::GetTaskContextResponse> {
    let task_id = ids::parse_resource("task", &request.task_id)?;
    let worker = super::worker_id(&request.worker_id)?;
    let mut conn = state.pool.get().await?;
    let holder = super::Holder {
        worker_id: &worker,
        subject,
    };
    let task = super::leased_task(&mut conn, task_id, holder, state.clock.now()).await?;
    Ok(context(&mut conn, &task).await?.wire)
}

/// A task's context and the files it lets the worker read.
pub struct Context {
    pub wire: pb::GetTaskContextResponse,
    /// The files the worker may read: the task's own (inputs and outputs),
    /// and its conversation's and earlier turns' outputs.
    pub readable: HashSet<Uuid>,
}

/// The context of `task` (whose lease the caller checked).
pub async fn context(conn: &mut AsyncPgConnection, task: &Task) -> Result<Context> {
    let mut readable: HashSet<Uuid> = Task::files_of(conn, &[task.id])
        .await?
        .into_iter()
        .chain(TaskFile::outputs_of(conn, &[task.id]).await?)
        .map(|f| f.file_id)
        .collect();
    let mut wire = pb::GetTaskContextResponse::default();
    let turn = match task.turn_id {
        Some(turn_id) => Turn::find(conn, turn_id).await?,
        None => None,
    };
    let Some(turn) = turn else {
        return Ok(Context { wire, readable });
    };
    wire.conversation_id = turn.conversation_id.to_string();
    let conversation_files: Vec<Uuid> = Conversation::file_ids(conn, &[turn.conversation_id])
        .await?
        .into_iter()
        .map(|(_, file)| file)
        .collect();
    let earlier = Turn::earlier(conn, turn.conversation_id, turn.turn_number).await?;
    let earlier_tasks: Vec<Uuid> = earlier.iter().filter_map(|t| t.task_id).collect();
    let earlier_outputs = TaskFile::outputs_of(conn, &earlier_tasks).await?;
    // Every file named here, read once (all are the task owner's).
    let mut named: Vec<Uuid> = conversation_files.clone();
    named.extend(earlier.iter().filter_map(|t| t.output_file_id));
    let stored = File::of_user(conn, task.user_id, &named).await?;
    let by_id = |id: Uuid| stored.iter().find(|f| f.id == id).cloned();

    wire.files = conversation_files
        .iter()
        .filter_map(|id| by_id(*id))
        .map(file_to_task_file)
        .collect();
    for earlier_turn in &earlier {
        let mut outputs: Vec<pb::TaskFile> = earlier_outputs
            .iter()
            .filter(|o| Some(o.task_id) == earlier_turn.task_id)
            .cloned()
            .map(task_file_to_wire)
            .collect();
        if let Some(output) = earlier_turn.output_file_id {
            let listed = outputs.iter().any(|o| o.file_id == output.to_string());
            if let (false, Some(file)) = (listed, by_id(output)) {
                outputs.push(file_to_task_file(file));
            }
        }
        wire.earlier_turns.push(pb::ContextTurn {
            turn: Some(turn_to_wire(earlier_turn)),
            outputs,
        });
    }
    readable.extend(stored.iter().map(|f| f.id));
    readable.extend(earlier_outputs.iter().map(|o| o.file_id));
    Ok(Context { wire, readable })
}
