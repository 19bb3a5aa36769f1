//! The scenarios, one module each, in the order they run: each gives its
//! rows of the report (see docs/BENCHMARKS.md).

pub mod conversation;
pub mod logins;
pub mod me;
pub mod references;
pub mod task_listing;
pub mod transfer;
pub mod verify;
pub mod workers;

use std::time::Duration;

use bench::load::{self, Report, Settings};
use bench::stack::Stack;

use crate::cli::Cli;

/// What every scenario runs against: the stack, a signed-up user with a
/// conversation, the settings of the throughput runs.
pub struct Ctx {
    pub cli: Cli,
    pub stack: Stack,
    pub http: reqwest::Client,
    /// The signed-up user's access token.
    pub token: String,
    pub conversation_id: String,
    /// A gRPC channel straight to the workspace-service.
    pub channel: tonic::transport::Channel,
    /// Closed loop with `cli.clients` clients.
    pub closed: Settings,
    pub warm_up: Duration,
    pub duration: Duration,
}

/// One row of the report.
pub struct Row {
    pub scenario: &'static str,
    pub figure: String,
    pub target: &'static str,
    pub verdict: String,
}

/// "10 k", "1 M".
pub fn count(n: u64) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{} M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{} k", n / 1_000),
        n => n.to_string(),
    }
}

/// Authenticated `GET url` requests under `settings`: each must answer 2xx.
pub fn get_load(
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
pub fn ok_status(response: Result<reqwest::Response, reqwest::Error>) -> Result<(), String> {
    match response {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("HTTP {}", r.status())),
        Err(e) => Err(e.to_string()),
    }
}

/// "met", "missed", or the errors that make the figure meaningless.
pub fn verdict(met: bool, report: &Report) -> String {
    if report.errors > 0 {
        return format!(
            "{} errors (first: {})",
            report.errors,
            report.first_error.as_deref().unwrap_or("?")
        );
    }
    if met { "met" } else { "missed" }.to_owned()
}
