//! [`AppState`]: what every request needs. It names no handler: the
//! handlers depend on it, never the other way.

use std::sync::Arc;

use access::Verifier;

use crate::config::Config;
use crate::edge::RateLimits;
use crate::routes::RouteTable;
use crate::upstream::Upstreams;

/// What every request needs.
#[derive(Clone)]
pub struct AppState {
    pub(crate) config: Arc<Config>,
    pub(crate) routes: Arc<RouteTable>,
    pub(crate) upstreams: Upstreams,
    pub(crate) verifier: Verifier,
    pub(crate) limits: RateLimits,
    /// The last readiness check and when it was made (see
    /// [`crate::health::readyz`]).
    pub(crate) readiness: Arc<tokio::sync::Mutex<Option<Readiness>>>,
}

/// When readiness was checked, and what was not ready then.
type Readiness = (std::time::Instant, Vec<&'static str>);
