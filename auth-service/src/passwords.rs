//! Password hashing with bcrypt on a bounded slice of the blocking pool.
//!
//! A hash at cost 12 takes a core for a few hundred milliseconds. Hashing on
//! the async workers would stall every other request, and hashing without a
//! bound would let a storm of logins queue thousands of blocking threads; so
//! at most `concurrency` hashes run at once and the rest wait their turn.

use std::sync::Arc;

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

/// Hashes and checks passwords.
#[derive(Clone)]
pub struct PasswordHasher {
    cost: u32,
    permits: Arc<Semaphore>,
    /// Hashes waiting for a permit.
    waiting: Arc<std::sync::atomic::AtomicUsize>,
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
    /// A hasher at `cost` running at most `concurrency` hashes at once.
    /// Computes the dummy hash, so call it once at start.
    pub fn new(cost: u32, concurrency: usize) -> anyhow::Result<Self> {
        let random: [u8; 16] = rand::random();
        let dummy = bcrypt::hash(random, cost).context("bcrypt refused the cost")?;
        Ok(Self {
            cost,
            permits: Arc::new(Semaphore::new(concurrency)),
            waiting: Arc::default(),
            dummy_hash: dummy.into(),
        })
    }

    /// Hashes waiting for their turn on the blocking pool.
    pub fn queue_depth(&self) -> usize {
        self.waiting.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Hashes being computed now.
    pub fn in_progress(&self, concurrency: usize) -> usize {
        concurrency.saturating_sub(self.permits.available_permits())
    }

    /// Hashes `password`.
    pub async fn hash(&self, password: &str) -> anyhow::Result<String> {
        let password = SecretString::from(password);
        let cost = self.cost;
        self.run(move || bcrypt::hash(password.expose_secret(), cost).context("bcrypt hash failed"))
            .await
    }

    /// Whether `password` matches `hash`; with no hash (unknown account, or
    /// one without a password) the dummy is checked and the answer is false.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> anyhow::Result<bool> {
        let password = SecretString::from(password);
        let known = hash.is_some();
        let hash: Arc<str> = hash.map_or_else(|| self.dummy_hash.clone(), Arc::from);
        let matches = self
            .run(move || {
                bcrypt::verify(password.expose_secret(), &hash).context("stored hash is malformed")
            })
            .await?;
        Ok(known && matches)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let _permit = {
            let _waiting = Waiting::enter(&self.waiting);
            self.permits.acquire().await.context("hasher closed")?
        };
        tokio::task::spawn_blocking(work)
            .await
            .context("hash task failed")?
    }
}

/// Counts a waiter while alive (also when the wait is cancelled).
struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> Waiting<'a> {
    fn enter(count: &'a std::sync::atomic::AtomicUsize) -> Self {
        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hasher = PasswordHasher::new(4, 2).unwrap();
        let hash = hasher.hash("correct horse").await.unwrap();
        assert!(hash.starts_with("$2b$04$"));
        assert!(hasher.verify("correct horse", Some(&hash)).await.unwrap());
        assert!(!hasher.verify("wrong horse", Some(&hash)).await.unwrap());
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies() {
        let hasher = PasswordHasher::new(4, 1).unwrap();
        assert!(!hasher.verify("anything", None).await.unwrap());
    }

    #[tokio::test]
    async fn the_cost_is_the_configured_one() {
        let hasher = PasswordHasher::new(10, 1).unwrap();
        assert!(hasher.hash("pw").await.unwrap().starts_with("$2b$10$"));
    }
}
