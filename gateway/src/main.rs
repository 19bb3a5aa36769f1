//! The gateway binary.

use std::process::ExitCode;

use service_runtime::env::Env;

#[tokio::main]
async fn main() -> ExitCode {
    service_runtime::telemetry::init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let config = gateway::Config::from_env(&Env::process())?;
    let app = gateway::Application::build(config).await?;
    app.run_until(service_runtime::shutdown::signal()).await
}
