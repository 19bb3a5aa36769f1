//! Where a call comes from, for session and audit records.

use tonic::Request;

/// Longest user agent or device description kept.
const MAX_LEN: usize = 512;

/// The caller's address and user agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// The client's IP address.
    pub ip_address: Option<String>,
    /// The client's user agent.
    pub user_agent: Option<String>,
}

impl ClientInfo {
    /// Reads the client of `request`. Behind the gateway, the gateway states
    /// the HTTP client's address and user agent in `x-forwarded-for` and
    /// `x-forwarded-user-agent`, signed (see `service_runtime::forwarded`:
    /// the server's layer has removed them unless the signature holds); an
    /// address of `unknown` is none. A direct gRPC caller is its peer address
    /// and its own `user-agent`.
    pub fn from_request<T>(request: &Request<T>) -> Self {
        use service_runtime::forwarded;
        let metadata = request.metadata();
        let header = |name: &str| {
            metadata
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let ip_address = match header(forwarded::FOR) {
            Some(value) => value
                .split(',')
                .next()
                .map(str::trim)
                .filter(|v| !v.eq_ignore_ascii_case(forwarded::UNKNOWN))
                .map(|v| truncate(v, 64)),
            None => request.remote_addr().map(|addr| addr.ip().to_string()),
        };
        let user_agent = header(forwarded::USER_AGENT)
            .or_else(|| header("user-agent"))
            .map(|v| truncate(v, MAX_LEN));
        Self {
            ip_address,
            user_agent,
        }
    }
}

/// `value` cut to at most `max` bytes on a character boundary.
pub fn truncate(value: &str, max: usize) -> String {
    if value.len() <= max {
        return value.to_owned();
    }
    let mut end = max;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    value[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_headers_win_over_the_peer() {
        let mut request = Request::new(());
        request
            .metadata_mut()
            .insert("x-forwarded-for", "203.0.113.7, 10.0.0.1".parse().unwrap());
        request
            .metadata_mut()
            .insert("x-forwarded-user-agent", "curl/8".parse().unwrap());
        let info = ClientInfo::from_request(&request);
        assert_eq!(info.ip_address.as_deref(), Some("203.0.113.7"));
        assert_eq!(info.user_agent.as_deref(), Some("curl/8"));
    }

    #[test]
    fn an_unknown_address_is_none_not_the_peer() {
        let mut request = Request::new(());
        request
            .metadata_mut()
            .insert("x-forwarded-for", "unknown".parse().unwrap());
        assert_eq!(ClientInfo::from_request(&request).ip_address, None);
    }

    #[test]
    fn truncation_respects_character_boundaries() {
        assert_eq!(truncate("密码", 4), "密");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
