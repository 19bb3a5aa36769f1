//! `GET /v1/auth/me` through the gateway, and the same request to the
//! FastAPI peer outside the project (same token, database, engine, clients).

use bench::peer::Peer;

use super::{Ctx, Row};
use super::{get_load, verdict};

/// The rows of this scenario.
pub async fn run(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    let Ctx {
        stack,
        http,
        token,
        cli,
        ..
    } = ctx;
    let closed = ctx.closed;
    let mut rows = Vec::new();

    // GET /v1/auth/me through the gateway.
    eprintln!("get me over HTTP");
    let me_url = format!("{}/v1/auth/me", stack.gateway);
    let me = get_load(closed, http, me_url.clone(), token).await;
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
    rows.push(match Peer::start(&cli.peer_venv, stack).await {
        Ok(peer) => {
            let theirs = get_load(closed, http, format!("{}/v1/auth/me", peer.url), token).await;
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
    Ok(rows)
}
