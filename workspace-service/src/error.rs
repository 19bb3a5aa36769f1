//! The service's error type and how each error reaches the caller.
//!
//! User-facing errors carry their gRPC code and a message written for the
//! caller. [`Error::Internal`] is everything else: logged with its whole chain,
//! answered with a generic message, so no internals ever leak.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// An error of an RPC.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request field broke a rule (INVALID_ARGUMENT, with a field violation).
    #[error("{field}: {description}")]
    Invalid {
        /// The request field.
        field: &'static str,
        /// What is wrong with it.
        description: String,
    },
    /// Not found, or not the caller's (NOT_FOUND): another user's resource is
    /// indistinguishable from a missing one.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A dependency is down or saturated (UNAVAILABLE): retry later.
    #[error("{0}")]
    Unavailable(&'static str),
    /// A task transition the state machine forbids (FAILED_PRECONDITION
    /// naming the current status).
    #[error("{0}")]
    Transition(crate::domain::task_state::Forbidden),
    /// Over a size limit (RESOURCE_EXHAUSTED; HTTP 413 at the gateway is
    /// the gateway's own limit).
    #[error("{0}")]
    TooLarge(String),
    /// The client broke off the call (CANCELLED).
    #[error("{0}")]
    Cancelled(String),
    /// Stored data is missing or unreadable (DATA_LOSS; logged in detail).
    #[error("stored data could not be read")]
    DataLoss,
    /// Refused in the current state (FAILED_PRECONDITION).
    #[error("{0}")]
    FailedPrecondition(String),
    /// The caller's token does not allow this (PERMISSION_DENIED).
    #[error("{0}")]
    PermissionDenied(String),
    /// Over one of the caller's quotas (RESOURCE_EXHAUSTED with a
    /// `google.rpc.QuotaFailure` naming it; HTTP 429 at the gateway).
    #[error("{description}")]
    Quota {
        /// The quota: `storage_bytes`, `tasks`, `pending_tasks`, `task_outputs`.
        subject: &'static str,
        /// What the limit is.
        description: String,
    },
    /// Anything unexpected (INTERNAL, generic message).
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl Error {
    /// An INVALID_ARGUMENT error about `field`.
    pub fn invalid(field: &'static str, description: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            description: description.into(),
        }
    }
}

impl From<crate::domain::Invalid> for Error {
    fn from(e: crate::domain::Invalid) -> Self {
        Self::Invalid {
            field: e.field,
            description: e.description,
        }
    }
}

impl From<diesel::result::Error> for Error {
    fn from(e: diesel::result::Error) -> Self {
        Self::Internal(e.into())
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

impl From<service_runtime::paging::InvalidPageToken> for Error {
    fn from(e: service_runtime::paging::InvalidPageToken) -> Self {
        Self::invalid("page_token", e.to_string())
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        match error {
            Error::Invalid { field, description } => Status::with_error_details(
                Code::InvalidArgument,
                format!("{field}: {description}"),
                ErrorDetails::with_bad_request_violation(field, description),
            ),
            Error::NotFound(what) => Status::not_found(format!("{what} not found")),
            Error::Unavailable(message) => Status::unavailable(message),
            Error::Transition(forbidden) => Status::failed_precondition(forbidden.to_string()),
            Error::FailedPrecondition(message) => Status::failed_precondition(message),
            Error::PermissionDenied(message) => Status::permission_denied(message),
            Error::Quota {
                subject,
                description,
            } => Status::with_error_details(
                Code::ResourceExhausted,
                description.clone(),
                ErrorDetails::with_quota_failure_violation(subject, description),
            ),
            Error::TooLarge(message) => Status::resource_exhausted(message),
            Error::Cancelled(message) => Status::cancelled(message),
            Error::DataLoss => Status::data_loss("stored data could not be read"),
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
