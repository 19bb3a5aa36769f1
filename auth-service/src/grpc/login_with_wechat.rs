//! `LoginWithWechat`: a mini-program's `wx.login()` code, exchanged at
//! WeChat for the user's openid, signs the user in (see `identities`).

use proto::auth::v1 as pb;
use secrecy::ExposeSecret;

use crate::app::AppState;
use crate::domain::Invalid;
use crate::error::{Error, Result};
use crate::grpc::client::ClientInfo;
use crate::identities::{self, External};

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
    let session = match wechat.code_to_session(code).await {
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
