//! `ListAuditEvents`: the security log with filters.

use proto::auth::v1 as pb;
use service_runtime::paging::page_size;
use uuid::Uuid;

use crate::audit::EventType;
use crate::db::audit::{EventFilter, Position};
use crate::domain::Invalid;
use crate::error::Result;
use crate::grpc::convert;
use crate::state::AppState;

pub async fn list_audit_events(
    state: &AppState,
    request: pb::ListAuditEventsRequest,
) -> Result<pb::ListAuditEventsResponse> {
    let user_id = match request.user_id.trim() {
        "" => None,
        raw => Some(Uuid::parse_str(raw).map_err(|_| Invalid::new("user_id", "is not a UUID"))?),
    };
    let event_type = pb::AuditEventType::try_from(request.r#type)
        .map_err(|_| Invalid::new("type", "is not an audit event type"))?;
    let time = |t: Option<prost_types::Timestamp>, field: &'static str| -> Result<_> {
        t.map(|t| {
            chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32)
                .ok_or_else(|| Invalid::new(field, "is out of range").into())
        })
        .transpose()
    };
    let filter = EventFilter {
        user_id,
        event_types: EventType::from_wire(event_type)
            .map(|t| vec![t.as_str().to_owned()])
            .unwrap_or_default(),
        since: time(request.since, "since")?,
        until: time(request.until, "until")?,
    };
    let scope = format!(
        "audit|{:?}|{:?}|{:?}|{:?}",
        filter.user_id, filter.event_types, filter.since, filter.until
    );
    let after: Option<Position> = state.page_tokens.decode(&scope, &request.page_token)?;
    let (events, next_page_token, total_size) = crate::grpc::audit_pages::page_events(
        state,
        &filter,
        after,
        page_size(request.page_size),
        &scope,
    )
    .await?;
    Ok(pb::ListAuditEventsResponse {
        events: events.iter().map(convert::audit_event).collect(),
        next_page_token,
        total_size,
    })
}
