//! The gateway: HTTP/JSON to gRPC, driven by the `google.api.http`
//! annotations of the protos, with tokens checked at the edge.

pub mod app;
pub mod config;
pub mod docs;
pub mod edge;
pub mod error;
pub mod json;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod server;
pub mod streaming;
pub mod transcode;
pub mod upstream;

pub use app::Application;
pub use config::Config;
