//! The gRPC API of the service. One module per RPC group; inside, one file per
//! RPC named after it.

mod conversations;
mod convert;
mod ids;

pub use conversations::ConversationApi;
