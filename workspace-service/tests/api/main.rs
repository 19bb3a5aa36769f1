//! Integration tests of the workspace-service's gRPC API, against a real
//! auth-service, each with fresh databases in the throw-away PostgreSQL cluster.

mod conversations;
mod files;
mod helpers;
mod tasks;
mod turns;
mod worker;
