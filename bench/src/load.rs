//! The load engine: see the crate documentation.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::Instant;

/// How load is offered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// `clients` clients, each sending its next request when the last one is
    /// answered: measures the most the server can do at that concurrency.
    Closed {
        /// Concurrent clients.
        clients: usize,
    },
    /// Requests at `per_second`, at most `max_in_flight` at once (more are
    /// counted as dropped): measures latency at a given load. Latency runs
    /// from when a request was due, not from when it could be sent.
    Open {
        /// Requests per second offered.
        per_second: f64,
        /// Requests in progress at most.
        max_in_flight: usize,
    },
}

/// One run's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// How load is offered.
    pub mode: Mode,
    /// Load before measuring (connections, caches, allocator), not recorded.
    pub warm_up: Duration,
    /// How long the measured part lasts.
    pub duration: Duration,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// Requests that succeeded in the measured part.
    pub ok: u64,
    /// Requests that failed in the measured part.
    pub errors: u64,
    /// Open loop: requests not sent because `max_in_flight` were running.
    pub dropped: u64,
    /// The measured part's length.
    pub elapsed: Duration,
    /// Latency of the successful requests, in microseconds.
    pub latency_us: Histogram<u64>,
    /// The first error seen, for the report.
    pub first_error: Option<String>,
}

impl Report {
    /// Successful requests per second.
    pub fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// A latency quantile (0.5, 0.99, ...) in milliseconds.
    pub fn quantile_ms(&self, quantile: f64) -> f64 {
        self.latency_us.value_at_quantile(quantile) as f64 / 1000.0
    }

    fn empty(elapsed: Duration) -> Self {
        Self {
            ok: 0,
            errors: 0,
            dropped: 0,
            elapsed,
            latency_us: new_histogram(),
            first_error: None,
        }
    }

    fn merge(&mut self, other: Report) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.dropped += other.dropped;
        self.latency_us
            .add(&other.latency_us)
            .expect("histograms of the same bounds");
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn record(&mut self, latency: Duration, result: Result<(), String>) {
        match result {
            Ok(()) => {
                self.ok += 1;
                let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
                self.latency_us.saturating_record(us.max(1));
            }
            Err(e) => {
                self.errors += 1;
                self.first_error.get_or_insert(e);
            }
        }
    }
}

/// 1 µs to 10 min at 3 significant digits.
fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid bounds")
}

/// Runs `call` under `settings` and reports the measured part. `call(n)`
/// makes the n-th request (numbered from 0 across all clients) and says
/// whether it succeeded.
pub async fn run<F, Fut>(settings: Settings, call: F) -> Report
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let call = Arc::new(call);
    let start = Instant::now();
    let measure_from = start + settings.warm_up;
    let end = measure_from + settings.duration;
    let mut report = Report::empty(settings.duration);
    match settings.mode {
        Mode::Closed { clients } => {
            let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
            let workers = (0..clients.max(1)).map(|_| {
                let (call, counter) = (call.clone(), counter.clone());
                tokio::spawn(async move {
                    let mut mine = Report::empty(settings.duration);
                    loop {
                        let due = Instant::now();
                        if due >= end {
                            return mine;
                        }
                        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let result = call(n).await;
                        if due >= measure_from {
                            mine.record(due.elapsed(), result);
                        }
                    }
                })
            });
            for worker in futures::future::join_all(workers).await {
                report.merge(worker.expect("a load worker panicked"));
            }
        }
        Mode::Open {
            per_second,
            max_in_flight,
        } => {
            let interval = Duration::from_secs_f64(1.0 / per_second.max(1e-9));
            let slots = Arc::new(tokio::sync::Semaphore::new(max_in_flight.max(1)));
            let mut running = Vec::new();
            let mut n = 0u64;
            let mut due = start;
            while due < end {
                tokio::time::sleep_until(due).await;
                let measured = due >= measure_from;
                match slots.clone().try_acquire_owned() {
                    Ok(slot) => {
                        let call = call.clone();
                        running.push(tokio::spawn(async move {
                            let result = call(n).await;
                            drop(slot);
                            (measured, due.elapsed(), result)
                        }));
                    }
                    Err(_) if measured => report.dropped += 1,
                    Err(_) => {}
                }
                n += 1;
                due += interval;
            }
            for finished in futures::future::join_all(running).await {
                let (measured, latency, result) = finished.expect("a request task panicked");
                if measured {
                    report.record(latency, result);
                }
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that answers every request in `latency`.
    fn server(
        latency: Duration,
    ) -> impl Fn(u64) -> futures::future::BoxFuture<'static, Result<(), String>> + Send + Sync + 'static
    {
        move |_| {
            Box::pin(async move {
                tokio::time::sleep(latency).await;
                Ok(())
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn closed_loop_throughput_is_clients_over_latency() {
        let settings = Settings {
            mode: Mode::Closed { clients: 4 },
            warm_up: Duration::from_millis(100),
            duration: Duration::from_secs(1),
        };
        let report = run(settings, server(Duration::from_millis(10))).await;
        // 4 clients × 100 requests per second each, over 1 s.
        assert!((396..=404).contains(&report.ok), "{}", report.ok);
        assert_eq!(report.errors, 0);
        assert!((report.quantile_ms(0.5) - 10.0).abs() < 0.1);
        assert!((report.quantile_ms(0.99) - 10.0).abs() < 0.1);
        assert!((report.per_second() - 400.0).abs() < 5.0);
    }

    #[tokio::test(start_paused = true)]
    async fn errors_are_counted_not_timed() {
        let settings = Settings {
            mode: Mode::Closed { clients: 1 },
            warm_up: Duration::ZERO,
            duration: Duration::from_millis(100),
        };
        let report = run(settings, |n| async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            if n % 2 == 0 {
                Ok(())
            } else {
                Err(format!("failed {n}"))
            }
        })
        .await;
        assert_eq!(report.ok + report.errors, 10);
        assert_eq!(report.ok, 5);
        assert_eq!(report.latency_us.len(), 5);
        assert_eq!(report.first_error.as_deref(), Some("failed 1"));
    }

    #[tokio::test(start_paused = true)]
    async fn open_loop_counts_latency_from_when_a_request_was_due() {
        // 100 requests per second at 10 ms each: never more than one in
        // flight, so every latency is the service time.
        let settings = Settings {
            mode: Mode::Open {
                per_second: 100.0,
                max_in_flight: 8,
            },
            warm_up: Duration::from_millis(50),
            duration: Duration::from_secs(1),
        };
        let report = run(settings, server(Duration::from_millis(5))).await;
        assert!((99..=101).contains(&report.ok), "{}", report.ok);
        assert_eq!(report.dropped, 0);
        assert!((report.quantile_ms(0.99) - 5.0).abs() < 0.1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_overloaded_open_loop_drops_what_it_cannot_send() {
        // 100 per second offered to a server that takes 100 ms, 2 at a time:
        // 20 per second get through, the rest are dropped.
        let settings = Settings {
            mode: Mode::Open {
                per_second: 100.0,
                max_in_flight: 2,
            },
            warm_up: Duration::ZERO,
            duration: Duration::from_secs(1),
        };
        let report = run(settings, server(Duration::from_millis(100))).await;
        assert!((19..=21).contains(&report.ok), "{}", report.ok);
        assert!((78..=82).contains(&report.dropped), "{}", report.dropped);
    }
}
