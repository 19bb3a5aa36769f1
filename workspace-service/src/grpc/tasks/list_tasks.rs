//! `ListTasks`: the caller's tasks with filters, an order and keyset pages.

use proto::workspace::v1 as pb;
use service_runtime::paging::page_size;
use uuid::Uuid;

use crate::db::tasks::filter::{OrderColumn, Position, TaskFilter};
use crate::domain::task_state::Status;
use crate::error::{Error, Result};
use crate::state::AppState;

fn time(
    field: &'static str,
    t: Option<prost_types::Timestamp>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
    t.map(|t| {
        chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0))
            .ok_or_else(|| Error::invalid(field, "is out of range"))
    })
    .transpose()
}

fn order(raw: &str) -> Result<(OrderColumn, bool)> {
    let mut words = raw.split_whitespace();
    let column = match words.next() {
        None | Some("created_at") => OrderColumn::CreatedAt,
        Some("updated_at") => OrderColumn::UpdatedAt,
        Some("completed_at") => OrderColumn::CompletedAt,
        Some(_) => {
            return Err(Error::invalid(
                "order_by",
                "must be created_at, updated_at or completed_at, optionally with desc",
            ));
        }
    };
    let descending = match (words.next(), words.next()) {
        (None, _) => raw.trim().is_empty(),
        (Some(w), None) if w.eq_ignore_ascii_case("desc") => true,
        (Some(w), None) if w.eq_ignore_ascii_case("asc") => false,
        _ => {
            return Err(Error::invalid(
                "order_by",
                "must be a column name optionally followed by desc or asc",
            ));
        }
    };
    Ok((column, descending))
}

pub async fn list_tasks(
    state: &AppState,
    user_id: Uuid,
    request: pb::ListTasksRequest,
) -> Result<pb::ListTasksResponse> {
    let status = match pb::TaskStatus::try_from(request.status) {
        Ok(pb::TaskStatus::Unspecified) => None,
        Ok(pb::TaskStatus::Draft) => Some(Status::Draft),
        Ok(pb::TaskStatus::Pending) => Some(Status::Pending),
        Ok(pb::TaskStatus::Processing) => Some(Status::Processing),
        Ok(pb::TaskStatus::Completed) => Some(Status::Completed),
        Ok(pb::TaskStatus::Failed) => Some(Status::Failed),
        Ok(pb::TaskStatus::Cancelled) => Some(Status::Cancelled),
        Err(_) => return Err(Error::invalid("status", "is not a task status")),
    };
    let filename = request.filename.trim();
    if filename.chars().count() > 255 {
        return Err(Error::invalid(
            "filename",
            "must have at most 255 characters",
        ));
    }
    let (order, descending) = order(&request.order_by)?;
    let kind = match request.kind.trim() {
        "" => None,
        raw => Some(
            crate::domain::kind::Kind::parse(raw)
                .map_err(|why| Error::invalid("kind", why))?
                .as_str()
                .to_owned(),
        ),
    };
    let filter = TaskFilter {
        user_id,
        status,
        kind: kind.clone(),
        filename_pattern: (!filename.is_empty()).then(|| {
            format!(
                "%{}%",
                filename
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            )
        }),
        created_after: time("created_after", request.created_after)?,
        created_before: time("created_before", request.created_before)?,
        order,
        descending,
    };
    // The token is valid only for the same caller, filters and order.
    let scope = format!(
        "tasks|{user_id}|{status:?}|{kind:?}|{filename}|{:?}|{:?}|{order:?}|{descending}",
        filter.created_after, filter.created_before
    );
    let after: Option<Position> = state.page_tokens.decode(&scope, &request.page_token)?;
    let limit = page_size(request.page_size);
    let mut conn = state.pool.get().await?;
    let rows = filter.page(&mut conn, after, limit + 1).await?;
    let (rows, next_page_token) = state
        .page_tokens
        .finish_page(&scope, rows, limit, |last| (filter.key_of(last), last.id));
    let total_size = filter.count(&mut conn).await?;
    Ok(pb::ListTasksResponse {
        tasks: super::to_wire(&mut conn, &rows).await?,
        next_page_token,
        total_size: i32::try_from(total_size).unwrap_or(i32::MAX),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_by_accepts_a_column_and_a_direction() {
        assert_eq!(order("").unwrap(), (OrderColumn::CreatedAt, true));
        assert_eq!(
            order("created_at").unwrap(),
            (OrderColumn::CreatedAt, false)
        );
        assert_eq!(
            order("updated_at desc").unwrap(),
            (OrderColumn::UpdatedAt, true)
        );
        assert_eq!(
            order("completed_at ASC").unwrap(),
            (OrderColumn::CompletedAt, false)
        );
        for bad in [
            "id",
            "created_at sideways",
            "created_at desc extra",
            "; drop table tasks",
        ] {
            assert!(order(bad).is_err(), "{bad}");
        }
    }
}
