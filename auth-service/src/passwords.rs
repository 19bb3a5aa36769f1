//! Password hashing with bcrypt on a bounded slice of the blocking pool.
//!
//! A hash at cost 12 takes a core for a few hundred milliseconds. Hashing on
//! the async workers would stall every other request, and hashing without a
//! bound would let a storm of logins queue thousands of blocking threads; so
//! at most `concurrency` hashes run at once and the rest wait their turn.
//!
//! Waiting is bounded too, and split by [`Priority`]: sign-ins to known
//! accounts (and password changes) wait in one queue; registrations and
//! sign-ins under unknown names in another, which may hold at most half of
//! the hashing slots. A flood of registrations or of guessed names thus
//! fills its own short queue and is refused at once ([`Busy`]), while the
//! owner of an account still gets a slot within a hash or two.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

/// Which queue a hash waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// A known account's sign-in or password change.
    Known,
    /// A registration, or a sign-in under a name no account has.
    Unknown,
}

/// Why a hash was not computed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Its queue is full: refused at once rather than after a long wait.
    #[error("the password hasher is saturated")]
    Busy,
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// Hashes and checks passwords.
#[derive(Clone)]
pub struct PasswordHasher {
    cost: u32,
    permits: Arc<Semaphore>,
    /// Taken by `Unknown` work before a hashing slot: at most half the slots.
    unknown_permits: Arc<Semaphore>,
    waiting_known: Arc<AtomicUsize>,
    waiting_unknown: Arc<AtomicUsize>,
    max_waiting_known: usize,
    max_waiting_unknown: usize,
    /// A hash of a random password, checked against when the account does not
    /// exist so that unknown and known accounts take the same time.
    dummy_hash: Arc<str>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("cost", &self.cost)
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// A hasher at `cost` running at most `concurrency` hashes at once, with
    /// at most `max_waiting` known-account hashes waiting (a quarter of that,
    /// at least one, for unknown work). Computes the dummy hash, so call it
    /// once at start.
    pub fn new(cost: u32, concurrency: usize, max_waiting: usize) -> anyhow::Result<Self> {
        let random: [u8; 16] = rand::random();
        let dummy = bcrypt::hash(random, cost).context("bcrypt refused the cost")?;
        Ok(Self {
            cost,
            permits: Arc::new(Semaphore::new(concurrency)),
            unknown_permits: Arc::new(Semaphore::new(concurrency.div_ceil(2))),
            waiting_known: Arc::default(),
            waiting_unknown: Arc::default(),
            max_waiting_known: max_waiting,
            max_waiting_unknown: (max_waiting / 4).max(1),
            dummy_hash: dummy.into(),
        })
    }

    /// Hashes waiting for their turn on the blocking pool.
    pub fn queue_depth(&self) -> usize {
        self.waiting_known.load(Ordering::Relaxed) + self.waiting_unknown.load(Ordering::Relaxed)
    }

    /// Hashes being computed now.
    pub fn in_progress(&self, concurrency: usize) -> usize {
        concurrency.saturating_sub(self.permits.available_permits())
    }

    /// Hashes `password`.
    pub async fn hash(&self, password: &str, priority: Priority) -> Result<String, HashError> {
        let password = SecretString::from(password);
        let cost = self.cost;
        self.run(priority, move || {
            bcrypt::hash(password.expose_secret(), cost).context("bcrypt hash failed")
        })
        .await
    }

    /// Whether `password` matches `hash`; with no hash (unknown account, or
    /// one without a password) the dummy is checked and the answer is false.
    pub async fn verify(
        &self,
        password: &str,
        hash: Option<&str>,
        priority: Priority,
    ) -> Result<bool, HashError> {
        let password = SecretString::from(password);
        let known = hash.is_some();
        let hash: Arc<str> = hash.map_or_else(|| self.dummy_hash.clone(), Arc::from);
        let matches = self
            .run(priority, move || {
                bcrypt::verify(password.expose_secret(), &hash).context("stored hash is malformed")
            })
            .await?;
        Ok(known && matches)
    }

    async fn run<T: Send + 'static>(
        &self,
        priority: Priority,
        work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, HashError> {
        let (waiting, max) = match priority {
            Priority::Known => (&self.waiting_known, self.max_waiting_known),
            Priority::Unknown => (&self.waiting_unknown, self.max_waiting_unknown),
        };
        let (_unknown, _permit) = {
            let _waiting = Waiting::enter(waiting, max).ok_or(HashError::Busy)?;
            let unknown = match priority {
                Priority::Known => None,
                Priority::Unknown => Some(
                    self.unknown_permits
                        .clone()
                        .acquire_owned()
                        .await
                        .context("hasher closed")?,
                ),
            };
            let permit = self.permits.acquire().await.context("hasher closed")?;
            (unknown, permit)
        };
        Ok(tokio::task::spawn_blocking(work)
            .await
            .context("hash task failed")??)
    }
}

/// Counts a waiter while alive (also when the wait is cancelled).
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    /// A place in the queue counted by `count`, if fewer than `max` wait.
    fn enter(count: &'a AtomicUsize, max: usize) -> Option<Self> {
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Self(count))
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hasher = PasswordHasher::new(4, 2, 8).unwrap();
        let hash = hasher.hash("correct horse", Priority::Known).await.unwrap();
        assert!(hash.starts_with("$2b$04$"));
        assert!(
            hasher
                .verify("correct horse", Some(&hash), Priority::Known)
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify("wrong horse", Some(&hash), Priority::Known)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies() {
        let hasher = PasswordHasher::new(4, 1, 8).unwrap();
        assert!(
            !hasher
                .verify("anything", None, Priority::Unknown)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn the_cost_is_the_configured_one() {
        let hasher = PasswordHasher::new(10, 1, 8).unwrap();
        assert!(
            hasher
                .hash("pw", Priority::Known)
                .await
                .unwrap()
                .starts_with("$2b$10$")
        );
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_and_unknown_work_never_takes_every_slot() {
        // One slot; known work may queue 4, unknown work 1.
        let hasher = PasswordHasher::new(4, 1, 4).unwrap();
        let gate = Arc::new(std::sync::Barrier::new(2));
        // Unknown work holding the only slot, blocked until the gate opens.
        let running = {
            let gate = gate.clone();
            let hasher = hasher.clone();
            tokio::spawn(async move {
                hasher
                    .run(Priority::Unknown, move || {
                        gate.wait();
                        Ok(())
                    })
                    .await
            })
        };
        wait_until(|| hasher.permits.available_permits() == 0).await;
        // A second unknown hash waits for the unknown permit (queue of 1)...
        let queued = {
            let hasher = hasher.clone();
            tokio::spawn(async move { hasher.verify("x", None, Priority::Unknown).await })
        };
        wait_until(|| hasher.waiting_unknown.load(Ordering::Acquire) == 1).await;
        // ...and a third is refused at once.
        assert!(matches!(
            hasher.verify("x", None, Priority::Unknown).await,
            Err(HashError::Busy)
        ));
        // Known work still queues, ahead of the waiting unknown hash for the
        // slot (the unknown one is held back by its own permit).
        let known = {
            let hasher = hasher.clone();
            tokio::spawn(async move { hasher.hash("pw", Priority::Known).await })
        };
        wait_until(|| hasher.waiting_known.load(Ordering::Acquire) == 1).await;
        gate.wait();
        running.await.unwrap().unwrap();
        assert!(known.await.unwrap().is_ok());
        assert!(!queued.await.unwrap().unwrap());
    }

    async fn wait_until(condition: impl Fn() -> bool) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while !condition() {
            assert!(tokio::time::Instant::now() < deadline, "condition not met");
            tokio::task::yield_now().await;
        }
    }
}
