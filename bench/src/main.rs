//! `bench`: starts the release binaries against a PostgreSQL of its own,
//! seeds data, runs the scenarios with one load engine over HTTP and gRPC,
//! measures the reference limits in the same run, and writes the figures as
//! ratios to a Markdown file. It builds nothing: build first with
//! `cargo build --release -p auth-service -p workspace-service -p gateway -p bench`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use bench::load::{self, Mode, Report, Settings};
use bench::peer::Peer;
use bench::stack::{PASSWORD, Stack, create_conversation, sign_up};
use clap::Parser;
use proto::workspace::v1 as pb;
use proto::workspace::v1::conversation_service_client::ConversationServiceClient;
use serde_json::{Value, json};

/// Benchmarks of the stack; see BENCHMARKS.md.
#[derive(Debug, Parser)]
struct Cli {
    /// Short runs (a smoke test, under 2 minutes); figures are rough.
    #[arg(long)]
    quick: bool,
    /// Where the report is written.
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: PathBuf,
    /// Where the release binaries are (default: next to this one).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Concurrent clients of the throughput scenarios (and of pgbench).
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// The virtualenv of the `GET me` peer (made by `bench/peer/install`).
    #[arg(long, default_value = "/opt/bench-peer")]
    peer_venv: PathBuf,
}

/// One row of the report.
struct Row {
    scenario: &'static str,
    figure: String,
    target: &'static str,
    verdict: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let bin_dir = bench::stack::bin_dir(cli.bin_dir.as_deref())?;
    let (warm_up, duration) = if cli.quick {
        (Duration::from_millis(500), Duration::from_secs(2))
    } else {
        (Duration::from_secs(3), Duration::from_secs(15))
    };
    eprintln!("starting the stack from {}", bin_dir.display());
    let stack = Stack::start(&bin_dir).await?;
    let closed = Settings {
        mode: Mode::Closed {
            clients: cli.clients,
        },
        warm_up,
        duration,
    };
    let mut rows = Vec::new();

    // Seed: a user, a token, a conversation.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(cli.clients * 2)
        .build()?;
    let credentials = json!({"email": "bench@example.com", "password": PASSWORD});
    let (token, _) = sign_up(&http, &stack.gateway, "bench@example.com").await?;
    let conversation_id = create_conversation(&http, &stack.gateway, &token, "benchmark").await?;

    // Reference: PostgreSQL's own select-only throughput at the same clients.
    eprintln!("pgbench -S");
    let pgbench_tps = pgbench_select_only(&stack, cli.clients, duration).await?;

    // Get one conversation, HTTP through the gateway.
    eprintln!("get conversation over HTTP");
    let url = format!("{}/v1/conversations/{conversation_id}", stack.gateway);
    let cpu_before = stack.cpu_times();
    let via_gateway = get_load(closed, &http, url.clone(), &token).await;
    // The CPU each part spent per request (warm-up included in both counts).
    let cpu_after = stack.cpu_times();
    let requests =
        via_gateway.ok as f64 * (warm_up + duration).as_secs_f64() / duration.as_secs_f64();
    let per_request: Vec<(&str, f64)> = cpu_after
        .parts
        .iter()
        .map(|(part, _)| (*part, cpu_after.since(&cpu_before, part) / requests * 1e6))
        .collect();
    let total_us: f64 = per_request.iter().map(|(_, us)| us).sum();
    let cores = std::thread::available_parallelism().map_or(2, usize::from) as f64;
    let cpu_row = Row {
        scenario: "where the CPU of that call goes",
        figure: format!(
            "per request: {} = **{total_us:.0} µs**; pgbench -S: {cores} cores ÷ {pgbench_tps:.0} tps = **{:.0} µs** per transaction (client and server)",
            per_request
                .iter()
                .map(|(part, us)| format!("{part} {us:.0} µs"))
                .collect::<Vec<_>>()
                .join(", "),
            cores / pgbench_tps * 1e6
        ),
        target: "explains the first row",
        verdict: "recorded".into(),
    };
    rows.push(Row {
        scenario: "get one conversation by id, HTTP via gateway",
        figure: format!(
            "{:.0} req/s ÷ pgbench -S {:.0} tps = **{:.2}** (p99 {:.1} ms)",
            via_gateway.per_second(),
            pgbench_tps,
            via_gateway.per_second() / pgbench_tps,
            via_gateway.quantile_ms(0.99)
        ),
        target: "≥ 0.5",
        verdict: verdict(via_gateway.per_second() / pgbench_tps >= 0.5, &via_gateway),
    });
    rows.push(cpu_row);

    // The same call, gRPC straight to the workspace-service.
    eprintln!("get conversation over gRPC");
    let channel = tonic::transport::Endpoint::from_shared(stack.workspace.clone())?
        .tcp_nodelay(true)
        .connect()
        .await?;
    let direct = load::run(closed, {
        let (client, token, id) = (
            ConversationServiceClient::new(channel.clone()),
            token.clone(),
            conversation_id.clone(),
        );
        move |_| {
            let mut client = client.clone();
            let mut request = tonic::Request::new(pb::GetConversationRequest {
                conversation_id: id.clone(),
            });
            let bearer = format!("Bearer {token}").parse().expect("ASCII");
            request.metadata_mut().insert("authorization", bearer);
            async move {
                client
                    .get_conversation(request)
                    .await
                    .map(|_| ())
                    .map_err(|s| format!("{:?}: {}", s.code(), s.message()))
            }
        }
    })
    .await;
    let ratio = via_gateway.per_second() / direct.per_second();
    rows.push(Row {
        scenario: "same call, gRPC direct vs via gateway",
        figure: format!(
            "gateway {:.0} req/s ÷ direct {:.0} req/s = **{ratio:.2}** (direct p99 {:.1} ms)",
            via_gateway.per_second(),
            direct.per_second(),
            direct.quantile_ms(0.99)
        ),
        target: "≥ 0.8",
        verdict: verdict(ratio >= 0.8, &direct),
    });

    // The HTTP figure again with `wrk`, an HTTP load tool from outside the
    // project, at the same connections and duration.
    eprintln!("get conversation over HTTP with wrk");
    let url = format!("{}/v1/conversations/{conversation_id}", stack.gateway);
    rows.push(match wrk(&url, &token, cli.clients, duration).await {
        Ok(wrk_rps) => Row {
            scenario: "same call, cross-checked with `wrk`",
            figure: format!(
                "wrk {wrk_rps:.0} req/s ÷ this harness {:.0} req/s = **{:.2}**",
                via_gateway.per_second(),
                wrk_rps / via_gateway.per_second()
            ),
            target: "record",
            verdict: "recorded".into(),
        },
        Err(e) => Row {
            scenario: "same call, cross-checked with `wrk`",
            figure: format!("not measured: {e}"),
            target: "record",
            verdict: "—".into(),
        },
    });

    // GET /v1/auth/me through the gateway.
    eprintln!("get me over HTTP");
    let me_url = format!("{}/v1/auth/me", stack.gateway);
    let me = get_load(closed, &http, me_url.clone(), &token).await;
    rows.push(Row {
        scenario: "`GET /v1/auth/me` via gateway",
        figure: format!(
            "**{:.0} req/s**, p50 {:.1} ms, p99 {:.1} ms",
            me.per_second(),
            me.quantile_ms(0.5),
            me.quantile_ms(0.99)
        ),
        target: "record",
        verdict: verdict(true, &me),
    });
    // The same request to the peer outside the project, same token, same
    // database, same engine and clients.
    eprintln!("get me from the FastAPI peer");
    rows.push(match Peer::start(&cli.peer_venv, &stack).await {
        Ok(peer) => {
            let theirs = get_load(closed, &http, format!("{}/v1/auth/me", peer.url), &token).await;
            drop(peer);
            Row {
                scenario: "`GET /v1/auth/me`, compared with a peer outside the project",
                figure: format!(
                    "FastAPI + uvicorn ({} workers) + PyJWT + asyncpg (`bench/peer/me.py`): {:.0} req/s, p50 {:.1} ms, p99 {:.1} ms; ours ÷ peer: **{:.2}** in req/s, **{:.2}** in p99",
                    std::thread::available_parallelism().map_or(2, usize::from),
                    theirs.per_second(),
                    theirs.quantile_ms(0.5),
                    theirs.quantile_ms(0.99),
                    me.per_second() / theirs.per_second(),
                    me.quantile_ms(0.99) / theirs.quantile_ms(0.99),
                ),
                target: "record",
                verdict: verdict(true, &theirs),
            }
        }
        Err(e) => Row {
            scenario: "`GET /v1/auth/me`, compared with a peer outside the project",
            figure: format!("not measured: {e:#}"),
            target: "record",
            verdict: "—".into(),
        },
    });

    // Login storm: 64 clients signing in at once. Logins are bcrypt-bound,
    // so the limit is the hashing pool: its size ÷ the time of one hash.
    eprintln!("one bcrypt hash");
    let hash_time = one_hash_time(stack.bcrypt_cost).await;
    let hash_limit = stack.bcrypt_concurrency as f64 / hash_time.as_secs_f64();
    // Quick runs are too short for 64 queued hashes to drain: 8 clients.
    let storm_clients = if cli.quick { 8 } else { 64 };
    let storm_settings = Settings {
        mode: Mode::Closed {
            clients: storm_clients,
        },
        warm_up,
        duration,
    };
    let login_url = format!("{}/v1/auth/login", stack.gateway);
    let storm = || {
        let (http, url, body) = (http.clone(), login_url.clone(), credentials.clone());
        load::run(storm_settings, move |_| {
            let request = http.post(&url).json(&body).send();
            async move { ok_status(request.await) }
        })
    };
    eprintln!("login storm");
    let alone = storm().await;
    let ratio = alone.per_second() / hash_limit;
    rows.push(Row {
        scenario: "login storm (64 concurrent logins)",
        figure: format!(
            "{storm_clients} clients: {:.1} logins/s ÷ ({} hashing threads ÷ {:.0} ms per hash = {hash_limit:.1}/s) = **{ratio:.2}**",
            alone.per_second(),
            stack.bcrypt_concurrency,
            hash_time.as_secs_f64() * 1000.0
        ),
        target: "≥ 0.9",
        verdict: verdict(ratio >= 0.9, &alone),
    });

    // The same storm, with `GET me` at a steady 50 per second meanwhile.
    eprintln!("login storm with GET me");
    let me_during = Settings {
        mode: Mode::Open {
            per_second: 50.0,
            max_in_flight: 256,
        },
        warm_up,
        duration,
    };
    let me_url = format!("{}/v1/auth/me", stack.gateway);
    let (_, me_in_storm) =
        tokio::join!(storm(), get_load(me_during, &http, me_url.clone(), &token));
    let p99 = me_in_storm.quantile_ms(0.99);
    rows.push(Row {
        scenario: "login storm + `GET me` at the same time",
        figure: format!(
            "p99 of `me` **{p99:.1} ms** (p50 {:.1} ms, {} dropped)",
            me_in_storm.quantile_ms(0.5),
            me_in_storm.dropped
        ),
        target: "≤ 50 ms",
        verdict: verdict(p99 <= 50.0, &me_in_storm),
    });

    // A large upload then download through the gateway, against the disk
    // (before the task scenarios, whose million rows PostgreSQL writes out
    // in the background for a while).
    let size: u64 = if cli.quick { 64 << 20 } else { 1 << 30 };
    eprintln!("raw disk write of {} MiB", size >> 20);
    let disk = disk_write_mb_per_s(&stack.dir.path().join("disk-probe"), size).await?;
    eprintln!("upload and download of {} MiB", size >> 20);
    let before: Vec<(u64, u64)> = ["gateway", "workspace-service"]
        .iter()
        .map(|name| {
            stack
                .pid(name)
                .and_then(bench::stack::memory_kib)
                .unwrap_or_default()
        })
        .collect();
    let (up, down) = transfer(&http, &stack.gateway, &token, size).await?;
    let after: Vec<(u64, u64)> = ["gateway", "workspace-service"]
        .iter()
        .map(|name| {
            stack
                .pid(name)
                .and_then(bench::stack::memory_kib)
                .unwrap_or_default()
        })
        .collect();
    // Peak resident set after, minus resident set before: the growth.
    let growth_mib: Vec<f64> = before
        .iter()
        .zip(&after)
        .map(|((_, rss_before), (peak_after, _))| {
            peak_after.saturating_sub(*rss_before) as f64 / 1024.0
        })
        .collect();
    let worst = up.min(down) / disk;
    rows.push(Row {
        scenario: if cli.quick {
            "64 MiB upload then download via gateway (quick)"
        } else {
            "1 GiB upload then download via gateway"
        },
        figure: format!(
            "up {up:.0} MB/s, down {down:.0} MB/s ÷ disk write {disk:.0} MB/s = **{:.2}** / **{:.2}**; peak RSS growth gateway **{:.1} MiB**, workspace-service **{:.1} MiB**",
            up / disk,
            down / disk,
            growth_mib[0],
            growth_mib[1]
        ),
        target: "≥ 0.5; ≤ 32 MiB each",
        verdict: if worst >= 0.5 && growth_mib.iter().all(|g| *g <= 32.0) {
            "met".into()
        } else {
            "missed".into()
        },
    });

    // Listing tasks: the first page with a status filter, for a user with
    // few tasks and one with very many (seeded in the database directly).
    let (few, many): (u64, u64) = if cli.quick {
        (10_000, 100_000)
    } else {
        (10_000, 1_000_000)
    };
    let mut list_p50 = Vec::new();
    let latency = Settings {
        mode: Mode::Closed { clients: 1 },
        warm_up,
        duration,
    };
    let mut many_token = String::new();
    for (n, email) in [
        (few, "few-tasks@example.com"),
        (many, "many-tasks@example.com"),
    ] {
        let (user_token, user_id) = sign_up(&http, &stack.gateway, email).await?;
        eprintln!("seeding {n} tasks");
        let seeding = std::time::Instant::now();
        bench::tasks::seed_finished(&stack, &user_id, n).await?;
        eprintln!(
            "seeded in {:.1} s; listing",
            seeding.elapsed().as_secs_f64()
        );
        let url = format!("{}/v1/tasks?status=completed&page_size=20", stack.gateway);
        let report = get_load(latency, &http, url.clone(), &user_token).await;
        list_p50.push(report);
        many_token = user_token;
    }
    let ratio = list_p50[1].quantile_ms(0.5) / list_p50[0].quantile_ms(0.5);
    rows.push(Row {
        scenario: "list tasks, first page with a status filter, one user holding 10 k vs 1 M tasks",
        figure: format!(
            "p50 at {} ({:.2} ms) ÷ p50 at {} ({:.2} ms) = **{ratio:.2}**",
            count(many),
            list_p50[1].quantile_ms(0.5),
            count(few),
            list_p50[0].quantile_ms(0.5),
        ),
        target: "≤ 2",
        verdict: verdict(ratio <= 2.0, &list_p50[1]),
    });

    eprintln!("task stats");
    let stats_url = format!("{}/v1/tasks:stats", stack.gateway);
    let stats = get_load(latency, &http, stats_url.clone(), &many_token).await;
    rows.push(Row {
        scenario: "task stats (`/v1/tasks:stats`) at 1 M tasks",
        figure: format!(
            "at {}: p50 **{:.2} ms** (p99 {:.2} ms)",
            count(many),
            stats.quantile_ms(0.5),
            stats.quantile_ms(0.99)
        ),
        target: "≤ 5 ms",
        verdict: verdict(stats.quantile_ms(0.5) <= 5.0, &stats),
    });

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
    let (owner_token, _) = sign_up(&http, &stack.gateway, "queue-owner@example.com").await?;
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
    let (_, heavy_id) = sign_up(&http, &stack.gateway, "heavy@example.com").await?;
    let (light_token, _) = sign_up(&http, &stack.gateway, "light@example.com").await?;
    bench::tasks::seed_pending(&stack, &heavy_id, backlog).await?;
    let light = bench::tasks::light_user_waits(
        &stack,
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

    rows.push(verify_row());

    let report = render(&cli, &stack, pgbench_tps, &rows).await;
    std::fs::write(&cli.out, report).with_context(|| format!("writing {}", cli.out.display()))?;
    eprintln!("wrote {}", cli.out.display());
    Ok(())
}

/// "10 k", "1 M".
fn count(n: u64) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{} M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{} k", n / 1_000),
        n => n.to_string(),
    }
}

/// `wrk` on `url` with `connections` connections: requests per second.
async fn wrk(
    url: &str,
    token: &str,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    let threads = std::thread::available_parallelism()
        .map_or(2, usize::from)
        .min(connections);
    let output = tokio::process::Command::new("wrk")
        .args([
            "-t",
            &threads.to_string(),
            "-c",
            &connections.to_string(),
            "-d",
            &format!("{}s", duration.as_secs().max(1)),
            "-H",
            &format!("Authorization: Bearer {token}"),
            url,
        ])
        .output()
        .await
        .context("wrk is not installed (Debian: wrk)")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(
        output.status.success(),
        "wrk failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    anyhow::ensure!(
        !stdout.contains("Non-2xx"),
        "wrk saw non-2xx answers: {stdout}"
    );
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("Requests/sec:"))
        .and_then(|rest| rest.trim().parse().ok())
        .with_context(|| format!("no Requests/sec in wrk's output: {stdout}"))
}

/// Token verification alone, from criterion's last estimates
/// (`cargo bench -p access --bench verify`), when there are any.
fn verify_row() -> Row {
    let estimate = |name: &str| -> Option<(f64, std::time::SystemTime)> {
        let path =
            PathBuf::from(std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| "target".into()))
                .join("criterion/verify")
                .join(name)
                .join("new/estimates.json");
        let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok()?;
        let estimates: Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
        Some((
            estimates["median"]["point_estimate"].as_f64()? / 1000.0,
            modified,
        ))
    };
    match (estimate("first_use"), estimate("remembered")) {
        (Some((cold, at)), Some((cached, _))) => {
            let age = at.elapsed().map_or(0, |d| d.as_secs() / 60);
            Row {
                scenario: "token verification alone (micro-benchmark, `criterion`)",
                figure: format!(
                    "first use (signature checked) **{cold:.2} µs**, seen before (remembered) **{cached:.2} µs** per verify (medians; criterion run {age} min before this report)"
                ),
                target: "record",
                verdict: "recorded".into(),
            }
        }
        _ => Row {
            scenario: "token verification alone (micro-benchmark, `criterion`)",
            figure: "not measured in this run: `cargo bench -p access --bench verify`".into(),
            target: "record",
            verdict: "—".into(),
        },
    }
}

/// The time of one bcrypt hash at `cost` on one thread (the fastest of
/// three, on a blocking thread while nothing else runs).
async fn one_hash_time(cost: u32) -> Duration {
    tokio::task::spawn_blocking(move || {
        (0..3)
            .map(|_| {
                let started = std::time::Instant::now();
                let _ = bcrypt::hash(PASSWORD, cost);
                started.elapsed()
            })
            .min()
            .unwrap_or_default()
    })
    .await
    .unwrap_or_default()
}

/// Writes `size` bytes to `path` in 1 MiB pieces and syncs: MB/s (10^6).
async fn disk_write_mb_per_s(path: &std::path::Path, size: u64) -> anyhow::Result<f64> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let piece = vec![0x5au8; 1 << 20];
        let started = std::time::Instant::now();
        let mut file = std::fs::File::create(&path)?;
        for _ in 0..size / piece.len() as u64 {
            file.write_all(&piece)?;
        }
        file.sync_all()?;
        let seconds = started.elapsed().as_secs_f64();
        std::fs::remove_file(&path)?;
        Ok(size as f64 / 1e6 / seconds)
    })
    .await?
}

/// Uploads `size` generated bytes through the gateway, downloads them back
/// and checks the length: (upload MB/s, download MB/s).
async fn transfer(
    http: &reqwest::Client,
    gateway: &str,
    token: &str,
    size: u64,
) -> anyhow::Result<(f64, f64)> {
    use futures::StreamExt;
    const PIECE: usize = 256 << 10;
    let pieces = size / PIECE as u64;
    let body = futures::stream::iter(0..pieces).map(|i| {
        let mut piece = vec![0u8; PIECE];
        // Distinct pieces: nothing is deduplicated or compressed away.
        piece[..8].copy_from_slice(&i.to_le_bytes());
        Ok::<_, std::io::Error>(piece)
    });
    let started = std::time::Instant::now();
    let response = http
        .post(format!("{gateway}/v1/files?filename=big.bin"))
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "upload: HTTP {}",
        response.status()
    );
    let up = size as f64 / 1e6 / started.elapsed().as_secs_f64();
    let file: Value = response.json().await?;
    let id = file["file"]["file_id"]
        .as_str()
        .with_context(|| format!("no file id in {file}"))?;
    let started = std::time::Instant::now();
    let response = http
        .get(format!("{gateway}/v1/files/{id}/content"))
        .bearer_auth(token)
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "download: HTTP {}",
        response.status()
    );
    let mut stream = response.bytes_stream();
    let mut received = 0u64;
    while let Some(chunk) = stream.next().await {
        received += chunk?.len() as u64;
    }
    let down = size as f64 / 1e6 / started.elapsed().as_secs_f64();
    anyhow::ensure!(
        received == pieces * PIECE as u64,
        "downloaded {received} of {size} bytes"
    );
    Ok((up, down))
}

/// Authenticated `GET url` requests under `settings`: each must answer 2xx.
fn get_load(
    settings: Settings,
    http: &reqwest::Client,
    url: String,
    token: &str,
) -> impl std::future::Future<Output = Report> {
    let (http, token) = (http.clone(), token.to_owned());
    load::run(settings, move |_| {
        let request = http.get(&url).bearer_auth(&token).send();
        async move { ok_status(request.await) }
    })
}

/// Ok for a 2xx answer.
fn ok_status(response: Result<reqwest::Response, reqwest::Error>) -> Result<(), String> {
    match response {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("HTTP {}", r.status())),
        Err(e) => Err(e.to_string()),
    }
}

/// "met", "missed", or the errors that make the figure meaningless.
fn verdict(met: bool, report: &Report) -> String {
    if report.errors > 0 {
        return format!(
            "{} errors (first: {})",
            report.errors,
            report.first_error.as_deref().unwrap_or("?")
        );
    }
    if met { "met" } else { "missed" }.to_owned()
}

/// `pgbench -S` (select-only) against the stack's PostgreSQL: transactions
/// per second, without the initial connection time.
async fn pgbench_select_only(
    stack: &Stack,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    let pgbench = find_pgbench(&stack.pg_bin).context("pgbench not found (Debian: postgresql)")?;
    let port = stack.pg_port.to_string();
    let common = ["-h", "127.0.0.1", "-p", &port, "-U", "postgres"];
    let init = tokio::process::Command::new(&pgbench)
        .args(common)
        .args(["-i", "-q", "-s", "10", "pgbench"])
        .output()
        .await
        .context("running pgbench")?;
    anyhow::ensure!(
        init.status.success(),
        "pgbench -i: {}",
        String::from_utf8_lossy(&init.stderr)
    );
    let threads = std::thread::available_parallelism()
        .map_or(2, usize::from)
        .min(clients)
        .to_string();
    let run = tokio::process::Command::new(&pgbench)
        .args(common)
        .args([
            "-S",
            "-n",
            "-c",
            &clients.to_string(),
            "-j",
            &threads,
            "-T",
            &duration.as_secs().max(1).to_string(),
            "pgbench",
        ])
        .output()
        .await?;
    let out = String::from_utf8_lossy(&run.stdout);
    anyhow::ensure!(
        run.status.success(),
        "pgbench -S: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    out.lines()
        .find_map(|line| {
            line.strip_prefix("tps = ")
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|tps| tps.parse().ok())
        })
        .with_context(|| format!("no tps in pgbench's output: {out}"))
}

/// `pgbench` beside the server binaries (following a symlink to their real
/// directory), in Debian's versioned directories, or on `PATH`.
fn find_pgbench(pg_bin: &std::path::Path) -> Option<PathBuf> {
    let mut candidates = vec![pg_bin.join("pgbench")];
    if let Ok(real) = std::fs::canonicalize(pg_bin.join("postgres"))
        && let Some(dir) = real.parent()
    {
        candidates.push(dir.join("pgbench"));
    }
    if let Ok(versions) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut dirs: Vec<PathBuf> = versions.flatten().map(|e| e.path()).collect();
        dirs.sort();
        candidates.extend(dirs.into_iter().rev().map(|d| d.join("bin/pgbench")));
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join("pgbench")));
    }
    candidates.into_iter().find(|c| c.is_file())
}

/// The Markdown report: machine facts, then the table.
async fn render(cli: &Cli, stack: &Stack, pgbench_tps: f64, rows: &[Row]) -> String {
    let command = |program: &str, args: &[&str]| {
        std::process::Command::new(program)
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|r| r.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let postgres = command(
        stack.pg_bin.join("postgres").to_str().unwrap_or("postgres"),
        &["--version"],
    );
    let mut text = String::new();
    text.push_str("# Benchmarks\n\n");
    text.push_str(&format!(
        "Written by `bench{}` on {} at commit `{}`.\n\n",
        if cli.quick { " --quick" } else { "" },
        command("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        command("git", &["rev-parse", "--short", "HEAD"]),
    ));
    text.push_str(&format!(
        "Machine: {cores} cores, {cpu}; {}; {postgres}. Clients: {}; bcrypt cost {} on {} threads. pgbench -S (scale 10): {pgbench_tps:.0} tps.\n\n",
        command("rustc", &["--version"]),
        cli.clients,
        stack.bcrypt_cost,
        stack.bcrypt_concurrency,
    ));
    text.push_str(
        "| scenario | figure (ratios measured in this run) | target | |\n|---|---|---|---|\n",
    );
    for row in rows {
        text.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            row.scenario, row.figure, row.target, row.verdict
        ));
    }
    // What limits the figures, from profiles: kept with the harness, so
    // that every report carries it.
    let notes = concat!(env!("CARGO_MANIFEST_DIR"), "/NOTES.md");
    if let Ok(notes) = std::fs::read_to_string(notes) {
        text.push('\n');
        text.push_str(&notes);
    }
    text
}
