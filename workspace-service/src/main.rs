//! The workspace-service binary.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use service_runtime::env::Env;

/// Files, conversations and tasks. Configured by environment variables (see
/// docs/configuration.md).
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the gRPC API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Exit 0 if the server on WORKSPACE_LISTEN_ADDR reports SERVING on the gRPC
    /// health protocol, 1 otherwise (for container health checks).
    Health,
}

#[tokio::main]
async fn main() -> ExitCode {
    let _telemetry = service_runtime::telemetry::init("workspace-service");
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = workspace_service::Config::from_env(&Env::process())?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = workspace_service::Application::build(config).await?;
            app.run_until(service_runtime::shutdown::signal()).await
        }
        Command::Health => service_runtime::grpc::check_health(config.listen_addr)
            .await
            .map_err(anyhow::Error::msg),
        Command::Migrate => {
            let applied = postgres_kit::run_migrations_patiently(
                &config.database()?,
                workspace_service::db::MIGRATIONS,
                postgres_kit::PoolSettings::new("migrate").startup_patience,
            )
            .await?;
            tracing::info!(applied = ?applied, "database is up to date");
            Ok(())
        }
    }
}
