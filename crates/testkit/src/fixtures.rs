//! What every test shares: the password of its users, the secret the
//! services share with "the gateway" of the tests, and requests carrying a
//! token or the forwarded client facts.

use service_runtime::forwarded::ForwardingKey;
pub use service_runtime::testing::eventually;

/// The password of every test user.
pub const PASSWORD: &str = "correct horse battery";

/// The secret the test services share with the gateway (`FORWARDED_SECRET`).
pub const FORWARDED_SECRET: &str = "tests: 32 bytes or more of secret";

/// The key of [`FORWARDED_SECRET`].
pub fn forwarding_key() -> ForwardingKey {
    ForwardingKey::new(&FORWARDED_SECRET.to_owned().into()).expect("a long enough secret")
}

/// `message` with `authorization: Bearer <token>`.
pub fn authorized<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}")
            .parse()
            .expect("a token is visible ASCII"),
    );
    request
}

/// `request` as the gateway sends it for a client at `ip`: the address
/// forwarded and signed with [`forwarding_key`].
pub fn from_gateway<T>(mut request: tonic::Request<T>, ip: &str) -> tonic::Request<T> {
    request.metadata_mut().insert(
        service_runtime::forwarded::FOR,
        ip.parse().expect("an address is visible ASCII"),
    );
    forwarding_key().sign_metadata(
        request.metadata_mut(),
        service_runtime::forwarded::unix_now(),
    );
    request
}
