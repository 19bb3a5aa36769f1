//! `ListLoginEvents`: the caller's own sign-in history.

use access::Claims;
use proto::auth::v1 as pb;
use service_runtime::paging::page_size;

use crate::audit::EventType;
use crate::db::audit::{EventFilter, Position};
use crate::error::Result;
use crate::grpc::convert;
use crate::state::AppState;

pub async fn list_login_events(
    state: &AppState,
    caller: &Claims,
    request: pb::ListLoginEventsRequest,
) -> Result<pb::ListLoginEventsResponse> {
    let filter = EventFilter {
        user_id: Some(caller.sub),
        event_types: vec![
            EventType::LoginSucceeded.as_str().to_owned(),
            EventType::LoginFailed.as_str().to_owned(),
        ],
        ..Default::default()
    };
    let scope = format!("login-events|{}", caller.sub);
    let after: Option<Position> = state.page_tokens.decode(&scope, &request.page_token)?;
    let (events, next_page_token, total_size) = crate::grpc::audit_pages::page_events(
        state,
        &filter,
        after,
        page_size(request.page_size),
        &scope,
    )
    .await?;
    Ok(pb::ListLoginEventsResponse {
        events: events.iter().map(convert::audit_event).collect(),
        next_page_token,
        total_size,
    })
}
