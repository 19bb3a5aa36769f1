//! Routes whose RPC streams (see [`Streaming`]): an upload pipes the HTTP
//! body into a client-streaming call, a download pipes a server stream of
//! bytes out with file headers, and any other server stream becomes
//! Server-Sent Events. Nothing is held whole: at most a couple of 1 MiB
//! messages are in flight, and the body is read only as fast as the service
//! takes it.

use std::convert::Infallible;
use std::pin::Pin;

use axum::body::Body;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, ReflectMessage, Value};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

use super::forwarded::{Client, forward_headers};
use super::transcode;
use crate::error::ApiError;
use crate::json;
use crate::routes::Route;
use crate::state::AppState;

/// The largest message sent upstream: the services take chunks of at most
/// 1 MiB.
const CHUNK: usize = 1 << 20;

/// `POST /v1/files`-like routes: the body (raw, or the `file` part of a
/// `multipart/form-data` body) streamed into the RPC after one metadata
/// message made from the query string, the part's filename and the
/// content type.
pub async fn upload(
    state: &AppState,
    route: &Route,
    (metadata_field, chunk_field): (&FieldDescriptor, &FieldDescriptor),
    parts: &Parts,
    client: &Client,
    body: Body,
) -> Result<Response, ApiError> {
    let Kind::Message(metadata_type) = metadata_field.kind() else {
        unreachable!("classified as a message field when the route was built");
    };
    let metadata = transcode::query_message(&metadata_type, parts.uri.query())?;

    let (sender, receiver) = mpsc::channel::<DynamicMessage>(2);
    // The request stream ends (END_STREAM) only once the whole body was sent:
    // if the body fails, it stays open until the call is dropped, which
    // resets it, so the service never mistakes a cut-off body for a file.
    let (complete, completed) = tokio::sync::oneshot::channel::<()>();
    let tail = futures::stream::once(async move {
        if completed.await.is_err() {
            std::future::pending::<()>().await;
        }
    })
    .filter_map(|()| async { None::<DynamicMessage> });
    let mut request = tonic::Request::new(ReceiverStream::new(receiver).chain(tail));
    forward_headers(&parts.headers, client, request.metadata_mut());
    let call = state.upstreams.client_streaming(
        &route.upstream,
        &route.grpc_path,
        route.method.output(),
        request,
    );
    let input = route.method.input();
    let message = move |field: &FieldDescriptor, value: Value| {
        let mut message = DynamicMessage::new(input.clone());
        message.set_field(field, value);
        message
    };
    let pump = async {
        // Owned here, so the request stream ends when the body has been sent.
        let sender = sender;
        let mut metadata = metadata;
        let bytes = file_bytes(state, parts, &mut metadata, body).await?;
        if sender
            .send(message(metadata_field, Value::Message(metadata)))
            .await
            .is_err()
        {
            // The call ended (and answered) already.
            return Ok(());
        }
        send_chunks(state, bytes, &sender, |chunk| {
            message(chunk_field, Value::Bytes(chunk))
        })
        .await
    };

    // If the body fails (too large, cut off, malformed) the call is dropped
    // unfinished, which cancels it: the service keeps nothing.
    tokio::pin!(call);
    let response = tokio::select! {
        answered = &mut call => answered,
        pumped = pump => {
            pumped?;
            let _ = complete.send(());
            call.await
        }
    };
    let response = response.map_err(|status| {
        let error = ApiError::from(status);
        // Too large for the service is a body over the limit.
        if error.code == Code::ResourceExhausted {
            error.with_http(StatusCode::PAYLOAD_TOO_LARGE)
        } else {
            error
        }
    })?;
    Ok(axum::Json(json_body(route, &response.into_inner())).into_response())
}

/// The bytes of an uploaded file, as they arrive.
type FileBytes = Pin<Box<dyn Stream<Item = Result<Bytes, ApiError>> + Send>>;

/// The file in an upload's body: the raw body, named by its
/// `Content-Type` and `Content-Disposition`, or the `file` part of a
/// `multipart/form-data` body (see [`form_file`]). What the request
/// names fills the metadata fields the query string left unset.
async fn file_bytes(
    state: &AppState,
    parts: &Parts,
    metadata: &mut DynamicMessage,
    body: Body,
) -> Result<FileBytes, ApiError> {
    let content_type = header_str(&parts.headers, header::CONTENT_TYPE);
    let body = body.into_data_stream();
    let multipart = content_type
        .as_deref()
        .filter(|t| t.to_ascii_lowercase().starts_with("multipart/form-data"));
    if let Some(content_type) = multipart {
        return form_file(state, content_type, metadata, body).await;
    }
    fill_default(
        metadata,
        &["mime_type", "content_type"],
        content_type.as_deref(),
    );
    let filename = header_str(&parts.headers, header::CONTENT_DISPOSITION)
        .as_deref()
        .and_then(disposition_filename);
    fill_default(metadata, &["filename"], filename.as_deref());
    Ok(Box::pin(body.map(|r| r.map_err(|e| body_error(&e)))))
}

/// The `file` part of a `multipart/form-data` body. The parts before it
/// may set metadata fields by name; they are few (at most
/// [`MAX_FORM_PARTS`]) and short (4 KiB), so a client cannot hold the slot
/// by sending part after part.
async fn form_file(
    state: &AppState,
    content_type: &str,
    metadata: &mut DynamicMessage,
    body: axum::body::BodyDataStream,
) -> Result<FileBytes, ApiError> {
    let boundary = multer::parse_boundary(content_type)
        .map_err(|e| ApiError::bad_field("body", format!("bad multipart/form-data: {e}")))?;
    // The file is checked against the limit as it streams (see
    // `send_chunks`); one byte over is enough to tell.
    let limits = multer::SizeLimit::new()
        .per_field(4096)
        .for_field("file", state.config.upload_limit.saturating_add(1));
    let mut form = multer::Multipart::with_constraints(
        body,
        boundary,
        multer::Constraints::new().size_limit(limits),
    );
    let idle = state.config.idle_timeout;
    for _ in 0..MAX_FORM_PARTS {
        let field = tokio::time::timeout(idle, form.next_field())
            .await
            .map_err(|_| ApiError::body_timeout(idle))?
            .map_err(multipart_error)?
            .ok_or_else(|| {
                ApiError::bad_field("file", "the multipart body has no part named file")
            })?;
        if field.name() == Some("file") {
            fill_default(metadata, &["filename"], field.file_name());
            fill_default(
                metadata,
                &["mime_type", "content_type"],
                field.content_type().map(|m| m.as_ref()),
            );
            return Ok(Box::pin(futures::stream::unfold(
                field,
                |mut field| async {
                    match field.chunk().await {
                        Ok(Some(bytes)) => Some((Ok(bytes), field)),
                        Ok(None) => None,
                        Err(e) => Some((Err(multipart_error(e)), field)),
                    }
                },
            )));
        }
        let name = field.name().unwrap_or_default().to_owned();
        let target = metadata
            .descriptor()
            .get_field_by_name(&name)
            .ok_or_else(|| ApiError::bad_field(&name, "unknown form field"))?;
        let text = tokio::time::timeout(idle, field.text())
            .await
            .map_err(|_| ApiError::body_timeout(idle))?
            .map_err(multipart_error)?;
        if !matches!(target.kind(), Kind::String) || text.len() > 4096 {
            return Err(ApiError::bad_field(&name, "must be a short text field"));
        }
        metadata.set_field(&target, Value::String(text));
    }
    Err(ApiError::bad_field(
        "body",
        format!("at most {MAX_FORM_PARTS} parts may come before the file"),
    ))
}

/// Sends the file upstream in messages of [`CHUNK`] bytes, refusing it
/// once it exceeds the upload limit, stalls for the idle timeout, or falls
/// below the minimum rate. Returns early, and well, if the call ended.
async fn send_chunks(
    state: &AppState,
    mut bytes: FileBytes,
    sender: &mpsc::Sender<DynamicMessage>,
    message: impl Fn(Bytes) -> DynamicMessage,
) -> Result<(), ApiError> {
    let limit = state.config.upload_limit;
    let idle = state.config.idle_timeout;
    let pace = Pace::new(state.config.upload_min_rate, idle);
    let mut buffer = BytesMut::new();
    let mut total: u64 = 0;
    loop {
        let wait = pace.wait(total).map_or(idle, |left| left.min(idle));
        let piece = match tokio::time::timeout(wait, bytes.next()).await {
            Ok(Some(piece)) => piece?,
            Ok(None) => break,
            Err(_) if wait < idle => return Err(pace.too_slow()),
            Err(_) => return Err(ApiError::body_timeout(idle)),
        };
        total += piece.len() as u64;
        if total > limit {
            return Err(ApiError::new(
                Code::InvalidArgument,
                format!("the file is larger than the limit of {limit} bytes"),
            )
            .with_http(StatusCode::PAYLOAD_TOO_LARGE));
        }
        buffer.extend_from_slice(&piece);
        while buffer.len() >= CHUNK {
            let chunk = buffer.split_to(CHUNK).freeze();
            if sender.send(message(chunk)).await.is_err() {
                return Ok(());
            }
        }
    }
    if !buffer.is_empty() {
        // A closed call has answered; its answer says how it went.
        let _ = sender.send(message(buffer.freeze())).await;
    }
    Ok(())
}

/// The JSON of a unary response: the whole message, or its `response_body`
/// field.
pub fn json_body(route: &Route, message: &DynamicMessage) -> serde_json::Value {
    match &route.response_body {
        Some(field) => match message.get_field(field).as_ref() {
            Value::Message(inner) => json::from_message(inner),
            _ => json::from_message(message),
        },
        None => json::from_message(message),
    }
}

/// `GET …/content`-like routes: the first message's metadata becomes the
/// headers, the chunks the body.
pub async fn download(
    state: &AppState,
    route: &Route,
    (metadata_field, chunk_field): (&FieldDescriptor, &FieldDescriptor),
    parts: &Parts,
    request: tonic::Request<DynamicMessage>,
) -> Result<Response, ApiError> {
    let (stream, first) = open_stream(state, route, request).await?;
    let Value::Message(metadata) = first.get_field(metadata_field).into_owned() else {
        return Err(ApiError::new(
            Code::Internal,
            "the download sent no metadata first",
        ));
    };
    let text = |names: &[&str]| {
        names.iter().find_map(|name| {
            metadata
                .get_field_by_name(name)
                .and_then(|v| v.as_str().map(str::to_owned))
                .filter(|v| !v.is_empty())
        })
    };

    let mut headers = HeaderMap::new();
    let content_type = text(&["content_type", "mime_type"])
        .and_then(|t| HeaderValue::from_str(&t).ok())
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, content_type);
    if let Some(name) = text(&["filename"]) {
        headers.insert(header::CONTENT_DISPOSITION, content_disposition(&name));
    }
    if let Some(sha256) = text(&["sha256"])
        && let Ok(etag) = HeaderValue::from_str(&format!("\"{sha256}\""))
    {
        let unchanged = parts
            .headers
            .get(header::IF_NONE_MATCH)
            .is_some_and(|m| m.as_bytes() == etag.as_bytes() || m == "*");
        headers.insert(header::ETAG, etag);
        if unchanged {
            return Ok((StatusCode::NOT_MODIFIED, headers).into_response());
        }
    }
    if let Some(size) = metadata
        .get_field_by_name("size_bytes")
        .and_then(|v| v.as_i64())
        .filter(|s| *s >= 0)
    {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    }

    let chunk_field = chunk_field.clone();
    // An error after the headers cannot change the status: the body stops
    // short of its Content-Length, which the client sees as a failed read.
    let body = Body::from_stream(stream.map(move |item| match item {
        Ok(message) => Ok(match message.get_field(&chunk_field).as_ref() {
            Value::Bytes(bytes) => bytes.clone(),
            _ => Bytes::new(),
        }),
        Err(status) => {
            tracing::warn!(code = ?status.code(), "download ended by an error");
            Err(std::io::Error::other(status.message().to_owned()))
        }
    }));
    Ok((headers, body).into_response())
}

/// Any other server stream: one `message` event per response (its JSON),
/// and if the stream fails after it started, one `error` event with the
/// AIP-193 body before it ends.
pub async fn events(
    state: &AppState,
    route: &Route,
    request: tonic::Request<DynamicMessage>,
) -> Result<Response, ApiError> {
    let (stream, first) = open_stream(state, route, request).await?;
    let first = futures::stream::once(async move { Ok::<_, tonic::Status>(first) });
    let events = first.chain(stream).scan(false, |failed, item| {
        let event = if *failed {
            None
        } else {
            Some(match item {
                Ok(message) => event_json(Event::default(), &json::from_message(&message)),
                Err(status) => {
                    *failed = true;
                    event_json(
                        Event::default().event("error"),
                        &ApiError::from(status).body(),
                    )
                }
            })
        };
        async move { event.map(Ok::<_, Infallible>) }
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}

fn event_json(event: Event, json: &serde_json::Value) -> Event {
    event.data(json.to_string())
}

/// Calls a server-streaming route and waits (within the route deadline) for
/// its first message, so an error before any data is a plain HTTP error.
async fn open_stream(
    state: &AppState,
    route: &Route,
    request: tonic::Request<DynamicMessage>,
) -> Result<(tonic::Streaming<DynamicMessage>, DynamicMessage), ApiError> {
    let deadline = state.config.upstream_timeout;
    let opened = tokio::time::timeout(deadline, async {
        let mut stream = state
            .upstreams
            .server_streaming(
                &route.upstream,
                &route.grpc_path,
                route.method.output(),
                request,
            )
            .await?
            .into_inner();
        let first = stream.message().await?;
        Ok::<_, tonic::Status>((stream, first))
    })
    .await
    .map_err(|_| ApiError::new(Code::DeadlineExceeded, "the service did not answer in time"))?;
    match opened? {
        (stream, Some(first)) => Ok((stream, first)),
        (_, None) => Err(ApiError::new(Code::Internal, "the service sent nothing")),
    }
}

/// Sets the first of `names` that the message has to `value`, unless the
/// client already set it.
fn fill_default(message: &mut DynamicMessage, names: &[&str], value: Option<&str>) {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return;
    };
    let descriptor = message.descriptor();
    if let Some(field) = names
        .iter()
        .find_map(|name| descriptor.get_field_by_name(name))
        .filter(|f| matches!(f.kind(), Kind::String) && !f.is_list())
        && message
            .get_field(&field)
            .as_str()
            .is_some_and(str::is_empty)
    {
        message.set_field(&field, Value::String(value.to_owned()));
    }
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The filename of a `Content-Disposition` request header (`filename*`
/// in UTF-8 preferred over `filename`).
fn disposition_filename(value: &str) -> Option<String> {
    let mut plain = None;
    for param in value.split(';').map(str::trim) {
        if let Some(encoded) = param.strip_prefix("filename*=") {
            let encoded = encoded
                .strip_prefix("UTF-8''")
                .or_else(|| encoded.strip_prefix("utf-8''"))?;
            return percent_encoding::percent_decode_str(encoded)
                .decode_utf8()
                .ok()
                .map(|s| s.into_owned());
        }
        if let Some(name) = param.strip_prefix("filename=") {
            plain = Some(name.trim_matches('"').to_owned());
        }
    }
    plain
}

/// RFC 6266 / 5987: `attachment` with an ASCII fallback name and the
/// original UTF-8 name.
fn content_disposition(filename: &str) -> HeaderValue {
    // attr-char of RFC 5987, everything else percent-encoded.
    const ATTR: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'!')
        .remove(b'#')
        .remove(b'$')
        .remove(b'&')
        .remove(b'+')
        .remove(b'-')
        .remove(b'.')
        .remove(b'^')
        .remove(b'_')
        .remove(b'`')
        .remove(b'|')
        .remove(b'~');
    let fallback: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let value = format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{}",
        utf8_percent_encode(filename, ATTR)
    );
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("attachment"))
}

fn body_error(error: &axum::Error) -> ApiError {
    ApiError::bad_field("body", format!("the upload was cut off: {error}"))
}

fn multipart_error(error: multer::Error) -> ApiError {
    ApiError::bad_field("body", format!("bad multipart/form-data: {error}"))
}

/// Most multipart parts before the file (each a short metadata field).
const MAX_FORM_PARTS: usize = 16;

/// The slowest an upload may come: after a grace (the idle timeout), at
/// least `rate` bytes a second on average since it started, so a client
/// cannot hold a slot by sending a byte just often enough to beat the idle
/// deadline.
struct Pace {
    rate: u64,
    grace: std::time::Duration,
    started: tokio::time::Instant,
}

impl Pace {
    fn new(rate: u64, grace: std::time::Duration) -> Self {
        Self {
            rate,
            grace,
            started: tokio::time::Instant::now(),
        }
    }

    /// How long the next piece may take with `received` bytes in: until the
    /// average would fall under the rate. `None` when no rate is set.
    fn wait(&self, received: u64) -> Option<std::time::Duration> {
        if self.rate == 0 {
            return None;
        }
        let allowed =
            self.grace + std::time::Duration::from_secs_f64(received as f64 / self.rate as f64);
        Some(allowed.saturating_sub(self.started.elapsed()))
    }

    fn too_slow(&self) -> ApiError {
        ApiError::body_too_slow(format!(
            "the upload came slower than {} bytes per second",
            self.rate
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_disposition_carries_the_utf8_name_and_an_ascii_fallback() {
        let value = content_disposition("销售 数据\"v2\".csv");
        assert_eq!(
            value.to_str().unwrap(),
            "attachment; filename=\"__ ___v2_.csv\"; \
             filename*=UTF-8''%E9%94%80%E5%94%AE%20%E6%95%B0%E6%8D%AE%22v2%22.csv"
        );
    }

    #[test]
    fn a_request_content_disposition_names_the_file() {
        assert_eq!(
            disposition_filename("attachment; filename*=UTF-8''%E6%8A%A5%E5%91%8A.pdf").as_deref(),
            Some("报告.pdf")
        );
        assert_eq!(
            disposition_filename("form-data; filename=\"a b.txt\"").as_deref(),
            Some("a b.txt")
        );
        assert_eq!(disposition_filename("inline"), None);
    }
}
