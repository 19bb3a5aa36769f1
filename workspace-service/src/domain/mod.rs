//! Rules with no I/O: the task state machine and validated request values.

pub mod backoff;
pub mod invalid;
pub mod kind;
pub mod progress;
pub mod task_state;
pub mod text;

pub use invalid::Invalid;
pub use text::{ErrorMessage, Query, Title, WorkerId};
