//! End-to-end tests: the three services, each on its own port with its own
//! database, driven over HTTP through the gateway as a client would.

// Test code: an unwrap is the assertion, and a scenario reads top to bottom.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod abuse;
mod attacks;
mod brute_force;
mod docs;
mod edge;
mod errors;
mod flow;
mod isolation;
mod mapping;
mod memory;
mod pipeline;
mod reachability;
mod schema_fuzzing;
mod shutdown;
mod slots;
mod stack;
mod streams;
mod tasks;
mod tokens;
mod traces;
mod upstreams;
