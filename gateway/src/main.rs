//! The gateway binary.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use service_runtime::env::Env;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// HTTP/JSON in front of the gRPC services. Configured by environment
/// variables (see docs/configuration.md).
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve HTTP (the default).
    Serve,
    /// Exit 0 if the gateway on GATEWAY_LISTEN_ADDR answers `/healthz` with
    /// 200, 1 otherwise (for container health checks).
    Health,
}

#[tokio::main]
async fn main() -> ExitCode {
    let _telemetry = service_runtime::telemetry::init("gateway");
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = gateway::Config::from_env(&Env::process())?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = gateway::Application::build(config).await?;
            app.run_until(service_runtime::shutdown::signal()).await
        }
        Command::Health => health(config.listen_addr).await,
    }
}

/// One HTTP/1.1 request to `/healthz`, by hand: the check runs in images
/// without curl and must not need an HTTP client stack.
async fn health(listen: std::net::SocketAddr) -> anyhow::Result<()> {
    let addr = service_runtime::grpc::local_address(listen);
    let check = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await?;
        Ok::<_, std::io::Error>(head)
    };
    let head = tokio::time::timeout(std::time::Duration::from_secs(3), check)
        .await
        .map_err(|_| anyhow::anyhow!("no answer from {addr} within 3 s"))?
        .map_err(|e| anyhow::anyhow!("cannot ask {addr}: {e}"))?;
    anyhow::ensure!(
        &head[9..12] == b"200",
        "{addr} answered {}",
        String::from_utf8_lossy(&head)
    );
    Ok(())
}
