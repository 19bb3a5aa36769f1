//! `IssueServiceToken`: client credentials for internal callers.

use diesel_async::AsyncConnection;
use proto::auth::v1 as pb;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::audit::{Event, EventType};
use crate::db::service_accounts::ServiceAccount;
use crate::error::{Error, Result};
use crate::grpc::client::ClientInfo;
use crate::state::AppState;
use crate::tokens;

const BAD_CREDENTIALS: &str = "invalid client credentials";

pub async fn issue_service_token(
    state: &AppState,
    request: pb::IssueServiceTokenRequest,
    client: ClientInfo,
) -> Result<pb::IssueServiceTokenResponse> {
    let id = Uuid::parse_str(request.client_id.trim())
        .map_err(|_| Error::Unauthenticated(BAD_CREDENTIALS))?;
    let presented = tokens::hash_secret(request.client_secret.trim());
    let now = state.clock.now();
    let mut conn = state.pool.get().await?;
    let account = ServiceAccount::find(&mut conn, id).await?;
    // Compared in constant time; an unknown id is compared against a dummy.
    let stored = account
        .as_ref()
        .map_or(&[0u8; 32][..], |a| a.secret_hash.as_slice());
    let matches: bool = stored.ct_eq(&presented).into();
    let account = match account {
        Some(account) if matches && account.is_active => account,
        _ => return Err(Error::Unauthenticated(BAD_CREDENTIALS)),
    };
    let token = state.issuer.service_token(
        account.id,
        &account.scopes,
        state.config.service_token_ttl,
        now,
    )?;
    conn.transaction(async |conn| -> Result<()> {
        Event::new(EventType::ServiceTokenIssued, now)
            .actor(account.id)
            .client(&client)
            .reason(format!("service account {}", account.name))
            .record(conn)
            .await?;
        Ok(())
    })
    .await?;
    Ok(pb::IssueServiceTokenResponse {
        access_token: token.token,
        token_type: "Bearer".into(),
        expires_in: state.config.service_token_ttl.as_secs() as i32,
        scope: account.scopes.join(" "),
    })
}
