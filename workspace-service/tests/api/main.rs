//! Integration tests of the workspace-service's gRPC API, against a real
//! auth-service, each with fresh databases in the throw-away PostgreSQL cluster.

mod conversations;
mod example_worker;
mod files;
mod helpers;
mod operations;
mod s3;
mod stats;
mod tasks;
mod turns;
mod worker;
