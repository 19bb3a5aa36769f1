//! The login storm, alone and with `GET me` at a steady rate meanwhile.
//! Logins are bcrypt-bound: the reference is the hashing pool's limit.

use bench::load::{self, Mode, Settings};
use bench::stack::PASSWORD;
use serde_json::json;

use super::references::one_hash_time;
use super::{Ctx, Row};
use super::{get_load, ok_status, verdict};

/// The rows of this scenario.
pub async fn run(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    let Ctx {
        stack,
        http,
        token,
        cli,
        ..
    } = ctx;
    let (warm_up, duration) = (ctx.warm_up, ctx.duration);
    let mut rows = Vec::new();

    // Login storm: 64 clients signing in at once. Logins are bcrypt-bound,
    // so the limit is the hashing pool: its size ÷ the time of one hash.
    let credentials = json!({"email": "bench@example.com", "password": PASSWORD});
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
    let (_, me_in_storm) = tokio::join!(storm(), get_load(me_during, http, me_url.clone(), token));
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
    Ok(rows)
}
