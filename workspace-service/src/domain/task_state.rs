//! The lifecycle of a task (and of the conversation turn it processes):
//!
//! ```text
//!  draft ──start──▶ pending ──claim──▶ processing ──complete──▶ completed
//!     ▲  │               │  │
//!     │  └──cancel──┐    │  └──fail (final, or attempts used up)──▶ failed
//!     │             ▼    │                                           │
//!     │         cancelled◀┘ cancel                                   │
//!     └── retry ◀──────────────────────────── retry ◀────────────────┘
//!     └── fail (retryable) / lease expired, attempts left ◀── processing
//! ```
//!
//!
//! A draft (created with `start = false`) is not queued; only a draft's
//! query and files may be edited, and only terminal tasks and drafts may be
//! deleted ([`Status::is_deletable`]).
//!
//! A transition the machine forbids is FAILED_PRECONDITION naming the
//! current status.

use std::fmt;

/// A task's (or turn's) status, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Draft,
    Pending,
    Processing,
    Completed,
    Failed,
    Cancelled,
}

/// Every status.
pub const ALL: [Status; 6] = [
    Status::Draft,
    Status::Pending,
    Status::Processing,
    Status::Completed,
    Status::Failed,
    Status::Cancelled,
];

/// What is being done to a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Its owner queues a draft.
    Start,
    /// A worker takes it.
    Claim,
    /// The worker finished it.
    Complete,
    /// The worker gave up on it for good (or its attempts are used up).
    Fail,
    /// It goes back to the queue (retryable failure, expired lease).
    Requeue,
    /// Its owner cancels it.
    Cancel,
    /// Its owner queues it again.
    Retry,
}

/// A forbidden transition: the current status and the action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forbidden {
    pub current: Status,
    pub action: Action,
}

impl fmt::Display for Forbidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = match self.action {
            Action::Start => "started",
            Action::Claim => "claimed",
            Action::Complete => "completed",
            Action::Fail => "failed",
            Action::Requeue => "requeued",
            Action::Cancel => "cancelled",
            Action::Retry => "retried",
        };
        write!(
            f,
            "the task is {} and cannot be {verb}",
            self.current.as_str()
        )
    }
}

impl Status {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// The status of a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether nothing more will happen unless the owner retries.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }

    /// Whether its owner may delete it: it is terminal or a draft.
    pub fn is_deletable(self) -> bool {
        self.is_terminal() || self == Self::Draft
    }

    /// The status after `action`, or why it is forbidden.
    pub fn after(self, action: Action) -> Result<Status, Forbidden> {
        use Action::*;
        use Status::*;
        match (self, action) {
            (Draft, Start) => Ok(Pending),
            (Pending, Claim) => Ok(Processing),
            (Processing, Complete) => Ok(Completed),
            (Processing, Fail) => Ok(Failed),
            (Processing, Requeue) => Ok(Pending),
            (Pending | Processing, Cancel) => Ok(Cancelled),
            (Failed | Cancelled, Retry) => Ok(Pending),
            (current, action) => Err(Forbidden { current, action }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allowed_transitions() {
        use Action::*;
        use Status::*;
        let allowed = [
            (Draft, Start, Pending),
            (Pending, Claim, Processing),
            (Processing, Complete, Completed),
            (Processing, Fail, Failed),
            (Processing, Requeue, Pending),
            (Pending, Cancel, Cancelled),
            (Processing, Cancel, Cancelled),
            (Failed, Retry, Pending),
            (Cancelled, Retry, Pending),
        ];
        for (from, action, to) in allowed {
            assert_eq!(from.after(action), Ok(to), "{from:?} {action:?}");
        }
        // Everything else is forbidden.
        let actions = [Start, Claim, Complete, Fail, Requeue, Cancel, Retry];
        let mut forbidden = 0;
        for from in ALL {
            for action in actions {
                if !allowed.iter().any(|(f, a, _)| *f == from && *a == action) {
                    assert_eq!(
                        from.after(action),
                        Err(Forbidden {
                            current: from,
                            action
                        })
                    );
                    forbidden += 1;
                }
            }
        }
        assert_eq!(forbidden, 6 * 7 - allowed.len());
    }

    #[test]
    fn the_error_names_the_current_status() {
        let error = Status::Completed.after(Action::Retry).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the task is completed and cannot be retried"
        );
        let error = Status::Cancelled.after(Action::Complete).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the task is cancelled and cannot be completed"
        );
    }

    #[test]
    fn names_round_trip() {
        for status in ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
        assert_eq!(Status::parse("done"), None);
    }
}
