//! `workspace.v1.ConversationService`: routes each RPC to its file.

pub mod api;
mod create_conversation;
mod create_turn;
mod delete_conversation;
mod get_conversation;
mod get_turn;
mod list_conversations;
mod list_turns;
mod update_conversation;

use proto::workspace::v1::{self as pb};

use crate::db::conversations::Conversation;
use crate::db::turns::Turn;
use crate::domain::task_state::Status;
use crate::grpc::convert::{json_field, timestamp};

/// A turn as the wire shows it.
pub(crate) fn turn_to_wire(turn: &Turn) -> pb::Turn {
    let status = match Status::parse(&turn.status) {
        Some(Status::Pending) => pb::TurnStatus::Pending,
        Some(Status::Processing) => pb::TurnStatus::Processing,
        Some(Status::Completed) => pb::TurnStatus::Completed,
        Some(Status::Failed) => pb::TurnStatus::Failed,
        Some(Status::Cancelled) => pb::TurnStatus::Cancelled,
        Some(Status::Draft) | None => pb::TurnStatus::Unspecified,
    };
    pb::Turn {
        turn_id: turn.id.to_string(),
        conversation_id: turn.conversation_id.to_string(),
        turn_number: turn.turn_number,
        query: turn.query.clone(),
        status: status as i32,
        analysis: turn.analysis.clone().unwrap_or_default(),
        variables: json_field(&turn.variables),
        new_columns: json_field(&turn.new_columns),
        formulas: json_field(&turn.formulas),
        errors: json_field(&turn.errors),
        output_file_id: turn
            .output_file_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        task_id: turn.task_id.map(|id| id.to_string()).unwrap_or_default(),
        created_at: Some(timestamp(turn.created_at)),
        updated_at: Some(timestamp(turn.updated_at)),
        completed_at: turn.completed_at.map(timestamp),
    }
}

/// The stored status name of a wire status.
fn status_name(status: pb::ConversationStatus) -> Option<&'static str> {
    match status {
        pb::ConversationStatus::Unspecified => None,
        pb::ConversationStatus::Active => Some("active"),
        pb::ConversationStatus::Archived => Some("archived"),
        pb::ConversationStatus::Deleted => Some("deleted"),
    }
}

fn wire_status(name: &str) -> pb::ConversationStatus {
    match name {
        "active" => pb::ConversationStatus::Active,
        "archived" => pb::ConversationStatus::Archived,
        "deleted" => pb::ConversationStatus::Deleted,
        _ => pb::ConversationStatus::Unspecified,
    }
}

/// A conversation as the wire shows it.
pub(crate) fn to_wire(conversation: &Conversation, file_ids: Vec<String>) -> pb::Conversation {
    pb::Conversation {
        conversation_id: conversation.id.to_string(),
        title: conversation.title.clone(),
        status: wire_status(&conversation.status) as i32,
        file_ids,
        turn_count: conversation.turn_count,
        created_at: Some(timestamp(conversation.created_at)),
        updated_at: Some(timestamp(conversation.updated_at)),
    }
}
