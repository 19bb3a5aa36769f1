//! The auth-service: accounts, sessions and the tokens every other component
//! verifies. `main.rs` is a thin command line over [`app::Application`].

pub mod app;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod keys;
pub mod passwords;
pub mod tokens;

pub use app::{AppState, Application};
pub use config::Config;
