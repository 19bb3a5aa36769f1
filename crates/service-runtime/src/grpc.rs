//! The standard services every gRPC server of the system exposes, so that
//! `grpcurl`, `buf curl` and other clients can explore and call it with no
//! proto files at hand, and Kubernetes can probe it.

use tonic::server::NamedService;
use tonic::service::RoutesBuilder;
use tonic_health::server::HealthReporter;

/// The health service's full name.
const HEALTH: &str = "grpc.health.v1.Health";

/// The gRPC services of one server. Each is added once ([`Services::add`]),
/// which records its name; [`Services::finish`] puts gRPC reflection
/// (`grpc.reflection.v1` and, for the many clients that still speak only
/// it, `grpc.reflection.v1alpha`) and `grpc.health.v1` beside them, and the
/// returned [`Health`] marks exactly those names serving when the server is
/// ready and not serving when it stops. A service's list of names exists
/// once, here.
#[derive(Default)]
pub struct Services {
    routes: RoutesBuilder,
    names: Vec<&'static str>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("names", &self.names)
            .finish()
    }
}

impl Services {
    /// Adds `service` (a generated `…Server`), under its full name.
    pub fn add<S>(&mut self, service: S) -> &mut Self
    where
        S: tower::Service<http::Request<tonic::body::Body>, Error = std::convert::Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        self.names.push(S::NAME);
        self.routes.add_service(service);
        self
    }

    /// The full names added so far (`auth.v1.AuthService`, …).
    pub fn names(&self) -> &[&'static str] {
        &self.names
    }

    /// The routes to serve: the services added, reflection advertising them
    /// and health (but not the other services of the API), and health,
    /// whose statuses start NOT_SERVING for the whole server ("", what a
    /// Kubernetes gRPC probe asks) until [`Health::serve_when`] says so.
    pub async fn finish(mut self) -> (tonic::service::Routes, Health) {
        let (reporter, health) = tonic_health::server::health_reporter();
        reporter
            .set_service_status("", tonic_health::ServingStatus::NotServing)
            .await;
        self.routes.add_service(health);
        let names = self.names.iter().copied().chain([HEALTH]);
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
        self.routes.add_service(v1);
        self.routes.add_service(v1alpha);
        let health = Health {
            reporter,
            names: self.names,
        };
        (self.routes.routes(), health)
    }
}

/// The health statuses of one server's services (see [`Services`]).
#[derive(Clone)]
pub struct Health {
    reporter: HealthReporter,
    names: Vec<&'static str>,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("names", &self.names)
            .finish()
    }
}

impl Health {
    /// Marks the server ("") and each service serving once `ready`
    /// completes (in a task of its own: the server answers, not serving,
    /// until then).
    pub fn serve_when(&self, ready: impl Future<Output = ()> + Send + 'static) {
        let health = self.clone();
        tokio::spawn(async move {
            ready.await;
            for name in health.names.iter().copied().chain([""]) {
                health
                    .reporter
                    .set_service_status(name, tonic_health::ServingStatus::Serving)
                    .await;
            }
        });
    }

    /// The stop of the server in two futures. `stop` (give it to tonic's
    /// `serve_with_incoming_shutdown`) completes `times.linger` after
    /// `signal` does; at the signal it marks the server and each service
    /// NOT_SERVING and runs `on_stop` (which ends long-lived streams).
    /// `deadline` completes `times.drain` after `stop`: calls still running
    /// then are cut (see [`serve_until`]).
    pub fn graceful_stop(
        self,
        signal: impl std::future::Future<Output = ()> + Send + 'static,
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
            for name in [""].into_iter().chain(self.names.iter().copied()) {
                self.reporter
                    .set_service_status(name, ServingStatus::NotServing)
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

/// Runs `server` until it finishes draining, or until `deadline` (from
/// [`Health::graceful_stop`]) cuts the calls still running.
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
