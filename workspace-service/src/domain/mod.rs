//! Rules with no I/O: the task state machine and validated request values.

pub mod task_state;
