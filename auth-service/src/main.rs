//! The auth-service binary.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use service_runtime::env::Env;

/// Accounts, sessions and tokens for the whole system. Configured by
/// environment variables (see docs/configuration.md).
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
    /// Exit 0 if the server on AUTH_LISTEN_ADDR reports SERVING on the gRPC
    /// health protocol, 1 otherwise (for container health checks).
    Health,
    /// Write a new Ed25519 signing key (PKCS#8 PEM, mode 0600) to PATH.
    GenerateKey {
        /// Where to write the key; an existing file is never overwritten.
        path: PathBuf,
    },
    /// Make EMAIL a superuser: create the account (password read from the
    /// first line of standard input) or promote the existing one.
    CreateSuperuser {
        /// The account's email.
        #[arg(long)]
        email: String,
        /// A username for a new account.
        #[arg(long)]
        username: Option<String>,
    },
    /// Create a service account; prints its id and secret (shown only now).
    CreateServiceAccount {
        /// A name for people (e.g. "task-worker").
        #[arg(long)]
        name: String,
        /// A scope granted to its tokens (repeatable), e.g. tasks.process.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let _telemetry = service_runtime::telemetry::init("auth-service");
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
            let applied = postgres_kit::run_migrations_patiently(
                &config.database()?,
                auth_service::db::MIGRATIONS,
                postgres_kit::PoolSettings::new("migrate").startup_patience,
            )
            .await?;
            tracing::info!(applied = ?applied, "database is up to date");
            Ok(())
        }
        Command::Health => {
            let config = auth_service::Config::from_env(&env)?;
            service_runtime::grpc::check_health(config.listen_addr)
                .await
                .map_err(anyhow::Error::msg)
        }
        Command::GenerateKey { path } => {
            auth_service::keys::generate_key_file(&path)?;
            tracing::info!(path = %path.display(), "signing key written");
            Ok(())
        }
        Command::CreateSuperuser { email, username } => {
            let config = auth_service::Config::from_env(&env)?;
            let pool = admin_pool(&config).await?;
            let hasher = auth_service::passwords::PasswordHasher::new(config.bcrypt_cost, 1, 1)?;
            let mut password = String::new();
            std::io::stdin().read_line(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']);
            let (id, created) = auth_service::admin::create_superuser(
                &pool,
                &hasher,
                &email,
                username.as_deref(),
                password,
            )
            .await?;
            let verb = if created { "created" } else { "promoted" };
            tracing::info!(user_id = %id, "superuser {verb}");
            Ok(())
        }
        Command::CreateServiceAccount { name, scopes } => {
            let config = auth_service::Config::from_env(&env)?;
            let pool = admin_pool(&config).await?;
            let (id, secret) =
                auth_service::admin::create_service_account(&pool, &name, &scopes).await?;
            // The one place the secret is shown: to the operator, on stdout.
            #[allow(clippy::print_stdout)]
            {
                println!("client_id={id}");
                println!("client_secret={secret}");
            }
            Ok(())
        }
    }
}

async fn admin_pool(config: &auth_service::Config) -> anyhow::Result<postgres_kit::PgPool> {
    let url = &config.database()?;
    postgres_kit::run_migrations(url, auth_service::db::MIGRATIONS).await?;
    let mut settings = postgres_kit::PoolSettings::new("auth-service-admin");
    settings.max_size = 1;
    Ok(postgres_kit::build_pool(url, &settings)?)
}
