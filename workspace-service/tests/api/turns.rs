use proto::workspace::v1 as pb;
use tonic::Code;

use crate::helpers::{authorized, spawn_stack};

async fn create_turn(
    stack: &crate::helpers::TestStack,
    token: &str,
    conversation_id: &str,
    query: &str,
) -> Result<pb::Turn, tonic::Status> {
    stack
        .conversations
        .clone()
        .create_turn(authorized(
            token,
            pb::CreateTurnRequest {
                conversation_id: conversation_id.into(),
                query: query.into(),
                ..Default::default()
            },
        ))
        .await
        .map(|r| r.into_inner().turn.unwrap())
}

#[tokio::test]
async fn fifty_concurrent_turns_are_numbered_one_to_fifty() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let conversation = stack
        .create_conversation(&ada.token, "busy", &[])
        .await
        .unwrap();
    let turns = (0..50).map(|i| {
        create_turn(
            &stack,
            &ada.token,
            &conversation.conversation_id,
            Box::leak(format!("q{i}").into_boxed_str()),
        )
    });
    let mut numbers: Vec<i32> = futures::future::join_all(turns)
        .await
        .into_iter()
        .map(|t| t.unwrap().turn_number)
        .collect();
    numbers.sort();
    assert_eq!(numbers, (1..=50).collect::<Vec<_>>());
    let got = stack
        .conversations
        .clone()
        .get_conversation(authorized(
            &ada.token,
            pb::GetConversationRequest {
                conversation_id: conversation.conversation_id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.conversation.unwrap().turn_count, 50);
    let in_order: Vec<i32> = got.turns.iter().map(|t| t.turn_number).collect();
    assert_eq!(in_order, (1..=50).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_new_turn_is_pending_bumps_the_conversation_and_is_backed_by_a_task() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let file = stack.insert_file(ada.id).await;
    let first = stack
        .create_conversation(&ada.token, "older", &[])
        .await
        .unwrap();
    let conversation = stack
        .create_conversation(&ada.token, "c", &[file])
        .await
        .unwrap();
    stack.clock.advance(chrono::Duration::seconds(5));
    let turn = create_turn(&stack, &ada.token, &first.conversation_id, "sum column B")
        .await
        .unwrap();
    assert_eq!(turn.turn_number, 1);
    assert_eq!(turn.status(), pb::TurnStatus::Pending);
    // The conversation with the new turn is now the most recently updated.
    let listed = stack
        .list_conversations(&ada.token, Default::default())
        .await
        .unwrap();
    assert_eq!(
        listed.conversations[0].conversation_id,
        first.conversation_id
    );
    assert_eq!(listed.conversations[0].turn_count, 1);
    let task = stack.get_task(&ada.token, &turn.task_id).await.unwrap();
    assert_eq!(task.turn_id, turn.turn_id);
    assert_eq!(task.query, "sum column B");
    let _ = conversation;
}

#[tokio::test]
async fn completing_the_task_fills_the_turns_result() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let worker = stack.service_token(&["tasks.process"]).await;
    let conversation = stack
        .create_conversation(&ada.token, "c", &[])
        .await
        .unwrap();
    let turn = create_turn(&stack, &ada.token, &conversation.conversation_id, "q")
        .await
        .unwrap();
    let claimed = stack.claim(&worker, "w1").await.unwrap().task.unwrap();
    assert_eq!(claimed.task_id, turn.task_id);
    let result = serde_json::json!({"variables": {"total": 42}, "new_columns": {"C": [1, 2]}, "formulas": ["=SUM(B:B)"], "errors": []});
    stack
        .complete(&worker, "w1", &claimed.task_id, result)
        .await
        .unwrap();
    let turn = stack
        .conversations
        .clone()
        .get_turn(authorized(
            &ada.token,
            pb::GetTurnRequest {
                turn_id: turn.turn_id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .turn
        .unwrap();
    assert_eq!(turn.status(), pb::TurnStatus::Completed);
    assert_eq!(turn.analysis, "done");
    let variables =
        workspace_service::grpc::convert::value_to_json(turn.variables.as_ref().unwrap());
    assert_eq!(variables, serde_json::json!({"total": 42.0}));
    assert!(turn.completed_at.is_some());
}

#[tokio::test]
async fn conversations_can_be_renamed_archived_and_deleted_softly() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let conversation = stack
        .create_conversation(&ada.token, "draft", &[])
        .await
        .unwrap();
    let id = conversation.conversation_id.clone();
    let updated = stack
        .conversations
        .clone()
        .update_conversation(authorized(
            &ada.token,
            pb::UpdateConversationRequest {
                conversation_id: id.clone(),
                title: Some("final".into()),
                status: pb::ConversationStatus::Archived as i32,
                file_ids: None,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .conversation
        .unwrap();
    assert_eq!(
        (updated.title.as_str(), updated.status()),
        ("final", pb::ConversationStatus::Archived)
    );
    stack
        .conversations
        .clone()
        .delete_conversation(authorized(
            &ada.token,
            pb::DeleteConversationRequest {
                conversation_id: id.clone(),
            },
        ))
        .await
        .unwrap();
    let status = stack
        .conversations
        .clone()
        .get_conversation(authorized(
            &ada.token,
            pb::GetConversationRequest {
                conversation_id: id.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(
        stack
            .list_conversations(&ada.token, Default::default())
            .await
            .unwrap()
            .total_size,
        0
    );
    // Kept for audit.
    let client = testkit::Database::at(&stack.workspace_database_url)
        .client()
        .await;
    let kept: i64 = client
        .query_one(
            "SELECT count(*) FROM conversations WHERE status = 'deleted'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(kept, 1);
    assert_eq!(
        create_turn(&stack, &ada.token, &id, "q")
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
}

#[tokio::test]
async fn every_id_taking_conversation_rpc_answers_not_found_for_another_users_id() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let eve = stack.user("eve@example.com").await;
    let conversation = stack
        .create_conversation(&ada.token, "private", &[])
        .await
        .unwrap();
    let id = conversation.conversation_id.clone();
    let turn = create_turn(&stack, &ada.token, &id, "q").await.unwrap();
    let mut c = stack.conversations.clone();
    let t = &eve.token;
    let codes = [
        c.get_conversation(authorized(
            t,
            pb::GetConversationRequest {
                conversation_id: id.clone(),
            },
        ))
        .await
        .unwrap_err()
        .code(),
        c.update_conversation(authorized(
            t,
            pb::UpdateConversationRequest {
                conversation_id: id.clone(),
                title: Some("x".into()),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err()
        .code(),
        c.delete_conversation(authorized(
            t,
            pb::DeleteConversationRequest {
                conversation_id: id.clone(),
            },
        ))
        .await
        .unwrap_err()
        .code(),
        c.create_turn(authorized(
            t,
            pb::CreateTurnRequest {
                conversation_id: id.clone(),
                query: "x".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err()
        .code(),
        c.list_turns(authorized(
            t,
            pb::ListTurnsRequest {
                conversation_id: id.clone(),
            },
        ))
        .await
        .unwrap_err()
        .code(),
        c.get_turn(authorized(
            t,
            pb::GetTurnRequest {
                turn_id: turn.turn_id.clone(),
            },
        ))
        .await
        .unwrap_err()
        .code(),
    ];
    assert_eq!(codes, [Code::NotFound; 6]);
    // Nothing of Ada's changed.
    let got = c
        .get_conversation(authorized(
            &ada.token,
            pb::GetConversationRequest {
                conversation_id: id,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.conversation.unwrap().title, "private");
    assert_eq!(got.turns.len(), 1);
}
