//! The gRPC API of the service. One module per RPC group; inside, one file per
//! RPC named after it.

pub(crate) mod conversations;
pub mod convert;
pub(crate) mod files;
mod ids;
mod stats;
pub mod tasks;
mod worker;

pub use conversations::ConversationApi;
pub use files::FileApi;
pub use stats::StatsApi;
pub use tasks::TaskApi;
pub use worker::{MAX_OUTPUTS as MAX_TASK_OUTPUTS, WorkerApi};

/// Longest query of a task or turn, in characters.
pub const MAX_QUERY_CHARS: usize = 10_000;
