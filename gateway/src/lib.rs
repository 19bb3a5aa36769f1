//! The gateway: HTTP/JSON to gRPC, driven by the `google.api.http`
//! annotations of the protos, with tokens checked at the edge.

pub mod app;
pub mod config;
pub mod docs;
pub mod edge;
pub mod error;
pub mod health;
pub mod json;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod proxy;
pub mod routes;
pub mod server;
pub mod state;
pub mod upstream;

pub use app::Application;
pub use config::Config;
