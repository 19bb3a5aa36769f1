//! Fair claiming: users take turns, a user's running tasks are capped, and
//! the claim stays on indexes however many tasks are pending.

use std::collections::HashSet;
use std::sync::Arc;

use proto::workspace::v1 as pb;
use tokio::sync::Barrier;

use crate::helpers::{TestStack, spawn_stack_with};

/// Creates `count` tasks for `token`, 16 at a time.
async fn backlog(stack: &TestStack, token: &str, count: usize) {
    use futures::StreamExt;
    let results: Vec<_> = futures::stream::iter(0..count)
        .map(|i| {
            stack.create(
                token,
                pb::CreateTaskRequest {
                    query: format!("heavy {i}"),
                    ..Default::default()
                },
            )
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(results.iter().all(Result::is_ok));
}

#[tokio::test]
async fn a_light_users_task_is_claimed_within_two_claims_of_a_heavy_backlog() {
    let stack = spawn_stack_with(|c| {
        c.max_tasks_per_user = 0;
        c.max_pending_tasks_per_user = 0;
    })
    .await;
    let heavy = stack.user("heavy@example.com").await;
    let light = stack.user("light@example.com").await;
    let worker = stack.service_token(&["tasks.process"]).await;
    backlog(&stack, &heavy.token, 1000).await;
    // The heavy user has been served already, as a running queue would be.
    stack.claim(&worker, "w").await.unwrap().task.unwrap();
    stack.clock.advance(chrono::Duration::seconds(1));
    let mine = stack.create_task(&light.token, "light", &[]).await;
    let next = stack.claim(&worker, "w").await.unwrap().task.unwrap();
    assert_eq!(
        next.task_id, mine.task_id,
        "the light user's task comes next"
    );
    // And then the heavy user again.
    let after = stack.claim(&worker, "w").await.unwrap().task.unwrap();
    assert!(after.query.starts_with("heavy"), "{}", after.query);
}

#[tokio::test]
async fn users_take_turns_while_both_have_work() {
    let stack = spawn_stack_with(|_| {}).await;
    let ada = stack.user("ada@example.com").await;
    let bob = stack.user("bob@example.com").await;
    let worker = stack.service_token(&["tasks.process"]).await;
    for i in 0..6 {
        stack
            .create_task(&ada.token, &format!("ada {i}"), &[])
            .await;
    }
    for i in 0..3 {
        stack
            .create_task(&bob.token, &format!("bob {i}"), &[])
            .await;
    }
    let mut owners = Vec::new();
    while let Some(task) = stack.claim(&worker, "w").await.unwrap().task {
        owners.push(task.query[..3].to_owned());
    }
    // Strict alternation while both have pending tasks, then Ada's rest.
    let first = owners[0].clone();
    let second = if first == "ada" { "bob" } else { "ada" };
    assert_eq!(owners.len(), 9);
    for pair in owners[..6].chunks(2) {
        assert_eq!(pair, [first.as_str(), second]);
    }
    assert!(owners[6..].iter().all(|o| o == "ada"));
}

#[tokio::test]
async fn the_running_limit_of_a_user_holds_under_concurrent_claims() {
    let stack = spawn_stack_with(|c| c.task_max_running_per_user = 2).await;
    let ada = stack.user("ada@example.com").await;
    let bob = stack.user("bob@example.com").await;
    let worker = stack.service_token(&["tasks.process"]).await;
    for i in 0..10 {
        stack
            .create_task(&ada.token, &format!("ada {i}"), &[])
            .await;
    }
    let bobs = stack.create_task(&bob.token, "bob", &[]).await;
    // Eight claims released together.
    let barrier = Arc::new(Barrier::new(8));
    let claims = (0..8).map(|i| {
        let barrier = barrier.clone();
        let stack = &stack;
        let token = worker.clone();
        async move {
            barrier.wait().await;
            stack.claim(&token, &format!("w{i}")).await.unwrap().task
        }
    });
    let claimed: Vec<pb::Task> = futures::future::join_all(claims)
        .await
        .into_iter()
        .flatten()
        .collect();
    let adas = claimed
        .iter()
        .filter(|t| t.query.starts_with("ada"))
        .count();
    assert_eq!(adas, 2, "two of Ada's tasks run at once, no more");
    assert!(claimed.iter().any(|t| t.task_id == bobs.task_id));
    let distinct: HashSet<&str> = claimed.iter().map(|t| t.task_id.as_str()).collect();
    assert_eq!(distinct.len(), claimed.len());
    // When one of Ada's ends, another may start.
    let running = claimed.iter().find(|t| t.query.starts_with("ada")).unwrap();
    let done_worker = claimed_by(&stack, &running.task_id).await;
    stack
        .complete(
            &worker,
            &done_worker,
            &running.task_id,
            serde_json::json!({}),
        )
        .await
        .unwrap();
    let next = stack.claim(&worker, "late").await.unwrap().task.unwrap();
    assert!(next.query.starts_with("ada"));
}

/// The worker holding `task_id`.
async fn claimed_by(stack: &TestStack, task_id: &str) -> String {
    let client = testkit::Database::at(&stack.workspace_database_url)
        .client()
        .await;
    client
        .query_one(
            "SELECT worker_id FROM tasks WHERE id = $1::text::uuid",
            &[&task_id],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn the_claim_stays_on_indexes_with_a_million_pending_tasks() {
    let stack = spawn_stack_with(|_| {}).await;
    let db = testkit::Database::at(&stack.workspace_database_url)
        .client()
        .await;
    // A million pending tasks over a thousand users, with the counters the
    // service keeps, written straight into the database.
    db.batch_execute(
        "INSERT INTO tasks (id, user_id, query, status, kind, created_at, updated_at, run_after)
         SELECT gen_random_uuid(), ('00000000-0000-0000-0000-' || lpad((i % 1000)::text, 12, '0'))::uuid,
                'seeded', 'pending', CASE WHEN i % 3 = 0 THEN 'ocr.document' ELSE 'default' END,
                now() - i * interval '1 millisecond', now(), now() - i * interval '1 millisecond'
         FROM generate_series(1, 1000000) AS i;
         INSERT INTO task_queues (user_id, kind, pending)
         SELECT user_id, kind, count(*) FROM tasks GROUP BY user_id, kind;
         INSERT INTO task_counts (user_id, status, count)
         SELECT user_id, status, count(*) FROM tasks GROUP BY user_id, status;
         ANALYZE tasks; ANALYZE task_queues; ANALYZE task_counts;",
    )
    .await
    .unwrap();
    let sql = workspace_service::db::tasks::queue::next_ready_sql();
    for (any, exact) in [
        ("true", "ARRAY[]::text[]"),
        ("false", "ARRAY['ocr.document']"),
    ] {
        // The statement with its parameters written in.
        let statement = sql
            .replace("$1", "now()")
            .replace("$2", any)
            .replace("$3", exact)
            .replace("$4", "ARRAY[]::text[]")
            .replace("$5", "ARRAY[]::uuid[]");
        let rows = db
            .query(&format!("EXPLAIN (ANALYZE, BUFFERS) {statement}"), &[])
            .await
            .unwrap();
        let plan: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        let plan = plan.join("\n");
        eprintln!("claim plan (any kind: {any}):\n{plan}");
        assert!(plan.contains("tasks_ready_idx"), "{plan}");
        assert!(!plan.contains("Seq Scan on tasks"), "{plan}");
    }
    // And the claim itself takes a task.
    let worker = stack.service_token(&["tasks.process"]).await;
    let claimed = stack
        .claim_kinds(&worker, "w", &["ocr.document"])
        .await
        .unwrap()
        .task
        .unwrap();
    assert_eq!(claimed.kind, "ocr.document");
}
