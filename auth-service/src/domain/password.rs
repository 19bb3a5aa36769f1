use std::collections::HashSet;
use std::sync::OnceLock;

use secrecy::{ExposeSecret, SecretString};

use super::invalid::Invalid;

/// NIST SP 800-63B's floor.
const MIN_CHARS: usize = 8;
/// bcrypt reads no further than 72 bytes: a longer password is refused rather
/// than silently cut, which would make its tail meaningless.
const MAX_BYTES: usize = 72;

/// A new password that obeys the rules. Held as a secret: never printed.
#[derive(Debug)]
pub struct Password(SecretString);

impl Password {
    /// Checks a password chosen by a user (registration, password change).
    pub fn parse(raw: &str, field: &'static str) -> Result<Self, Invalid> {
        if raw.chars().count() < MIN_CHARS {
            return Err(Invalid::new(
                field,
                format!("must have at least {MIN_CHARS} characters"),
            ));
        }
        if raw.len() > MAX_BYTES {
            return Err(Invalid::new(
                field,
                format!("must be at most {MAX_BYTES} bytes"),
            ));
        }
        if is_common(raw) {
            return Err(Invalid::new(
                field,
                "is one of the most common passwords; choose another",
            ));
        }
        Ok(Self(SecretString::from(raw)))
    }

    /// The password, for hashing.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

/// Whether `password` is in the shipped list of common passwords.
fn is_common(password: &str) -> bool {
    static COMMON: OnceLock<HashSet<&'static str>> = OnceLock::new();
    COMMON
        .get_or_init(|| {
            include_str!("common_passwords.txt")
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.starts_with('#'))
                .collect()
        })
        .contains(password.to_lowercase().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_passwords_are_refused() {
        assert!(Password::parse("", "password").is_err());
        assert!(Password::parse("1234567", "password").is_err());
        assert!(Password::parse("x7#kq9!m", "password").is_ok());
    }

    #[test]
    fn length_counts_characters_not_bytes_for_the_minimum() {
        // 8 Chinese characters are 24 bytes but 8 characters.
        assert!(Password::parse("密码密码密码密码", "password").is_ok());
        assert!(Password::parse("密码密码密码密", "password").is_err());
    }

    #[test]
    fn passwords_over_72_bytes_are_refused_not_truncated() {
        assert!(Password::parse(&"a".repeat(72), "password").is_ok());
        let error = Password::parse(&"a".repeat(73), "password").unwrap_err();
        assert_eq!(error.field, "password");
        // 25 three-byte characters: 75 bytes.
        assert!(Password::parse(&"密".repeat(25), "password").is_err());
    }

    #[test]
    fn common_passwords_are_refused_whatever_their_case() {
        for common in [
            "password",
            "Password1",
            "12345678",
            "QWERTYUIOP",
            "iloveyou",
        ] {
            let error = Password::parse(common, "new_password").unwrap_err();
            assert_eq!(error.field, "new_password", "{common}");
        }
        assert!(Password::parse("correct horse battery", "password").is_ok());
    }

    #[test]
    fn the_debug_form_does_not_show_the_password() {
        let password = Password::parse("correct horse", "password").unwrap();
        assert!(!format!("{password:?}").contains("correct horse"));
    }
}
