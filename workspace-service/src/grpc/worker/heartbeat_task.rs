//! `HeartbeatTask`: extends the caller's lease, records its progress, and
//! tells it when the owner has cancelled.
//!
//! A heartbeat reads the task; it writes only when the lease must move (the
//! new end is at least a tenth of the lease later than the stored one), and
//! its progress goes to the coalescing buffer ([`crate::progress`]), so a
//! worker that reports many times a second costs few writes.

use chrono::{DateTime, Utc};
use proto::workspace::v1 as pb;
use uuid::Uuid;

use crate::db::tasks::Task;
use crate::domain::progress::Progress;
use crate::domain::task_state::Status;
use crate::error::{Error, Result};
use crate::grpc::convert::{timestamp, value_to_json};
use crate::grpc::ids;
use crate::state::AppState;

pub async fn heartbeat_task(
    state: &AppState,
    subject: Uuid,
    request: pb::HeartbeatTaskRequest,
) -> Result<pb::HeartbeatTaskResponse> {
    let id = ids::parse_resource("task", &request.task_id)?;
    let worker = super::worker_id(&request.worker_id)?;
    let holder = super::Holder {
        worker_id: &worker,
        subject,
    };
    let now = state.clock.now();
    let lease = super::lease_end(state, request.lease_seconds, now)?;
    let progress = request
        .progress
        .as_ref()
        .map(|p| {
            Progress::parse(
                p.fraction,
                &p.message,
                p.partial.as_ref().map(value_to_json),
                now,
            )
            .map_err(|(field, why)| Error::invalid(field, why))
        })
        .transpose()?;
    let mut conn = state.pool.get().await?;
    let task = Task::find(&mut conn, id)
        .await?
        .ok_or(Error::NotFound("task"))?;
    if task.status() == Status::Cancelled && holder.was_leased(&task) {
        state.progress.take(id);
        return Ok(pb::HeartbeatTaskResponse {
            lease_expires_at: None,
            cancel_requested: true,
        });
    }
    super::holds(&task, holder, now)?;
    let mut until = task.lease_expires_at.unwrap_or(now);
    if moves_lease(until, lease, now) {
        if !Task::extend_lease(&mut conn, id, &worker, subject, lease, now).await? {
            return Err(Error::FailedPrecondition(
                "the lease on this task was lost".into(),
            ));
        }
        until = lease;
    }
    if let Some(progress) = progress {
        let stored = serde_json::to_value(&progress).map_err(anyhow::Error::from)?;
        state.progress.record(id, &worker, subject, stored);
    }
    Ok(pb::HeartbeatTaskResponse {
        lease_expires_at: Some(timestamp(until)),
        cancel_requested: false,
    })
}

/// Whether a heartbeat asking for a lease until `wanted` must write it, the
/// stored lease ending at `stored`: when it moves the end by at least a
/// tenth of the lease asked for (and at least a second), or shortens it.
fn moves_lease(stored: DateTime<Utc>, wanted: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    let slack = ((wanted - now) / 10).max(chrono::Duration::seconds(1));
    wanted < stored || wanted - stored >= slack
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_heartbeat_writes_the_lease_only_when_it_moves_enough() {
        let now = Utc::now();
        let minute = chrono::Duration::seconds(60);
        // Just extended: a heartbeat a moment later changes nothing.
        assert!(!moves_lease(
            now + minute,
            now + minute + chrono::Duration::milliseconds(100),
            now
        ));
        // Six seconds of a sixty-second lease have passed: write.
        assert!(moves_lease(
            now + minute - chrono::Duration::seconds(6),
            now + minute,
            now
        ));
        // A shorter lease than stored is written.
        assert!(moves_lease(
            now + minute,
            now + chrono::Duration::seconds(10),
            now
        ));
    }
}
