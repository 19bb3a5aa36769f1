//! Access tokens as every component sees them.
//!
//! The auth-service signs tokens ([`Claims`]); everyone else checks them with
//! a [`Verifier`] that holds the published public keys, and guards its gRPC
//! server with an [`AccessLayer`], which applies the access rule that the
//! proto states for each method (public, signed-in user, superuser, scope).

mod claims;
mod layer;
mod revocations;
mod verifier;

pub use claims::{Claims, TokenType};
pub use layer::{AccessLayer, AccessService, authorize, caller};
pub use revocations::{RevocationList, spawn_revocation_watcher, spawn_revocation_watcher_with};
pub use verifier::{GrpcKeySource, KeySource, Verifier, VerifierSettings, VerifyError};
