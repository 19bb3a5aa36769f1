//! `ClaimTask`: the next ready task of a kind the caller takes, leased to
//! it; users take turns (see [`crate::db::tasks::queue`]).

use access::Claims;
use diesel_async::AsyncConnection;
use proto::workspace::v1 as pb;

use crate::db::tasks::Task;
use crate::db::tasks::queue::Claimant;
use crate::domain::kind::{self, KindError, KindFilter};
use crate::error::{Error, Result};
use crate::grpc::convert::timestamp;
use crate::state::AppState;

pub async fn claim_task(
    state: &AppState,
    caller: &Claims,
    request: pb::ClaimTaskRequest,
) -> Result<pb::ClaimTaskResponse> {
    let worker = super::worker_id(&request.worker_id)?;
    let allowed = kind::allowed_by_scopes(caller.scope.as_deref().unwrap_or_default());
    let kinds = KindFilter::for_claim(&request.kinds, allowed).map_err(|e| match e {
        KindError::Invalid(why) => Error::invalid("kinds", why),
        KindError::NotAllowed(why) => Error::PermissionDenied(why),
    })?;
    let now = state.clock.now();
    let lease = super::lease_end(state, request.lease_seconds, now)?;
    let claimant = Claimant {
        worker_id: &worker,
        subject: caller.sub,
        kinds: &kinds,
        max_running_per_user: state.config.task_max_running_per_user,
        lease_expires_at: lease,
    };
    let mut conn = state.pool.get().await?;
    let claimed = conn
        .transaction(async |conn| {
            Ok::<_, crate::error::Error>(Task::claim(conn, &claimant, now).await?)
        })
        .await?;
    let Some(task) = claimed else {
        return Ok(pb::ClaimTaskResponse::default());
    };
    state.metrics.claimed(&task.kind, now - task.run_after);
    tracing::info!(task_id = %task.id, worker = %worker, kind = %task.kind, attempt = task.attempt, "task claimed");
    Ok(pb::ClaimTaskResponse {
        task: Some(crate::grpc::tasks::one_to_wire(&mut conn, &task).await?),
        lease_expires_at: Some(timestamp(lease)),
    })
}
