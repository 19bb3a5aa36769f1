use super::invalid::Invalid;

/// A username: 3 to 32 letters (any script), digits, `_`, `-` or `.`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    /// Checks `raw` (surrounding white space is ignored).
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let name = raw.trim();
        let count = name.chars().count();
        if !(3..=32).contains(&count) {
            return Err(Invalid::new("username", "must have 3 to 32 characters"));
        }
        if !name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(Invalid::new(
                "username",
                "may contain only letters, digits, `_`, `-` and `.`",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// The username as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A full name: up to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullName(String);

impl FullName {
    /// Checks `raw` (surrounding white space is ignored).
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let name = raw.trim();
        if name.chars().count() > 100 {
            return Err(Invalid::new(
                "full_name",
                "must have at most 100 characters",
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(Invalid::new(
                "full_name",
                "must not contain control characters",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An avatar URL: http or https, at most 2048 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvatarUrl(String);

impl AvatarUrl {
    /// Checks `raw` (surrounding white space is ignored).
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let url = raw.trim();
        if url.len() > 2048 {
            return Err(Invalid::new("avatar", "must be at most 2048 bytes"));
        }
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or_else(|| Invalid::new("avatar", "must be an http or https URL"))?;
        if rest.is_empty()
            || rest.starts_with('/')
            || url.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(Invalid::new("avatar", "must be an http or https URL"));
        }
        Ok(Self(url.to_owned()))
    }

    /// The URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_in_any_script_are_accepted() {
        assert_eq!(
            Username::parse("张伟").map(|u| u.0).ok(),
            None,
            "two characters is too short"
        );
        assert_eq!(Username::parse("张伟伟").unwrap().as_str(), "张伟伟");
        assert!(Username::parse("ada.lovelace_1815-x").is_ok());
    }

    #[test]
    fn usernames_with_other_characters_or_lengths_are_refused() {
        for raw in [
            "ab",
            "a b c",
            "ada@home",
            "ada/../x",
            &"a".repeat(33),
            "tab\there",
        ] {
            assert!(Username::parse(raw).is_err(), "{raw:?} was accepted");
        }
    }

    #[test]
    fn avatars_are_web_urls() {
        assert!(AvatarUrl::parse("https://cdn.example.com/a.png").is_ok());
        for bad in [
            "javascript:alert(1)",
            "ftp://x/y",
            "https://",
            "https:///x",
            "https://a b",
        ] {
            assert!(AvatarUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn full_names_are_bounded() {
        assert!(FullName::parse("Ada Lovelace").is_ok());
        assert!(FullName::parse(&"a".repeat(101)).is_err());
        assert!(FullName::parse("bad\u{0}name").is_err());
    }
}
