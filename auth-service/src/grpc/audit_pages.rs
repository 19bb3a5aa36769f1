//! Pages of the audit log, for the user's list of sign-ins and the
//! administrators' list of everything.

use crate::db::audit::{AuditEvent, EventFilter, Position};
use crate::state::AppState;

/// One page of audit events and its next-page token (shared by the user's
/// and the administrators' lists).
pub async fn page_events(
    state: &AppState,
    filter: &EventFilter,
    after: Option<Position>,
    limit: i64,
    scope: &str,
) -> crate::error::Result<(Vec<AuditEvent>, String, i32)> {
    let mut conn = state.pool.get().await?;
    let events = filter.page(&mut conn, after, limit + 1).await?;
    let (events, next) = state
        .page_tokens
        .finish_page(scope, events, limit, |last| (last.occurred_at, last.id));
    let total = filter.count(&mut conn).await?;
    Ok((events, next, i32::try_from(total).unwrap_or(i32::MAX)))
}
