//! What every process of the system does the same way.
//!
//! - [`clock`]: the current time, controllable in tests.
//! - [`env`]: typed configuration from environment variables, with errors that
//!   name the variable.
//! - [`telemetry`]: logging (human-readable, or JSON lines with `LOG_FORMAT=json`).
//! - [`shutdown`]: a future that completes on SIGTERM or Ctrl-C.
//! - [`paging`]: page sizes and opaque, tamper-proof page tokens.
//! - [`testing`] (feature `testing`): helpers for tests.
//! - [`grpc`]: the health and reflection services every gRPC server exposes.

pub mod clock;
pub mod env;
pub mod grpc;
pub mod paging;
pub mod shutdown;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
