//! The workspace-service: files, conversations with their turns, and
//! processing tasks. `main.rs` is a thin command line over [`app::Application`].

pub mod app;
pub mod blobs;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod excel_worker;
pub mod export;
pub mod grpc;
pub mod metrics;
pub mod progress;
pub mod queue;
pub mod retention;
pub mod state;
pub mod storage;
pub mod uploads;

pub use app::Application;
pub use config::Config;
pub use state::AppState;
