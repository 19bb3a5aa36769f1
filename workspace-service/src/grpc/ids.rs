//! Ids as they arrive on the wire.

use uuid::Uuid;

use crate::error::{Error, Result};

/// Most ids one list may name.
pub const MAX_LIST: usize = 100;

/// Parses the ids in `field`, in order, each once (a repeat is dropped, in
/// linear time). A malformed id names nothing: it is NOT_FOUND like any other
/// id the caller cannot see, except where the request states it as a new
/// link (`file_ids`), where it is INVALID_ARGUMENT. More than [`MAX_LIST`]
/// entries are refused before any is parsed.
pub fn parse_list(field: &'static str, raw: &[String]) -> Result<Vec<Uuid>> {
    if raw.len() > MAX_LIST {
        return Err(Error::invalid(
            field,
            format!("must name at most {MAX_LIST} ids"),
        ));
    }
    let mut seen = std::collections::HashSet::with_capacity(raw.len());
    let mut ids = Vec::with_capacity(raw.len());
    for value in raw {
        let id = Uuid::parse_str(value.trim())
            .map_err(|_| Error::invalid(field, format!("{value:?} is not a UUID")))?;
        if seen.insert(id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// Parses the id of a resource the caller names. A malformed id names no
/// resource of the caller's: NOT_FOUND, like a missing or foreign one.
pub fn parse_resource(what: &'static str, raw: &str) -> Result<Uuid> {
    Uuid::parse_str(raw.trim()).map_err(|_| Error::NotFound(what))
}

/// A client-chosen request id (AIP-155): empty for none, else a UUID.
pub fn request_id(raw: &str) -> Result<Option<Uuid>> {
    match raw.trim() {
        "" => Ok(None),
        value => Uuid::parse_str(value)
            .map(Some)
            .map_err(|_| Error::invalid("request_id", "must be a UUID")),
    }
}

/// The error of a request id used before for another request.
pub fn request_id_reused() -> Error {
    Error::invalid(
        "request_id",
        "was used before for a different request; choose a new one",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_keeps_its_order_drops_repeats_and_has_a_maximum() {
        let a = Uuid::now_v7().to_string();
        let b = Uuid::now_v7().to_string();
        let ids = parse_list("file_ids", &[a.clone(), b.clone(), a.clone()]).unwrap();
        assert_eq!(ids.len(), 2);
        assert_eq!(ids[0].to_string(), a);
        assert!(parse_list("file_ids", &vec![a.clone(); MAX_LIST]).is_ok());
        let error = parse_list("file_ids", &vec![a; MAX_LIST + 1]).unwrap_err();
        assert!(format!("{error:?}").contains("at most 100"), "{error:?}");
    }
}
