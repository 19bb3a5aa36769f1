use proto::workspace::v1::{
    self as pb, stats_service_client::StatsServiceClient,
    workspace_admin_service_client::WorkspaceAdminServiceClient,
};
use tonic::Code;

use crate::helpers::{TestStack, authorized, spawn_stack};

async fn clients(
    stack: &TestStack,
) -> (
    StatsServiceClient<tonic::transport::Channel>,
    WorkspaceAdminServiceClient<tonic::transport::Channel>,
) {
    let endpoint = tonic::transport::Channel::from_shared(format!("http://{}", stack.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    (
        StatsServiceClient::new(endpoint.clone()),
        WorkspaceAdminServiceClient::new(endpoint),
    )
}

/// Files, a conversation with two turns (one completed) and tasks.
async fn activity(stack: &TestStack, token: &str) {
    stack
        .upload(token, "a.csv", vec![b"12345".to_vec()])
        .await
        .unwrap();
    stack
        .upload(token, "b.csv", vec![b"123".to_vec()])
        .await
        .unwrap();
    let conversation = stack.create_conversation(token, "c", &[]).await.unwrap();
    for query in ["q1", "q2"] {
        stack
            .conversations
            .clone()
            .create_turn(authorized(
                token,
                pb::CreateTurnRequest {
                    conversation_id: conversation.conversation_id.clone(),
                    query: query.into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap();
    }
    stack.create_task(token, "t", &[]).await;
}

#[tokio::test]
async fn users_see_their_own_counts() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let grace = stack.user("grace@example.com").await;
    activity(&stack, &ada.token).await;
    let worker = stack.service_token(&["tasks.process"]).await;
    let claimed = stack.claim(&worker, "w").await.unwrap().task.unwrap();
    stack
        .complete(&worker, "w", &claimed.task_id, serde_json::json!({}))
        .await
        .unwrap();
    activity(&stack, &grace.token).await;

    let (mut client, _) = clients(&stack).await;
    let stats = client
        .get_stats(authorized(&ada.token, pb::GetStatsRequest {}))
        .await
        .unwrap()
        .into_inner()
        .stats
        .unwrap();
    assert_eq!(
        (
            stats.files,
            stats.bytes_stored,
            stats.conversations,
            stats.turns,
            stats.completed_turns
        ),
        (2, 8, 1, 2, 1)
    );
    let tasks = stats.tasks.unwrap();
    assert_eq!((tasks.total, tasks.pending, tasks.completed), (3, 2, 1));
}

#[tokio::test]
async fn administrators_see_system_totals_leaderboards_and_any_users_counts() {
    let stack = spawn_stack().await;
    let root = stack.superuser("root@example.com").await;
    let ada = stack.user("ada@example.com").await;
    let grace = stack.user("grace@example.com").await;
    activity(&stack, &ada.token).await;
    activity(&stack, &grace.token).await;
    stack.create_task(&grace.token, "extra", &[]).await;

    let (_, mut admin) = clients(&stack).await;
    let system = admin
        .get_system_stats(authorized(&root.token, pb::GetSystemStatsRequest {}))
        .await
        .unwrap()
        .into_inner();
    let totals = system.totals.unwrap();
    assert_eq!(
        (totals.files, totals.bytes_stored, totals.turns),
        (4, 16, 4)
    );
    assert_eq!(system.users, 2);
    // Both users uploaded the same two contents.
    assert_eq!(system.bytes_deduplicated, 8);
    assert_eq!(system.last_24_hours.unwrap().tasks_created, 7);

    let top = admin
        .list_top_users(authorized(
            &root.token,
            pb::ListTopUsersRequest {
                metric: pb::TopUsersMetric::Tasks as i32,
                limit: 1,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .users;
    assert_eq!(top.len(), 1);
    assert_eq!(top[0].user_id, grace.id.to_string());
    assert_eq!(top[0].value, 4);

    let one = admin
        .get_user_stats(authorized(
            &root.token,
            pb::GetUserStatsRequest {
                user_id: ada.id.to_string(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .stats
        .unwrap();
    assert_eq!(one.files, 2);
}

#[tokio::test]
async fn admin_statistics_are_permission_denied_for_normal_users() {
    let stack = spawn_stack().await;
    let ada = stack.user("ada@example.com").await;
    let (_, mut admin) = clients(&stack).await;
    let t = &ada.token;
    let codes = [
        admin
            .get_system_stats(authorized(t, pb::GetSystemStatsRequest {}))
            .await
            .unwrap_err()
            .code(),
        admin
            .list_top_users(authorized(t, pb::ListTopUsersRequest::default()))
            .await
            .unwrap_err()
            .code(),
        admin
            .get_user_stats(authorized(
                t,
                pb::GetUserStatsRequest {
                    user_id: ada.id.to_string(),
                },
            ))
            .await
            .unwrap_err()
            .code(),
    ];
    assert_eq!(codes, [Code::PermissionDenied; 3]);
}
