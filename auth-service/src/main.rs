//! The auth-service binary.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;
use service_runtime::env::Env;

/// Accounts, sessions and tokens for the whole system. Configured by
/// environment variables (see README.md).
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
    /// Write a new Ed25519 signing key (PKCS#8 PEM, mode 0600) to PATH.
    GenerateKey {
        /// Where to write the key; an existing file is never overwritten.
        path: PathBuf,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    service_runtime::telemetry::init();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let env = Env::process();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let config = auth_service::Config::from_env(&env)?;
            let app = auth_service::Application::build(config).await?;
            app.run_until(service_runtime::shutdown::signal()).await
        }
        Command::Migrate => {
            let config = auth_service::Config::from_env(&env)?;
            let applied = postgres_kit::run_migrations(
                config.database_url.expose_secret(),
                auth_service::db::MIGRATIONS,
            )
            .await?;
            tracing::info!(applied = ?applied, "database is up to date");
            Ok(())
        }
        Command::GenerateKey { path } => {
            auth_service::keys::generate_key_file(&path)?;
            tracing::info!(path = %path.display(), "signing key written");
            Ok(())
        }
    }
}
