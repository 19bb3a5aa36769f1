//! Rules with no I/O: the task state machine and validated request values.

pub mod backoff;
pub mod kind;
pub mod progress;
pub mod task_state;
