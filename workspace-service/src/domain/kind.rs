//! Task kinds and which kinds a worker may take.
//!
//! A kind names a kind of work (`excel.analyze`, `image.inpaint`): 1 to 64
//! characters, lowercase dot-separated words of letters, digits, `_` and
//! `-`, each starting with a letter. A service account's scopes say which
//! kinds it may claim: `tasks.process` allows any, `tasks.process:PATTERN`
//! only those matching PATTERN, where PATTERN is a kind (`ocr.document`) or
//! a kind followed by `.*` (`image.*`: `image` itself and every kind below
//! it, such as `image.inpaint`; `*` alone allows any).

/// The scope that workers need; a qualified form narrows it to kinds.
pub const PROCESS_SCOPE: &str = "tasks.process";

/// The kind of a task created without one.
pub const DEFAULT_KIND: &str = "default";

/// Longest kind, in characters.
pub const MAX_KIND_CHARS: usize = 64;

/// A valid kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Kind(String);

impl Kind {
    /// Parses a kind; empty is [`DEFAULT_KIND`].
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(Self(DEFAULT_KIND.to_owned()));
        }
        if raw.len() > MAX_KIND_CHARS {
            return Err("must have at most 64 characters");
        }
        let word_ok = |w: &str| {
            w.starts_with(|c: char| c.is_ascii_lowercase())
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        };
        if raw.split('.').all(word_ok) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(
                "must be lowercase dot-separated words of letters, digits, _ and -, \
                 each starting with a letter (e.g. excel.analyze)",
            )
        }
    }

    /// The kind as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One pattern of kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    /// Any kind.
    Any,
    /// Exactly this kind.
    Exact(String),
    /// This kind and every kind below it (`image.*`: `image`, `image.x`, ...).
    Below(String),
}

impl Pattern {
    /// Parses `ocr.document`, `image.*` or `*`.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        if raw == "*" {
            return Ok(Self::Any);
        }
        match raw.strip_suffix(".*") {
            Some(base) => Ok(Self::Below(Kind::parse_strict(base)?.0)),
            None => Ok(Self::Exact(Kind::parse_strict(raw)?.0)),
        }
    }

    /// Whether `kind` matches.
    pub fn matches(&self, kind: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Exact(k) => k == kind,
            Self::Below(base) => {
                kind == base
                    || kind
                        .strip_prefix(base.as_str())
                        .is_some_and(|rest| rest.starts_with('.'))
            }
        }
    }

    /// Whether every kind this pattern matches, `allowed` matches too.
    fn within(&self, allowed: &Pattern) -> bool {
        match (allowed, self) {
            (Pattern::Any, _) => true,
            (_, Pattern::Any) => false,
            (allowed, Pattern::Exact(k) | Pattern::Below(k)) => {
                allowed.matches(k)
                    && !matches!((allowed, self), (Pattern::Exact(_), Pattern::Below(_)))
            }
        }
    }
}

impl Kind {
    /// A kind that may not be empty (in patterns).
    fn parse_strict(raw: &str) -> Result<Self, &'static str> {
        if raw.trim().is_empty() {
            return Err("a pattern names a kind, `KIND.*` or `*`");
        }
        Self::parse(raw)
    }
}

/// Which kinds a claim may take: what the request asks for, within what the
/// caller's scopes allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KindFilter {
    /// Any kind.
    Any,
    /// Only kinds matching one of these (never empty).
    Only(Vec<Pattern>),
}

/// Why a claim's kinds were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KindError {
    /// A requested kind is malformed (INVALID_ARGUMENT).
    Invalid(String),
    /// A requested kind is outside the caller's scopes (PERMISSION_DENIED).
    NotAllowed(String),
}

/// The patterns the scopes allow: `None` for any kind. `scopes` are the
/// token's space-separated scopes; a malformed qualifier allows nothing.
pub fn allowed_by_scopes(scopes: &str) -> Option<Vec<Pattern>> {
    let mut patterns = Vec::new();
    for scope in scopes.split(' ') {
        if scope == PROCESS_SCOPE {
            return None;
        }
        if let Some(pattern) = scope
            .strip_prefix(PROCESS_SCOPE)
            .and_then(|rest| rest.strip_prefix(':'))
            && let Ok(pattern) = Pattern::parse(pattern)
        {
            if pattern == Pattern::Any {
                return None;
            }
            patterns.push(pattern);
        }
    }
    Some(patterns)
}

impl KindFilter {
    /// The filter of a claim that asks for `requested` kinds (empty: any)
    /// with a token whose scopes allow `allowed` (`None`: any).
    pub fn for_claim(
        requested: &[String],
        allowed: Option<Vec<Pattern>>,
    ) -> Result<Self, KindError> {
        if requested.len() > 32 {
            return Err(KindError::Invalid("at most 32 kinds".into()));
        }
        let mut wanted = Vec::with_capacity(requested.len());
        for raw in requested {
            let pattern = Pattern::parse(raw.trim())
                .map_err(|e| KindError::Invalid(format!("{raw:?} {e}")))?;
            if !wanted.contains(&pattern) {
                wanted.push(pattern);
            }
        }
        match (wanted.is_empty(), allowed) {
            (true, None) => Ok(Self::Any),
            (true, Some(allowed)) if allowed.is_empty() => Err(KindError::NotAllowed(
                "the token's scopes allow no kind".into(),
            )),
            (true, Some(allowed)) => Ok(Self::Only(allowed)),
            (false, allowed) => {
                if let Some(allowed) = &allowed
                    && let Some(outside) =
                        wanted.iter().find(|w| !allowed.iter().any(|a| w.within(a)))
                {
                    return Err(KindError::NotAllowed(format!(
                        "the token's scopes do not allow {}",
                        outside.describe()
                    )));
                }
                if wanted.contains(&Pattern::Any) {
                    return Ok(Self::Any);
                }
                Ok(Self::Only(wanted))
            }
        }
    }
}

impl Pattern {
    fn describe(&self) -> String {
        match self {
            Self::Any => "every kind".into(),
            Self::Exact(k) => format!("the kind {k}"),
            Self::Below(k) => format!("the kinds {k}.*"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_dotted_lowercase_words() {
        for good in [
            "excel.analyze",
            "image.inpaint",
            "ocr.document",
            "default",
            "a-b_c.d2",
        ] {
            assert_eq!(Kind::parse(good).unwrap().as_str(), good);
        }
        assert_eq!(Kind::parse("").unwrap().as_str(), "default");
        let long = "a".repeat(65);
        for bad in [
            "Excel",
            "excel.",
            ".excel",
            "excel..x",
            "2d",
            "a b",
            "x.*",
            "é",
            long.as_str(),
        ] {
            assert!(Kind::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn patterns_match_a_kind_and_what_is_below_it() {
        let image = Pattern::parse("image.*").unwrap();
        assert!(image.matches("image"));
        assert!(image.matches("image.inpaint"));
        assert!(!image.matches("imagery"));
        assert!(!image.matches("ocr.image"));
        let exact = Pattern::parse("ocr.document").unwrap();
        assert!(exact.matches("ocr.document"));
        assert!(!exact.matches("ocr.document.v2"));
        assert!(Pattern::parse("*").unwrap().matches("anything"));
        assert!(Pattern::parse(".*").is_err());
    }

    #[test]
    fn scopes_narrow_the_kinds() {
        assert_eq!(allowed_by_scopes("tasks.process"), None);
        assert_eq!(allowed_by_scopes("other tasks.process"), None);
        assert_eq!(allowed_by_scopes("tasks.process:*"), None);
        assert_eq!(
            allowed_by_scopes("tasks.process:image.* tasks.process:ocr.document"),
            Some(vec![
                Pattern::Below("image".into()),
                Pattern::Exact("ocr.document".into())
            ])
        );
        // A malformed qualifier and a look-alike scope allow nothing.
        assert_eq!(
            allowed_by_scopes("tasks.process:Bad tasks.processx"),
            Some(vec![])
        );
    }

    #[test]
    fn a_claim_asks_within_its_scopes() {
        let image = Some(vec![Pattern::Below("image".into())]);
        let kinds = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(KindFilter::for_claim(&[], None), Ok(KindFilter::Any));
        assert_eq!(
            KindFilter::for_claim(&[], image.clone()),
            Ok(KindFilter::Only(vec![Pattern::Below("image".into())]))
        );
        assert_eq!(
            KindFilter::for_claim(&kinds(&["image.inpaint"]), image.clone()),
            Ok(KindFilter::Only(vec![Pattern::Exact(
                "image.inpaint".into()
            )]))
        );
        assert!(matches!(
            KindFilter::for_claim(&kinds(&["ocr.document"]), image.clone()),
            Err(KindError::NotAllowed(_))
        ));
        assert!(matches!(
            KindFilter::for_claim(&kinds(&["*"]), image.clone()),
            Err(KindError::NotAllowed(_))
        ));
        // `image.*` is within `image.*`, not within the exact kind `image`.
        assert!(KindFilter::for_claim(&kinds(&["image.*"]), image).is_ok());
        assert!(matches!(
            KindFilter::for_claim(
                &kinds(&["image.*"]),
                Some(vec![Pattern::Exact("image".into())])
            ),
            Err(KindError::NotAllowed(_))
        ));
        assert!(matches!(
            KindFilter::for_claim(&kinds(&["Bad"]), None),
            Err(KindError::Invalid(_))
        ));
        assert!(matches!(
            KindFilter::for_claim(&[], Some(vec![])),
            Err(KindError::NotAllowed(_))
        ));
    }
}
