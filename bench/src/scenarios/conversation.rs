//! One conversation fetched by id: HTTP through the gateway against
//! `pgbench -S`, where its CPU goes, gRPC straight to the service, and the
//! HTTP figure again with `wrk`.

use bench::load;
use proto::workspace::v1 as pb;
use proto::workspace::v1::conversation_service_client::ConversationServiceClient;

use super::references::wrk;
use super::{Ctx, Row};
use super::{get_load, verdict};

/// The rows of this scenario.
pub async fn run(ctx: &Ctx, pgbench_tps: f64) -> anyhow::Result<Vec<Row>> {
    let Ctx {
        stack,
        http,
        token,
        conversation_id,
        cli,
        channel,
        ..
    } = ctx;
    let (closed, warm_up, duration) = (ctx.closed, ctx.warm_up, ctx.duration);
    let mut rows = Vec::new();

    // Get one conversation, HTTP through the gateway.
    eprintln!("get conversation over HTTP");
    let url = format!("{}/v1/conversations/{conversation_id}", stack.gateway);
    let cpu_before = stack.cpu_times();
    let via_gateway = get_load(closed, http, url.clone(), token).await;
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
    rows.push(match wrk(&url, token, cli.clients, duration).await {
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
    Ok(rows)
}
