use super::invalid::Invalid;

/// The longest address SMTP can carry (RFC 5321).
const MAX_LEN: usize = 254;

/// A syntactically valid email address, trimmed and lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Normalises and checks `raw`.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let normalised = raw.trim().to_lowercase();
        if normalised.is_empty() {
            return Err(Invalid::new("email", "is required"));
        }
        if normalised.len() > MAX_LEN {
            return Err(Invalid::new(
                "email",
                format!("is longer than {MAX_LEN} bytes"),
            ));
        }
        // email_address follows RFC 5322; we also want a dotted domain, which
        // is what a deliverable address has.
        let valid = email_address::EmailAddress::parse_with_options(
            &normalised,
            email_address::Options::default().without_display_text(),
        )
        .is_ok_and(|address| address.domain().contains('.'));
        if !valid {
            return Err(Invalid::new("email", "is not a valid email address"));
        }
        Ok(Self(normalised))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_trimmed_and_lower_cased() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for raw in [
            "",
            "   ",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "Ada <ada@example.com>",
        ] {
            assert!(Email::parse(raw).is_err(), "{raw:?} was accepted");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }
}
