//! The queue's metrics on `/metrics`:
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `task_queue_depth` | gauge | `status`: tasks by status, all users |
//! | `task_queue_depth_by_kind` | gauge | `kind`, `status` (`pending`, `processing`) |
//! | `task_claim_wait_seconds` | histogram | `kind`: from ready (created, or its backoff over) to claimed |
//! | `task_retries_total` | counter | `kind`, `reason` (`failed`, `lease_expired`) |
//! | `task_running_top_users` | gauge | `rank` (1 to 5): the running tasks of the busiest users, without naming them |
//!
//! Kinds are chosen by clients, so a kind label is bounded: the first
//! [`MAX_KIND_LABELS`] kinds seen keep their name, later ones count as
//! `other` (in the gauges, the kinds past the deepest ones are summed as
//! `other` too). The gauges are read at each scrape from counters the service
//! keeps in the same transactions as the tasks, so a scrape is cheap at any
//! number of tasks.

use crate::db::tasks::Task;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use postgres_kit::PgPool;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use service_runtime::metrics::{GaugeFn, Registry};

/// Distinct kind names the metrics keep; later kinds are `other`.
pub const MAX_KIND_LABELS: usize = 32;

/// Ranks of `task_running_top_users`.
pub const TOP_USERS: i64 = 5;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RetryLabels {
    kind: String,
    reason: String,
}

/// Why a task went back to the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryReason {
    /// The worker failed it retryably.
    Failed,
    /// Its lease ran out.
    LeaseExpired,
}

/// What the gauges show, as last counted.
#[derive(Debug, Clone, Default)]
struct Snapshot {
    by_status: Vec<(String, i64)>,
    by_kind: Vec<(String, String, i64)>,
    top_running: Vec<i64>,
}

/// The queue's metrics (cheap to clone: shared).
#[derive(Debug, Clone)]
pub struct QueueMetrics {
    claim_wait: Family<KindLabel, Histogram>,
    retries: Family<RetryLabels, Counter>,
    kinds: Arc<Mutex<HashSet<String>>>,
    snapshot: Arc<Mutex<Snapshot>>,
}

impl Default for QueueMetrics {
    fn default() -> Self {
        Self {
            claim_wait: Family::new_with_constructor(|| {
                // 1 ms to about 4.6 hours.
                Histogram::new(exponential_buckets(0.001, 4.0, 12))
            }),
            retries: Family::default(),
            kinds: Arc::default(),
            snapshot: Arc::default(),
        }
    }
}

impl QueueMetrics {
    /// The label of `kind`: its name while fewer than [`MAX_KIND_LABELS`]
    /// kinds were seen, else `other`.
    fn label(&self, kind: &str) -> String {
        let Ok(mut kinds) = self.kinds.lock() else {
            return "other".into();
        };
        if kinds.contains(kind) {
            return kind.to_owned();
        }
        if kinds.len() < MAX_KIND_LABELS {
            kinds.insert(kind.to_owned());
            return kind.to_owned();
        }
        "other".into()
    }

    /// A task of `kind` was claimed `waited` after it became ready.
    pub fn claimed(&self, kind: &str, waited: chrono::Duration) {
        let seconds = waited.num_microseconds().unwrap_or(i64::MAX).max(0) as f64 / 1e6;
        self.claim_wait
            .get_or_create(&KindLabel {
                kind: self.label(kind),
            })
            .observe(seconds);
    }

    /// A task of `kind` went back to the queue.
    pub fn retried(&self, kind: &str, reason: RetryReason) {
        let reason = match reason {
            RetryReason::Failed => "failed",
            RetryReason::LeaseExpired => "lease_expired",
        };
        self.retries
            .get_or_create(&RetryLabels {
                kind: self.label(kind),
                reason: reason.into(),
            })
            .inc();
    }

    /// Registers every metric of the queue in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "task_claim_wait_seconds",
            "From a task being ready (created, or its retry backoff over) to a worker claiming it",
            self.claim_wait.clone(),
        );
        registry.register(
            "task_retries",
            "Tasks put back in the queue for another attempt",
            self.retries.clone(),
        );
        let read = self.snapshot.clone();
        registry.register_collector(Box::new(GaugeFn::new(
            "task_queue_depth",
            "Tasks by status, all users (counted at each scrape from the per-user counters)",
            move || {
                read.lock()
                    .map(|s| {
                        s.by_status
                            .iter()
                            .map(|(status, n)| (vec![("status".to_owned(), status.clone())], *n))
                            .collect()
                    })
                    .unwrap_or_default()
            },
        )));
        let read = self.snapshot.clone();
        registry.register_collector(Box::new(GaugeFn::new(
            "task_queue_depth_by_kind",
            "Pending and processing tasks by kind, all users",
            move || {
                read.lock()
                    .map(|s| {
                        s.by_kind
                            .iter()
                            .map(|(kind, status, n)| {
                                (
                                    vec![
                                        ("kind".to_owned(), kind.clone()),
                                        ("status".to_owned(), status.clone()),
                                    ],
                                    *n,
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            },
        )));
        let read = self.snapshot.clone();
        registry.register_collector(Box::new(GaugeFn::new(
            "task_running_top_users",
            "Running tasks of the busiest users, by rank (1 = the most), without naming them",
            move || {
                read.lock()
                    .map(|s| {
                        s.top_running
                            .iter()
                            .enumerate()
                            .map(|(i, n)| (vec![("rank".to_owned(), (i + 1).to_string())], *n))
                            .collect()
                    })
                    .unwrap_or_default()
            },
        )));
    }

    /// Counts what the gauges show (before each scrape).
    pub async fn count(&self, pool: &PgPool) {
        match snapshot(pool).await {
            Ok(now) => {
                if let Ok(mut snapshot) = self.snapshot.lock() {
                    *snapshot = now;
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot count tasks for the metrics"),
        }
    }
}

#[derive(QueryableByName)]
struct KindCount {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = BigInt)]
    count: i64,
}

#[derive(QueryableByName)]
struct Running {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// The kinds shown by name in the depth gauge: the deepest ones.
const DEPTH_KINDS: usize = 20;

async fn snapshot(pool: &PgPool) -> anyhow::Result<Snapshot> {
    let by_status = Task::counts_by_status(pool).await?;
    let mut conn = pool.get().await?;
    // Pending from the per-(user, kind) queue rows; processing from the
    // leased tasks (on the lease index, which holds only those).
    let rows: Vec<KindCount> = diesel::sql_query(
        "SELECT kind, 'pending' AS status, sum(pending)::bigint AS count \
         FROM task_queues WHERE pending > 0 GROUP BY kind \
         UNION ALL \
         SELECT kind, 'processing' AS status, count(*)::bigint AS count \
         FROM tasks WHERE status = 'processing' GROUP BY kind \
         ORDER BY count DESC, kind",
    )
    .load(&mut conn)
    .await?;
    let top: Vec<Running> = diesel::sql_query(
        "SELECT count FROM task_counts WHERE status = 'processing' AND count > 0 \
         ORDER BY count DESC LIMIT $1",
    )
    .bind::<BigInt, _>(TOP_USERS)
    .load(&mut conn)
    .await?;
    Ok(Snapshot {
        by_status,
        by_kind: bounded_kinds(rows),
        top_running: top.into_iter().map(|r| r.count).collect(),
    })
}

/// The rows (deepest first) with the kinds past [`DEPTH_KINDS`] summed as
/// `other`.
fn bounded_kinds(rows: Vec<KindCount>) -> Vec<(String, String, i64)> {
    let mut named: Vec<String> = Vec::new();
    let mut out: Vec<(String, String, i64)> = Vec::new();
    for row in rows {
        if !named.contains(&row.kind) && named.len() < DEPTH_KINDS {
            named.push(row.kind.clone());
        }
        let kind = if named.contains(&row.kind) {
            row.kind
        } else {
            "other".to_owned()
        };
        match out
            .iter_mut()
            .find(|(k, s, _)| *k == kind && *s == row.status)
        {
            Some(entry) => entry.2 += row.count,
            None => out.push((kind, row.status, row.count)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_labels_are_bounded() {
        let metrics = QueueMetrics::default();
        for i in 0..MAX_KIND_LABELS {
            assert_eq!(metrics.label(&format!("k{i}")), format!("k{i}"));
        }
        assert_eq!(metrics.label("one.too.many"), "other");
        // A kind seen before keeps its name.
        assert_eq!(metrics.label("k0"), "k0");
    }

    #[test]
    fn kinds_past_the_deepest_are_summed_as_other() {
        let rows = (0..DEPTH_KINDS + 3)
            .map(|i| KindCount {
                kind: format!("k{i}"),
                status: "pending".into(),
                count: 100 - i as i64,
            })
            .collect();
        let out = bounded_kinds(rows);
        assert_eq!(out.len(), DEPTH_KINDS + 1);
        let other = out.iter().find(|(k, _, _)| k == "other").unwrap();
        let tail: i64 = (DEPTH_KINDS..DEPTH_KINDS + 3).map(|i| 100 - i as i64).sum();
        assert_eq!(other.2, tail);
    }
}
