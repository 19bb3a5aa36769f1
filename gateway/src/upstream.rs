//! Calls to the services: one shared channel per service (created once,
//! reconnecting by itself) and a codec for dynamic messages, so any RPC in the
//! descriptors can be called without generated code.
//!
//! A service's address is either a URL, `http://host:port` (one HTTP/2
//! connection to the address the name resolves to), or a gRPC name target,
//! `dns:///host:port`: every address the name resolves to gets its own
//! connection, requests are spread over them (power of two choices, by
//! in-flight requests), and the name is resolved again every few seconds so
//! that replicas which come and go are followed. On Kubernetes the name is
//! a headless Service's, which resolves to the ready pods' addresses.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Buf;
use prost::Message;
use prost_reflect::{DynamicMessage, MessageDescriptor};
use tokio::sync::mpsc;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::channel::Change;
use tonic::transport::{Channel, Endpoint};
use tonic::{Status, client::Grpc};

/// How often a `dns:///` target is resolved again.
pub const DEFAULT_RESOLVE_INTERVAL: Duration = Duration::from_secs(5);

/// Where a service is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `http://…` or `https://…`: one connection.
    Url(String),
    /// `dns:///host:port`: a connection to each address of `host`.
    Dns {
        /// The name to resolve.
        host: String,
        /// The port of every address.
        port: u16,
    },
}

impl Target {
    /// Parses `http(s)://host:port` or `dns:///host:port`.
    pub fn parse(value: &str) -> Result<Self, String> {
        if value.starts_with("http://") || value.starts_with("https://") {
            return value
                .parse::<http::Uri>()
                .map(|_| Self::Url(value.to_owned()))
                .map_err(|e| format!("{value:?} is not a URL: {e}"));
        }
        let Some(rest) = value.strip_prefix("dns:") else {
            return Err("must start with http://, https:// or dns:///".to_owned());
        };
        // dns:[//authority/]host:port; the DNS server authority is not supported.
        let name = match rest.strip_prefix("//") {
            Some(rest) => match rest.split_once('/') {
                Some(("", name)) => name,
                _ => return Err("dns: targets take no authority: use dns:///host:port".to_owned()),
            },
            None => rest,
        };
        let (host, port) = name
            .rsplit_once(':')
            .ok_or_else(|| format!("{value:?} has no port (dns:///host:port)"))?;
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("{value:?} has no valid port"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("{value:?} has no host name"));
        }
        Ok(Self::Dns {
            host: host.to_owned(),
            port,
        })
    }
}

/// Resolves a name to the addresses to connect to.
pub type Resolve = std::sync::Arc<
    dyn Fn(String, u16) -> futures::future::BoxFuture<'static, std::io::Result<Vec<SocketAddr>>>
        + Send
        + Sync,
>;

/// The system resolver (`getaddrinfo`, as `tokio::net::lookup_host`).
pub fn system_resolver() -> Resolve {
    std::sync::Arc::new(|host, port| {
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), port))
                .await?
                .collect())
        })
    })
}

/// The channels to the services, by upstream name (`auth`, `workspace`).
#[derive(Debug, Clone, Default)]
pub struct Upstreams {
    channels: HashMap<String, Channel>,
    /// For `dns:///` targets: how many replicas the last resolution gave.
    /// A balanced channel with none would hold calls until one appears, so
    /// calls are refused at once instead.
    replicas: HashMap<String, Arc<AtomicUsize>>,
}

fn endpoint(url: String) -> Result<Endpoint, tonic::transport::Error> {
    Ok(Endpoint::from_shared(url)?
        .connect_timeout(Duration::from_secs(2))
        .tcp_nodelay(true)
        .initial_stream_window_size(service_runtime::grpc::STREAM_WINDOW)
        .initial_connection_window_size(service_runtime::grpc::CONNECTION_WINDOW)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true))
}

impl Upstreams {
    /// Adds the service `name` at `target` (see [`Target::parse`]). No
    /// connection is made until needed; a `dns:///` target is resolved with
    /// the system resolver every [`DEFAULT_RESOLVE_INTERVAL`].
    pub fn add(&mut self, name: &str, target: &str) -> anyhow::Result<()> {
        match Target::parse(target).map_err(anyhow::Error::msg)? {
            Target::Url(url) => {
                self.channels
                    .insert(name.to_owned(), endpoint(url)?.connect_lazy());
            }
            Target::Dns { host, port } => {
                self.add_resolved(
                    name,
                    host,
                    port,
                    system_resolver(),
                    DEFAULT_RESOLVE_INTERVAL,
                );
            }
        }
        Ok(())
    }

    /// Adds the service `name` as every address `resolve` gives for
    /// `host:port`, asked again every `interval`. Must be called within a
    /// Tokio runtime; the resolving task ends when the channel is dropped.
    pub fn add_resolved(
        &mut self,
        name: &str,
        host: String,
        port: u16,
        resolve: Resolve,
        interval: Duration,
    ) {
        let (channel, changes) = Channel::balance_channel::<SocketAddr>(64);
        let replicas = Arc::new(AtomicUsize::new(0));
        tokio::spawn(follow_replicas(
            name.to_owned(),
            host,
            port,
            resolve,
            interval,
            changes,
            replicas.clone(),
        ));
        self.channels.insert(name.to_owned(), channel);
        self.replicas.insert(name.to_owned(), replicas);
    }

    /// The channel of `name`.
    pub fn channel(&self, name: &str) -> Option<Channel> {
        self.channels.get(name).cloned()
    }

    /// A ready client for `name`, and `path` parsed.
    async fn ready(
        &self,
        name: &str,
        path: &str,
    ) -> Result<(Grpc<Channel>, http::uri::PathAndQuery), Status> {
        let channel = self
            .channel(name)
            .ok_or_else(|| Status::unimplemented(format!("no upstream for {path}")))?;
        if self
            .replicas
            .get(name)
            .is_some_and(|known| known.load(Ordering::Acquire) == 0)
        {
            return Err(Status::unavailable(format!(
                "no replica of the {name} service is known yet"
            )));
        }
        let mut grpc = Grpc::new(channel);
        grpc.ready()
            .await
            .map_err(|e| Status::unavailable(format!("transport error: {e}")))?;
        let path = path
            .parse()
            .map_err(|_| Status::internal("bad method path"))?;
        Ok((grpc, path))
    }

    /// Calls a unary RPC at `path` on `name`.
    pub async fn unary(
        &self,
        name: &str,
        path: &str,
        output: MessageDescriptor,
        request: tonic::Request<DynamicMessage>,
    ) -> Result<tonic::Response<DynamicMessage>, Status> {
        let (mut grpc, path) = self.ready(name, path).await?;
        grpc.unary(request, path, DynamicCodec { output }).await
    }

    /// Calls a client-streaming RPC at `path` on `name`, sending `request`'s
    /// messages as they come.
    pub async fn client_streaming<S>(
        &self,
        name: &str,
        path: &str,
        output: MessageDescriptor,
        request: tonic::Request<S>,
    ) -> Result<tonic::Response<DynamicMessage>, Status>
    where
        S: tokio_stream::Stream<Item = DynamicMessage> + Send + 'static,
    {
        let (mut grpc, path) = self.ready(name, path).await?;
        grpc.client_streaming(request, path, DynamicCodec { output })
            .await
    }

    /// Calls a server-streaming RPC at `path` on `name`.
    pub async fn server_streaming(
        &self,
        name: &str,
        path: &str,
        output: MessageDescriptor,
        request: tonic::Request<DynamicMessage>,
    ) -> Result<tonic::Response<tonic::Streaming<DynamicMessage>>, Status> {
        let (mut grpc, path) = self.ready(name, path).await?;
        grpc.server_streaming(request, path, DynamicCodec { output })
            .await
    }
}

/// Keeps the balanced channel's set of endpoints equal to what `host`
/// resolves to. A failed or empty resolution keeps the last known set: a DNS
/// hiccup must not take every replica away.
async fn follow_replicas(
    name: String,
    host: String,
    port: u16,
    resolve: Resolve,
    interval: Duration,
    changes: mpsc::Sender<Change<SocketAddr, Endpoint>>,
    replicas: Arc<AtomicUsize>,
) {
    let mut known: HashSet<SocketAddr> = HashSet::new();
    loop {
        match resolve(host.clone(), port).await {
            Ok(addrs) if !addrs.is_empty() => {
                let now: HashSet<SocketAddr> = addrs.into_iter().collect();
                for gone in known.difference(&now) {
                    tracing::info!(upstream = %name, addr = %gone, "replica gone");
                    if changes.send(Change::Remove(*gone)).await.is_err() {
                        return;
                    }
                }
                for new in now.difference(&known) {
                    let Ok(endpoint) = endpoint(format!("http://{new}")) else {
                        continue;
                    };
                    tracing::info!(upstream = %name, addr = %new, "replica found");
                    if changes.send(Change::Insert(*new, endpoint)).await.is_err() {
                        return;
                    }
                }
                known = now;
                replicas.store(known.len(), Ordering::Release);
            }
            Ok(_) => {
                tracing::warn!(upstream = %name, %host, "name resolves to no address; keeping the last known replicas")
            }
            Err(e) => {
                tracing::warn!(upstream = %name, %host, error = %e, "cannot resolve; keeping the last known replicas")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = changes.closed() => return,
        }
    }
}

/// Encodes any dynamic message; decodes the `output` type.
#[derive(Debug, Clone)]
pub struct DynamicCodec {
    output: MessageDescriptor,
}

impl Codec for DynamicCodec {
    type Encode = DynamicMessage;
    type Decode = DynamicMessage;
    type Encoder = DynamicEncoder;
    type Decoder = DynamicDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        DynamicEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        DynamicDecoder(self.output.clone())
    }
}

/// See [`DynamicCodec`].
#[derive(Debug)]
pub struct DynamicEncoder;

impl Encoder for DynamicEncoder {
    type Item = DynamicMessage;
    type Error = Status;

    fn encode(&mut self, item: Self::Item, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        item.encode(dst)
            .map_err(|e| Status::internal(format!("cannot encode the request: {e}")))
    }
}

/// See [`DynamicCodec`].
#[derive(Debug)]
pub struct DynamicDecoder(MessageDescriptor);

impl Decoder for DynamicDecoder {
    type Item = DynamicMessage;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Self::Error> {
        let message = DynamicMessage::decode(self.0.clone(), src.copy_to_bytes(src.remaining()))
            .map_err(|e| Status::internal(format!("cannot decode the response: {e}")))?;
        Ok(Some(message))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    use super::*;

    #[test]
    fn targets_parse() {
        assert_eq!(
            Target::parse("http://auth:50051"),
            Ok(Target::Url("http://auth:50051".into()))
        );
        assert_eq!(
            Target::parse("dns:///workspace-headless.backbone.svc:50052"),
            Ok(Target::Dns {
                host: "workspace-headless.backbone.svc".into(),
                port: 50052
            })
        );
        assert_eq!(
            Target::parse("dns:[::1]:7"),
            Ok(Target::Dns {
                host: "::1".into(),
                port: 7
            })
        );
        for bad in [
            "auth:50051",
            "dns:///auth",
            "dns:///auth:0",
            "dns:///auth:http",
            "dns:///:50051",
            "dns://8.8.8.8/auth:50051",
            "ftp://auth",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad} must be refused");
        }
    }

    /// A gRPC server (health only) that counts the requests it receives.
    async fn counting_replica() -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        let counter = count.clone();
        let (_reporter, health) = tonic_health::server::health_reporter();
        tokio::spawn(
            tonic::transport::Server::builder()
                .layer(tower::util::MapRequestLayer::new(
                    move |request: http::Request<_>| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        request
                    },
                ))
                .add_service(health)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        (addr, count)
    }

    /// A resolver answering with whatever `addrs` holds at the time.
    fn resolver(addrs: Arc<Mutex<Vec<SocketAddr>>>) -> Resolve {
        Arc::new(move |_, _| {
            let addrs = addrs.lock().unwrap().clone();
            Box::pin(async move { Ok(addrs) })
        })
    }

    async fn check(channel: Channel) -> Result<(), Status> {
        HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .map(|_| ())
    }

    #[tokio::test]
    async fn calls_spread_over_every_replica_and_follow_the_name() {
        let (a, count_a) = counting_replica().await;
        let (b, count_b) = counting_replica().await;
        let addrs = Arc::new(Mutex::new(vec![a, b]));
        let mut upstreams = Upstreams::default();
        upstreams.add_resolved(
            "ws",
            "ws-headless".into(),
            1,
            resolver(addrs.clone()),
            Duration::from_millis(50),
        );
        let channel = upstreams.channel("ws").unwrap();
        let calls = 200;
        // Several at a time, as real traffic is.
        let results = futures::future::join_all((0..calls).map(|_| check(channel.clone()))).await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        let (on_a, on_b) = (
            count_a.load(Ordering::SeqCst),
            count_b.load(Ordering::SeqCst),
        );
        assert_eq!(on_a + on_b, calls);
        assert!(
            on_a >= calls / 5 && on_b >= calls / 5,
            "both replicas take a share: {on_a} and {on_b}"
        );

        // Replica b leaves the name: within a deadline every call lands on a.
        *addrs.lock().unwrap() = vec![a];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let before_b = count_b.load(Ordering::SeqCst);
            for _ in 0..20 {
                check(channel.clone()).await.unwrap();
            }
            if count_b.load(Ordering::SeqCst) == before_b {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "b still receives calls"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn a_failed_resolution_keeps_the_replicas_known() {
        let (a, count_a) = counting_replica().await;
        let answers = Arc::new(AtomicUsize::new(0));
        let seen = answers.clone();
        // The first answer is a; every later one is an error.
        let flaky: Resolve = Arc::new(move |_, _| {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                if n == 0 {
                    Ok(vec![a])
                } else {
                    Err(std::io::Error::other("no DNS server"))
                }
            })
        });
        let mut upstreams = Upstreams::default();
        upstreams.add_resolved("ws", "ws".into(), 1, flaky, Duration::from_millis(10));
        let channel = upstreams.channel("ws").unwrap();
        check(channel.clone()).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while answers.load(Ordering::SeqCst) < 5 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "resolver not asked again"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        check(channel).await.unwrap();
        assert_eq!(count_a.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn no_replica_at_all_is_unavailable_not_a_hang() {
        let mut upstreams = Upstreams::default();
        upstreams.add_resolved(
            "ws",
            "nowhere".into(),
            1,
            resolver(Arc::new(Mutex::new(Vec::new()))),
            Duration::from_secs(1),
        );
        let descriptor = proto::descriptor_pool()
            .get_message_by_name("workspace.v1.GetStatsRequest")
            .unwrap();
        let request = tonic::Request::new(DynamicMessage::new(descriptor.clone()));
        let error = upstreams
            .unary(
                "ws",
                "/workspace.v1.StatsService/GetStats",
                descriptor,
                request,
            )
            .await
            .unwrap_err();
        assert_eq!(error.code(), tonic::Code::Unavailable);
    }

    #[tokio::test]
    async fn replicas_that_are_all_down_fail_fast() {
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        let mut upstreams = Upstreams::default();
        upstreams.add_resolved(
            "ws",
            "ws".into(),
            1,
            resolver(Arc::new(Mutex::new(vec![closed]))),
            Duration::from_secs(3600),
        );
        let channel = upstreams.channel("ws").unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while upstreams.replicas["ws"].load(Ordering::Acquire) == 0 {
            assert!(tokio::time::Instant::now() < deadline, "never resolved");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let result = tokio::time::timeout(Duration::from_secs(5), check(channel))
            .await
            .expect("a refused connection fails the call, it does not hang");
        assert_eq!(result.unwrap_err().code(), tonic::Code::Unavailable);
    }
}
