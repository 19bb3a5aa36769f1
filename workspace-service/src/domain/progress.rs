//! A worker's report of how far it has come with a task.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Longest progress message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 1000;

/// Largest partial result, as encoded JSON.
pub const MAX_PARTIAL_BYTES: usize = 64 * 1024;

/// A progress report, as stored on the task (`tasks.progress`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// The share done, 0 to 1.
    pub fraction: f64,
    /// What the worker is doing.
    #[serde(default)]
    pub message: String,
    /// Partial results, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial: Option<serde_json::Value>,
    /// When the worker reported it.
    pub reported_at: DateTime<Utc>,
}

impl Progress {
    /// Checks a report: `fraction` in 0..=1, a bounded message and partial
    /// result. Returns the field at fault and why.
    pub fn parse(
        fraction: f64,
        message: &str,
        partial: Option<serde_json::Value>,
        reported_at: DateTime<Utc>,
    ) -> Result<Self, (&'static str, String)> {
        if !(0.0..=1.0).contains(&fraction) {
            return Err(("progress.fraction", "must be between 0 and 1".into()));
        }
        if message.chars().count() > MAX_MESSAGE_CHARS {
            return Err((
                "progress.message",
                format!("must have at most {MAX_MESSAGE_CHARS} characters"),
            ));
        }
        if message.contains('\0') {
            return Err(("progress.message", "must not contain NUL characters".into()));
        }
        if let Some(partial) = &partial
            && serde_json::to_vec(partial).map_or(usize::MAX, |v| v.len()) > MAX_PARTIAL_BYTES
        {
            return Err((
                "progress.partial",
                format!("must be at most {MAX_PARTIAL_BYTES} bytes as JSON"),
            ));
        }
        Ok(Self {
            fraction,
            message: message.to_owned(),
            partial,
            reported_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_outside_zero_to_one_are_refused() {
        let now = Utc::now();
        for bad in [-0.01, 1.01, f64::NAN, f64::INFINITY] {
            assert_eq!(
                Progress::parse(bad, "", None, now).unwrap_err().0,
                "progress.fraction"
            );
        }
        for good in [0.0, 0.5, 1.0] {
            assert!(Progress::parse(good, "sheet 1 of 2", None, now).is_ok());
        }
    }

    #[test]
    fn messages_and_partials_are_bounded() {
        let now = Utc::now();
        let long = "字".repeat(MAX_MESSAGE_CHARS + 1);
        assert_eq!(
            Progress::parse(0.1, &long, None, now).unwrap_err().0,
            "progress.message"
        );
        assert_eq!(
            Progress::parse(0.1, "a\0b", None, now).unwrap_err().0,
            "progress.message"
        );
        let big = serde_json::json!("x".repeat(MAX_PARTIAL_BYTES));
        assert_eq!(
            Progress::parse(0.1, "", Some(big), now).unwrap_err().0,
            "progress.partial"
        );
    }
}
