//! Ids as they arrive on the wire.

use uuid::Uuid;

use crate::error::{Error, Result};

/// Parses the id in `field`. A malformed id names nothing: it is NOT_FOUND
/// like any other id the caller cannot see, except where the request states
/// it as a new link (`file_ids`), where it is INVALID_ARGUMENT.
pub fn parse_list(field: &'static str, raw: &[String]) -> Result<Vec<Uuid>> {
    let mut ids = Vec::with_capacity(raw.len());
    for value in raw {
        let id = Uuid::parse_str(value.trim())
            .map_err(|_| Error::invalid(field, format!("{value:?} is not a UUID")))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}
