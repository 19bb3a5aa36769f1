//! End-to-end tests: the three services, each on its own port with its own
//! database, driven over HTTP through the gateway as a client would.

mod attacks;
mod docs;
mod edge;
mod errors;
mod flow;
mod mapping;
mod memory;
mod reachability;
mod shutdown;
mod stack;
mod streams;
mod tasks;
mod tokens;
mod traces;
mod upstreams;
