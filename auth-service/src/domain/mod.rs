//! Validated account values ("parse, don't validate"): the rest of the service
//! only ever sees an [`Email`], [`Username`] or [`Password`] that obeys the rules.
//! No I/O here.

mod email;
mod invalid;
mod password;
mod profile;

pub use email::Email;
pub use invalid::Invalid;
pub use password::Password;
pub use profile::{AvatarUrl, FullName, Username};
