//! The auth-service: accounts, sessions and the tokens every other component
//! verifies. `main.rs` is a thin command line over [`app::Application`] and
//! the commands in [`admin`].

pub mod admin;
pub mod app;
pub mod audit;
pub mod cleanup;
pub mod config;
pub mod db;
pub mod devices;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod identities;
pub mod keys;
pub mod mail;
pub mod mail_sender;
pub mod oidc;
pub mod passwords;
pub mod revocations;
pub mod secrets;
pub mod sessions;
pub mod state;
pub mod tokens;
pub mod wechat;

pub use app::Application;
pub use config::Config;
pub use state::AppState;
