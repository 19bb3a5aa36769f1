//! The auth-service's configuration, read once from the environment at start.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `AUTH_LISTEN_ADDR` | `127.0.0.1:50051` | gRPC listen address |
//! | `AUTH_METRICS_ADDR` | `127.0.0.1:9464` | admin HTTP address: `/metrics` (Prometheus) |
//! | `AUTH_DRAIN_SECS` | `20` | after SIGTERM, how long calls in flight may take to finish |
//! | `AUTH_CLOSE_LINGER_MS` | `1000` | after SIGTERM, how long calls are still accepted (health NOT_SERVING) before the drain; a call already on its way is answered rather than refused |
//! | `AUTH_DATABASE_URL` | `postgresql://postgres@127.0.0.1:54320/auth` | the service's own database (the dev stack's by default) |
//! | `AUTH_DATABASE_POOL_SIZE` | `10` | most database connections |
//! | `AUTH_DATABASE_POOL_WAIT_MS` | `5000` | how long a request waits for a free connection before UNAVAILABLE |
//! | `AUTH_RUN_MIGRATIONS` | `true` | apply pending migrations at start |
//! | `JWT_SIGNING_KEY_PATH` | `keys/signing-key.pem` | the active Ed25519 private key (PKCS#8 PEM) |
//! | `JWT_GENERATE_KEY` | `false` | create the key file (mode 0600) when it is missing: for development |
//! | `JWT_ISSUER` | `auth-service` | `iss` of every token |
//! | `JWT_AUDIENCE` | `backbone` | `aud` of every token |
//! | `ACCESS_TOKEN_TTL_SECS` | `900` | access token lifetime (15 min) |
//! | `REFRESH_TOKEN_TTL_SECS` | `604800` | refresh token and session lifetime (7 days) |
//! | `BCRYPT_COST` | `12` | bcrypt cost, 10 to 16 |
//! | `BCRYPT_CONCURRENCY` | number of cores | hashes computed at once on the blocking pool |
//! | `BCRYPT_MAX_WAITING` | 8 × `BCRYPT_CONCURRENCY` | sign-ins of known accounts waiting for a hash before UNAVAILABLE (a quarter of it for registrations and unknown names) |
//! | `JWT_PUBLISHED_KEY_PATHS` | none | comma-separated PEM files (private or public) of keys published beside the active one but not used to sign: the previous key after a rotation, the next one before it |
//! | `REFRESH_REUSE_GRACE_SECS` | `0` (strict) | how long a spent refresh token may be presented again from the same session for a fresh pair instead of a revocation |
//! | `SERVICE_TOKEN_TTL_SECS` | `300` | lifetime of service-account tokens |
//! | `LOGIN_MAX_FAILURES` | `5` | failed sign-ins of one account within the window before it is locked |
//! | `LOGIN_MAX_FAILURES_PER_IP` | `50` | failed sign-ins from one IP address within the window before it is locked |
//! | `LOGIN_FAILURE_WINDOW_SECS` | `900` | the window in which failures count |
//! | `LOGIN_LOCKOUT_SECS` | `900` | how long a lock lasts |
//! | `DEVICE_TOKEN_TTL_DAYS` | `365` | how long a device token lasts after the device's last password sign-in |
//! | `REGISTER_MAX_PER_IP` | `20` | registrations from one IP address (IPv6: one /64) within the registration window |
//! | `REGISTER_MAX_TOTAL` | `1000` | registrations from all addresses within the registration window |
//! | `REGISTER_WINDOW_SECS` | `3600` | the registration window |
//! | `AUDIT_RETENTION_DAYS` | `365` | audit events older than this are deleted |
//! | `CLEANUP_INTERVAL_SECS` | `3600` | how often expired sessions, tokens and old events are deleted |
//! | `WECHAT_APP_ID`, `WECHAT_APP_SECRET` | none (WeChat login off) | the mini-program's credentials |
//! | `WECHAT_API_BASE` | `https://api.weixin.qq.com` | where `/sns/jscode2session` is called |
//! | `WECHAT_TIMEOUT_MS` | `5000` | the deadline of one call to WeChat (3 attempts on network errors and 5xx) |
//! | `OIDC_PROVIDERS` | none | comma-separated names of OpenID Connect providers; for each NAME: |
//! | `OIDC_<NAME>_ISSUER` | required | the issuer URL (https; http only for loopback) |
//! | `OIDC_<NAME>_CLIENT_ID` | required | this application's client id there |
//! | `OIDC_<NAME>_AUDIENCES` | none | further accepted audiences, comma-separated |
//! | `OIDC_<NAME>_REQUIRE_NONCE` | `true` | whether a sign-in needs a nonce of `StartOidcLogin` (`false` only for clients that cannot send one) |
//! | `SECRETS_KEY` | none (nothing stored) | base64 of 32 bytes: the AES-256-GCM key of stored provider secrets (WeChat's session key) |
//! | `FORWARDED_SECRET` | none (forwarded client headers never believed) | the secret, at least 32 bytes, the gateway signs the client's address and user agent with; set the same value on the gateway |
//! | `PAGE_TOKEN_SECRET` | random at start | key that signs page tokens; set the same value on every replica |
//! | `SMTP_URL` | none | the mail server: `smtps://user:pass@host:465` (implicit TLS), `smtp://user:pass@host:587?tls=required` (STARTTLS), `smtp://127.0.0.1:2525` (plain: loopback only); special characters of the password URL-encoded |
//! | `MAIL_DIR` | none | without `SMTP_URL`: write each mail as an `.eml` file here instead (the dev stack's `.devstack/mail/`); with neither, mail waits in the outbox |
//! | `MAIL_FROM` | `Backbone <no-reply@localhost>` | the sender of every mail |
//! | `MAIL_POLL_MS` | `1000` | how often the sender looks for mail that is due |
//! | `PUBLIC_BASE_URL` | `http://127.0.0.1:8080` | where the links in mails point (`{PUBLIC_BASE_URL}/reset-password?token=…`): the web application's address |
//! | `PASSWORD_FORGOT_MAX_PER_IP` | `20` | reset requests from one IP address (IPv6: one /64) per hour |
//! | `PASSWORD_FORGOT_MAX_PER_ACCOUNT` | `3` | reset mails to one address per hour (further requests are answered alike, and send nothing) |

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use service_runtime::env::{ConfigError, Env, Source};

/// The providers named in `OIDC_PROVIDERS`, each from its `OIDC_<NAME>_*`.
fn oidc_providers<S: Source>(
    env: &Env<S>,
) -> Result<Vec<crate::oidc::OidcProviderConfig>, ConfigError> {
    let list = |value: String| -> Vec<String> {
        value
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let mut providers = Vec::new();
    for name in list(env.string("OIDC_PROVIDERS", "")) {
        if !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(ConfigError::new(
                "OIDC_PROVIDERS",
                format!("{name:?}: names are lower-case letters, digits and -"),
            ));
        }
        // The provider's variables: OIDC_<NAME>_ISSUER and so on.
        let upper = name.to_uppercase().replace('-', "_");
        let issuer = env.required(&format!("OIDC_{upper}_ISSUER"))?;
        let url = reqwest::Url::parse(&issuer)
            .map_err(|_| ConfigError::new(&format!("OIDC_{upper}_ISSUER"), "is not a URL"))?;
        let loopback = url.scheme() == "http"
            && matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        if url.scheme() != "https" && !loopback {
            return Err(ConfigError::new(
                &format!("OIDC_{upper}_ISSUER"),
                "must be an https URL",
            ));
        }
        providers.push(crate::oidc::OidcProviderConfig {
            name,
            issuer,
            client_id: env.required(&format!("OIDC_{upper}_CLIENT_ID"))?,
            audiences: list(env.string(&format!("OIDC_{upper}_AUDIENCES"), "")),
            require_nonce: env.flag(&format!("OIDC_{upper}_REQUIRE_NONCE"), true)?,
        });
    }
    Ok(providers)
}

/// WeChat mini-program login.
#[derive(Debug, Clone)]
pub struct WechatConfig {
    /// `WECHAT_APP_ID`.
    pub app_id: String,
    /// `WECHAT_APP_SECRET`.
    pub app_secret: SecretString,
    /// `WECHAT_API_BASE`.
    pub api_base: String,
    /// `WECHAT_TIMEOUT_MS`.
    pub timeout: Duration,
}

/// The AES-256-GCM key of stored provider secrets.
#[derive(Clone)]
pub struct SecretsKey(std::sync::Arc<secrecy::SecretBox<[u8; 32]>>);

impl std::fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretsKey([REDACTED])")
    }
}

impl SecretsKey {
    /// The key from base64 (standard alphabet) of exactly 32 bytes.
    pub fn from_base64(value: &str) -> Result<Self, String> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .map_err(|_| "is not base64".to_owned())?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "must be 32 bytes (base64 of `openssl rand 32`)".to_owned())?;
        Ok(Self(std::sync::Arc::new(secrecy::SecretBox::new(
            Box::new(key),
        ))))
    }

    /// The key's bytes.
    pub fn expose(&self) -> &[u8; 32] {
        self.0.expose_secret()
    }
}

/// Mail: where it goes and what its links point at.
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `SMTP_URL` (it may hold a password).
    pub smtp_url: Option<SecretString>,
    /// `MAIL_DIR`.
    pub dir: Option<PathBuf>,
    /// `MAIL_FROM`.
    pub from: lettre::message::Mailbox,
    /// `MAIL_POLL_MS`.
    pub poll_interval: Duration,
    /// `PUBLIC_BASE_URL`, without a trailing slash.
    pub public_base_url: String,
    /// `PASSWORD_FORGOT_MAX_PER_IP`.
    pub forgot_max_per_ip: i32,
    /// `PASSWORD_FORGOT_MAX_PER_ACCOUNT`.
    pub forgot_max_per_account: i32,
}

impl MailConfig {
    fn from_env<S: Source>(env: &Env<S>) -> Result<Self, ConfigError> {
        let smtp_url = env.optional("SMTP_URL");
        if let Some(url) = &smtp_url {
            check_smtp_url(url).map_err(|problem| ConfigError::new("SMTP_URL", problem))?;
        }
        let from = env.string("MAIL_FROM", "Backbone <no-reply@localhost>");
        let public_base_url = env.string("PUBLIC_BASE_URL", "http://127.0.0.1:8080");
        let parsed = reqwest::Url::parse(&public_base_url)
            .map_err(|_| ConfigError::new("PUBLIC_BASE_URL", "is not a URL"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ConfigError::new(
                "PUBLIC_BASE_URL",
                "must be an http or https URL",
            ));
        }
        Ok(Self {
            smtp_url: smtp_url.map(SecretString::from),
            dir: env.optional("MAIL_DIR").map(PathBuf::from),
            from: from.parse().map_err(|e| {
                ConfigError::new("MAIL_FROM", format!("is not a mail address: {e}"))
            })?,
            poll_interval: env.millis("MAIL_POLL_MS", 1000, 10..=600_000)?,
            public_base_url: public_base_url.trim_end_matches('/').to_owned(),
            forgot_max_per_ip: env.number("PASSWORD_FORGOT_MAX_PER_IP", 20, 1..=1_000_000)?,
            forgot_max_per_account: env.number("PASSWORD_FORGOT_MAX_PER_ACCOUNT", 3, 1..=1000)?,
        })
    }
}

/// Refuses an SMTP URL `lettre` cannot use, and one that would send mail
/// (reset links) and the password unencrypted past this machine: plain
/// `smtp://` only to loopback.
fn check_smtp_url(url: &str) -> Result<(), String> {
    crate::mail::Mailer::check_smtp_url(url)?;
    let parsed = reqwest::Url::parse(url).map_err(|_| "is not a URL".to_owned())?;
    let tls_required = parsed
        .query_pairs()
        .any(|(key, value)| key == "tls" && value == "required");
    let loopback = match parsed.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    };
    if parsed.scheme() == "smtp" && !tls_required && !loopback {
        return Err("would send mail unencrypted: use smtps:// (implicit TLS) \
                    or smtp://…?tls=required (STARTTLS)"
            .to_owned());
    }
    Ok(())
}

/// See the module documentation for each variable.
#[derive(Debug, Clone)]
pub struct Config {
    /// `AUTH_LISTEN_ADDR`.
    pub listen_addr: SocketAddr,
    /// `AUTH_METRICS_ADDR`.
    pub metrics_addr: SocketAddr,
    /// `AUTH_DRAIN_SECS`.
    pub drain: Duration,
    /// `AUTH_CLOSE_LINGER_MS`.
    pub close_linger: Duration,
    /// `AUTH_DATABASE_URL`.
    pub database_url: SecretString,
    /// `AUTH_DATABASE_POOL_SIZE`.
    pub database_pool_size: usize,
    /// `AUTH_DATABASE_POOL_WAIT_MS`.
    pub database_pool_wait: Duration,
    /// `AUTH_RUN_MIGRATIONS`.
    pub run_migrations: bool,
    /// `JWT_SIGNING_KEY_PATH`.
    pub signing_key_path: PathBuf,
    /// `JWT_GENERATE_KEY`.
    pub generate_signing_key: bool,
    /// `JWT_ISSUER`.
    pub issuer: String,
    /// `JWT_AUDIENCE`.
    pub audience: String,
    /// `ACCESS_TOKEN_TTL_SECS`.
    pub access_token_ttl: Duration,
    /// `REFRESH_TOKEN_TTL_SECS`.
    pub refresh_token_ttl: Duration,
    /// `BCRYPT_COST`.
    pub bcrypt_cost: u32,
    /// `BCRYPT_CONCURRENCY`.
    pub bcrypt_concurrency: usize,
    /// `BCRYPT_MAX_WAITING`.
    pub bcrypt_max_waiting: usize,
    /// `JWT_PUBLISHED_KEY_PATHS`.
    pub published_key_paths: Vec<PathBuf>,
    /// `REFRESH_REUSE_GRACE_SECS`.
    pub refresh_reuse_grace: Duration,
    /// `SERVICE_TOKEN_TTL_SECS`.
    pub service_token_ttl: Duration,
    /// `LOGIN_MAX_FAILURES`.
    pub login_max_failures: i32,
    /// `LOGIN_MAX_FAILURES_PER_IP`.
    pub login_max_failures_per_ip: i32,
    /// `LOGIN_FAILURE_WINDOW_SECS`.
    pub login_failure_window: Duration,
    /// `LOGIN_LOCKOUT_SECS`.
    pub login_lockout: Duration,
    /// `DEVICE_TOKEN_TTL_DAYS`.
    pub device_token_ttl: Duration,
    /// `REGISTER_MAX_PER_IP`.
    pub register_max_per_ip: i32,
    /// `REGISTER_MAX_TOTAL`.
    pub register_max_total: i32,
    /// `REGISTER_WINDOW_SECS`.
    pub register_window: Duration,
    /// `AUDIT_RETENTION_DAYS`.
    pub audit_retention: Duration,
    /// `CLEANUP_INTERVAL_SECS`.
    pub cleanup_interval: Duration,
    /// `WECHAT_*`: None when WeChat login is off.
    pub wechat: Option<WechatConfig>,
    /// `SECRETS_KEY`.
    pub secrets_key: Option<SecretsKey>,
    /// `PAGE_TOKEN_SECRET`.
    pub page_token_secret: Option<SecretString>,
    /// `FORWARDED_SECRET`.
    pub forwarding_key: Option<service_runtime::forwarded::ForwardingKey>,
    /// `OIDC_*`.
    pub oidc_providers: Vec<crate::oidc::OidcProviderConfig>,
    /// `SMTP_URL`, `MAIL_*`, `PUBLIC_BASE_URL`, `PASSWORD_FORGOT_*`.
    pub mail: MailConfig,
}

impl Config {
    /// Reads the configuration from `env`.
    pub fn from_env<S: Source>(env: &Env<S>) -> Result<Self, ConfigError> {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let bcrypt_concurrency = env.number("BCRYPT_CONCURRENCY", cores, 1..=256)?;
        Ok(Self {
            listen_addr: env.socket_addr("AUTH_LISTEN_ADDR", "127.0.0.1:50051")?,
            metrics_addr: env.socket_addr("AUTH_METRICS_ADDR", "127.0.0.1:9464")?,
            drain: env.seconds("AUTH_DRAIN_SECS", 20, 0..=3600)?,
            close_linger: env.millis("AUTH_CLOSE_LINGER_MS", 1000, 0..=60_000)?,
            database_url: database_url(
                env,
                "AUTH_DATABASE_URL",
                "postgresql://postgres@127.0.0.1:54320/auth",
            )?,
            database_pool_size: env.number("AUTH_DATABASE_POOL_SIZE", 10, 1..=1000)?,
            database_pool_wait: env.millis("AUTH_DATABASE_POOL_WAIT_MS", 5000, 10..=600_000)?,
            run_migrations: env.flag("AUTH_RUN_MIGRATIONS", true)?,
            signing_key_path: env.path("JWT_SIGNING_KEY_PATH", "keys/signing-key.pem"),
            generate_signing_key: env.flag("JWT_GENERATE_KEY", false)?,
            issuer: env.string("JWT_ISSUER", "auth-service"),
            audience: env.string("JWT_AUDIENCE", "backbone"),
            access_token_ttl: env.seconds("ACCESS_TOKEN_TTL_SECS", 900, 30..=86_400)?,
            refresh_token_ttl: env.seconds("REFRESH_TOKEN_TTL_SECS", 604_800, 300..=31_536_000)?,
            bcrypt_cost: env.number("BCRYPT_COST", 12, 10..=16)?,
            bcrypt_concurrency,
            bcrypt_max_waiting: env.number(
                "BCRYPT_MAX_WAITING",
                bcrypt_concurrency * 8,
                1..=100_000,
            )?,
            published_key_paths: env
                .optional("JWT_PUBLISHED_KEY_PATHS")
                .map(|paths| {
                    paths
                        .split(',')
                        .map(str::trim)
                        .filter(|p| !p.is_empty())
                        .map(PathBuf::from)
                        .collect()
                })
                .unwrap_or_default(),
            refresh_reuse_grace: env.seconds("REFRESH_REUSE_GRACE_SECS", 0, 0..=300)?,
            service_token_ttl: env.seconds("SERVICE_TOKEN_TTL_SECS", 300, 30..=3600)?,
            login_max_failures: env.number("LOGIN_MAX_FAILURES", 5, 1..=1000)?,
            login_max_failures_per_ip: env.number("LOGIN_MAX_FAILURES_PER_IP", 50, 1..=100_000)?,
            login_failure_window: env.seconds("LOGIN_FAILURE_WINDOW_SECS", 900, 1..=86_400)?,
            login_lockout: env.seconds("LOGIN_LOCKOUT_SECS", 900, 1..=86_400)?,
            device_token_ttl: env
                .number("DEVICE_TOKEN_TTL_DAYS", 365u64, 1..=3650)
                .map(|days| Duration::from_secs(days * 86_400))?,
            register_max_per_ip: env.number("REGISTER_MAX_PER_IP", 20, 1..=1_000_000)?,
            register_max_total: env.number("REGISTER_MAX_TOTAL", 1000, 1..=100_000_000)?,
            register_window: env.seconds("REGISTER_WINDOW_SECS", 3600, 1..=86_400)?,
            audit_retention: env
                .number("AUDIT_RETENTION_DAYS", 365u64, 1..=36_500)
                .map(|days| Duration::from_secs(days * 86_400))?,
            cleanup_interval: env.seconds("CLEANUP_INTERVAL_SECS", 3600, 10..=86_400)?,
            wechat: match (
                env.optional("WECHAT_APP_ID"),
                env.optional("WECHAT_APP_SECRET"),
            ) {
                (None, None) => None,
                (Some(app_id), Some(secret)) => Some(WechatConfig {
                    app_id,
                    app_secret: SecretString::from(secret),
                    api_base: env.string("WECHAT_API_BASE", "https://api.weixin.qq.com"),
                    timeout: env.millis("WECHAT_TIMEOUT_MS", 5000, 100..=60_000)?,
                }),
                _ => {
                    return Err(ConfigError::new(
                        "WECHAT_APP_SECRET",
                        "WECHAT_APP_ID and WECHAT_APP_SECRET go together",
                    ));
                }
            },
            oidc_providers: oidc_providers(env)?,
            mail: MailConfig::from_env(env)?,
            page_token_secret: env.optional("PAGE_TOKEN_SECRET").map(SecretString::from),
            forwarding_key: service_runtime::forwarded::key_from_env(env)?,
            secrets_key: env
                .optional("SECRETS_KEY")
                .map(|value| SecretsKey::from_base64(&value))
                .transpose()
                .map_err(|problem| ConfigError::new("SECRETS_KEY", problem))?,
        })
    }
}

impl Config {
    /// The documented defaults with this database and key file (generated if
    /// missing): for the dev stack and tests that run the service in-process.
    pub fn local(database_url: &str, signing_key_path: PathBuf) -> Self {
        let mut config = Self::from_env(&Env::from_source(std::collections::HashMap::new()))
            .expect("the defaults are valid");
        config.database_url = SecretString::from(database_url);
        config.signing_key_path = signing_key_path;
        config.generate_signing_key = true;
        // Any free port: tests run many services side by side.
        config.metrics_addr = "127.0.0.1:0".parse().expect("a valid address");
        config
    }
}

/// The database URL of `name`, checked now: a URL that does not parse, or an
/// option the connector does not support, stops the service at start naming
/// the variable (only an unreachable database is waited for).
fn database_url<S: Source>(
    env: &Env<S>,
    name: &str,
    default: &str,
) -> Result<SecretString, ConfigError> {
    let url = env.secret(name, default);
    postgres_kit::DatabaseUrl::parse(url.expose_secret())
        .map_err(|e| ConfigError::new(name, e.to_string()))?;
    Ok(url)
}

impl Config {
    /// The parsed database URL (checked by [`Config::from_env`]; a
    /// configuration built in code is checked here).
    pub fn database(&self) -> anyhow::Result<postgres_kit::DatabaseUrl> {
        postgres_kit::DatabaseUrl::parse(self.database_url.expose_secret())
            .map_err(|e| anyhow::anyhow!("AUTH_DATABASE_URL: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let config = Config::from_env(&Env::from_source(HashMap::new())).unwrap();
        assert_eq!(config.listen_addr.to_string(), "127.0.0.1:50051");
        assert_eq!(config.bcrypt_cost, 12);
        assert_eq!(config.access_token_ttl, Duration::from_secs(900));
        assert_eq!(config.refresh_token_ttl, Duration::from_secs(7 * 24 * 3600));
    }

    #[test]
    fn an_smtp_url_is_checked_at_start_and_plain_smtp_is_for_loopback_only() {
        let with = |url: &str| {
            Config::from_env(&Env::from_source(HashMap::from([(
                "SMTP_URL".to_owned(),
                url.to_owned(),
            )])))
        };
        for good in [
            "smtps://user:pass@mail.example.com:465",
            "smtp://user:pass@mail.example.com:587?tls=required",
            "smtp://127.0.0.1:2525",
            "smtp://localhost:2525",
            "smtp://[::1]:2525",
        ] {
            assert!(with(good).is_ok(), "{good}");
        }
        for bad in [
            "smtp://user:pass@mail.example.com:587",
            "smtp://mail.example.com:25?tls=opportunistic",
            "http://mail.example.com",
            "not a url",
        ] {
            assert_eq!(with(bad).unwrap_err().name, "SMTP_URL", "{bad}");
        }
    }

    #[test]
    fn a_bcrypt_cost_below_10_is_refused_naming_the_variable() {
        let env = Env::from_source(HashMap::from([("BCRYPT_COST".to_owned(), "4".to_owned())]));
        let error = Config::from_env(&env).unwrap_err();
        assert_eq!(error.name, "BCRYPT_COST");
    }

    #[test]
    fn a_database_url_that_cannot_be_used_is_refused_at_start_naming_the_variable() {
        // The finding of #18: this URL was retried for five minutes as if the
        // database were down. The CA file does not exist here.
        let env = Env::from_source(HashMap::from([(
            "AUTH_DATABASE_URL".to_owned(),
            "postgresql://auth:pw@db:5432/auth?sslmode=verify-full&sslrootcert=/nonexistent/ca.crt"
                .to_owned(),
        )]));
        let error = Config::from_env(&env).unwrap_err();
        assert_eq!(error.name, "AUTH_DATABASE_URL");
        assert!(error.problem.contains("sslrootcert"), "{}", error.problem);
        assert!(!error.problem.contains("pw@"), "{}", error.problem);
    }

    #[test]
    fn oidc_providers_are_read_by_name_and_insecure_issuers_refused() {
        let env = |pairs: &[(&str, &str)]| {
            Env::from_source(
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect::<std::collections::HashMap<_, _>>(),
            )
        };
        let config = Config::from_env(&env(&[
            ("OIDC_PROVIDERS", "corp, google-ws"),
            ("OIDC_CORP_ISSUER", "https://login.example.com/t/v2.0"),
            ("OIDC_CORP_CLIENT_ID", "app"),
            ("OIDC_CORP_AUDIENCES", "api://one, api://two"),
            ("OIDC_GOOGLE_WS_ISSUER", "https://accounts.google.com"),
            ("OIDC_GOOGLE_WS_CLIENT_ID", "g"),
        ]))
        .unwrap();
        assert_eq!(config.oidc_providers.len(), 2);
        assert_eq!(
            config.oidc_providers[0].audiences,
            ["api://one", "api://two"]
        );
        assert_eq!(config.oidc_providers[1].name, "google-ws");

        let error = Config::from_env(&env(&[
            ("OIDC_PROVIDERS", "corp"),
            ("OIDC_CORP_ISSUER", "http://idp.example.com"),
            ("OIDC_CORP_CLIENT_ID", "app"),
        ]))
        .unwrap_err();
        assert_eq!(error.name, "OIDC_CORP_ISSUER");
        let error = Config::from_env(&env(&[
            ("OIDC_PROVIDERS", "corp"),
            ("OIDC_CORP_ISSUER", "http://localhost.evil.example"),
            ("OIDC_CORP_CLIENT_ID", "app"),
        ]))
        .unwrap_err();
        assert_eq!(error.name, "OIDC_CORP_ISSUER");
        let error = Config::from_env(&env(&[("OIDC_PROVIDERS", "corp")])).unwrap_err();
        assert_eq!(error.name, "OIDC_CORP_ISSUER");
        let error = Config::from_env(&env(&[("OIDC_PROVIDERS", "Corp")])).unwrap_err();
        assert_eq!(error.name, "OIDC_PROVIDERS");
        let error = Config::from_env(&env(&[("WECHAT_APP_ID", "wx")])).unwrap_err();
        assert_eq!(error.name, "WECHAT_APP_SECRET");
        let error = Config::from_env(&env(&[("SECRETS_KEY", "c2hvcnQ=")])).unwrap_err();
        assert_eq!(error.name, "SECRETS_KEY");
    }
}
