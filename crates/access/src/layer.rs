//! The tower layer that guards a gRPC server: for each call it looks up the
//! method's access rule in the descriptors (`access.v1.rule`), verifies the
//! bearer token unless the method is public, checks superuser and scope, and
//! hands the verified [`Claims`] to the handler through the request extensions.
//! A path that is no method of the protos (nor of the standard health and
//! reflection services) is refused: deny by default.

use std::task::{Context, Poll};

use futures::future::BoxFuture;
use proto::access::v1::AccessRule;
use tonic::Status;

use crate::claims::{Claims, TokenType};
use crate::verifier::{Verifier, VerifyError};

/// Adds [`AccessService`] around a gRPC server.
#[derive(Debug, Clone)]
pub struct AccessLayer {
    verifier: Verifier,
}

impl AccessLayer {
    /// Guards calls with tokens checked by `verifier`.
    pub fn new(verifier: Verifier) -> Self {
        Self { verifier }
    }
}

impl<S> tower::Layer<S> for AccessLayer {
    type Service = AccessService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AccessService {
            inner,
            verifier: self.verifier.clone(),
        }
    }
}

/// See [`AccessLayer`].
#[derive(Debug, Clone)]
pub struct AccessService<S> {
    inner: S,
    verifier: Verifier,
}

impl<S, B> tower::Service<http::Request<B>> for AccessService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // The clone that was polled ready serves this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = self.verifier.clone();
        Box::pin(async move {
            match gate(request.uri().path()) {
                Gate::Open => {}
                Gate::Closed => {
                    let status = Status::unimplemented(format!(
                        "{} is not a method of the API",
                        request.uri().path()
                    ));
                    return Ok(status.into_http());
                }
                Gate::Guarded(rule) => match authorize(&verifier, rule, request.headers()).await {
                    Ok(claims) => {
                        // On the call's span (see service_runtime::observe).
                        tracing::Span::current()
                            .record("user_id", tracing::field::display(claims.sub));
                        request.extensions_mut().insert(claims);
                    }
                    Err(status) => return Ok(status.into_http()),
                },
            }
            inner.call(request).await
        })
    }
}

/// What the layer does with a call to a path.
#[derive(Debug, PartialEq)]
enum Gate {
    /// Public methods, and the standard services every server carries.
    Open,
    /// A method with a rule that needs a token.
    Guarded(&'static AccessRule),
    /// Anything else: denied by default, so a handler whose method is not in
    /// the protos (and so has no rule) can never be reached.
    Closed,
}

/// The standard services, outside the API's protos.
const STANDARD_SERVICES: [&str; 3] = [
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

fn gate(path: &str) -> Gate {
    match proto::access_rule_for_path(path) {
        Some(rule) if rule.public => Gate::Open,
        Some(rule) => Gate::Guarded(rule),
        None if STANDARD_SERVICES.iter().any(|s| path.starts_with(s)) => Gate::Open,
        None => Gate::Closed,
    }
}

/// Applies `rule` to the bearer token in `headers`: the verified claims, or
/// the status to answer (UNAUTHENTICATED, PERMISSION_DENIED, or UNAVAILABLE
/// when the keys cannot be fetched). Not for public methods.
pub async fn authorize(
    verifier: &Verifier,
    rule: &AccessRule,
    headers: &http::HeaderMap,
) -> Result<Claims, Status> {
    let token = bearer_token(headers)
        .ok_or_else(|| Status::unauthenticated("missing bearer access token"))?;
    let claims = verifier.verify(token).await.map_err(|e| match e {
        VerifyError::KeysUnavailable => Status::unavailable(e.to_string()),
        _ => Status::unauthenticated(e.to_string()),
    })?;
    if !rule.scope.is_empty() {
        if !claims.has_scope(&rule.scope) {
            return Err(Status::permission_denied(format!(
                "this method needs the `{}` scope",
                rule.scope
            )));
        }
        return Ok(claims);
    }
    // Every other method acts for a signed-in user.
    if claims.token_type != TokenType::Access {
        return Err(Status::permission_denied(
            "this method needs a user's access token",
        ));
    }
    if rule.superuser && !claims.is_superuser {
        return Err(Status::permission_denied(
            "this method is for administrators",
        ));
    }
    Ok(claims)
}

/// The token of an `authorization: Bearer <token>` header.
fn bearer_token(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The verified claims of the caller, put there by [`AccessLayer`]. A method
/// that is not public always has them; their absence is a wiring bug.
pub fn caller<T>(request: &tonic::Request<T>) -> Result<&Claims, Status> {
    request.extensions().get::<Claims>().ok_or_else(|| {
        tracing::error!("no verified claims on a request: is the AccessLayer installed?");
        Status::unauthenticated("missing bearer access token")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, value.parse().unwrap());
        headers
    }

    #[test]
    fn paths_missing_from_the_protos_are_closed_and_only_the_standard_services_are_open() {
        assert_eq!(gate("/auth.v1.AuthService/Login"), Gate::Open);
        assert!(matches!(
            gate("/auth.v1.AuthService/GetMe"),
            Gate::Guarded(_)
        ));
        assert_eq!(gate("/grpc.health.v1.Health/Check"), Gate::Open);
        assert_eq!(gate("/grpc.health.v1.Health/Watch"), Gate::Open);
        assert_eq!(
            gate("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"),
            Gate::Open
        );
        for path in [
            "/auth.v1.AuthService/Backdoor",
            "/internal.v1.Debug/Dump",
            "/grpc.health.v1.Healthz/Check",
            "/",
            "",
        ] {
            assert_eq!(gate(path), Gate::Closed, "{path}");
        }
    }

    #[test]
    fn bearer_token_accepts_any_case_of_the_scheme() {
        assert_eq!(bearer_token(&headers("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&headers("bearer abc")), Some("abc"));
    }

    #[test]
    fn bearer_token_refuses_other_schemes_and_empty_tokens() {
        assert_eq!(bearer_token(&headers("Basic abc")), None);
        assert_eq!(bearer_token(&headers("Bearer ")), None);
        assert_eq!(bearer_token(&headers("Bearer")), None);
        assert_eq!(bearer_token(&http::HeaderMap::new()), None);
    }
}
