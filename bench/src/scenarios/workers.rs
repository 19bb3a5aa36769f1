//! Workers: a service account with `tasks.process`, 8 of them draining a
//! queue over gRPC; and fairness, a heavy user's backlog ahead of a light
//! user's tasks.

use std::time::Duration;

use bench::stack::sign_up;

use super::count;
use super::{Ctx, Row};

/// The rows of this scenario.
pub async fn run(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    let Ctx {
        stack,
        http,
        cli,
        channel,
        ..
    } = ctx;
    let mut rows = Vec::new();

    // Workers: a service account with tasks.process, 8 of them draining a
    // queue over gRPC.
    eprintln!("workers");
    let (client_id, client_secret) = stack
        .create_service_account("bench-worker", "tasks.process")
        .await?;
    let auth_channel = tonic::transport::Endpoint::from_shared(stack.auth.clone())?
        .connect()
        .await?;
    let service_token = proto::auth::v1::auth_service_client::AuthServiceClient::new(auth_channel)
        .issue_service_token(proto::auth::v1::IssueServiceTokenRequest {
            client_id,
            client_secret,
        })
        .await?
        .into_inner()
        .access_token;
    let (owner_token, _) = sign_up(http, &stack.gateway, "queue-owner@example.com").await?;
    let queued = if cli.quick { 300 } else { 3_000 };
    let drained =
        bench::tasks::drain_queue(channel.clone(), &owner_token, &service_token, queued, 8).await?;
    rows.push(Row {
        scenario: "8 workers claim, store a 16 KiB output file, complete",
        figure: format!(
            "{} of {queued} tasks in {:.2} s: **{:.0} tasks/s**; outputs stored: {}; claimed twice: **{}**",
            drained.completed,
            drained.elapsed.as_secs_f64(),
            drained.completed as f64 / drained.elapsed.as_secs_f64(),
            drained.outputs,
            drained.claimed_twice
        ),
        target: "record",
        verdict: if drained.claimed_twice == 0
            && drained.completed == queued
            && drained.outputs == queued
            && drained.errors == 0
        {
            "recorded; none twice, none lost".into()
        } else {
            format!("{} errors, {} twice", drained.errors, drained.claimed_twice)
        },
    });

    // Fairness: a heavy user's backlog ahead of a light user's tasks.
    eprintln!("fairness");
    let backlog: u64 = if cli.quick { 2_000 } else { 10_000 };
    let probes = if cli.quick { 5 } else { 20 };
    let (_, heavy_id) = sign_up(http, &stack.gateway, "heavy@example.com").await?;
    let (light_token, _) = sign_up(http, &stack.gateway, "light@example.com").await?;
    bench::tasks::seed_pending(stack, &heavy_id, backlog).await?;
    let light = bench::tasks::light_user_waits(
        stack,
        channel.clone(),
        &heavy_id,
        &light_token,
        &service_token,
        probes,
        8,
    )
    .await?;
    let longest = light.waits.last().copied().unwrap_or_default();
    let median = light.waits[light.waits.len() / 2];
    rows.push(Row {
        scenario: "light user's task while a heavy user has a backlog (8 workers)",
        figure: format!(
            "{probes} light tasks behind {} pending: longest wait **{:.1} ms** (median {:.1} ms); \
             heavy tasks still pending after: {}",
            count(backlog),
            longest.as_secs_f64() * 1e3,
            median.as_secs_f64() * 1e3,
            light.heavy_pending_after
        ),
        target: "≤ 1 s",
        verdict: if light.errors == 0 && longest <= Duration::from_secs(1) {
            format!(
                "met; {} heavy tasks done meanwhile",
                light.completed - probes
            )
        } else {
            format!("NOT met ({} errors)", light.errors)
        },
    });
    Ok(rows)
}
