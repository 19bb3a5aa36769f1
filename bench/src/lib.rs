//! The load harness of the benchmarks (issue "Benchmarks").
//!
//! - [`load`]: the one load engine every scenario uses, over HTTP through
//!   the gateway and over gRPC straight to the services alike, so their
//!   figures compare: closed loop (a fixed number of clients, each sending
//!   its next request when the last is answered) or open loop (requests at
//!   a fixed rate, latency measured from when each was due, so a stalled
//!   server cannot hide its stall), a warm-up that is not recorded, and a
//!   latency histogram (`hdrhistogram`).
//!
//! - [`stack`]: PostgreSQL and the three release binaries, started and
//!   stopped by the harness.
//!
//! - [`peer`]: the FastAPI peer outside the project that the `GET me` row
//!   is compared with.
//!
//! The binary (`src/main.rs`) runs the scenarios and writes the report.

pub mod load;
pub mod peer;
pub mod stack;
pub mod tasks;
