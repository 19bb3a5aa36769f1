//! The configurations tests run with: the documented defaults, with any
//! free port (tests run many services side by side), small pools, bcrypt at
//! its lowest cost so that signing in stays fast (the default cost is
//! checked in the unit tests of the auth-service's `config`), and the
//! forwarding key of [`crate::fixtures`].

use std::path::Path;

use crate::fixtures::forwarding_key;

/// Any free port on loopback.
fn any_port() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().expect("a valid address")
}

/// The auth-service on `database_url`, signing with the key at
/// `signing_key` (made if missing).
pub fn auth(database_url: &str, signing_key: &Path) -> auth_service::Config {
    let mut config = auth_service::Config::local(database_url, signing_key.to_owned());
    config.listen_addr = any_port();
    config.database_pool_size = 4;
    config.bcrypt_cost = 4;
    config.forwarding_key = Some(forwarding_key());
    // Mail (when a test gives a mail server) leaves within moments.
    config.mail.poll_interval = std::time::Duration::from_millis(20);
    config
}

/// The workspace-service on `database_url`, trusting the auth-service at
/// `auth_url`, storing files under `storage_dir`.
pub fn workspace(
    database_url: &str,
    auth_url: &str,
    storage_dir: &Path,
) -> workspace_service::Config {
    let mut config = workspace_service::Config::local(database_url, auth_url, storage_dir);
    config.listen_addr = any_port();
    config.database_pool_size = 4;
    config
}

/// The gateway in front of the two services.
pub fn gateway(auth_url: &str, workspace_url: &str) -> gateway::Config {
    let mut config = gateway::Config::local(auth_url, workspace_url);
    config.listen_addr = any_port();
    config.forwarding_key = Some(forwarding_key());
    config
}
