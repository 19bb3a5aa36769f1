//! Listing tasks (the first page with a status filter) for a user with
//! few tasks and one with very many, seeded in the database directly; the
//! statistics of the latter.

use bench::load::{Mode, Settings};
use bench::stack::sign_up;

use super::{Ctx, Row};
use super::{count, get_load, verdict};

/// The rows of this scenario.
pub async fn run(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    let Ctx {
        stack, http, cli, ..
    } = ctx;
    let (warm_up, duration) = (ctx.warm_up, ctx.duration);
    let mut rows = Vec::new();

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
        let (user_token, user_id) = sign_up(http, &stack.gateway, email).await?;
        eprintln!("seeding {n} tasks");
        let seeding = std::time::Instant::now();
        bench::tasks::seed_finished(stack, &user_id, n).await?;
        eprintln!(
            "seeded in {:.1} s; listing",
            seeding.elapsed().as_secs_f64()
        );
        let url = format!("{}/v1/tasks?status=completed&page_size=20", stack.gateway);
        let report = get_load(latency, http, url.clone(), &user_token).await;
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
    let stats = get_load(latency, http, stats_url.clone(), &many_token).await;
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
    Ok(rows)
}
