use proto::workspace::v1::{self as pb, ConversationStatus};
use tonic::Code;

use crate::helpers::{authorized, spawn_stack};

#[tokio::test]
async fn a_new_conversation_is_active_with_its_files() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let file = stack.insert_file(ada.id).await;
    let conversation = stack
        .create_conversation(&ada.token, "  Quarterly figures ", &[file])
        .await
        .unwrap();
    assert_eq!(conversation.title, "Quarterly figures");
    assert_eq!(conversation.status(), ConversationStatus::Active);
    assert_eq!(conversation.file_ids, vec![file.to_string()]);
    assert_eq!(conversation.turn_count, 0);
}

#[tokio::test]
async fn a_missing_or_overlong_title_is_invalid_argument() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    for title in ["", "   ", &"t".repeat(201)] {
        let status = stack
            .create_conversation(&ada.token, title, &[])
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
    }
}

#[tokio::test]
async fn a_title_with_a_control_character_is_refused_on_update_as_on_create() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let created = stack
        .create_conversation(&ada.token, "Sales", &[])
        .await
        .unwrap();
    let status = stack
        .create_conversation(&ada.token, "Sales\u{1b}[31m", &[])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let status = stack
        .conversations
        .clone()
        .update_conversation(authorized(
            &ada.token,
            pb::UpdateConversationRequest {
                conversation_id: created.conversation_id.clone(),
                title: Some("Sales\u{1b}[31m".into()),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("control characters"),
        "{status:?}"
    );
    let kept = stack
        .conversations
        .clone()
        .get_conversation(authorized(
            &ada.token,
            pb::GetConversationRequest {
                conversation_id: created.conversation_id,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(kept.conversation.unwrap().title, "Sales");
}

#[tokio::test]
async fn another_users_file_is_not_found_and_nothing_is_created() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let grace = stack.user("grace@example.com").await;
    let graces_file = stack.insert_file(grace.id).await;
    let status = stack
        .create_conversation(&ada.token, "Borrowed", &[graces_file])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let listed = stack
        .list_conversations(&ada.token, Default::default())
        .await
        .unwrap();
    assert_eq!(listed.total_size, 0);
}

#[tokio::test]
async fn a_malformed_file_id_is_invalid_argument() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let request = authorized(
        &ada.token,
        pb::CreateConversationRequest {
            title: "x".into(),
            file_ids: vec!["not-a-uuid".into()],
        },
    );
    let status = stack
        .conversations
        .clone()
        .create_conversation(request)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn users_see_only_their_own_conversations_newest_first() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let grace = stack.user("grace@example.com").await;
    stack
        .create_conversation(&ada.token, "first", &[])
        .await
        .unwrap();
    stack
        .create_conversation(&ada.token, "second", &[])
        .await
        .unwrap();
    stack
        .create_conversation(&grace.token, "grace's", &[])
        .await
        .unwrap();

    let listed = stack
        .list_conversations(&ada.token, Default::default())
        .await
        .unwrap();
    let titles: Vec<_> = listed
        .conversations
        .iter()
        .map(|c| c.title.as_str())
        .collect();
    assert_eq!(titles, ["second", "first"]);
    assert_eq!(listed.total_size, 2);
    assert!(listed.next_page_token.is_empty());

    let listed = stack
        .list_conversations(&grace.token, Default::default())
        .await
        .unwrap();
    assert_eq!(listed.conversations.len(), 1);
}

#[tokio::test]
async fn pages_cover_every_conversation_once() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    for i in 0..25 {
        stack
            .create_conversation(&ada.token, &format!("c{i}"), &[])
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut page_token = String::new();
    let mut pages = 0;
    loop {
        let page = stack
            .list_conversations(
                &ada.token,
                pb::ListConversationsRequest {
                    page_size: 10,
                    page_token: page_token.clone(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(page.total_size, 25);
        seen.extend(page.conversations.into_iter().map(|c| c.title));
        pages += 1;
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..25).rev().map(|i| format!("c{i}")).collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn a_forged_or_foreign_page_token_is_invalid_argument() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let grace = stack.user("grace@example.com").await;
    for i in 0..3 {
        stack
            .create_conversation(&ada.token, &format!("c{i}"), &[])
            .await
            .unwrap();
    }
    let first = stack
        .list_conversations(
            &ada.token,
            pb::ListConversationsRequest {
                page_size: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(!first.next_page_token.is_empty());
    for (token, page_token) in [
        (&grace.token, first.next_page_token.clone()),
        (&ada.token, "forged".to_owned()),
        (&ada.token, format!("{}x", first.next_page_token)),
    ] {
        let status = stack
            .list_conversations(
                token,
                pb::ListConversationsRequest {
                    page_token,
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
    }
}

#[tokio::test]
async fn calls_without_a_valid_token_are_unauthenticated() {
    let stack = spawn_stack().await;
    let status = stack
        .conversations
        .clone()
        .list_conversations(pb::ListConversationsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = stack
        .list_conversations("not.a.token", Default::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn a_token_of_another_auth_service_is_unauthenticated() {
    let stack = spawn_stack().await;
    let other = spawn_stack().await;
    let stranger = other.user("ada@example.com").await;
    let status = stack
        .list_conversations(&stranger.token, Default::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}
