//! The free-text values of requests, each checked once where it arrives
//! ("parse, don't validate"): the rest of the service only ever sees a
//! [`Title`], [`Query`], [`ErrorMessage`] or [`WorkerId`] that obeys its
//! rules. No I/O here.

use super::invalid::Invalid;

/// `raw` trimmed, 1 to `max` characters, without NUL; without any control
/// character unless `lines` (text that may hold line breaks and tabs).
fn text(field: &'static str, raw: &str, max: usize, lines: bool) -> Result<String, Invalid> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(Invalid::new(field, "is required"));
    }
    if value.chars().count() > max {
        return Err(Invalid::new(
            field,
            format!("must have at most {max} characters"),
        ));
    }
    if value.contains('\0') {
        return Err(Invalid::new(field, "must not contain NUL characters"));
    }
    if !lines && value.chars().any(char::is_control) {
        return Err(Invalid::new(field, "must not contain control characters"));
    }
    Ok(value.to_owned())
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:expr, lines: $lines:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            /// Longest value, in characters.
            pub const MAX_CHARS: usize = $max;

            /// The value of the request field, checked.
            pub fn parse(raw: &str) -> Result<Self, Invalid> {
                text($field, raw, Self::MAX_CHARS, $lines).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_inner(self) -> String {
                self.0
            }
        }
    };
}

text_type!(
    /// A conversation's title: one line of up to 200 characters.
    Title, "title", 200, lines: false
);
text_type!(
    /// The query of a task or turn: up to 10 000 characters, lines allowed.
    Query, "query", 10_000, lines: true
);
text_type!(
    /// Why a task failed, as its worker says: up to 10 000 characters.
    ErrorMessage, "error_message", 10_000, lines: true
);
text_type!(
    /// The id a worker gives itself: one line of up to 200 characters.
    WorkerId, "worker_id", 200, lines: false
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_title_is_trimmed_and_one_line() {
        assert_eq!(
            Title::parse("  Sales 2026 ").unwrap().as_str(),
            "Sales 2026"
        );
        assert_eq!(Title::parse("  ").unwrap_err().field, "title");
        let line_break = Title::parse("a\nb").unwrap_err();
        assert_eq!(
            line_break.description,
            "must not contain control characters"
        );
        assert!(Title::parse(&"é".repeat(200)).is_ok());
        assert!(Title::parse(&"é".repeat(201)).is_err());
    }

    #[test]
    fn a_query_may_hold_lines_but_no_nul() {
        assert!(Query::parse("sum\tthe\ncolumns").is_ok());
        assert_eq!(
            Query::parse("a\0b").unwrap_err().description,
            "must not contain NUL characters"
        );
        assert!(Query::parse(&"x".repeat(10_001)).is_err());
    }

    #[test]
    fn a_worker_id_is_one_short_line() {
        assert!(WorkerId::parse("excel-worker-1").is_ok());
        assert_eq!(WorkerId::parse("w\r1").unwrap_err().field, "worker_id");
        assert!(WorkerId::parse(&"w".repeat(201)).is_err());
    }
}
