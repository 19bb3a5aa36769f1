//! The gateway's configuration, read once from the environment at start.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `GATEWAY_LISTEN_ADDR` | `127.0.0.1:8080` | HTTP listen address |
//! | `AUTH_SERVICE_URL` | `http://127.0.0.1:50051` | the auth-service (routes of `auth.v1`, signing keys); `dns:///host:port` spreads calls over every address of `host` |
//! | `WORKSPACE_SERVICE_URL` | `http://127.0.0.1:50052` | the workspace-service (routes of `workspace.v1`); `dns:///host:port` as above |
//! | `JWT_ISSUER` | `auth-service` | expected `iss` of tokens |
//! | `JWT_AUDIENCE` | `backbone` | expected `aud` of tokens |
//! | `GATEWAY_BODY_LIMIT_BYTES` | `1048576` | largest JSON request body (1 MiB) |
//! | `GATEWAY_UPLOAD_LIMIT_BYTES` | `104857600` | largest upload (100 MiB), streamed |
//! | `GATEWAY_IDLE_TIMEOUT_MS` | `30000` | longest wait for the next piece of a request body (408 after) |
//! | `GATEWAY_BODY_TIMEOUT_MS` | `10000` | longest a JSON request body may take to arrive in all (408 after) |
//! | `GATEWAY_UPLOAD_MIN_BYTES_PER_SEC` | `4096` | slowest average an upload may keep, counted from one idle timeout after it starts (408 below); `0` is off |
//! | `GATEWAY_DRAIN_SECS` | `20` | after SIGTERM, how long open requests may take to finish |
//! | `GATEWAY_CLOSE_LINGER_MS` | `1000` | after SIGTERM, how long keep-alive connections are still served, each response saying `Connection: close`, before idle ones are closed (a request racing the close of an idle connection would be lost) |
//! | `GATEWAY_HEADER_LIMIT_BYTES` | `16384` | largest total of request headers (431 above) |
//! | `GATEWAY_RATE_LIMIT_PER_IP` / `GATEWAY_RATE_LIMIT_PER_USER` | `100` / `50` | requests per second, bursts of twice that; `0` is off |
//! | `GATEWAY_MAX_CONCURRENT_REQUESTS` | `1024` | requests in progress; more are refused with 503 (`/healthz`, `/readyz` and `/metrics` are not counted) |
//! | `GATEWAY_MAX_IN_PROGRESS_PER_IP` | `64` | requests in progress from one client address (IPv6: one /64); more are refused with 429; `0` is off |
//! | `FORWARDED_SECRET` | none (services see the gateway's address) | the secret, at least 32 bytes, that signs the client's address and user agent for the services; set the same value on the auth-service |
//! | `GATEWAY_TRUSTED_PROXIES` | none | comma-separated addresses/CIDRs whose `X-Forwarded-For` is believed |
//! | `GATEWAY_CORS_ORIGINS` | none | comma-separated origins allowed by CORS (none: no CORS) |
//! | `GATEWAY_UPSTREAM_TIMEOUT_MS` | `10000` | deadline of each upstream call, sent as `grpc-timeout` |

use std::net::SocketAddr;
use std::time::Duration;

use service_runtime::env::{ConfigError, Env, Source};

/// See the module documentation for each variable.
#[derive(Debug, Clone)]
pub struct Config {
    /// `GATEWAY_LISTEN_ADDR`.
    pub listen_addr: SocketAddr,
    /// `AUTH_SERVICE_URL`.
    pub auth_service_url: String,
    /// `WORKSPACE_SERVICE_URL`.
    pub workspace_service_url: String,
    /// `JWT_ISSUER`.
    pub issuer: String,
    /// `JWT_AUDIENCE`.
    pub audience: String,
    /// `GATEWAY_BODY_LIMIT_BYTES`.
    pub body_limit: usize,
    /// `GATEWAY_UPLOAD_LIMIT_BYTES`.
    pub upload_limit: u64,
    /// `GATEWAY_UPSTREAM_TIMEOUT_MS`.
    pub upstream_timeout: Duration,
    /// `GATEWAY_IDLE_TIMEOUT_MS`.
    pub idle_timeout: Duration,
    /// `GATEWAY_BODY_TIMEOUT_MS`.
    pub body_timeout: Duration,
    /// `GATEWAY_UPLOAD_MIN_BYTES_PER_SEC`.
    pub upload_min_rate: u64,
    /// `GATEWAY_DRAIN_SECS`.
    pub drain: Duration,
    /// `GATEWAY_CLOSE_LINGER_MS`.
    pub close_linger: Duration,
    /// `GATEWAY_HEADER_LIMIT_BYTES`.
    pub header_limit: usize,
    /// `GATEWAY_RATE_LIMIT_PER_IP`.
    pub rate_limit_per_ip: u32,
    /// `GATEWAY_RATE_LIMIT_PER_USER`.
    pub rate_limit_per_user: u32,
    /// `GATEWAY_MAX_CONCURRENT_REQUESTS`.
    pub max_concurrent_requests: usize,
    /// `GATEWAY_MAX_IN_PROGRESS_PER_IP`.
    pub max_in_progress_per_ip: usize,
    /// `FORWARDED_SECRET`.
    pub forwarding_key: Option<service_runtime::forwarded::ForwardingKey>,
    /// `GATEWAY_TRUSTED_PROXIES`.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `GATEWAY_CORS_ORIGINS`.
    pub cors_origins: Vec<http::HeaderValue>,
}

fn url<S: Source>(env: &Env<S>, name: &str, default: &str) -> Result<String, ConfigError> {
    let value = env.string(name, default);
    crate::upstream::Target::parse(&value)
        .map(|_| value)
        .map_err(|problem| ConfigError::new(name, problem))
}

/// A comma-separated list, each item parsed by `parse`.
fn list<S: Source, T>(
    env: &Env<S>,
    name: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, ConfigError> {
    env.string(name, "")
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| parse(item).map_err(|problem| ConfigError::new(name, problem)))
        .collect()
}

impl Config {
    /// Reads the configuration from `env`.
    pub fn from_env<S: Source>(env: &Env<S>) -> Result<Self, ConfigError> {
        Ok(Self {
            listen_addr: env.socket_addr("GATEWAY_LISTEN_ADDR", "127.0.0.1:8080")?,
            auth_service_url: url(env, "AUTH_SERVICE_URL", "http://127.0.0.1:50051")?,
            workspace_service_url: url(env, "WORKSPACE_SERVICE_URL", "http://127.0.0.1:50052")?,
            issuer: env.string("JWT_ISSUER", "auth-service"),
            audience: env.string("JWT_AUDIENCE", "backbone"),
            body_limit: env.number("GATEWAY_BODY_LIMIT_BYTES", 1 << 20, 1024..=(64 << 20))?,
            upload_limit: env.number("GATEWAY_UPLOAD_LIMIT_BYTES", 100 << 20, 1..=(1 << 40))?,
            upstream_timeout: env.millis("GATEWAY_UPSTREAM_TIMEOUT_MS", 10_000, 100..=600_000)?,
            idle_timeout: env.millis("GATEWAY_IDLE_TIMEOUT_MS", 30_000, 100..=3_600_000)?,
            body_timeout: env.millis("GATEWAY_BODY_TIMEOUT_MS", 10_000, 100..=600_000)?,
            upload_min_rate: env.number("GATEWAY_UPLOAD_MIN_BYTES_PER_SEC", 4096, 0..=(1 << 30))?,
            drain: env.seconds("GATEWAY_DRAIN_SECS", 20, 0..=3600)?,
            close_linger: env.millis("GATEWAY_CLOSE_LINGER_MS", 1000, 0..=60_000)?,
            header_limit: env.number("GATEWAY_HEADER_LIMIT_BYTES", 16 << 10, 1024..=(1 << 20))?,
            rate_limit_per_ip: env.number("GATEWAY_RATE_LIMIT_PER_IP", 100, 0..=1_000_000)?,
            rate_limit_per_user: env.number("GATEWAY_RATE_LIMIT_PER_USER", 50, 0..=1_000_000)?,
            max_concurrent_requests: env.number(
                "GATEWAY_MAX_CONCURRENT_REQUESTS",
                1024,
                1..=1_000_000,
            )?,
            max_in_progress_per_ip: env.number(
                "GATEWAY_MAX_IN_PROGRESS_PER_IP",
                64,
                0..=1_000_000,
            )?,
            forwarding_key: service_runtime::forwarded::key_from_env(env)?,
            trusted_proxies: list(env, "GATEWAY_TRUSTED_PROXIES", |item| {
                item.parse::<ipnet::IpNet>()
                    .or_else(|_| item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| format!("{item:?} is not an address or a CIDR"))
            })?,
            cors_origins: list(env, "GATEWAY_CORS_ORIGINS", |item| {
                if !(item.starts_with("http://") || item.starts_with("https://")) {
                    return Err(format!("{item:?} is not an origin (scheme://host[:port])"));
                }
                http::HeaderValue::from_str(item.trim_end_matches('/'))
                    .map_err(|_| format!("{item:?} is not a valid origin"))
            })?,
        })
    }

    /// The documented defaults with these services: for the dev stack and tests.
    pub fn local(auth_service_url: &str, workspace_service_url: &str) -> Self {
        let mut config = Self::from_env(&Env::from_source(std::collections::HashMap::new()))
            .expect("the defaults are valid");
        config.auth_service_url = auth_service_url.to_owned();
        config.workspace_service_url = workspace_service_url.to_owned();
        config
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let config = Config::from_env(&Env::from_source(HashMap::new())).unwrap();
        assert_eq!(config.listen_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(config.body_limit, 1 << 20);
        assert_eq!(config.upstream_timeout, Duration::from_secs(10));
    }

    #[test]
    fn proxies_and_origins_are_lists_and_bad_items_are_refused_naming_the_variable() {
        let env = Env::from_source(HashMap::from([
            (
                "GATEWAY_TRUSTED_PROXIES".to_owned(),
                "10.0.0.0/8, 192.0.2.1".to_owned(),
            ),
            (
                "GATEWAY_CORS_ORIGINS".to_owned(),
                "https://app.example.com/".to_owned(),
            ),
        ]));
        let config = Config::from_env(&env).unwrap();
        assert_eq!(config.trusted_proxies.len(), 2);
        assert_eq!(config.cors_origins, ["https://app.example.com"]);
        for (name, value) in [
            ("GATEWAY_TRUSTED_PROXIES", "10.0.0.0/33"),
            ("GATEWAY_CORS_ORIGINS", "app.example.com"),
        ] {
            let env = Env::from_source(HashMap::from([(name.to_owned(), value.to_owned())]));
            assert_eq!(Config::from_env(&env).unwrap_err().name, name);
        }
    }

    #[test]
    fn a_bad_upstream_url_is_refused_naming_the_variable() {
        let env = Env::from_source(HashMap::from([(
            "WORKSPACE_SERVICE_URL".to_owned(),
            "127.0.0.1:50052".to_owned(),
        )]));
        assert_eq!(
            Config::from_env(&env).unwrap_err().name,
            "WORKSPACE_SERVICE_URL"
        );
    }
}
