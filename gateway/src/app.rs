//! Wiring: the HTTP server, its own routes (`/healthz`, `/readyz`) and the
//! fallback that transcodes every other request to gRPC.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

use access::{GrpcKeySource, RevocationList, Verifier, VerifierSettings};
use anyhow::Context;
use axum::Extension;
use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use tokio::net::TcpListener;
use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::config::Config;
use crate::edge::{ClientIp, Edge, RateLimits};
use crate::error::ApiError;
use crate::routes::{Lookup, Route, RouteTable, Streaming};
use crate::upstream::Upstreams;
use crate::{streaming, transcode};

/// The header carrying the request id.
const REQUEST_ID: &str = "x-request-id";

/// What every request needs.
#[derive(Clone)]
pub struct AppState {
    pub(crate) config: Arc<Config>,
    pub(crate) routes: Arc<RouteTable>,
    pub(crate) upstreams: Upstreams,
    pub(crate) verifier: Verifier,
    pub(crate) limits: RateLimits,
    /// The last readiness check and when it was made (see [`readyz`]).
    readiness: Arc<tokio::sync::Mutex<Option<Readiness>>>,
}

/// When readiness was checked, and what was not ready then.
type Readiness = (std::time::Instant, Vec<&'static str>);

/// A built gateway, bound to its port, not yet serving.
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Builds the route table from the descriptors, prepares the upstream
    /// channels and the token verifier, and binds the listen address.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let routes = RouteTable::from_descriptors(proto::descriptor_pool())
            .context("the google.api.http annotations are invalid")?;
        let mut upstreams = Upstreams::default();
        upstreams
            .add("auth", &config.auth_service_url)
            .context("AUTH_SERVICE_URL")?;
        upstreams
            .add("workspace", &config.workspace_service_url)
            .context("WORKSPACE_SERVICE_URL")?;
        for route in routes.routes() {
            if upstreams.channel(&route.upstream).is_none() {
                anyhow::bail!(
                    "no upstream configured for {} ({})",
                    route.grpc_path,
                    route.upstream
                );
            }
        }
        let auth_channel = upstreams.channel("auth").expect("added above");
        // Revoked sessions stream in from the auth-service, so a logout is
        // honoured at the edge within a second.
        let revocations = RevocationList::new();
        access::spawn_revocation_watcher(auth_channel.clone(), revocations.clone());
        let verifier = Verifier::with_revocations(
            GrpcKeySource::new(auth_channel),
            VerifierSettings {
                issuer: config.issuer.clone(),
                audience: config.audience.clone(),
                leeway: Duration::from_secs(10),
                min_refresh_interval: Duration::from_secs(5),
            },
            revocations,
        );
        if let Err(e) = verifier.refresh().await {
            tracing::warn!(error = %e, "auth-service keys not available yet");
        }
        let listener = TcpListener::bind(config.listen_addr)
            .await
            .with_context(|| {
                format!(
                    "GATEWAY_LISTEN_ADDR: cannot listen on {}",
                    config.listen_addr
                )
            })?;
        let config_limits = (config.rate_limit_per_ip, config.rate_limit_per_user);
        Ok(Self {
            listener,
            state: AppState {
                config: Arc::new(config),
                routes: Arc::new(routes),
                upstreams,
                verifier,
                limits: RateLimits::new(config_limits.0, config_limits.1),
                readiness: Arc::default(),
            },
        })
    }

    /// The address the gateway listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let settings = crate::server::ServerSettings {
            header_read_timeout: self.state.config.idle_timeout,
            max_header_bytes: self.state.config.header_limit,
            drain: self.state.config.drain,
            close_linger: self.state.config.close_linger,
        };
        let router = router(self.state);
        tracing::info!(addr = %self.listener.local_addr()?, "gateway listening");
        crate::server::serve(self.listener, router, settings, shutdown).await;
        tracing::info!("gateway stopped");
        Ok(())
    }
}

fn router(state: AppState) -> Router {
    let config = state.config.clone();
    if config.forwarding_key.is_none() {
        tracing::warn!(
            "FORWARDED_SECRET is not set: the services will not believe the client \
             addresses the gateway forwards, and will count every client as the gateway"
        );
    }
    let edge = Edge {
        trusted_proxies: Arc::new(config.trusted_proxies.clone()),
        limits: state.limits.clone(),
        in_progress: crate::edge::InProgress::new(config.max_in_progress_per_ip),
        untrusted_forwarding: crate::edge::Warned::default(),
    };
    let openapi = crate::openapi::document(&state.routes);
    let metrics = crate::metrics::Metrics::default();
    // The API: every cap applies.
    let mut api = Router::new()
        .fallback(transcode_request)
        .with_state(state.clone())
        .merge(crate::docs::routes(&openapi))
        .layer(middleware::from_fn_with_state(edge, crate::edge::protect));
    if !config.cors_origins.is_empty() {
        api = api.layer(cors(&config.cors_origins));
    }
    // Past the cap, requests are refused at once rather than queued.
    let api = api.layer(
        tower::ServiceBuilder::new()
            .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
                ApiError::new(Code::Unavailable, "the gateway is overloaded, try again")
                    .into_response()
            }))
            .load_shed()
            // Global: one count for all routes (a plain limit would be
            // cloned per route).
            .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
                config.max_concurrent_requests,
            )),
    );
    // Probes and scrapes outside every cap: a flood of slow clients must not
    // make the orchestrator think the gateway is dead.
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
        .route(
            "/metrics",
            get(crate::metrics::serve).with_state(metrics.clone()),
        )
        .merge(api)
        .layer(middleware::from_fn(request_id))
        .layer(middleware::from_fn_with_state(
            config.header_limit,
            crate::edge::guard,
        ))
        .layer(middleware::from_fn_with_state(
            metrics,
            crate::metrics::track,
        ))
}

/// CORS for the configured origins: the API's methods, the headers a
/// client sends, and the ones it may read.
fn cors(origins: &[HeaderValue]) -> tower_http::cors::CorsLayer {
    use http::Method;
    tower_http::cors::CorsLayer::new()
        .allow_origin(origins.to_vec())
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::HeaderName::from_static(REQUEST_ID),
        ])
        .expose_headers([
            header::HeaderName::from_static(REQUEST_ID),
            header::CONTENT_DISPOSITION,
            header::ETAG,
            header::RETRY_AFTER,
            header::WWW_AUTHENTICATE,
        ])
        .max_age(Duration::from_secs(600))
}

/// Keeps the client's `x-request-id` when it is sane, else makes one; the id
/// goes to the services and back to the client.
/// Gives every request its id (`x-request-id`, kept if the client sent a
/// sane one) and its place in a trace (W3C `traceparent`: continued or
/// started, passed on to the service with the gateway's own span id), runs it
/// in a span carrying both, and logs it once when it completes.
async fn request_id(mut request: Request, next: Next) -> Response {
    let sane = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned);
    let id = sane.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let value = HeaderValue::from_str(&id).expect("checked or generated as visible ASCII");
    request.headers_mut().insert(REQUEST_ID, value.clone());
    let mut trace = service_runtime::trace::TraceContext::continue_or_start(
        request
            .headers()
            .get(service_runtime::trace::TRACEPARENT)
            .and_then(|v| v.to_str().ok()),
    );
    // The path without its query string, which may hold anything.
    let span = tracing::info_span!(
        "http",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %id,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
    );
    service_runtime::telemetry::join(&span, &mut trace);
    request.headers_mut().insert(
        service_runtime::trace::TRACEPARENT,
        HeaderValue::from_str(&trace.traceparent()).expect("hex and dashes"),
    );
    // Probes and scrapes every few seconds would drown the log.
    let routine = matches!(request.uri().path(), "/healthz" | "/readyz" | "/metrics");
    let started = std::time::Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let route = response
        .extensions()
        .get::<crate::metrics::RouteLabel>()
        .map_or("", |r| r.0.as_str());
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    if routine {
        tracing::debug!(parent: &span, status, route, latency_ms, "request finished");
    } else if status >= 500 {
        tracing::warn!(parent: &span, status, route, latency_ms, "request finished");
    } else {
        tracing::info!(parent: &span, status, route, latency_ms, "request finished");
    }
    response.headers_mut().insert(REQUEST_ID, value);
    response
}

/// What is not ready: the services whose health check fails, and
/// `revocations` before the verifier's first snapshot.
async fn check_readiness(state: &AppState) -> Vec<&'static str> {
    let mut down = Vec::new();
    for name in ["auth", "workspace"] {
        let serving = match state.upstreams.channel(name) {
            Some(channel) => {
                let mut client = HealthClient::new(channel);
                let check = client.check(HealthCheckRequest {
                    service: String::new(),
                });
                matches!(
                    tokio::time::timeout(Duration::from_secs(2), check).await,
                    Ok(Ok(response)) if response.get_ref().status == ServingStatus::Serving as i32
                )
            }
            None => false,
        };
        if !serving {
            down.push(name);
        }
    }
    // Before its first revocation snapshot the edge would let a revoked
    // session's token through.
    if !state.verifier.is_ready() {
        down.push("revocations");
    }
    down
}

async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({"status": "ok"}))
}

/// Ready when both services answer their gRPC health check and the token
/// verifier has its first revocation snapshot. Outside every cap, so the
/// answer is kept for a second and made by one request at a time: a flood
/// of probes costs the services two health calls a second, not two each.
async fn readyz(State(state): State<AppState>) -> Response {
    let mut cached = state.readiness.lock().await;
    let down = match cached.as_ref() {
        Some((at, down)) if at.elapsed() < Duration::from_secs(1) => down.clone(),
        _ => {
            let down = check_readiness(&state).await;
            *cached = Some((std::time::Instant::now(), down.clone()));
            down
        }
    };
    drop(cached);
    if down.is_empty() {
        axum::Json(serde_json::json!({"status": "ready"})).into_response()
    } else {
        let mut error = ApiError::new(
            Code::Unavailable,
            format!("not ready: {} unavailable", down.join(", ")),
        );
        error.http = StatusCode::SERVICE_UNAVAILABLE;
        error.into_response()
    }
}

/// Every API route: find the route, check the token, build the request
/// message, call the service, answer JSON.
async fn transcode_request(
    State(state): State<AppState>,
    Extension(ClientIp(client)): Extension<ClientIp>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let lookup = state.routes.lookup(&parts.method, parts.uri.path());
    // The metrics are labelled by route template, never by raw path.
    let label = match &lookup {
        Lookup::Found(route, _) => route.template.as_str().to_owned(),
        _ => "unmatched".to_owned(),
    };
    let client = Client {
        ip: client,
        key: state.config.forwarding_key.clone(),
    };
    let mut response = match transcode_inner(&state, &client, lookup, parts, body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    response
        .extensions_mut()
        .insert(crate::metrics::RouteLabel(label));
    response
}

async fn transcode_inner(
    state: &AppState,
    client: &Client,
    lookup: Lookup<'_>,
    parts: http::request::Parts,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let (route, variables) = match lookup {
        Lookup::Found(route, variables) => (route, variables),
        Lookup::MethodNotAllowed(allow) => {
            let mut error = ApiError::new(
                Code::Unimplemented,
                format!("{} is not allowed here", parts.method),
            )
            .with_http(StatusCode::METHOD_NOT_ALLOWED);
            error.allow = allow;
            return Err(error);
        }
        Lookup::NotFound => {
            return Err(ApiError::new(
                Code::NotFound,
                format!("no route for {}", parts.uri.path()),
            ));
        }
    };

    if !route.access.public {
        let claims = access::authorize(&state.verifier, &route.access, &parts.headers)
            .await
            .map_err(ApiError::from)?;
        state.limits.check_user(claims.sub)?;
    }

    match &route.streaming {
        Streaming::Unary => {}
        Streaming::ByteUpload { metadata, chunk } => {
            return streaming::upload(state, route, (metadata, chunk), &parts, client, body).await;
        }
        Streaming::ByteDownload { metadata, chunk } => {
            let request = server_stream_request(route, variables, &parts, client)?;
            return streaming::download(state, route, (metadata, chunk), &parts, request).await;
        }
        Streaming::Events => {
            let request = server_stream_request(route, variables, &parts, client)?;
            return streaming::events(state, route, request).await;
        }
    }

    // One deadline for the whole body: a client trickling a byte at a time
    // cannot hold its slot for longer.
    let total = state.config.body_timeout;
    let bytes = tokio::time::timeout(total, axum::body::to_bytes(body, state.config.body_limit))
        .await
        .map_err(|_| {
            ApiError::body_too_slow(format!(
                "the request body did not arrive within {} ms",
                total.as_millis()
            ))
        })?
        .map_err(|_| {
            ApiError::new(
                Code::InvalidArgument,
                format!(
                    "the request body is larger than {} bytes",
                    state.config.body_limit
                ),
            )
            .with_http(StatusCode::PAYLOAD_TOO_LARGE)
        })?;
    if !bytes.is_empty() && !is_json(&parts.headers) {
        return Err(ApiError::new(
            Code::InvalidArgument,
            "Content-Type must be application/json",
        )
        .with_http(StatusCode::UNSUPPORTED_MEDIA_TYPE));
    }
    let message = transcode::request_message(route, variables, parts.uri.query(), &bytes)?;

    let mut grpc_request = tonic::Request::new(message);
    forward_headers(&parts.headers, client, grpc_request.metadata_mut());
    let deadline = state.config.upstream_timeout;
    grpc_request.set_timeout(deadline);
    let started = std::time::Instant::now();
    // grpc-timeout tells the service; the gateway enforces the deadline
    // itself too, so a service that hangs cannot hold the request.
    let call = state.upstreams.unary(
        &route.upstream,
        &route.grpc_path,
        route.method.output(),
        grpc_request,
    );
    let response = tokio::time::timeout(deadline, call)
        .await
        .map_err(|_| ApiError::new(Code::DeadlineExceeded, "the service did not answer in time"))?
        .map_err(|status| {
            // tonic ends a call whose grpc-timeout passed as CANCELLED; for
            // the client that is the upstream being too slow.
            if status.code() == Code::Cancelled && started.elapsed() >= deadline {
                ApiError::new(Code::DeadlineExceeded, "the service did not answer in time")
            } else {
                ApiError::from(status)
            }
        })?;
    Ok(axum::Json(streaming::json_body(route, &response.into_inner())).into_response())
}

/// The request of a server-streaming route: from the path and the query
/// string (such routes take no body). Streams have no overall deadline:
/// only their first message must come within the route's.
fn server_stream_request(
    route: &Route,
    variables: Vec<(String, String)>,
    parts: &http::request::Parts,
    client: &Client,
) -> Result<tonic::Request<prost_reflect::DynamicMessage>, ApiError> {
    let message = transcode::request_message(route, variables, parts.uri.query(), b"")?;
    let mut request = tonic::Request::new(message);
    forward_headers(&parts.headers, client, request.metadata_mut());
    Ok(request)
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

/// Who the client is, as the services are told.
pub struct Client {
    /// Its address; `None` when a trusted proxy did not say.
    pub ip: Option<IpAddr>,
    /// What signs the forwarded facts (`FORWARDED_SECRET`).
    pub key: Option<service_runtime::forwarded::ForwardingKey>,
}

/// The headers the services need: the token, the request id, the trace
/// context, and who the client is (for sessions, the audit log and the
/// per-address limits), signed so that the services can believe it.
pub(crate) fn forward_headers(
    headers: &HeaderMap,
    client: &Client,
    metadata: &mut tonic::metadata::MetadataMap,
) {
    use service_runtime::forwarded;
    for name in ["authorization", REQUEST_ID, "traceparent", "tracestate"] {
        if let Some(value) = headers.get(name).and_then(|v| v.to_str().ok())
            && let Ok(value) = value.parse()
        {
            metadata.insert(name, value);
        }
    }
    if let Some(agent) = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        && let Ok(value) = agent.parse()
    {
        metadata.insert(forwarded::USER_AGENT, value);
    }
    let ip = client
        .ip
        .map_or_else(|| forwarded::UNKNOWN.to_owned(), |ip| ip.to_string());
    if let Ok(value) = ip.parse() {
        metadata.insert(forwarded::FOR, value);
    }
    if let Some(key) = &client.key {
        key.sign_metadata(metadata, forwarded::unix_now());
    }
}
