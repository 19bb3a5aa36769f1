//! The standard services every gRPC server of the system exposes, so that
//! `grpcurl`, `buf curl` and other clients can explore and call it with no
//! proto files at hand, and Kubernetes can probe it.

use tonic::service::RoutesBuilder;
use tonic_health::server::HealthReporter;

/// The health service's full name.
const HEALTH: &str = "grpc.health.v1.Health";

/// Adds gRPC reflection (`grpc.reflection.v1` and, for the many clients that
/// still speak only it, `grpc.reflection.v1alpha`) and `grpc.health.v1` to
/// `routes`. Reflection advertises `served` (full names such as
/// `auth.v1.AuthService`) and health, not the other services of the API.
/// Returns the health reporter: the caller marks its services serving when
/// ready and not serving when draining.
pub async fn add_standard_services(routes: &mut RoutesBuilder, served: &[&str]) -> HealthReporter {
    let (reporter, health) = tonic_health::server::health_reporter();
    // The whole server ("", what a Kubernetes gRPC probe asks) is not serving
    // until the caller says it is ready (see [`serve_when`]).
    reporter
        .set_service_status("", tonic_health::ServingStatus::NotServing)
        .await;
    routes.add_service(health);
    let names = served.iter().copied().chain([HEALTH]);
    let v1 = names
        .clone()
        .fold(reflection(), |builder, name| {
            builder.with_service_name(name)
        })
        .build_v1()
        .expect("the API descriptor set is valid");
    let v1alpha = names
        .fold(reflection(), |builder, name| {
            builder.with_service_name(name)
        })
        .build_v1alpha()
        .expect("the API descriptor set is valid");
    routes.add_service(v1);
    routes.add_service(v1alpha);
    reporter
}

/// Marks the server ("") and each of `served` serving once `ready`
/// completes (in a task of its own: the server answers, not serving, until
/// then).
pub fn serve_when(
    health: &HealthReporter,
    served: &[&'static str],
    ready: impl Future<Output = ()> + Send + 'static,
) {
    let health = health.clone();
    let served = served.to_vec();
    tokio::spawn(async move {
        ready.await;
        for name in served.into_iter().chain([""]) {
            health
                .set_service_status(name, tonic_health::ServingStatus::Serving)
                .await;
        }
    });
}

fn reflection() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}

/// The address to reach a server listening on `listen`: an unspecified
/// listen address (`0.0.0.0`, `::`) is reached on loopback.
pub fn local_address(listen: std::net::SocketAddr) -> std::net::SocketAddr {
    let ip = match listen.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    std::net::SocketAddr::new(ip, listen.port())
}

/// Asks the gRPC health service of the server listening on `listen` for the
/// whole server's status (the `health` subcommand of each service, for
/// container health checks in images without a shell). Errs unless SERVING.
pub async fn check_health(listen: std::net::SocketAddr) -> Result<(), String> {
    use tonic_health::pb::health_check_response::ServingStatus;
    let url = format!("http://{}", local_address(listen));
    let channel = tonic::transport::Endpoint::from_shared(url.clone())
        .map_err(|e| e.to_string())?
        .connect_timeout(std::time::Duration::from_secs(2))
        .timeout(std::time::Duration::from_secs(3))
        .connect()
        .await
        .map_err(|e| format!("cannot connect to {url}: {e}"))?;
    let response = tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .map_err(|status| format!("health check failed: {}", status.message()))?;
    match response.into_inner().status() {
        ServingStatus::Serving => Ok(()),
        other => Err(format!("the server is {}", other.as_str_name())),
    }
}

/// How a server stops: calls are still accepted for `linger` after the
/// signal (health says NOT_SERVING meanwhile, so that balancers and clients
/// move away, and a call already on its way is answered rather than
/// refused), then calls in flight get `drain` to finish.
#[derive(Debug, Clone, Copy)]
pub struct StopTimes {
    /// `*_CLOSE_LINGER_MS`.
    pub linger: std::time::Duration,
    /// `*_DRAIN_SECS`.
    pub drain: std::time::Duration,
}

/// The stop of a gRPC server in two futures. `stop` (give it to tonic's
/// `serve_with_incoming_shutdown`) completes `times.linger` after `signal`
/// does; at the signal it marks the server (`""`) and each of `services`
/// NOT_SERVING and runs `on_stop` (which ends long-lived streams).
/// `deadline` completes `times.drain` after `stop`: calls still running
/// then are cut (see [`serve_until`]).
pub fn graceful_stop(
    signal: impl std::future::Future<Output = ()> + Send + 'static,
    health: HealthReporter,
    services: Vec<&'static str>,
    on_stop: impl FnOnce() + Send + 'static,
    times: StopTimes,
) -> (
    impl std::future::Future<Output = ()> + Send + 'static,
    impl std::future::Future<Output = ()> + Send + 'static,
) {
    use tonic_health::ServingStatus;
    let stopped = std::sync::Arc::new(tokio::sync::Notify::new());
    let notify = stopped.clone();
    let StopTimes { linger, drain } = times;
    let stop = async move {
        signal.await;
        tracing::info!(
            linger_ms = linger.as_millis(),
            drain_secs = drain.as_secs(),
            "stopping: not serving; calls accepted for the linger, then drained"
        );
        health
            .set_service_status("", ServingStatus::NotServing)
            .await;
        for service in services {
            health
                .set_service_status(service, ServingStatus::NotServing)
                .await;
        }
        on_stop();
        tokio::time::sleep(linger).await;
        notify.notify_one();
    };
    let deadline = async move {
        stopped.notified().await;
        tokio::time::sleep(drain).await;
    };
    (stop, deadline)
}

/// Runs `server` until it finishes draining, or until `deadline` (from
/// [`graceful_stop`]) cuts the calls still running.
pub async fn serve_until<E>(
    server: impl std::future::Future<Output = Result<(), E>>,
    deadline: impl std::future::Future<Output = ()>,
) -> Result<(), E> {
    tokio::select! {
        result = server => result,
        () = deadline => {
            tracing::warn!("drain time is over: cutting the calls still running");
            Ok(())
        }
    }
}

/// HTTP/2 flow-control windows of our gRPC servers and clients: a stream
/// may have this much unread data in flight before its sender waits. hyper's
/// defaults (1 MiB per stream on a server, 64 KiB as the protocol starts)
/// make a 1 MiB file chunk wait for a window update on every message.
pub const STREAM_WINDOW: u32 = 4 << 20;
/// The connection's window: a few streams at full speed.
pub const CONNECTION_WINDOW: u32 = 16 << 20;

/// A gRPC server builder with our flow-control windows.
pub fn server() -> tonic::transport::Server {
    tonic::transport::Server::builder()
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
}

/// The connections of `listener`, with Nagle's algorithm off. tonic sets
/// its `tcp_nodelay` only on listeners it binds itself; without it, an
/// answer written in two pieces waits for the client's delayed ACK (up to
/// 40 ms on Linux): a page of tasks took 44 ms instead of 1 in `bench`.
pub fn incoming(listener: tokio::net::TcpListener) -> tonic::transport::server::TcpIncoming {
    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// Binds `addr`, or explains which `variable` holds an address that cannot
/// be listened on.
pub async fn bind(
    variable: &str,
    addr: std::net::SocketAddr,
) -> Result<tokio::net::TcpListener, crate::env::ConfigError> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        crate::env::ConfigError::new(variable, format!("cannot listen on {addr}: {e}"))
    })
}
