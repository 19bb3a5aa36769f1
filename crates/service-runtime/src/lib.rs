//! What every process of the system does the same way.
//!
//! - [`clock`]: the current time, controllable in tests.
//! - [`env`]: typed configuration from environment variables, with errors that
//!   name the variable.
//! - [`telemetry`]: logging (human-readable, or JSON lines with `LOG_FORMAT=json`).
//! - [`shutdown`]: a future that completes on SIGTERM or Ctrl-C.
//! - [`forwarded`]: client facts the gateway vouches for (HMAC-signed headers).
//! - [`slots`]: a cap on things in progress per key.
//! - [`paging`]: page sizes and opaque, tamper-proof page tokens.
//! - [`testing`] (feature `testing`): helpers for tests.
//! - [`grpc`]: the health and reflection services every gRPC server exposes.
//! - [`trace`]: W3C trace context, continued across processes.
//! - [`observe`]: per-RPC spans, completion logs and metrics (a tower layer).
//! - [`metrics`]: the admin `/metrics` endpoint and gauges read at scrape time.
//! - [`tls`]: the TLS crypto provider HTTP clients use.

pub mod clock;
pub mod env;
pub mod forwarded;
pub mod grpc;
pub mod metrics;
pub mod observe;
pub mod paging;
pub mod shutdown;
pub mod slots;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tls;
pub mod trace;
