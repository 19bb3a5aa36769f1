//! [`AppState`]: what every RPC and background job of the service needs.
//! It names no handler: handlers depend on it, never the other way.

use std::sync::Arc;

use postgres_kit::PgPool;
use postgres_kit::notify::Listener;
use service_runtime::clock::Clock;
use service_runtime::paging::PageTokens;
use tokio::sync::watch;

use crate::config::Config;
use crate::export::PdfFont;
use crate::progress::ProgressBuffer;
use crate::storage::BlobStore;

/// What every RPC needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The configuration.
    pub config: Arc<Config>,
    /// The database.
    pub pool: PgPool,
    /// Signs and checks page tokens.
    pub page_tokens: PageTokens,
    /// File contents.
    pub blobs: BlobStore,
    /// The time.
    pub clock: Clock,
    /// Task changes as they commit (for `WatchTask`).
    pub task_changes: Listener,
    /// Becomes true when the service starts draining: long-lived streams end.
    pub draining: watch::Receiver<bool>,
    /// The font of PDF exports (none found: PDF exports are refused).
    pub pdf_font: Option<PdfFont>,
    /// Progress reports not yet written (see [`crate::progress`]).
    pub progress: ProgressBuffer,
    /// The queue's metrics (see [`crate::metrics`]).
    pub metrics: crate::metrics::QueueMetrics,
    /// Open `WatchTask` streams per user.
    pub watch_streams: service_runtime::slots::KeyedSlots<uuid::Uuid>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}
