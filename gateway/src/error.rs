//! Errors as HTTP clients see them: the Google JSON error format (AIP-193),
//! `{"error": {"code", "status", "message", "details"}}`, with the HTTP status
//! that the contract assigns to each gRPC code.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::json;
use tonic::Code;
use tonic_types::StatusExt;

/// An error answered to an HTTP client.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub http: StatusCode,
    /// The gRPC code it stands for.
    pub code: Code,
    /// A message for the client; never internals.
    pub message: String,
    /// `google.rpc` detail messages, as JSON.
    pub details: Vec<serde_json::Value>,
    /// For 405: the methods the path allows.
    pub allow: Vec<http::Method>,
    /// For 429 and 503: when to try again (`Retry-After`).
    pub retry_after: Option<std::time::Duration>,
}

impl ApiError {
    /// An error with `code`'s HTTP status.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            http: http_status(code),
            code,
            message: message.into(),
            details: Vec::new(),
            allow: Vec::new(),
            retry_after: None,
        }
    }

    /// An INVALID_ARGUMENT (400) about one request field.
    pub fn bad_field(field: &str, description: impl Into<String>) -> Self {
        let description = description.into();
        let mut error = Self::new(Code::InvalidArgument, format!("{field}: {description}"));
        error
            .details
            .push(bad_request(&[(field.to_owned(), description)]));
        error
    }

    /// A request body that stopped arriving: 408.
    pub fn body_timeout(after: std::time::Duration) -> Self {
        Self::new(
            Code::DeadlineExceeded,
            format!(
                "the request body stopped arriving for {} ms",
                after.as_millis()
            ),
        )
        .with_http(StatusCode::REQUEST_TIMEOUT)
    }

    /// A request body that took too long in all, or came too slowly.
    pub fn body_too_slow(problem: String) -> Self {
        Self::new(Code::DeadlineExceeded, problem).with_http(StatusCode::REQUEST_TIMEOUT)
    }

    /// An error with an HTTP status of its own (404, 405, 413, 415).
    pub fn with_http(mut self, http: StatusCode) -> Self {
        self.http = http;
        self
    }
}

/// The contract's mapping of gRPC codes to HTTP statuses.
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::Cancelled => StatusCode::from_u16(499).expect("499 is a valid status"),
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The canonical name of a gRPC code (`INVALID_ARGUMENT`).
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

fn bad_request(violations: &[(String, String)]) -> serde_json::Value {
    json!({
        "@type": "type.googleapis.com/google.rpc.BadRequest",
        "field_violations": violations
            .iter()
            .map(|(field, description)| json!({"field": field, "description": description}))
            .collect::<Vec<_>>(),
    })
}

impl From<tonic::Status> for ApiError {
    fn from(status: tonic::Status) -> Self {
        // A status made by the connection, not sent by the service (the
        // upstream went away mid-call: a reset stream, a closed connection)
        // is UNAVAILABLE whatever code the transport gave it: the client did
        // not cancel, the service did not fail, and a retry may succeed.
        let from_transport = std::error::Error::source(&status).is_some()
            && matches!(
                status.code(),
                Code::Cancelled | Code::Internal | Code::Unknown
            );
        if from_transport {
            return Self::new(
                Code::Unavailable,
                "the service is unavailable, try again later",
            );
        }
        let code = status.code();
        let message = match code {
            // A transport failure's message names hosts and sockets.
            Code::Unavailable if status.message().contains("transport") => {
                "the service is unavailable, try again later".to_owned()
            }
            Code::DeadlineExceeded => "the service did not answer in time".to_owned(),
            _ => status.message().to_owned(),
        };
        let mut error = Self::new(code, message);
        if let Some(bad) = status.get_details_bad_request() {
            let violations: Vec<(String, String)> = bad
                .field_violations
                .into_iter()
                .map(|v| (v.field, v.description))
                .collect();
            if !violations.is_empty() {
                error.details.push(bad_request(&violations));
            }
        }
        if let Some(delay) = status.get_details_retry_info().and_then(|r| r.retry_delay) {
            error.details.push(json!({
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retry_delay": format!("{}s", delay.as_secs()),
            }));
            error.retry_after = Some(delay);
        }
        error
    }
}

impl ApiError {
    /// The AIP-193 body: `{"error": {code, status, message, details}}`.
    pub fn body(&self) -> serde_json::Value {
        json!({
            "error": {
                "code": self.http.as_u16(),
                "status": code_name(self.code),
                "message": self.message,
                "details": self.details,
            }
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.http, axum::Json(self.body())).into_response();
        let headers = response.headers_mut();
        if self.http == StatusCode::UNAUTHORIZED {
            // RFC 6750.
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer error="invalid_token""#),
            );
        }
        if let Some(delay) = self.retry_after {
            // Whole seconds, rounded up.
            let seconds = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        if !self.allow.is_empty() {
            let allow = self
                .allow
                .iter()
                .map(http::Method::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            if let Ok(value) = HeaderValue::from_str(&allow) {
                headers.insert(header::ALLOW, value);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the faults suite: a service stopping mid-call reset its
    /// streams, and clients got 499 or 500 instead of a retryable 503.
    #[test]
    fn a_status_made_by_the_transport_is_503_and_one_sent_by_the_service_keeps_its_code() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "stream reset");
        let mut reset = tonic::Status::cancelled("h2 protocol error: stream reset");
        reset.set_source(std::sync::Arc::new(io));
        let error = ApiError::from(reset);
        assert_eq!((error.code, error.http.as_u16()), (Code::Unavailable, 503));
        assert!(!error.message.contains("h2"));
        let sent = ApiError::from(tonic::Status::internal("internal error"));
        assert_eq!(sent.http.as_u16(), 500);
        let sent = ApiError::from(tonic::Status::cancelled("the task was cancelled"));
        assert_eq!(sent.http.as_u16(), 499);
    }

    #[test]
    fn every_code_maps_as_the_contract_says() {
        let expected = [
            (Code::Ok, 200),
            (Code::Cancelled, 499),
            (Code::Unknown, 500),
            (Code::InvalidArgument, 400),
            (Code::DeadlineExceeded, 504),
            (Code::NotFound, 404),
            (Code::AlreadyExists, 409),
            (Code::PermissionDenied, 403),
            (Code::Unauthenticated, 401),
            (Code::ResourceExhausted, 429),
            (Code::FailedPrecondition, 400),
            (Code::Aborted, 409),
            (Code::OutOfRange, 400),
            (Code::Unimplemented, 501),
            (Code::Internal, 500),
            (Code::Unavailable, 503),
            (Code::DataLoss, 500),
        ];
        for (code, http) in expected {
            assert_eq!(http_status(code).as_u16(), http, "{code:?}");
        }
    }

    #[tokio::test]
    async fn every_code_answers_the_aip_193_body() {
        for code in [
            Code::Cancelled,
            Code::Unknown,
            Code::InvalidArgument,
            Code::DeadlineExceeded,
            Code::NotFound,
            Code::AlreadyExists,
            Code::PermissionDenied,
            Code::Unauthenticated,
            Code::ResourceExhausted,
            Code::FailedPrecondition,
            Code::Aborted,
            Code::OutOfRange,
            Code::Unimplemented,
            Code::Internal,
            Code::Unavailable,
            Code::DataLoss,
        ] {
            let response =
                ApiError::from(tonic::Status::new(code, "what went wrong")).into_response();
            let status = response.status();
            assert_eq!(status, http_status(code), "{code:?}");
            assert_eq!(
                response.headers()[header::CONTENT_TYPE],
                "application/json",
                "{code:?}"
            );
            let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
                .await
                .unwrap();
            let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(body["error"]["code"], status.as_u16(), "{code:?}");
            assert_eq!(body["error"]["status"], code_name(code), "{code:?}");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty())
            );
            assert!(body["error"]["details"].is_array());
        }
    }

    #[test]
    fn field_violations_pass_through() {
        let status = tonic::Status::with_error_details(
            Code::InvalidArgument,
            "email: is required",
            tonic_types::ErrorDetails::with_bad_request_violation("email", "is required"),
        );
        let error = ApiError::from(status);
        assert_eq!(error.http, StatusCode::BAD_REQUEST);
        assert_eq!(error.details[0]["field_violations"][0]["field"], "email");
        assert_eq!(
            error.details[0]["@type"],
            "type.googleapis.com/google.rpc.BadRequest"
        );
    }
}
