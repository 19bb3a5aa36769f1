//! Integration tests of the auth-service's gRPC API, each against its own
//! fresh database in the throw-away PostgreSQL cluster.

mod helpers;
mod login;
mod me;
mod register;
mod standard_services;
