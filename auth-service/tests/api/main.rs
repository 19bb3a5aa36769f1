//! Integration tests of the auth-service's gRPC API, each against its own
//! fresh database in the throw-away PostgreSQL cluster.

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
mod refresh;
mod register;
mod revocations;
mod service_accounts;
mod sessions;
mod standard_services;
mod wechat;
