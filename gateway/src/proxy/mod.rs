//! The proxy: every API route transcoded from HTTP/JSON to a gRPC call of
//! the service that owns it, and the answer back to JSON. Streaming routes
//! are in [`streaming`], the building of request messages in [`transcode`],
//! the forwarded headers in [`forwarded`].

pub mod forwarded;
pub mod streaming;
pub mod transcode;

use axum::Extension;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, header};
use tonic::Code;

use crate::edge::ClientIp;
use crate::error::ApiError;
use crate::routes::{Lookup, Route, Streaming};
use crate::state::AppState;
use forwarded::{Client, forward_headers};

/// Every API route: find the route, check the token, build the request
/// message, call the service, answer JSON.
pub async fn transcode_request(
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
