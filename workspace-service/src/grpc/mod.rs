//! The gRPC API of the service. One module per RPC group; inside, one file per
//! RPC named after it.

pub(crate) mod conversations;
pub mod convert;
pub(crate) mod files;
mod ids;
mod stats;
pub mod tasks;
pub(crate) mod worker;

pub use conversations::api::ConversationApi;
pub use files::api::FileApi;
pub use stats::api::StatsApi;
pub use tasks::api::TaskApi;
pub use worker::api::WorkerApi;
pub use worker::upload_task_output::MAX_OUTPUTS as MAX_TASK_OUTPUTS;
