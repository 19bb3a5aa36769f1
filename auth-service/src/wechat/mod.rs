//! WeChat mini-program login: exchanging a `wx.login()` code at
//! `/sns/jscode2session` for the user's openid, session key and unionid.
//!
//! One call has `WECHAT_TIMEOUT_MS`; network errors and 5xx answers are
//! tried again (three attempts, 100 ms then 200 ms apart). WeChat's error
//! codes become errors a client can act on. The app secret and the session
//! key are never logged: reqwest errors are stripped of their URL, which
//! carries the secret.

pub mod fake;

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::config::WechatConfig;
use crate::error::Error;

/// What WeChat says about a code.
pub struct WechatSession {
    /// The user's id in this mini-program.
    pub openid: String,
    /// The key that decrypts the user's `encryptedData`; never returned.
    pub session_key: SecretString,
    /// The user's id across the organisation's apps, when bound.
    pub unionid: Option<String>,
}

/// Why an exchange failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WechatError {
    /// errcode 40029.
    #[error("the WeChat login code is invalid")]
    InvalidCode,
    /// errcode 40163.
    #[error("the WeChat login code was already used")]
    CodeUsed,
    /// errcode 45011.
    #[error("WeChat is limiting this app's logins; try again in a minute")]
    RateLimited,
    /// errcode -1.
    #[error("WeChat is busy; try again")]
    Busy,
    /// Any other errcode.
    #[error("WeChat refused the login (errcode {0})")]
    Refused(i64),
    /// No usable answer after the retries.
    #[error("WeChat could not be reached; try again")]
    Unreachable,
}

impl From<WechatError> for Error {
    fn from(error: WechatError) -> Self {
        match error {
            WechatError::InvalidCode => Error::Unauthenticated("the WeChat login code is invalid"),
            WechatError::CodeUsed => {
                Error::Unauthenticated("the WeChat login code was already used")
            }
            WechatError::RateLimited => Error::TooManyAttempts(Duration::from_secs(60)),
            WechatError::Busy => Error::Unavailable("WeChat is busy; try again"),
            WechatError::Refused(_) => Error::Unauthenticated("WeChat refused the login"),
            WechatError::Unreachable => Error::Unavailable("WeChat could not be reached"),
        }
    }
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    openid: Option<String>,
    #[serde(default)]
    session_key: Option<String>,
    #[serde(default)]
    unionid: Option<String>,
    #[serde(default)]
    errcode: i64,
}

/// Calls WeChat for one app.
#[derive(Clone)]
pub struct WechatClient {
    http: reqwest::Client,
    config: WechatConfig,
}

impl WechatClient {
    /// A client for `config`.
    pub fn new(config: WechatConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .build()
            .expect("a client with timeouts builds");
        Self { http, config }
    }

    /// Exchanges `code` for the user's session.
    pub async fn code_to_session(&self, code: &str) -> Result<WechatSession, WechatError> {
        let url = format!(
            "{}/sns/jscode2session",
            self.config.api_base.trim_end_matches('/')
        );
        let mut pause = Duration::from_millis(100);
        for attempt in 1..=3 {
            let sent = self
                .http
                .get(&url)
                .query(&[
                    ("appid", self.config.app_id.as_str()),
                    ("secret", self.config.app_secret.expose_secret()),
                    ("js_code", code),
                    ("grant_type", "authorization_code"),
                ])
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_server_error() => {
                    tracing::warn!(attempt, status = %response.status(), "WeChat answered 5xx");
                }
                Ok(response) => {
                    return match read(response).await {
                        // Our own earlier attempt (timed out) used it: that is
                        // WeChat being slow, not the client's mistake.
                        Err(WechatError::CodeUsed) if attempt > 1 => Err(WechatError::Unreachable),
                        other => other,
                    };
                }
                Err(e) => {
                    tracing::warn!(attempt, error = %e.without_url(), "WeChat unreachable");
                }
            }
            if attempt < 3 {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
        }
        Err(WechatError::Unreachable)
    }
}

async fn read(response: reqwest::Response) -> Result<WechatSession, WechatError> {
    // WeChat answers JSON as text/plain: parse the bytes whatever the type.
    let body = response
        .bytes()
        .await
        .map_err(|_| WechatError::Unreachable)?;
    let answer: Answer = serde_json::from_slice(&body).map_err(|_| {
        tracing::warn!("WeChat answered something that is not JSON");
        WechatError::Unreachable
    })?;
    match answer.errcode {
        0 => {}
        40029 => return Err(WechatError::InvalidCode),
        40163 => return Err(WechatError::CodeUsed),
        45011 => return Err(WechatError::RateLimited),
        -1 => return Err(WechatError::Busy),
        other => {
            tracing::warn!(errcode = other, "WeChat refused a login");
            return Err(WechatError::Refused(other));
        }
    }
    match (answer.openid, answer.session_key) {
        (Some(openid), Some(session_key)) if !openid.is_empty() => Ok(WechatSession {
            openid,
            session_key: SecretString::from(session_key),
            unionid: answer.unionid.filter(|u| !u.is_empty()),
        }),
        _ => Err(WechatError::Refused(0)),
    }
}
