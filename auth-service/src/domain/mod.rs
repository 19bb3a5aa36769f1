//! Validated account values ("parse, don't validate"): the rest of the service
//! only ever sees an [`Email`], [`Username`] or [`Password`] that obeys the rules.
//! No I/O here.

mod email;
mod password;
mod profile;

pub use email::Email;
pub use password::Password;
pub use profile::{AvatarUrl, FullName, Username};

/// A value that broke a rule: the field it came from and why, in words fit
/// for the caller.
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
