//! `bench`: starts the release binaries against a PostgreSQL of its own,
//! seeds data, runs the scenarios with one load engine over HTTP and gRPC,
//! measures the reference limits in the same run, and writes the figures as
//! ratios to a Markdown file. It builds nothing: build first with
//! `cargo build --release -p auth-service -p workspace-service -p gateway -p bench`.

mod cli;
mod report;
mod scenarios;

use std::time::Duration;

use anyhow::Context;
use bench::load::{Mode, Settings};
use bench::stack::{Stack, create_conversation, sign_up};
use clap::Parser;

use cli::Cli;

use scenarios::{
    Ctx, conversation, logins, me, references, task_listing, transfer, verify, workers,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // HTTPS clients take the process-wide TLS provider (as service_runtime::tls).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let bin_dir = bench::stack::bin_dir(cli.bin_dir.as_deref())?;
    let (warm_up, duration) = if cli.quick {
        (Duration::from_millis(500), Duration::from_secs(2))
    } else {
        (Duration::from_secs(3), Duration::from_secs(15))
    };
    eprintln!("starting the stack from {}", bin_dir.display());
    let stack = Stack::start(&bin_dir).await?;

    // Seed: a user, a token, a conversation.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(cli.clients * 2)
        .build()?;
    let (token, _) = sign_up(&http, &stack.gateway, "bench@example.com").await?;
    let conversation_id = create_conversation(&http, &stack.gateway, &token, "benchmark").await?;
    let channel = tonic::transport::Endpoint::from_shared(stack.workspace.clone())?
        .tcp_nodelay(true)
        .connect()
        .await?;

    // Reference: PostgreSQL's own select-only throughput at the same clients.
    eprintln!("pgbench -S");
    let pgbench_tps = references::pgbench_select_only(&stack, cli.clients, duration).await?;

    let ctx = Ctx {
        closed: Settings {
            mode: Mode::Closed {
                clients: cli.clients,
            },
            warm_up,
            duration,
        },
        cli,
        stack,
        http,
        token,
        conversation_id,
        channel,
        warm_up,
        duration,
    };
    let mut rows = conversation::run(&ctx, pgbench_tps).await?;
    rows.extend(me::run(&ctx).await?);
    rows.extend(logins::run(&ctx).await?);
    // Before the task scenarios, whose million rows PostgreSQL writes out
    // in the background for a while.
    rows.extend(transfer::run(&ctx).await?);
    rows.extend(task_listing::run(&ctx).await?);
    rows.extend(workers::run(&ctx).await?);
    rows.push(verify::row());

    let report = report::render(&ctx.cli, &ctx.stack, pgbench_tps, &rows).await;
    let out = &ctx.cli.out;
    std::fs::write(out, report).with_context(|| format!("writing {}", out.display()))?;
    eprintln!("wrote {}", out.display());
    Ok(())
}
