//! The task scenarios' data: users holding many tasks (written straight into
//! the workspace database, as a year of use would have left them) and a
//! queue drained by workers over gRPC.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::Context;
use proto::workspace::v1 as pb;
use proto::workspace::v1::task_service_client::TaskServiceClient;
use proto::workspace::v1::worker_service_client::WorkerServiceClient;
use tonic::transport::Channel;

use crate::stack::Stack;

/// Gives `user_id` `count` finished tasks, one second apart: 80% completed,
/// 10% failed, 10% cancelled, with the per-user counters the service keeps.
/// Nothing is pending, so the workers' queue is untouched.
pub async fn seed_finished(stack: &Stack, user_id: &str, count: u64) -> anyhow::Result<()> {
    let (db, connection) =
        tokio_postgres::connect(&stack.database_url("workspace"), tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let count = i64::try_from(count)?;
    db.execute(
        "INSERT INTO tasks (id, user_id, query, status, attempt, created_at, updated_at, completed_at, error_message)
         SELECT gen_random_uuid(), $1::text::uuid, 'seeded task ' || i,
                CASE WHEN i % 10 < 8 THEN 'completed' WHEN i % 10 = 8 THEN 'failed' ELSE 'cancelled' END,
                1, t, t,
                CASE WHEN i % 10 < 9 THEN t END,
                CASE WHEN i % 10 = 8 THEN 'seeded failure' END
         FROM generate_series(1::bigint, $2) AS i,
              LATERAL (SELECT now() - i * interval '1 second') AS at(t)",
        &[&user_id, &count],
    )
    .await
    .context("seeding tasks")?;
    db.execute(
        "INSERT INTO task_counts (user_id, status, count)
         SELECT user_id, status, count(*) FROM tasks WHERE user_id = $1::text::uuid GROUP BY user_id, status
         ON CONFLICT (user_id, status) DO UPDATE SET count = EXCLUDED.count",
        &[&user_id],
    )
    .await
    .context("seeding task counts")?;
    db.batch_execute("ANALYZE tasks").await?;
    Ok(())
}

/// What the workers did.
#[derive(Debug)]
pub struct Drained {
    /// Tasks completed.
    pub completed: usize,
    /// Claims of a task already claimed by someone (must be 0).
    pub claimed_twice: usize,
    /// From the first claim to the queue found empty by every worker.
    pub elapsed: Duration,
    /// Calls that failed.
    pub errors: usize,
}

/// Creates `count` tasks as the owner of `user_token`, then lets `workers`
/// workers (a service token with `tasks.process`) claim and complete them
/// until the queue is empty.
pub async fn drain_queue(
    channel: Channel,
    user_token: &str,
    service_token: &str,
    count: usize,
    workers: usize,
) -> anyhow::Result<Drained> {
    let bearer = |token: &str| -> tonic::metadata::MetadataValue<tonic::metadata::Ascii> {
        format!("Bearer {token}").parse().expect("ASCII")
    };
    let user = bearer(user_token);
    // Created 16 at a time: the queue holds them all before the workers start.
    let creations = futures::stream::iter(0..count).map(|i| {
        let mut client = TaskServiceClient::new(channel.clone());
        let mut request = tonic::Request::new(pb::CreateTaskRequest {
            query: format!("benchmark task {i}"),
            file_ids: Vec::new(),
            ..Default::default()
        });
        request.metadata_mut().insert("authorization", user.clone());
        async move { client.create_task(request).await }
    });
    use futures::StreamExt;
    let created: Vec<_> = creations.buffer_unordered(16).collect().await;
    for result in &created {
        if let Err(status) = result {
            anyhow::bail!("CreateTask: {:?} {}", status.code(), status.message());
        }
    }

    let service = bearer(service_token);
    let started = Instant::now();
    let runs = (0..workers).map(|w| {
        let mut client = WorkerServiceClient::new(channel.clone());
        let service = service.clone();
        tokio::spawn(async move {
            let worker_id = format!("bench-worker-{w}");
            let (mut seen, mut errors) = (Vec::new(), 0usize);
            loop {
                let mut claim = tonic::Request::new(pb::ClaimTaskRequest {
                    worker_id: worker_id.clone(),
                    lease_seconds: 60,
                    ..Default::default()
                });
                claim
                    .metadata_mut()
                    .insert("authorization", service.clone());
                let task = match client.claim_task(claim).await {
                    Ok(response) => match response.into_inner().task {
                        Some(task) => task,
                        None => return (seen, errors),
                    },
                    Err(_) => {
                        errors += 1;
                        if errors > 100 {
                            return (seen, errors);
                        }
                        continue;
                    }
                };
                let mut complete = tonic::Request::new(pb::CompleteTaskRequest {
                    task_id: task.task_id.clone(),
                    worker_id: worker_id.clone(),
                    analysis: "benchmarked".into(),
                    ..Default::default()
                });
                complete
                    .metadata_mut()
                    .insert("authorization", service.clone());
                match client.complete_task(complete).await {
                    Ok(_) => seen.push(task.task_id),
                    Err(_) => errors += 1,
                }
            }
        })
    });
    let mut all = Vec::new();
    let mut errors = 0;
    for run in futures::future::join_all(runs).await {
        let (seen, failed) = run.context("a worker panicked")?;
        all.extend(seen);
        errors += failed;
    }
    let elapsed = started.elapsed();
    let unique: HashSet<&String> = all.iter().collect();
    Ok(Drained {
        completed: all.len(),
        claimed_twice: all.len() - unique.len(),
        elapsed,
        errors,
    })
}
