//! Path templates of `google.api.http` rules, parsed and matched as
//! grpc-gateway and Envoy's transcoder do:
//!
//! ```text
//! Template = "/" Segments [ ":" Verb ]
//! Segment  = "*" | "**" | LITERAL | "{" FieldPath [ "=" Segments ] "}"
//! ```
//!
//! `*` (and a bare `{field}`) matches one segment, `**` the rest of the path
//! (last only). Variables capture the text their segments matched, percent-
//! decoded (for `**`, `%2F` stays encoded, as the rules say).

use percent_encoding::percent_decode_str;

/// One segment of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// `*`
    Single,
    /// `**`
    Rest,
}

/// A variable: the field it fills and the segments it spans.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Variable {
    field_path: String,
    start: usize,
    end: usize,
}

/// A parsed path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    segments: Vec<Segment>,
    variables: Vec<Variable>,
    verb: Option<String>,
    source: String,
}

/// A template that does not follow the grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid path template {template:?}: {problem}")]
pub struct TemplateError {
    template: String,
    problem: &'static str,
}

impl PathTemplate {
    /// Parses `template`.
    pub fn parse(template: &str) -> Result<Self, TemplateError> {
        let error = |problem| TemplateError {
            template: template.to_owned(),
            problem,
        };
        let rest = template
            .strip_prefix('/')
            .ok_or_else(|| error("must start with /"))?;
        // The verb follows the last `:` that is outside braces.
        let (path, verb) = split_verb(rest);
        if verb.is_some_and(str::is_empty) {
            return Err(error("empty verb"));
        }
        let mut segments = Vec::new();
        let mut variables = Vec::new();
        for part in split_outside_braces(path).ok_or_else(|| error("unbalanced braces"))? {
            if let Some(inner) = part.strip_prefix('{') {
                let inner = inner
                    .strip_suffix('}')
                    .ok_or_else(|| error("unbalanced braces"))?;
                let (field_path, pattern) = match inner.split_once('=') {
                    Some((field, pattern)) => (field, pattern),
                    None => (inner, "*"),
                };
                if field_path.is_empty()
                    || !field_path.split('.').all(|p| {
                        !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    })
                {
                    return Err(error("bad field path in a variable"));
                }
                let start = segments.len();
                for sub in pattern.split('/') {
                    segments.push(
                        parse_segment(sub).ok_or_else(|| error("bad segment in a variable"))?,
                    );
                }
                variables.push(Variable {
                    field_path: field_path.to_owned(),
                    start,
                    end: segments.len(),
                });
            } else {
                segments.push(parse_segment(part).ok_or_else(|| error("bad segment"))?);
            }
        }
        if segments
            .iter()
            .take(segments.len().saturating_sub(1))
            .any(|s| *s == Segment::Rest)
        {
            return Err(error("** must be the last segment"));
        }
        Ok(Self {
            segments,
            variables,
            verb: verb.map(str::to_owned),
            source: template.to_owned(),
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The template as an OpenAPI path: each variable as `{field.path}`
    /// whatever segments it spans (`/v1/{name=files/*}` is `/v1/{name}`).
    pub fn openapi_path(&self) -> String {
        let mut out = String::new();
        let mut i = 0;
        while i < self.segments.len() {
            out.push('/');
            if let Some(variable) = self.variables.iter().find(|v| v.start == i) {
                out.push('{');
                out.push_str(&variable.field_path);
                out.push('}');
                i = variable.end.max(i + 1);
                continue;
            }
            match &self.segments[i] {
                Segment::Literal(literal) => out.push_str(literal),
                Segment::Single | Segment::Rest => out.push_str(&format!("{{segment{i}}}")),
            }
            i += 1;
        }
        if out.is_empty() {
            out.push('/');
        }
        if let Some(verb) = &self.verb {
            out.push(':');
            out.push_str(verb);
        }
        out
    }

    /// The field paths of the variables, in order.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.variables.iter().map(|v| v.field_path.as_str())
    }

    /// How specific the template is: literal segments (and the verb) count,
    /// so `/v1/tasks:stats` wins over `/v1/tasks/{id}` and `/users/top` over
    /// `/users/{id}`.
    pub fn specificity(&self) -> usize {
        self.segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count()
            * 2
            + usize::from(self.verb.is_some())
    }

    /// Matches `path` (no query string); the variables' field paths and values.
    pub fn matches(&self, path: &str) -> Option<Vec<(String, String)>> {
        let rest = path.strip_prefix('/')?;
        let rest = match &self.verb {
            Some(verb) => rest.strip_suffix(verb.as_str())?.strip_suffix(':')?,
            None => rest,
        };
        let parts: Vec<&str> = rest.split('/').collect();
        // Where each template segment's match starts and ends in `parts`.
        let mut spans = Vec::with_capacity(self.segments.len());
        let mut at = 0;
        for segment in &self.segments {
            match segment {
                Segment::Literal(literal) => {
                    if parts.get(at)? != literal {
                        return None;
                    }
                    spans.push((at, at + 1));
                    at += 1;
                }
                Segment::Single => {
                    let part = parts.get(at)?;
                    if part.is_empty() {
                        return None;
                    }
                    spans.push((at, at + 1));
                    at += 1;
                }
                Segment::Rest => {
                    spans.push((at, parts.len()));
                    at = parts.len();
                }
            }
        }
        if at != parts.len() {
            return None;
        }
        let mut values = Vec::with_capacity(self.variables.len());
        for variable in &self.variables {
            let (from, _) = spans[variable.start];
            let (_, to) = spans[variable.end - 1];
            let multi = self.segments[variable.start..variable.end].contains(&Segment::Rest);
            let decoded: Vec<String> = parts[from..to]
                .iter()
                .map(|part| decode(part, multi))
                .collect::<Option<_>>()?;
            values.push((variable.field_path.clone(), decoded.join("/")));
        }
        Some(values)
    }
}

fn parse_segment(raw: &str) -> Option<Segment> {
    match raw {
        "" => None,
        "*" => Some(Segment::Single),
        "**" => Some(Segment::Rest),
        literal if literal.contains(['{', '}', '*', '=']) => None,
        literal => Some(Segment::Literal(literal.to_owned())),
    }
}

fn split_verb(path: &str) -> (&str, Option<&str>) {
    let mut depth = 0;
    let mut verb_at = None;
    for (i, c) in path.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ':' if depth == 0 => verb_at = Some(i),
            _ => {}
        }
    }
    match verb_at {
        // A `:` inside the last segment only; one before a `/` is part of a literal.
        Some(i) if !path[i..].contains('/') => (&path[..i], Some(&path[i + 1..])),
        _ => (path, None),
    }
}

fn split_outside_braces(path: &str) -> Option<Vec<&str>> {
    let mut parts = Vec::new();
    let mut depth = 0_i32;
    let mut start = 0;
    for (i, c) in path.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            '/' if depth == 0 => {
                parts.push(&path[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        if !(0..=1).contains(&depth) {
            return None;
        }
    }
    if depth != 0 {
        return None;
    }
    parts.push(&path[start..]);
    Some(parts)
}

/// Percent-decodes one path segment; invalid UTF-8 does not match.
fn decode(part: &str, keep_slashes: bool) -> Option<String> {
    if keep_slashes {
        // Decode everything but %2F, which stays as written.
        let pieces: Option<Vec<String>> = split_keep_case_insensitive(part, "%2F")
            .into_iter()
            .map(|piece| {
                percent_decode_str(piece)
                    .decode_utf8()
                    .ok()
                    .map(|s| s.into_owned())
            })
            .collect();
        return pieces.map(|p| p.join("%2F"));
    }
    percent_decode_str(part)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

fn split_keep_case_insensitive<'a>(text: &'a str, separator: &str) -> Vec<&'a str> {
    let lower = text.to_ascii_lowercase();
    let separator = separator.to_ascii_lowercase();
    let mut pieces = Vec::new();
    let mut start = 0;
    while let Some(found) = lower[start..].find(&separator) {
        pieces.push(&text[start..start + found]);
        start += found + separator.len();
    }
    pieces.push(&text[start..]);
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_paths_name_each_variable_once() {
        for (template, path) in [
            ("/v1/tasks/{task_id}:cancel", "/v1/tasks/{task_id}:cancel"),
            ("/v1/{name=files/*}/content", "/v1/{name}/content"),
            ("/v1/tasks:stats", "/v1/tasks:stats"),
            ("/v1/{a.b=**}", "/v1/{a.b}"),
        ] {
            assert_eq!(PathTemplate::parse(template).unwrap().openapi_path(), path);
        }
    }

    fn vars(template: &str, path: &str) -> Option<Vec<(String, String)>> {
        PathTemplate::parse(template).unwrap().matches(path)
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn literals_match_exactly() {
        assert_eq!(vars("/v1/auth/me", "/v1/auth/me"), Some(vec![]));
        assert_eq!(vars("/v1/auth/me", "/v1/auth/me/"), None);
        assert_eq!(vars("/v1/auth/me", "/v1/auth"), None);
        assert_eq!(
            vars("/.well-known/jwks.json", "/.well-known/jwks.json"),
            Some(vec![])
        );
    }

    #[test]
    fn variables_capture_one_decoded_segment() {
        assert_eq!(
            vars("/v1/files/{file_id}", "/v1/files/abc%20d"),
            Some(pairs(&[("file_id", "abc d")]))
        );
        assert_eq!(vars("/v1/files/{file_id}", "/v1/files/"), None);
        assert_eq!(vars("/v1/files/{file_id}", "/v1/files/a/b"), None);
        assert_eq!(
            vars(
                "/v1/conversations/{conversation_id}/turns",
                "/v1/conversations/c1/turns"
            ),
            Some(pairs(&[("conversation_id", "c1")]))
        );
    }

    #[test]
    fn verbs_are_split_from_the_last_segment() {
        assert_eq!(
            vars("/v1/tasks/{task_id}:cancel", "/v1/tasks/t1:cancel"),
            Some(pairs(&[("task_id", "t1")]))
        );
        assert_eq!(
            vars("/v1/tasks/{task_id}:cancel", "/v1/tasks/t1:retry"),
            None
        );
        assert_eq!(vars("/v1/tasks/{task_id}:cancel", "/v1/tasks/t1"), None);
        assert_eq!(vars("/v1/tasks:stats", "/v1/tasks:stats"), Some(vec![]));
        assert_eq!(vars("/v1/tasks:stats", "/v1/tasks"), None);
    }

    #[test]
    fn patterns_and_rest_variables() {
        assert_eq!(
            vars("/v1/{name=shelves/*}/books", "/v1/shelves/s1/books"),
            Some(pairs(&[("name", "shelves/s1")]))
        );
        assert_eq!(
            vars("/v1/{name=shelves/*}/books", "/v1/racks/s1/books"),
            None
        );
        assert_eq!(
            vars("/v1/objects/{path=**}", "/v1/objects/a/b%2Fc/d"),
            Some(pairs(&[("path", "a/b%2Fc/d")]))
        );
        assert_eq!(vars("/v1/*/x", "/v1/anything/x"), Some(vec![]));
    }

    #[test]
    fn specificity_prefers_literals_and_verbs() {
        let by_id = PathTemplate::parse("/v1/admin/users/{user_id}").unwrap();
        let top = PathTemplate::parse("/v1/admin/users/top").unwrap();
        assert!(top.specificity() > by_id.specificity());
        let stats = PathTemplate::parse("/v1/tasks:stats").unwrap();
        let plain = PathTemplate::parse("/v1/tasks").unwrap();
        assert!(stats.specificity() > plain.specificity());
    }

    #[test]
    fn malformed_templates_are_refused() {
        for bad in [
            "v1/x",
            "/v1/{x",
            "/v1/x}",
            "/v1/{}",
            "/v1/{a-b}",
            "/v1/**/x",
            "/v1/x:",
            "/v1//x",
        ] {
            assert!(PathTemplate::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn invalid_utf8_in_a_variable_does_not_match() {
        assert_eq!(vars("/v1/files/{file_id}", "/v1/files/%FF"), None);
    }
}
