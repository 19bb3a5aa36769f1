//! Integration tests of the auth-service's gRPC API, each against its own
//! fresh database in the throw-away PostgreSQL cluster.

// Test code: an unwrap is the assertion, and a scenario reads top to bottom.
#![allow(clippy::unwrap_used, clippy::too_many_lines)]

mod admin;
mod audit;
mod cleanup;
mod devices;
mod helpers;
mod keys;
mod lockout;
mod login;
mod logs;
mod me;
mod oidc;
mod password_reset;
mod refresh;
mod register;
mod revocations;
mod service_accounts;
mod sessions;
mod standard_services;
mod wechat;
