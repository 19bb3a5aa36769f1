//! Integration tests of the workspace-service's gRPC API, against a real
//! auth-service, each with fresh databases in the throw-away PostgreSQL cluster.

// Test code: an unwrap is the assertion, and a scenario reads top to bottom.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod context;
mod conversations;
mod drafts;
mod excel_worker;
mod fairness;
mod files;
mod helpers;
mod idempotency;
mod kinds;
mod operations;
mod outputs;
mod progress;
mod quotas;
mod retries;
mod s3;
mod stats;
mod tasks;
mod turns;
mod worker;
