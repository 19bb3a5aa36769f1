//! The gRPC API of the service: `auth.v1.AuthService`. Each RPC's logic lives
//! in the module named after it; this file only routes calls there.

mod client;
mod convert;
mod get_jwks;
mod get_me;
mod login;
mod register;

use proto::auth::v1::{self as pb, auth_service_server::AuthService};
use tonic::{Request, Response, Status};

use crate::app::AppState;

pub use client::ClientInfo;

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
        Ok(Response::new(
            register::register(&self.state, request.into_inner()).await?,
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

    async fn get_me(
        &self,
        request: Request<pb::GetMeRequest>,
    ) -> Result<Response<pb::GetMeResponse>, Status> {
        let caller = access::caller(&request)?;
        Ok(Response::new(get_me::get_me(&self.state, caller).await?))
    }

    async fn get_jwks(
        &self,
        _request: Request<pb::GetJwksRequest>,
    ) -> Result<Response<pb::GetJwksResponse>, Status> {
        Ok(Response::new(get_jwks::get_jwks(&self.state)))
    }
}
