//! The error of every validated value.

/// A value that broke a rule: the field it came from and why, in words fit
/// for the caller (INVALID_ARGUMENT with a `BadRequest` naming the field).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {description}")]
pub struct Invalid {
    /// The request field.
    pub field: &'static str,
    /// What is wrong with it.
    pub description: String,
}

impl Invalid {
    pub(crate) fn new(field: &'static str, description: impl Into<String>) -> Self {
        Self {
            field,
            description: description.into(),
        }
    }
}
