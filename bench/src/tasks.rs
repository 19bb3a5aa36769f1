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
    /// Output files stored (one per completed task).
    pub outputs: usize,
}

/// The output a benchmark worker stores for `task_id`: 16 KiB, distinct
/// per task (so nothing deduplicates).
fn output_of(task_id: &str) -> bytes::Bytes {
    let line = format!("result of {task_id}\n");
    bytes::Bytes::from(line.repeat((16 << 10) / line.len() + 1))
}

/// Uploads `content` as the output of `task_id`.
async fn upload_output(
    client: &mut WorkerServiceClient<Channel>,
    bearer: &tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
    worker_id: &str,
    task_id: &str,
    content: bytes::Bytes,
) -> Result<pb::TaskFile, tonic::Status> {
    use pb::upload_task_output_request::Part;
    let messages = vec![
        pb::UploadTaskOutputRequest {
            part: Some(Part::Metadata(pb::UploadTaskOutputMetadata {
                task_id: task_id.to_owned(),
                worker_id: worker_id.to_owned(),
                filename: "result.txt".into(),
                mime_type: "text/plain".into(),
            })),
        },
        pb::UploadTaskOutputRequest {
            part: Some(Part::Chunk(content)),
        },
    ];
    let mut request = tonic::Request::new(futures::stream::iter(messages));
    request
        .metadata_mut()
        .insert("authorization", bearer.clone());
    let response = client.upload_task_output(request).await?.into_inner();
    response
        .output
        .ok_or_else(|| tonic::Status::internal("no output in the response"))
}

/// Creates `count` tasks as the owner of `user_token`, then lets `workers`
/// workers (a service token with `tasks.process`) claim each, store an
/// output file for it and complete it with that file, until the queue is
/// empty.
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
            let (mut seen, mut errors, mut outputs) = (Vec::new(), 0usize, 0usize);
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
                        None => return (seen, errors, outputs),
                    },
                    Err(_) => {
                        errors += 1;
                        if errors > 100 {
                            return (seen, errors, outputs);
                        }
                        continue;
                    }
                };
                let output = match upload_output(
                    &mut client,
                    &service,
                    &worker_id,
                    &task.task_id,
                    output_of(&task.task_id),
                )
                .await
                {
                    Ok(output) => {
                        outputs += 1;
                        output.file_id
                    }
                    Err(_) => {
                        errors += 1;
                        String::new()
                    }
                };
                let mut complete = tonic::Request::new(pb::CompleteTaskRequest {
                    task_id: task.task_id.clone(),
                    worker_id: worker_id.clone(),
                    analysis: "benchmarked".into(),
                    output_file_id: output,
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
    let (mut all, mut errors, mut outputs) = (Vec::new(), 0, 0);
    for run in futures::future::join_all(runs).await {
        let (seen, failed, stored) = run.context("a worker panicked")?;
        all.extend(seen);
        errors += failed;
        outputs += stored;
    }
    let elapsed = started.elapsed();
    let unique: HashSet<&String> = all.iter().collect();
    Ok(Drained {
        completed: all.len(),
        claimed_twice: all.len() - unique.len(),
        elapsed,
        errors,
        outputs,
    })
}

/// Gives `user_id` `count` pending tasks (the oldest first in line), with
/// the queue rows and counters the service keeps.
pub async fn seed_pending(stack: &Stack, user_id: &str, count: u64) -> anyhow::Result<()> {
    let (db, connection) =
        tokio_postgres::connect(&stack.database_url("workspace"), tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let count = i64::try_from(count)?;
    db.execute(
        "INSERT INTO tasks (id, user_id, query, status, kind, created_at, updated_at, run_after)
         SELECT gen_random_uuid(), $1::text::uuid, 'backlog task ' || i, 'pending', 'default', t, t, t
         FROM generate_series(1::bigint, $2) AS i,
              LATERAL (SELECT now() - interval '1 hour' + i * interval '1 millisecond') AS at(t)",
        &[&user_id, &count],
    )
    .await
    .context("seeding pending tasks")?;
    db.execute(
        "INSERT INTO task_queues (user_id, kind, pending) VALUES ($1::text::uuid, 'default', $2)
         ON CONFLICT (user_id, kind) DO UPDATE SET pending = task_queues.pending + EXCLUDED.pending",
        &[&user_id, &count],
    )
    .await
    .context("seeding the queue row")?;
    db.execute(
        "INSERT INTO task_counts (user_id, status, count) VALUES ($1::text::uuid, 'pending', $2)
         ON CONFLICT (user_id, status) DO UPDATE SET count = task_counts.count + EXCLUDED.count",
        &[&user_id, &count],
    )
    .await
    .context("seeding the counters")?;
    db.batch_execute("ANALYZE tasks; ANALYZE task_queues")
        .await?;
    Ok(())
}

/// What a light user saw while a heavy user's backlog was drained.
#[derive(Debug)]
pub struct LightWaits {
    /// From each light task's creation to a worker starting it (server
    /// timestamps), sorted.
    pub waits: Vec<Duration>,
    /// The heavy user's tasks still pending when the last light task started.
    pub heavy_pending_after: i64,
    /// Tasks the workers completed meanwhile.
    pub completed: usize,
    /// Calls that failed.
    pub errors: usize,
}

/// `workers` workers drain the queue while the light user (`light_token`)
/// queues `probes` tasks one after the other (each once the previous one
/// has started): how long did each wait, with the heavy user
/// (`heavy_user_id`, seeded with a backlog) ahead of them all?
pub async fn light_user_waits(
    stack: &Stack,
    channel: Channel,
    heavy_user_id: &str,
    light_token: &str,
    service_token: &str,
    probes: usize,
    workers: usize,
) -> anyhow::Result<LightWaits> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let bearer = |token: &str| -> tonic::metadata::MetadataValue<tonic::metadata::Ascii> {
        format!("Bearer {token}").parse().expect("ASCII")
    };
    let service = bearer(service_token);
    let stop = Arc::new(AtomicBool::new(false));
    let completed = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let runs: Vec<_> = (0..workers)
        .map(|w| {
            let mut client = WorkerServiceClient::new(channel.clone());
            let (service, stop) = (service.clone(), stop.clone());
            let (completed, errors) = (completed.clone(), errors.clone());
            tokio::spawn(async move {
                let worker_id = format!("fair-worker-{w}");
                while !stop.load(Ordering::Relaxed) {
                    let mut claim = tonic::Request::new(pb::ClaimTaskRequest {
                        worker_id: worker_id.clone(),
                        lease_seconds: 60,
                        ..Default::default()
                    });
                    claim
                        .metadata_mut()
                        .insert("authorization", service.clone());
                    let Ok(response) = client.claim_task(claim).await else {
                        errors.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    let Some(task) = response.into_inner().task else {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        continue;
                    };
                    let mut complete = tonic::Request::new(pb::CompleteTaskRequest {
                        task_id: task.task_id,
                        worker_id: worker_id.clone(),
                        analysis: "drained".into(),
                        ..Default::default()
                    });
                    complete
                        .metadata_mut()
                        .insert("authorization", service.clone());
                    match client.complete_task(complete).await {
                        Ok(_) => completed.fetch_add(1, Ordering::Relaxed),
                        Err(_) => errors.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();

    let light = bearer(light_token);
    let mut tasks = TaskServiceClient::new(channel.clone());
    let mut waits = Vec::new();
    for i in 0..probes {
        let mut create = tonic::Request::new(pb::CreateTaskRequest {
            query: format!("light task {i}"),
            ..Default::default()
        });
        create.metadata_mut().insert("authorization", light.clone());
        let task = tasks
            .create_task(create)
            .await?
            .into_inner()
            .task
            .context("no task")?;
        let deadline = Instant::now() + Duration::from_secs(60);
        let started = loop {
            let mut get = tonic::Request::new(pb::GetTaskRequest {
                task_id: task.task_id.clone(),
            });
            get.metadata_mut().insert("authorization", light.clone());
            let now = tasks
                .get_task(get)
                .await?
                .into_inner()
                .task
                .context("no task")?;
            if let Some(started) = now.started_at {
                break started;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "light task {i} not started in 60 s"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        let created = task.created_at.context("no created_at")?;
        let micros = (started.seconds - created.seconds) * 1_000_000
            + i64::from(started.nanos - created.nanos) / 1_000;
        waits.push(Duration::from_micros(u64::try_from(micros.max(0))?));
    }
    let (db, connection) =
        tokio_postgres::connect(&stack.database_url("workspace"), tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let heavy_pending_after: i64 = db
        .query_one(
            "SELECT count(*) FROM tasks WHERE user_id = $1::text::uuid AND status = 'pending'",
            &[&heavy_user_id],
        )
        .await?
        .get(0);
    stop.store(true, Ordering::Relaxed);
    for run in runs {
        run.await.context("a worker panicked")?;
    }
    waits.sort();
    Ok(LightWaits {
        waits,
        heavy_pending_after,
        completed: completed.load(Ordering::Relaxed),
        errors: errors.load(Ordering::Relaxed),
    })
}
