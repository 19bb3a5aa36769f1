//! `LoginWithWechat`: a mini-program's `wx.login()` code, exchanged at
//! WeChat for the user's openid, signs the user in (see `identities`).
//!
//! Every exchange is a call to WeChat under this app's quota, so codes that
//! WeChat refuses are counted per client address (IPv6: per /64) before the
//! call, `LOGIN_MAX_FAILURES_PER_IP` within the login window, then the
//! address is locked out: one client sending made-up codes cannot spend the
//! quota every user's sign-in needs. Good codes, and failures that are
//! WeChat's (busy, unreachable), are not held against the address.

use proto::auth::v1 as pb;
use secrecy::ExposeSecret;

use crate::db::throttle;
use crate::domain::Invalid;
use crate::error::{Error, Result};
use crate::grpc::client::ClientInfo;
use crate::identities::{self, External};
use crate::state::AppState;
use crate::wechat::WechatError;

pub async fn login_with_wechat(
    state: &AppState,
    request: pb::LoginWithWechatRequest,
    client: ClientInfo,
) -> Result<pb::LoginWithWechatResponse> {
    let Some(wechat) = &state.wechat else {
        return Err(Error::FailedPrecondition(
            "WeChat login is not configured on this service",
        ));
    };
    let code = request.code.trim();
    if code.is_empty() {
        return Err(Invalid::new("code", "is required").into());
    }
    if code.len() > 256 || !code.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Invalid::new("code", "is not a WeChat login code").into());
    }
    let limit = super::login::limit(state, state.config.login_max_failures_per_ip)?;
    let subject = client
        .ip_address
        .as_deref()
        .map(|ip| format!("wechat:{}", throttle::address_subject(ip)));
    if let Some(subject) = &subject {
        let now = state.clock.now();
        let mut conn = state.pool.get().await?;
        if let throttle::Counted::Refused { until, first } =
            throttle::count_attempt(&mut conn, subject, now, limit).await?
        {
            drop(conn);
            if first {
                identities::record_failure(state, "wechat", None, &client, "locked").await?;
            }
            return Err(Error::TooManyAttempts(
                (until - now).to_std().unwrap_or_default(),
            ));
        }
    }
    let exchanged = wechat.code_to_session(code).await;
    let clients_fault = matches!(
        exchanged,
        Err(WechatError::InvalidCode | WechatError::CodeUsed | WechatError::Refused(_))
    );
    if let Some(subject) = &subject
        && !clients_fault
    {
        let mut conn = state.pool.get().await?;
        throttle::undo(&mut conn, subject, limit.attempts).await?;
    }
    let session = match exchanged {
        Ok(session) => session,
        Err(e) => {
            identities::record_failure(state, "wechat", None, &client, &format!("{e:?}")).await?;
            return Err(e.into());
        }
    };
    // Kept (sealed) only when a key to seal it is configured.
    let sealed_secret = state
        .config
        .secrets_key
        .as_ref()
        .map(|key| crate::secrets::seal(key, session.session_key.expose_secret().as_bytes()));
    let token_pair = identities::sign_in(
        state,
        External {
            provider: "wechat",
            subject: &session.openid,
            union_id: session.unionid.as_deref(),
            verified_email: None,
            name: None,
            sealed_secret,
        },
        &client,
        &request.device_info,
    )
    .await?;
    Ok(pb::LoginWithWechatResponse {
        token_pair: Some(token_pair),
    })
}
