//! The gRPC API of the service: `auth.v1.AuthService` and
//! `auth.v1.AdminService`. Each RPC's logic lives in the module named after
//! it; this file only routes calls there.

pub mod admin;
mod audit_pages;
mod change_password;
pub mod client;
pub mod convert;
mod forgot_password;
mod get_jwks;
mod get_me;
mod issue_service_token;
mod link_identity;
mod list_identities;
mod list_login_events;
mod list_sessions;
mod login;
mod login_with_oidc;
mod login_with_wechat;
mod logout;
mod refresh;
mod register;
mod reset_password;
mod revoke_device;
mod revoke_other_sessions;
mod revoke_session;
mod start_oidc_login;
mod unlink_identity;
mod update_me;
mod watch_revocations;

use proto::auth::v1::{self as pb, auth_service_server::AuthService};
use tonic::{Request, Response, Status};

use crate::state::AppState;

pub use client::{ClientInfo, truncate};

/// `auth.v1.AuthService`.
#[derive(Debug, Clone)]
pub struct AuthApi {
    state: AppState,
}

impl AuthApi {
    /// The API over the service's state.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl AuthService for AuthApi {
    async fn register(
        &self,
        request: Request<pb::RegisterRequest>,
    ) -> Result<Response<pb::RegisterResponse>, Status> {
        let client = ClientInfo::from_request(&request);
        Ok(Response::new(
            register::register(&self.state, request.into_inner(), client).await?,
        ))
    }

    async fn forgot_password(
        &self,
        request: Request<pb::ForgotPasswordRequest>,
    ) -> Result<Response<pb::ForgotPasswordResponse>, Status> {
        let client = ClientInfo::from_request(&request);
        Ok(Response::new(
            forgot_password::forgot_password(&self.state, request.into_inner(), client).await?,
        ))
    }

    async fn reset_password(
        &self,
        request: Request<pb::ResetPasswordRequest>,
    ) -> Result<Response<pb::ResetPasswordResponse>, Status> {
        let client = ClientInfo::from_request(&request);
        Ok(Response::new(
            reset_password::reset_password(&self.state, request.into_inner(), client).await?,
        ))
    }

    async fn login(
        &self,
        request: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::LoginResponse>, Status> {
        let client = ClientInfo::from_request(&request);
        Ok(Response::new(
            login::login(&self.state, request.into_inner(), client).await?,
        ))
    }

    async fn start_oidc_login(
        &self,
        request: Request<pb::StartOidcLoginRequest>,
    ) -> Result<Response<pb::StartOidcLoginResponse>, Status> {
        Ok(Response::new(start_oidc_login::start_oidc_login(
            &self.state,
            request.into_inner(),
        )?))
    }

    async fn link_identity(
        &self,
        request: Request<pb::LinkIdentityRequest>,
    ) -> Result<Response<pb::LinkIdentityResponse>, Status> {
        let client = ClientInfo::from_request(&request);
        let caller = access::caller(&request)?.clone();
        Ok(Response::new(
            link_identity::link_identity(&self.state, &caller, request.into_inner(), client)
                .await?,
        ))
    }

    async fn list_identities(
        &self,
        request: Request<pb::ListIdentitiesRequest>,
    ) -> Result<Response<pb::ListIdentitiesResponse>, Status> {
        let caller = access::caller(&request)?;
        Ok(Response::new(
            list_identities::list_identities(&self.state, caller).await?,
        ))
    }

    async fn unlink_identity(
        &self,
        request: Request<pb::UnlinkIdentityRequest>,
    ) -> Result<Response<pb::UnlinkIdentityResponse>, Status> {
        let client = ClientInfo::from_request(&request);
        let caller = access::caller(&request)?.clone();
        Ok(Response::new(
            unlink_identity::unlink_identity(&self.state, &caller, request.into_inner(), client)
                .await?,
        ))
    }

    async fn login_with_oidc(
        &self,
        request: Request<pb::LoginWithOidcRequest>,
    ) -> Result<Response<pb::LoginWithOidcResponse>, Status> {
        let client = ClientInfo::from_request(&request);
        Ok(Response::new(
            login_with_oidc::login_with_oidc(&self.state, request.into_inner(), client).await?,
        ))
    }

    async fn login_with_wechat(
        &self,
        request: Request<pb::LoginWithWechatRequest>,
    ) -> Result<Response<pb::LoginWithWechatResponse>, Status> {
        let client = ClientInfo::from_request(&request);
        Ok(Response::new(
            login_with_wechat::login_with_wechat(&self.state, request.into_inner(), client).await?,
        ))
    }

    async fn refresh(
        &self,
        request: Request<pb::RefreshRequest>,
    ) -> Result<Response<pb::RefreshResponse>, Status> {
        let client = ClientInfo::from_request(&request);
        Ok(Response::new(
            refresh::refresh(&self.state, request.into_inner(), client).await?,
        ))
    }

    async fn logout(
        &self,
        request: Request<pb::LogoutRequest>,
    ) -> Result<Response<pb::LogoutResponse>, Status> {
        let client = ClientInfo::from_request(&request);
        let caller = access::caller(&request)?;
        Ok(Response::new(
            logout::logout(&self.state, caller, client).await?,
        ))
    }

    async fn get_me(
        &self,
        request: Request<pb::GetMeRequest>,
    ) -> Result<Response<pb::GetMeResponse>, Status> {
        let caller = access::caller(&request)?;
        Ok(Response::new(get_me::get_me(&self.state, caller).await?))
    }

    async fn update_me(
        &self,
        request: Request<pb::UpdateMeRequest>,
    ) -> Result<Response<pb::UpdateMeResponse>, Status> {
        let caller = access::caller(&request)?.clone();
        Ok(Response::new(
            update_me::update_me(&self.state, &caller, request.into_inner()).await?,
        ))
    }

    async fn change_password(
        &self,
        request: Request<pb::ChangePasswordRequest>,
    ) -> Result<Response<pb::ChangePasswordResponse>, Status> {
        let client = ClientInfo::from_request(&request);
        let caller = access::caller(&request)?.clone();
        Ok(Response::new(
            change_password::change_password(&self.state, &caller, request.into_inner(), client)
                .await?,
        ))
    }

    async fn list_sessions(
        &self,
        request: Request<pb::ListSessionsRequest>,
    ) -> Result<Response<pb::ListSessionsResponse>, Status> {
        let caller = access::caller(&request)?;
        Ok(Response::new(
            list_sessions::list_sessions(&self.state, caller).await?,
        ))
    }

    async fn revoke_session(
        &self,
        request: Request<pb::RevokeSessionRequest>,
    ) -> Result<Response<pb::RevokeSessionResponse>, Status> {
        let client = ClientInfo::from_request(&request);
        let caller = access::caller(&request)?.clone();
        Ok(Response::new(
            revoke_session::revoke_session(&self.state, &caller, request.into_inner(), client)
                .await?,
        ))
    }

    async fn revoke_other_sessions(
        &self,
        request: Request<pb::RevokeOtherSessionsRequest>,
    ) -> Result<Response<pb::RevokeOtherSessionsResponse>, Status> {
        let client = ClientInfo::from_request(&request);
        let caller = access::caller(&request)?.clone();
        Ok(Response::new(
            revoke_other_sessions::revoke_other_sessions(&self.state, &caller, client).await?,
        ))
    }

    async fn revoke_device(
        &self,
        request: Request<pb::RevokeDeviceRequest>,
    ) -> Result<Response<pb::RevokeDeviceResponse>, Status> {
        let client = ClientInfo::from_request(&request);
        let caller = access::caller(&request)?.clone();
        Ok(Response::new(
            revoke_device::revoke_device(&self.state, &caller, request.into_inner(), client)
                .await?,
        ))
    }

    async fn list_login_events(
        &self,
        request: Request<pb::ListLoginEventsRequest>,
    ) -> Result<Response<pb::ListLoginEventsResponse>, Status> {
        let caller = access::caller(&request)?.clone();
        Ok(Response::new(
            list_login_events::list_login_events(&self.state, &caller, request.into_inner())
                .await?,
        ))
    }

    async fn issue_service_token(
        &self,
        request: Request<pb::IssueServiceTokenRequest>,
    ) -> Result<Response<pb::IssueServiceTokenResponse>, Status> {
        let client = ClientInfo::from_request(&request);
        Ok(Response::new(
            issue_service_token::issue_service_token(&self.state, request.into_inner(), client)
                .await?,
        ))
    }

    async fn get_jwks(
        &self,
        _request: Request<pb::GetJwksRequest>,
    ) -> Result<Response<pb::GetJwksResponse>, Status> {
        Ok(Response::new(get_jwks::get_jwks(&self.state)))
    }

    type WatchRevocationsStream = watch_revocations::RevocationStream;

    async fn watch_revocations(
        &self,
        _request: Request<pb::WatchRevocationsRequest>,
    ) -> Result<Response<Self::WatchRevocationsStream>, Status> {
        Ok(Response::new(
            watch_revocations::watch_revocations(&self.state).await?,
        ))
    }
}
