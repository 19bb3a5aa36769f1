//! End-to-end tests: the three services, each on its own port with its own
//! database, driven over HTTP through the gateway as a client would.

mod docs;
mod edge;
mod errors;
mod flow;
mod memory;
mod stack;
mod streams;
mod tasks;
mod tokens;
