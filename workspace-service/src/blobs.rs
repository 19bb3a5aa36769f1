//! Freeing stored contents and sweeping orphans.
//!
//! A content is freed when its last file is deleted: under its blob row's
//! lock the object is deleted, then the row. An upload of the same content
//! waits for that lock and then stores the content again, so a content with
//! a file is never deleted. The sweeper removes what a crash left behind:
//! temporary uploads older than the grace period, objects with no blob row
//! older than it, and blob rows no file references. Objects younger than the
//! grace period (`STORAGE_SWEEP_GRACE_SECS`, an hour by default) may belong
//! to an upload still in progress and are left alone.

use diesel_async::AsyncConnection;

use crate::db::files::File;
use crate::state::AppState;

/// Deletes the content `sha256` if no file references it.
pub async fn free_if_unreferenced(state: &AppState, sha256: &str) -> anyhow::Result<bool> {
    let mut conn = state.pool.get().await?;
    let freed = conn
        .transaction(async |conn| -> anyhow::Result<bool> {
            if !File::lock_unreferenced(conn, sha256).await? {
                return Ok(false);
            }
            state.blobs.delete_blob(sha256).await?;
            File::delete_blob_row(conn, sha256).await?;
            Ok(true)
        })
        .await?;
    Ok(freed)
}

/// Frees each of `hashes` that no file references any more (after the
/// transaction that deleted their files has committed). Failures are logged:
/// the sweeper retries whatever this misses.
pub async fn free_all(state: &AppState, hashes: &[String]) {
    for sha256 in hashes {
        if let Err(e) = free_if_unreferenced(state, sha256).await {
            tracing::warn!(%sha256, error = ?e, "freeing a blob failed; the sweeper will retry");
        }
    }
}

/// What one sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub temporary: usize,
    pub orphan_objects: usize,
    pub unreferenced: usize,
}

/// Objects looked at per page of a sweep: one query for their rows.
const SWEEP_PAGE: usize = 1000;

/// Removes what crashes and cancellations left behind, a page of
/// [`SWEEP_PAGE`] stored objects at a time (one query for their rows per
/// page, never the whole store in memory).
pub async fn sweep(state: &AppState) -> anyhow::Result<SweepReport> {
    use futures::StreamExt;
    let mut report = SweepReport::default();
    let grace = chrono::Duration::from_std(state.config.storage_sweep_grace)?;
    let cutoff = state.clock.now() - grace;
    let mut listing = state.blobs.objects();
    loop {
        let mut page = Vec::with_capacity(SWEEP_PAGE);
        while page.len() < SWEEP_PAGE {
            match listing.next().await {
                Some(object) => page.push(object?),
                None => break,
            }
        }
        let last = page.len() < SWEEP_PAGE;
        sweep_page(state, &page, cutoff, &mut report).await?;
        if last {
            break;
        }
    }
    drop(listing);
    report.temporary += state.blobs.sweep_staging(cutoff).await?;
    let unreferenced = {
        let mut conn = state.pool.get().await?;
        File::unreferenced(&mut conn, 1000).await?
    };
    for sha256 in unreferenced {
        if free_if_unreferenced(state, &sha256).await? {
            report.unreferenced += 1;
        }
    }
    Ok(report)
}

/// Deletes the temporary and orphaned objects of `page` older than `cutoff`.
async fn sweep_page(
    state: &AppState,
    page: &[crate::storage::StoredObject],
    cutoff: chrono::DateTime<chrono::Utc>,
    report: &mut SweepReport,
) -> anyhow::Result<()> {
    let hashes: Vec<String> = page.iter().filter_map(|o| o.sha256.clone()).collect();
    let known = {
        let mut conn = state.pool.get().await?;
        File::known_blobs(&mut conn, &hashes).await?
    };
    for object in page.iter().filter(|o| o.last_modified < cutoff) {
        match &object.sha256 {
            None => {
                state.blobs.delete(&object.path).await?;
                report.temporary += 1;
            }
            Some(sha256) if !known.contains(sha256) => {
                // Re-checked under the lock: an upload may have taken it since.
                let mut conn = state.pool.get().await?;
                let orphan = conn
                    .transaction(async |conn| -> anyhow::Result<bool> {
                        let rows = File::known_blobs(conn, std::slice::from_ref(sha256)).await?;
                        Ok(rows.is_empty())
                    })
                    .await?;
                if orphan {
                    state.blobs.delete(&object.path).await?;
                    report.orphan_objects += 1;
                }
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Sweeps every `interval` until the service drains.
pub fn spawn_sweeper(state: AppState, interval: std::time::Duration) {
    let on_drain = service_runtime::shutdown::OnDrain::Stop;
    service_runtime::shutdown::spawn_every(
        state.draining.clone(),
        state,
        interval,
        on_drain,
        |state| async move {
            match sweep(&state).await {
                Ok(report) if report != SweepReport::default() => {
                    tracing::info!(?report, "storage swept");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = ?e, "sweeping storage failed"),
            }
        },
    );
}
