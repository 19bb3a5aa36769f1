//! The service's error type and how each error reaches the caller.
//!
//! User-facing errors (bad input, a taken email, wrong credentials, …) carry
//! their gRPC code and a message written for the caller. [`Error::Internal`]
//! is everything else: it is logged with its whole chain and the caller gets a
//! generic message, so no internals (SQL, paths, hashes) ever leak.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::domain::Invalid;

/// An error of an RPC.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request field broke a rule (INVALID_ARGUMENT, with a field violation).
    #[error("{0}")]
    Invalid(#[from] Invalid),
    /// The resource exists already (ALREADY_EXISTS, with a field violation).
    #[error("{field} {description}")]
    AlreadyExists {
        /// The field whose value is taken.
        field: &'static str,
        /// Why.
        description: String,
    },
    /// Wrong or missing credentials (UNAUTHENTICATED).
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// Not allowed (PERMISSION_DENIED).
    #[error("{0}")]
    PermissionDenied(&'static str),
    /// Not found, or not the caller's (NOT_FOUND).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Refused in the current state (FAILED_PRECONDITION).
    #[error("{0}")]
    FailedPrecondition(&'static str),
    /// Too many attempts: try again after the delay (RESOURCE_EXHAUSTED,
    /// with `google.rpc.RetryInfo`).
    #[error("too many attempts; try again in {} s", .0.as_secs())]
    TooManyAttempts(std::time::Duration),
    /// Too busy to take the call now (UNAVAILABLE, with `RetryInfo`): it
    /// was refused at once rather than queued for long.
    #[error("{0}")]
    Busy(&'static str, std::time::Duration),
    /// A dependency is down or saturated (UNAVAILABLE): retry later.
    #[error("{0}")]
    Unavailable(&'static str),
    /// Anything unexpected (INTERNAL, generic message).
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<crate::passwords::HashError> for Error {
    fn from(e: crate::passwords::HashError) -> Self {
        match e {
            crate::passwords::HashError::Busy => Self::Busy(
                "too many password checks at once; try again shortly",
                std::time::Duration::from_secs(1),
            ),
            crate::passwords::HashError::Failed(e) => Self::Internal(e),
        }
    }
}

impl From<diesel::result::Error> for Error {
    fn from(e: diesel::result::Error) -> Self {
        Self::Internal(e.into())
    }
}

impl From<service_runtime::paging::InvalidPageToken> for Error {
    fn from(e: service_runtime::paging::InvalidPageToken) -> Self {
        Self::Invalid(Invalid::new("page_token", e.to_string()))
    }
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for Error {
    fn from(e: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        // No connection in time (database down, or all connections busy) is
        // transient: the caller may retry.
        tracing::warn!(error = %e, "no database connection");
        Self::Unavailable("the database is unavailable; try again")
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        match error {
            Error::Invalid(invalid) => Status::with_error_details(
                Code::InvalidArgument,
                invalid.to_string(),
                ErrorDetails::with_bad_request_violation(invalid.field, invalid.description),
            ),
            Error::AlreadyExists { field, description } => Status::with_error_details(
                Code::AlreadyExists,
                format!("{field} {description}"),
                ErrorDetails::with_bad_request_violation(field, description),
            ),
            Error::Unauthenticated(message) => Status::unauthenticated(message),
            Error::PermissionDenied(message) => Status::permission_denied(message),
            Error::NotFound(what) => Status::not_found(format!("{what} not found")),
            Error::FailedPrecondition(message) => Status::failed_precondition(message),
            Error::TooManyAttempts(delay) => Status::with_error_details(
                Code::ResourceExhausted,
                format!(
                    "too many attempts; try again in {} s",
                    delay.as_secs().max(1)
                ),
                ErrorDetails::with_retry_info(Some(delay)),
            ),
            Error::Busy(message, delay) => Status::with_error_details(
                Code::Unavailable,
                message,
                ErrorDetails::with_retry_info(Some(delay)),
            ),
            Error::Unavailable(message) => Status::unavailable(message),
            // The database went away mid-call (restart, failover): the
            // call may be retried.
            Error::Internal(e) if postgres_kit::caused_by_database_gone(&e) => {
                tracing::warn!(error = ?e, "the database went away");
                Status::unavailable("the database is unavailable; try again")
            }
            Error::Internal(e) => {
                tracing::error!(error = ?e, "internal error");
                Status::internal("internal error")
            }
        }
    }
}

/// The result of an RPC's logic.
pub type Result<T, E = Error> = std::result::Result<T, E>;
